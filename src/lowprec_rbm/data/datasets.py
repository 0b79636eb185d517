"""MNIST-format datasets: a folder of four IDX files, Debian's Fashion-MNIST, or the embedded sample.

The embedded sample is 2,000 training and 500 test images of Fashion-MNIST (the first ones of each Debian
file), quantised to 16 grey levels (``pixel >> 4``, decoded as ``q * 17``) and compressed with xz: about
400 kB. Quantisation keeps binarisation at half intensity exact: ``v >= 128`` iff ``v >> 4 >= 8`` iff
``17 * (v >> 4) >= 128``. ``scripts/make_sample.py`` regenerates it from the Debian files.
"""
from __future__ import annotations

import io
import lzma
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from lowprec_rbm.data.idx import IDXError, read_idx

__all__ = ["Dataset", "DEBIAN_FASHION_MNIST", "load_dataset", "load_embedded_sample", "binarize", "SAMPLE_NAME"]

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
    note : str
        Anything a user should know about the data (quantisation of the embedded sample).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    note: str = ""
    n_classes: int = field(default=10)

    @property
    def n_pixels(self) -> int:
        return int(np.prod(self.x_train.shape[1:]))

    def describe(self) -> dict:
        """JSON-able summary for configs."""
        return {
            "source": self.source,
            "note": self.note,
            "n_train": int(self.x_train.shape[0]),
            "n_test": int(self.x_test.shape[0]),
            "image_shape": list(self.x_train.shape[1:]),
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


def _load_folder(folder: Path) -> Dataset:
    if not folder.is_dir():
        raise FileNotFoundError(f"data folder {str(folder)!r} does not exist")
    arrays = {key: read_idx(_find(folder, stem)) for key, stem in _FILES.items()}
    _check_pair(arrays["x_train"], arrays["y_train"], f"{folder} (training files)")
    _check_pair(arrays["x_test"], arrays["y_test"], f"{folder} (test files)")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise IDXError(f"{folder}: training images are {arrays['x_train'].shape[1:]} but test images are "
                       f"{arrays['x_test'].shape[1:]}")
    return Dataset(**arrays, source=str(folder.resolve()))


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


def load_dataset(data: str | os.PathLike | None = None) -> Dataset:
    """Load a dataset.

    Parameters
    ----------
    data : None, ``"sample"``, ``"debian"`` or a folder
        ``None`` (auto): Debian's Fashion-MNIST at ``/usr/share/datasets/fashion-mnist`` when installed,
        else the embedded sample. ``"sample"``: the embedded sample. ``"debian"``: Debian's files (error if
        the package ``dataset-fashion-mnist`` is not installed). Otherwise a folder with the four IDX files.
    """
    if data is None:
        return _load_folder(DEBIAN_FASHION_MNIST) if DEBIAN_FASHION_MNIST.is_dir() else load_embedded_sample()
    if str(data) == "sample":
        return load_embedded_sample()
    if str(data) == "debian":
        if not DEBIAN_FASHION_MNIST.is_dir():
            raise FileNotFoundError(
                f"{DEBIAN_FASHION_MNIST} not found: install Debian's package with "
                "'apt-get install dataset-fashion-mnist', or pass --data DIR or --data sample")
        return _load_folder(DEBIAN_FASHION_MNIST)
    return _load_folder(Path(data))


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
