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

from typing import Sequence

import numpy as np

from lowprec_rbm.nn.classifier import Classifier
from lowprec_rbm.nn.network import Architecture
from lowprec_rbm.nn.stack import blocks as B

__all__ = ["CNNClassifier"]


class CNNClassifier(Classifier):
    """Convolutional classifier with ±1, ternary or real weights.

    Parameters
    ----------
    arch : str or sequence of dict, default "c32,p,c64,p,d256"
        Hidden blocks as an architecture string (``cO``: 3x3 conv with O channels, ``cOkK``: K x K conv,
        ``p``: 2x2 max-pool after the preceding conv block's activation, ``pf``: 2x2 max-pool of its fields
        before its batch norm, ``dN``: dense layer; the output block is added from
        the classes) or as block dicts (:mod:`lowprec_rbm.nn.stack.blocks`, pad values included).
    activation : {"sign", "relu"}, default "sign"
    **kwargs
        Everything else as :class:`~lowprec_rbm.nn.classifier.Classifier`.
    """

    KIND = "cnn"

    def __init__(self, arch: str | Sequence[dict] = "c32,p,c64,p,d256", activation: str = "sign", **kwargs):
        super().__init__(activation=activation, **kwargs)
        self.arch = arch

    def hidden_blocks(self) -> list[dict]:
        """The hidden blocks this classifier's ``arch`` describes (pad values filled in)."""
        if isinstance(self.arch, str):
            return B.parse_arch(self.arch, self.input, self.activation)
        if isinstance(self.arch, (list, tuple)):
            return [dict(b) for b in self.arch]
        raise TypeError(f"arch must be a string like 'c32,p,c64,p,d256' or a list of blocks, got "
                        f"{type(self.arch).__name__}")

    def _shape_images(self, X: np.ndarray, what: str) -> np.ndarray:
        if X.ndim == 3:
            X = X[..., None]
        if X.ndim != 4 or X.shape[0] < 1:
            raise ValueError(f"{what}: a CNN needs images of shape (M, H, W) or (M, H, W, C) with M >= 1, got "
                             f"{X.shape}")
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
