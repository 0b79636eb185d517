"""A stack of ``dense -> batch norm -> activation`` layers: architecture spec, inputs, forward and backward.

Layer ``i`` computes ``a_i = h_i W_i^T`` (no bias), ``z_i = BN(a_i)`` (no affine parameters) and, for hidden
layers, ``h_{i+1} = act(z_i)`` with ``act`` = ReLU or sign (straight-through hard-tanh gradient). The last
layer's ``z`` are the logits (as in BayesBiNN's ``MLPBinaryConnect``: Linear -> BN on the output too).
Dropout (optional) acts on the input of each dense layer: ``input_dropout`` before layer 0, ``dropout`` before
later layers.

Input modes (how uint8 pixels become the input of layer 0):

- ``real``: ``pixel / 255`` as float32 (the full-precision reading; not integer-exact at export).
- ``binary``: ``±1`` from :func:`lowprec_rbm.data.binarize` at ``threshold``.
- ``bitplanes``: the integer pixel value 0..255 as float32. A ±1 weight row dotted with it equals
  ``Σ_b 2^b (2·popcount(plane_b AND w⁺) − popcount(plane_b))`` over the 8 bit-planes, so the exported integer
  computation is exactly this training-time dot product (all partial sums stay below 2^24, so float32 is exact
  for ±1 weights). Batch norm after layer 0 removes any affine change of the input scale, so ``real`` and
  ``bitplanes`` train the same function.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple, Sequence

import numpy as np


__all__ = ["Architecture", "BNStats", "parse_hidden", "prepare_inputs",
           "forward_train", "backward", "forward_eval", "population_stats", "ACTIVATIONS", "INPUT_MODES"]

ACTIVATIONS = ("relu", "sign")
INPUT_MODES = ("real", "binary", "bitplanes")


def parse_hidden(spec: str | Sequence[int]) -> tuple[int, ...]:
    """``"1024,1024"`` or a sequence of ints -> tuple of positive hidden sizes (``""`` means no hidden layer)."""
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        try:
            sizes = tuple(int(p) for p in parts)
        except ValueError:
            raise ValueError(f"hidden sizes must be comma-separated positive integers like '1024,1024', "
                             f"got {spec!r}") from None
    else:
        try:
            sizes = tuple(int(s) for s in spec)
        except TypeError:
            raise TypeError(f"hidden sizes must be a string or a sequence of ints, got {type(spec).__name__}") \
                from None
        if any(int(s) != s for s in spec):
            raise ValueError(f"hidden sizes must be integers, got {list(spec)}")
    if any(s <= 0 for s in sizes):
        raise ValueError(f"hidden sizes must be positive, got {list(sizes)}")
    return sizes


@dataclass(frozen=True)
class Architecture:
    """What a network computes (everything except its weights and BN statistics).

    Parameters
    ----------
    sizes : tuple of int
        ``(n_inputs, hidden..., n_classes)``; layer ``i`` has weights of shape ``(sizes[i+1], sizes[i])``.
    activation : {"relu", "sign"}
    input : {"real", "binary", "bitplanes"}
    threshold : float
        Binarisation threshold (intensity in (0, 1]) for ``input="binary"``.
    bn_eps, bn_momentum : float
        Batch-norm epsilon and running-average momentum (PyTorch convention:
        ``running <- (1 - momentum) running + momentum batch``).
    dropout, input_dropout : float in [0, 1)
    ste_window : float
        Straight-through window of the sign activation (gradient passes where ``|z| <= ste_window``).
    """

    sizes: tuple[int, ...]
    activation: str = "relu"
    input: str = "real"
    threshold: float = 0.5
    bn_eps: float = 1e-4
    bn_momentum: float = 0.15
    dropout: float = 0.0
    input_dropout: float = 0.0
    ste_window: float = 1.0
    layers: tuple | None = None
    image_shape: tuple | None = None

    def __post_init__(self) -> None:
        sizes = tuple(int(s) for s in self.sizes)
        if len(sizes) < 2 or any(s <= 0 for s in sizes):
            raise ValueError(f"sizes must be at least (n_inputs, n_classes), all positive; got {list(sizes)}")
        object.__setattr__(self, "sizes", sizes)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.input not in INPUT_MODES:
            raise ValueError(f"input must be one of {INPUT_MODES}, got {self.input!r}")
        if not 0.0 < float(self.threshold) <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if not float(self.bn_eps) > 0.0:
            raise ValueError(f"bn_eps must be > 0, got {self.bn_eps}")
        if not 0.0 < float(self.bn_momentum) <= 1.0:
            raise ValueError(f"bn_momentum must be in (0, 1], got {self.bn_momentum}")
        for name in ("dropout", "input_dropout"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not float(self.ste_window) > 0.0:
            raise ValueError(f"ste_window must be > 0, got {self.ste_window}")
        if self.layers is not None:
            from lowprec_rbm.nn.stack.blocks import check_blocks

            blocks = tuple(dict(b) for b in self.layers)
            if self.image_shape is None or len(self.image_shape) != 3:
                raise ValueError(f"a network with conv blocks needs image_shape (H, W, C), got {self.image_shape}")
            shape = tuple(int(s) for s in self.image_shape)
            if any(s <= 0 for s in shape):
                raise ValueError(f"image_shape must be positive, got {list(shape)}")
            check_blocks(blocks, shape)
            if sizes[0] != shape[0] * shape[1] * shape[2] or sizes[-1] != blocks[-1]["out"]:
                raise ValueError(f"sizes {list(sizes)} must be (H*W*C, n_classes) for image_shape {list(shape)} "
                                 f"and an output block of {blocks[-1]['out']}")
            object.__setattr__(self, "layers", blocks)
            object.__setattr__(self, "image_shape", shape)
        elif self.image_shape is not None:
            raise ValueError("image_shape is for networks given as blocks (layers)")

    @property
    def blocks(self) -> tuple:
        """The block list (:mod:`lowprec_rbm.nn.stack.blocks`): ``layers``, or dense blocks from ``sizes``."""
        if self.layers is not None:
            return self.layers
        return tuple({"kind": "dense", "out": s} for s in self.sizes[1:])

    @property
    def in_shape(self) -> tuple:
        """Per-example input shape: (H, W, C) for a network with image inputs, else (n_inputs,)."""
        return self.image_shape if self.image_shape is not None else (self.sizes[0],)

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    @property
    def weight_shapes(self) -> list[tuple]:
        from lowprec_rbm.nn.stack.blocks import shapes

        return shapes(self.blocks, self.in_shape)[0]

    def network(self):
        """The :class:`lowprec_rbm.nn.stack.Network` this architecture computes (built once)."""
        net = self.__dict__.get("_network")
        if net is None:
            from lowprec_rbm.nn.stack import Options, network

            net = network(self.blocks, self.in_shape,
                          Options(self.activation, float(self.ste_window), float(self.bn_eps),
                                  float(self.bn_momentum), float(self.dropout), float(self.input_dropout)))
            object.__setattr__(self, "_network", net)
        return net

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sizes"] = list(self.sizes)
        if self.layers is None:
            del d["layers"], d["image_shape"]
        else:
            d["layers"] = [dict(b) for b in self.layers]
            d["image_shape"] = list(self.image_shape)
        return d


class BNStats(NamedTuple):
    """Batch-norm statistics of one layer (float64, shape (F,)): mean and (biased) variance."""

    mean: np.ndarray
    var: np.ndarray


def prepare_inputs(images: np.ndarray, mode: str, threshold: float = 0.5) -> np.ndarray:
    """uint8 images (M, H, W) or (M, D) -> float32 inputs (M, D) for the given input mode."""
    from lowprec_rbm.data import binarize

    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 pixels (0..255), got dtype {images.dtype}")
    if images.ndim < 2:
        raise ValueError(f"images must have shape (M, H, W) or (M, D), got {images.shape}")
    flat = images.reshape(images.shape[0], -1)
    if mode == "real":
        return flat.astype(np.float32) / np.float32(255.0)
    if mode == "binary":
        return binarize(flat, threshold).astype(np.float32)
    if mode == "bitplanes":
        return flat.astype(np.float32)
    raise ValueError(f"input mode must be one of {INPUT_MODES}, got {mode!r}")


def forward_train(weights: Sequence[np.ndarray], x: np.ndarray, arch: Architecture,
                  rng: np.random.Generator | None, running: list[BNStats] | None = None):
    """Training-mode forward pass of ``arch``'s network (:meth:`lowprec_rbm.nn.stack.Network.forward_train`):
    batch statistics, dropout active, ``running`` updated in place. Returns ``(logits, cache)``."""
    return arch.network().forward_train(weights, x, rng, running)


def backward(cache, g: np.ndarray, arch: Architecture) -> list[np.ndarray]:
    """Gradients of the loss w.r.t. each weight array, given ``g = dloss/dlogits``."""
    return arch.network().backward(cache, g)


def forward_eval(weights: Sequence[np.ndarray], x: np.ndarray, arch: Architecture, stats: Sequence[BNStats],
                 chunk: int | None = None) -> np.ndarray:
    """Evaluation forward pass with fixed BN statistics (no dropout); returns logits (M, n_classes)."""
    return arch.network().forward_eval(weights, x, stats, chunk)


def population_stats(weights: Sequence[np.ndarray], x: np.ndarray, arch: Architecture) -> list[BNStats]:
    """BN statistics of a fixed network over a calibration set, block by block
    (:meth:`lowprec_rbm.nn.stack.Network.population_stats`).

    Block ``i``'s mean and biased variance are those of its pre-activations over all of ``x`` when the earlier
    blocks are normalised with their own population statistics, i.e. exactly the statistics an evaluation-mode
    pass of this network should use (the "BN re-estimation" step for a network that was not the one seen in
    training: the MAP network of a posterior, a sampled network, the most probable ternary network).
    Sums are accumulated in float64.
    """
    return arch.network().population_stats(weights, x)
