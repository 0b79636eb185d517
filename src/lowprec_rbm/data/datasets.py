"""MNIST-format datasets: a folder of four IDX files, Debian's Fashion-MNIST, or the embedded sample.

The embedded sample is 2,000 training and 500 test images of Fashion-MNIST (the first ones of each Debian
file), quantised to 16 grey levels (``pixel >> 4``, decoded as ``q * 17``) and compressed with xz: about
400 kB. Quantisation keeps binarisation at half intensity exact: ``v >= 128`` iff ``v >> 4 >= 8`` iff
``17 * (v >> 4) >= 128``. ``scripts/make_sample.py`` regenerates it from the Debian files.

Labels: every dataset declares its classes (:attr:`Dataset.classes`). The embedded sample and Debian's files are
Fashion-MNIST, whose 10 classes are 0..9; a folder declares the labels present in its training-label file, unless
the caller declares them (``classes=``). A training or test label outside declared classes is an
:class:`IDXError` naming the file and the index (a corrupt label byte must not turn into a class). A folder
without a declaration checks nothing: a test label absent from its training file is counted as a wrong answer,
with a warning, by whatever evaluates a network trained on it.
"""
from __future__ import annotations

import dataclasses
import io
import lzma
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from lowprec_rbm.data.idx import IDXError, read_idx

__all__ = ["Dataset", "DEBIAN_FASHION_MNIST", "load_dataset", "declared_classes", "check_labels", "load_embedded_sample", "binarize", "SAMPLE_NAME"]

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SAMPLE_NAME = "fmnist_sample.npz.xz"
_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class Dataset:
    """Images and labels of an MNIST-format dataset.

    Attributes
    ----------
    x_train : ndarray of uint8, shape (M, H, W)
    y_train : ndarray of uint8, shape (M,)
    x_test : ndarray of uint8, shape (M_test, H, W)
    y_test : ndarray of uint8, shape (M_test,)
    source : str
        Where the data came from (a folder, or ``"embedded-sample"``); recorded in posterior files.
    classes : tuple of int
        The declared class labels (sorted); every label of both sets is one of them.
    note : str
        Anything a user should know about the data (quantisation of the embedded sample).

    Examples
    --------
    >>> import numpy as np
    >>> from lowprec_rbm import Dataset
    >>> ds = Dataset(x_train=np.zeros((4, 3, 5), np.uint8), y_train=np.array([0, 1, 0, 1], np.uint8),
    ...              x_test=np.zeros((2, 3, 5), np.uint8), y_test=np.array([1, 0], np.uint8),
    ...              source="in memory", classes=(0, 1))
    >>> ds.n_classes, ds.n_pixels, ds.describe()["image_shape"]
    (2, 15, [3, 5])
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    note: str = ""
    classes: tuple[int, ...] = tuple(range(10))

    @property
    def n_classes(self) -> int:
        """Number of declared classes."""
        return len(self.classes)

    @property
    def n_pixels(self) -> int:
        """Values per image (H * W)."""
        return int(np.prod(self.x_train.shape[1:]))

    def describe(self) -> dict:
        """JSON-able summary for configs."""
        return {
            "source": self.source,
            "note": self.note,
            "n_train": int(self.x_train.shape[0]),
            "n_test": int(self.x_test.shape[0]),
            "image_shape": list(self.x_train.shape[1:]),
            "classes": [int(c) for c in self.classes],
        }


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"data folder {str(folder)!r} has no {stem!r} (or {stem}.gz); an MNIST-format folder holds "
        f"{', '.join(_FILES.values())} (raw or .gz)"
    )


def _check_pair(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    if images.ndim != 3 or images.dtype != np.uint8:
        raise IDXError(f"{where}: expected uint8 images of shape (M, H, W), found {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise IDXError(f"{where}: expected integer labels of shape (M,), found {labels.dtype} {labels.shape}")
    if labels.size and int(labels.min()) < 0:
        raise IDXError(f"{where}: labels must be >= 0, found {int(labels.min())}")
    if images.shape[0] != labels.shape[0]:
        raise IDXError(f"{where}: {images.shape[0]} images but {labels.shape[0]} labels")


def check_labels(labels: np.ndarray, classes, where: str, what: str) -> None:
    """IDXError naming ``where`` (a file) and the first index whose label is not in ``classes``."""
    bad = np.flatnonzero(~np.isin(labels, np.asarray(classes)))
    if bad.size:
        raise IDXError(f"{where}: label {int(labels[bad[0]])} at index {int(bad[0])} is not one of {what} "
                       f"({bad.size} such label{'s' if bad.size > 1 else ''} in the file)")


def _describe(classes: tuple[int, ...], name: str) -> str:
    if classes == tuple(range(len(classes))):
        return f"the {len(classes)} classes 0..{len(classes) - 1} {name}"
    return f"the classes {list(classes)} {name}"


def declared_classes(spec: str | int | tuple | list) -> tuple[int, ...]:
    """A declared class set: ``N`` (0..N-1), ``"N"``, ``"a,b,c"`` or a sequence of labels >= 0."""
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",")]
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"classes must be a count N (meaning 0..N-1) or comma-separated labels, "
                             f"got {spec!r}") from None
        spec = values[0] if len(values) == 1 else values
    if isinstance(spec, bool):
        raise TypeError(f"classes must be an int or a sequence of ints, got {spec!r}")
    if isinstance(spec, (int, np.integer)):
        if spec < 2:
            raise ValueError(f"a dataset needs at least 2 classes, got {spec}")
        return tuple(range(int(spec)))
    values = [int(v) for v in spec]
    if len(values) < 2 or len(set(values)) != len(values) or min(values) < 0:
        raise ValueError(f"classes must be at least 2 distinct labels >= 0, got {values}")
    return tuple(sorted(values))


def _load_folder(folder: Path, classes: tuple[int, ...] | None = None, name: str = "declared for this data",
                 note: str = "") -> Dataset:
    if not folder.is_dir():
        raise FileNotFoundError(f"data folder {str(folder)!r} does not exist")
    paths = {key: _find(folder, stem) for key, stem in _FILES.items()}
    arrays = {key: read_idx(path) for key, path in paths.items()}
    _check_pair(arrays["x_train"], arrays["y_train"], f"{folder} (training files)")
    _check_pair(arrays["x_test"], arrays["y_test"], f"{folder} (test files)")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise IDXError(f"{folder}: training images are {arrays['x_train'].shape[1:]} but test images are "
                       f"{arrays['x_test'].shape[1:]}")
    if classes is None:
        # Nothing declares the classes: they are the training labels. A test label outside them is not a
        # format error here; a network trained on this data counts such an image as wrong, with a warning.
        classes = tuple(int(c) for c in np.unique(arrays["y_train"]))
    else:
        what = _describe(classes, name)
        check_labels(arrays["y_train"], classes, str(paths["y_train"]), what)
        check_labels(arrays["y_test"], classes, str(paths["y_test"]), what)
    return Dataset(**arrays, source=str(folder.resolve()), note=note, classes=classes)


def load_embedded_sample() -> Dataset:
    """The Fashion-MNIST sample shipped in the package (2,000 train / 500 test, 16 grey levels)."""
    blob = resources.files("lowprec_rbm.data").joinpath(SAMPLE_NAME).read_bytes()
    with np.load(io.BytesIO(lzma.decompress(blob)), allow_pickle=False) as z:
        def unpack(packed: np.ndarray) -> np.ndarray:
            # Two 4-bit pixels per byte, low nibble first; decoded as q * 17 so 15 -> 255.
            q = np.empty(packed.shape[:-1] + (packed.shape[-1] * 2,), dtype=np.uint8)
            q[..., 0::2] = packed & 0x0F
            q[..., 1::2] = packed >> 4
            return (q * np.uint8(17)).reshape(-1, 28, 28)
        return Dataset(
            x_train=unpack(z["x_train_q4"]), y_train=z["y_train"].copy(),
            x_test=unpack(z["x_test_q4"]), y_test=z["y_test"].copy(),
            source="embedded-sample",
            note="Fashion-MNIST, first 2000 train / 500 test images, quantised to 16 grey levels (q*17)",
        )


def load_dataset(data: str | os.PathLike | None = None, classes=None) -> Dataset:
    """Load a dataset.

    Parameters
    ----------
    data : None, ``"sample"``, ``"debian"`` or a folder
        ``None`` (auto): Debian's Fashion-MNIST at ``/usr/share/datasets/fashion-mnist`` when installed,
        else the embedded sample. ``"sample"``: the embedded sample. ``"debian"``: Debian's files (error if
        the package ``dataset-fashion-mnist`` is not installed). Otherwise a folder with the four IDX files.
    classes : int, str or sequence of int, optional
        The classes the data declares (:func:`declared_classes`), checked against every label. Default: the
        10 Fashion-MNIST classes for the sample and Debian's files; for a folder the labels present in its
        training-label file.

    Returns
    -------
    Dataset
        ``x_train`` uint8 (M, H, W), ``y_train`` (M,), ``x_test`` uint8 (M_test, H, W), ``y_test`` (M_test,),
        ``classes``, ``source``, ``note``. The image shape is the files' (28x28 for Fashion-MNIST).

    Raises
    ------
    FileNotFoundError
        ``data="debian"`` without Debian's package, or a folder that does not exist or lacks one of the four
        files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
        ``t10k-labels-idx1-ubyte``, raw or ``.gz``).
    IDXError (a ValueError)
        A corrupt or inconsistent file, or a label outside the declared classes (naming the file and index).

    Examples
    --------
    >>> from lowprec_rbm import load_dataset
    >>> ds = load_dataset("sample")                    # the embedded Fashion-MNIST sample
    >>> ds.x_train.shape, ds.x_train.dtype, ds.x_test.shape
    ((2000, 28, 28), dtype('uint8'), (500, 28, 28))
    >>> ds.classes
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
    """
    declared = None if classes is None else declared_classes(classes)
    if data is None:
        data = "debian" if DEBIAN_FASHION_MNIST.is_dir() else "sample"
    if str(data) == "sample":
        ds = load_embedded_sample()
        what = _describe(declared, "declared") if declared else _describe(ds.classes, "of Fashion-MNIST")
        check_labels(ds.y_train, declared or ds.classes, "embedded sample (training labels)", what)
        check_labels(ds.y_test, declared or ds.classes, "embedded sample (test labels)", what)
        return ds if declared is None else dataclasses.replace(ds, classes=declared)
    if str(data) == "debian":
        if not DEBIAN_FASHION_MNIST.is_dir():
            raise FileNotFoundError(
                f"{DEBIAN_FASHION_MNIST} not found: install Debian's package with "
                "'apt-get install dataset-fashion-mnist', or pass data='sample' (the embedded sample) or a folder of "
                "MNIST-format IDX files")
        return _load_folder(DEBIAN_FASHION_MNIST, declared or tuple(range(10)),
                            "declared" if declared else "of Fashion-MNIST")
    return _load_folder(Path(data), declared, "declared")


def binarize(images: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Map images to ±1 visible units: ``+1`` where intensity ``>= threshold``, else ``-1``.

    Parameters
    ----------
    images : ndarray, shape (M, ...)
        uint8 pixels (intensity = pixel / 255) or floats already in [0, 1].
    threshold : float in (0, 1]
        Intensity threshold; ``sign(0) = +1`` so a pixel exactly at the threshold is +1.

    Returns
    -------
    ndarray of int8, shape (M, D)
        Flattened ±1 patterns.
    """
    images = np.asarray(images)
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"binarisation threshold must be in (0, 1], got {threshold}")
    if images.ndim < 2:
        raise ValueError(f"expected images of shape (M, ...), got shape {images.shape}")
    flat = images.reshape(images.shape[0], -1)
    if flat.dtype == np.uint8:
        # Integer form of pixel/255 >= t, free of float rounding: pixel >= ceil(255 t).
        cut = int(np.ceil(255.0 * float(threshold) - 1e-9))
        out = np.where(flat >= cut, 1, -1)
    elif np.issubdtype(flat.dtype, np.floating):
        if not np.all(np.isfinite(flat)):
            raise ValueError("images contain NaN or infinite values")
        if flat.min() < 0.0 or flat.max() > 1.0:
            raise ValueError(f"float images must lie in [0, 1]; found range [{flat.min()}, {flat.max()}]")
        out = np.where(flat >= threshold, 1, -1)
    else:
        raise TypeError(f"expected uint8 or float images, got dtype {flat.dtype}")
    return out.astype(np.int8)
