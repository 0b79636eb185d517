"""Binary and ternary convolutional networks: :class:`CNNClassifier` (engine
:class:`lowprec_rbm.nn.classifier.Classifier`, layers :mod:`lowprec_rbm.nn.stack`, rules
:mod:`lowprec_rbm.nn.learners`).

A conv block is ``conv (no bias, stride 1, odd k, "same") -> batch norm (per channel) -> activation
[-> 2x2 max-pool]`` (arch token ``p``): the pool comes after the sign, so on ±1 values it is the OR of four bits,
exactly what the deployment computes on packed words, and in ternary VI's probabilistic forward pass it is the
exact max of independent ±1 units (:mod:`lowprec_rbm.nn.stack.maxpool`). Or, in the published order (token
``pf``), ``conv -> 2x2 max-pool -> batch norm -> activation``: the deployment pools the int32 fields before the
threshold, and the PFP pools Gaussian fields by Clark's moments. Then flatten in (row, column, channel) order,
dense blocks, and the output dense block + BN.

Padding is the deployment's from the first step: a conv on ±1 activations pads with +1; the first conv pads with
+1 for ``input="binary"`` and with 0 (a black pixel) for ``bitplanes``/``real``; ReLU networks pad with 0. The
value is recorded per block (``pad``) in the posterior's ``layers``.

Images: (M, H, W) (one channel) or (M, H, W, C) uint8; the image shape comes from the training data and is
recorded as ``image_shape``. Posterior kind ``"cnn"`` (:mod:`lowprec_rbm.nn.schema`).
"""
from __future__ import annotations

import numbers
from typing import Any, Mapping, Sequence

import numpy as np

from lowprec_rbm.nn.classifier import Classifier
from lowprec_rbm.nn.network import Architecture
from lowprec_rbm.nn.stack import blocks as B

__all__ = ["CNNClassifier"]


def _arch_ok(value) -> bool:
    """an architecture string like 'c32,p,c64,p,d256' or a list of block dicts"""
    return isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(b, Mapping) for b in value))


def _image_shape_ok(value) -> bool:
    """None, or (H, W) or (H, W, C) of positive ints with at most one -1 (inferred from n_features)"""
    if value is None:
        return True
    if not isinstance(value, (tuple, list)) or len(value) not in (2, 3):
        return False
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and (v > 0 or v == -1) for v in value):
        return False
    return sum(v == -1 for v in value) <= 1


class CNNClassifier(Classifier):
    """Convolutional classifier with ±1, ternary or real weights (a scikit-learn compatible classifier).

    Images: ``X`` of shape (M, H, W) (one channel) or (M, H, W, C); or flat (M, D) with ``image_shape`` saying
    how each row is an image (row-major (H, W, C), as ``X.reshape(M, H, W, C)``). The image shape always comes
    from the data or from ``image_shape``, never assumed.

    Parameters
    ----------
    arch : str or sequence of dict, default "c32,p,c64,p,d256"
        Hidden blocks as an architecture string (``cO``: 3x3 conv with O channels, ``cOkK``: K x K conv,
        ``p``: 2x2 max-pool after the preceding conv block's activation, ``pf``: 2x2 max-pool of its fields
        before its batch norm, ``dN``: dense layer; the output block is added from
        the classes) or as block dicts (:mod:`lowprec_rbm.nn.stack.blocks`, pad values included).
    image_shape : tuple (H, W) or (H, W, C), optional
        Shape of one image for flat ``X`` (M, H*W*C); one entry may be -1 (inferred, as in ``numpy.reshape``).
        With 3-d/4-d ``X`` it must agree with the data when given. Needed to use the CNN in scikit-learn
        pipelines and searches, which pass 2-d arrays.
    activation : {"sign", "relu"}, default "sign"
    input_encoding, threshold, rule, learning_rate, rule_params, schedule, epochs, batch_size, bn_eps, \
bn_momentum, dropout, input_dropout, bn_eval, bn_calib, test_samples, eval_mean_every, logit_scale, \
predict_mode, warm_start, prior, random_state, verbose
        As :class:`~lowprec_rbm.nn.classifier.Classifier`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        H * W * C.
    params_, deploy_stats_, history_, seed_
        As :class:`~lowprec_rbm.nn.classifier.Classifier`.

    Examples
    --------
    >>> import numpy as np
    >>> from lowprec_rbm.nn import CNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(120, 6, 6), dtype=np.uint8)      # 120 images of 6x6 pixels
    >>> y = np.where(X[:, :3].mean(axis=(1, 2)) > X[:, 3:].mean(axis=(1, 2)), "top", "bottom")
    >>> clf = CNNClassifier(arch="c4,p,d8", epochs=2, batch_size=20, random_state=0).fit(X, y)
    >>> clf.classes_.tolist(), clf.n_features_in_
    (['bottom', 'top'], 36)
    >>> clf.predict(X[:4]).shape
    (4,)
    >>> flat = CNNClassifier(arch="c4,p,d8", image_shape=(6, 6), epochs=2, batch_size=20).fit(X.reshape(120, 36), y)
    >>> flat.arch_.image_shape
    (6, 6, 1)
    """

    KIND = "cnn"
    _parameter_constraints = {**Classifier._parameter_constraints, "arch": [_arch_ok],
                              "image_shape": [_image_shape_ok]}

    def __init__(self, *, arch: str | Sequence[dict] = "c32,p,c64,p,d256", image_shape: tuple | None = None,
                 activation: str = "sign", input_encoding: str = "real", threshold: float = 0.5,
                 rule: str = "bayesbinn", learning_rate: float | None = None,
                 rule_params: Mapping[str, Any] | None = None, schedule: str = "cosine", epochs: int = 10,
                 batch_size: int = 100, bn_eps: float = 1e-4, bn_momentum: float = 0.15, dropout: float = 0.0,
                 input_dropout: float = 0.0, bn_eval: str = "recompute", bn_calib: int = 10000,
                 test_samples: int = 10, eval_mean_every: int = 0, logit_scale: str = "learned",
                 predict_mode: str = "map", warm_start: bool = False, prior: str = "uniform", random_state=0,
                 verbose: bool | int = False):
        self._store(locals())

    @classmethod
    def _param_from_json(cls, name, value):
        if name == "image_shape" and isinstance(value, list):
            return tuple(value)
        return super()._param_from_json(name, value)

    def hidden_blocks(self) -> list[dict]:
        """The hidden blocks this classifier's ``arch`` describes (pad values filled in)."""
        if isinstance(self.arch, str):
            return B.parse_arch(self.arch, self.input_encoding, self.activation)
        if isinstance(self.arch, (list, tuple)):
            return [dict(b) for b in self.arch]
        raise TypeError(f"arch must be a string like 'c32,p,c64,p,d256' or a list of blocks, got "
                        f"{type(self.arch).__name__}")

    def _resolved_image_shape(self, n_features: int) -> tuple[int, int, int]:
        """``image_shape`` as (H, W, C) for rows of ``n_features`` values (a -1 inferred)."""
        shape = tuple(int(v) for v in self.image_shape)
        if len(shape) == 2:
            shape = shape + (1,)
        known = int(np.prod([v for v in shape if v != -1]))
        if -1 in shape:
            if n_features % known:
                raise ValueError(f"X has {n_features} features, not a multiple of {known}: image_shape="
                                 f"{self.image_shape} cannot be inferred")
            shape = tuple(n_features // known if v == -1 else v for v in shape)
        return shape

    def _shape_images(self, X: np.ndarray, what: str) -> np.ndarray:
        if X.ndim == 2:
            if self.image_shape is None:
                raise ValueError(f"{what}: a CNN needs images (M, H, W) or (M, H, W, C), got flat X of shape "
                                 f"{X.shape}; pass image_shape=(H, W) or (H, W, C) to use flat rows")
            shape = self._resolved_image_shape(X.shape[1])
            if int(np.prod(shape)) != X.shape[1]:
                if hasattr(self, "n_features_in_"):
                    raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                                     f"{self.n_features_in_} features as input ({what})")
                raise ValueError(f"{what}: X has {X.shape[1]} features per row, image_shape={self.image_shape} "
                                 f"has {int(np.prod(shape))}")
            return X.reshape((X.shape[0],) + shape)
        if X.ndim == 3:
            X = X[..., None]
        if X.ndim != 4:
            raise ValueError(f"{what}: a CNN needs images of shape (M, H, W) or (M, H, W, C), or flat (M, D) "
                             f"with image_shape, got {X.shape}. Reshape your data")
        if self.image_shape is not None:
            want = self._resolved_image_shape(int(np.prod(X.shape[1:])))
            if tuple(X.shape[1:]) != want:
                raise ValueError(f"{what}: images have shape {X.shape[1:]}, but image_shape={self.image_shape}")
        return X

    def _architecture(self, in_shape, n_classes, common) -> Architecture:
        blocks = self.hidden_blocks() + [{"kind": "dense", "out": int(n_classes)}]
        h, w, c = in_shape
        return Architecture((h * w * c, int(n_classes)), layers=tuple(blocks), image_shape=tuple(in_shape),
                            **common)

    def _arch_config(self) -> dict:
        return {"arch": B.arch_string(self.arch_.blocks)}

    def config(self) -> dict:
        cfg = super().config()
        cfg.pop("sizes", None)     # a CNN is described by 'layers' and 'image_shape'
        return cfg

    def _arch_identity(self) -> dict:
        return {"layers": [dict(b) for b in self.arch_.blocks], "image_shape": list(self.arch_.image_shape)}

    @staticmethod
    def _arch_text(arch) -> str:
        return f"{B.arch_string(arch.blocks)} on {arch.image_shape}"

    @classmethod
    def _arch_kwargs(cls, lay) -> dict:
        if lay.image_shape is None:
            raise ValueError("this posterior is not a convolutional network: load it with MLPClassifier")
        return {"arch": [dict(b) for b in lay.blocks[:-1]]}
