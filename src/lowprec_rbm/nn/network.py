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

from lowprec_rbm.nn import layers as L

__all__ = ["Architecture", "BNStats", "parse_hidden", "prepare_inputs", "TrainCache",
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

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def weight_shapes(self) -> list[tuple[int, int]]:
        return [(self.sizes[i + 1], self.sizes[i]) for i in range(self.n_layers)]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sizes"] = list(self.sizes)
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


class TrainCache(NamedTuple):
    inputs: list          # h_i fed to dense layer i (after dropout)
    drop_masks: list      # dropout mask per layer (None = no dropout)
    bn: list              # BatchNormCache per layer
    z: list               # BN outputs of hidden layers (for the activation gradient)
    weights: list


def forward_train(weights: Sequence[np.ndarray], x: np.ndarray, arch: Architecture,
                  rng: np.random.Generator | None, running: list[BNStats] | None = None):
    """Training-mode forward pass (batch statistics; dropout active).

    Parameters
    ----------
    weights : list of (out, in) arrays, the weights this pass sees
    x : (B, n_inputs) prepared inputs
    running : list of BNStats, optional
        Updated in place (entries replaced) with the batch statistics, using ``arch.bn_momentum``; the running
        variance uses the unbiased batch variance, as PyTorch does.

    Returns
    -------
    logits : (B, n_classes)
    cache : TrainCache
    """
    dt = x.dtype
    h = x
    inputs, masks, bns, zs = [], [], [], []
    mom = arch.bn_momentum
    nb = x.shape[0]
    for i, w in enumerate(weights):
        rate = arch.input_dropout if i == 0 else arch.dropout
        if rate > 0.0 and rng is None:
            raise ValueError("dropout needs a random generator")
        h, mask = L.dropout_forward(h, rate, rng)
        inputs.append(h)
        masks.append(mask)
        a = L.dense_forward(h, w.astype(dt, copy=False))
        z, cache, bmean, bvar = L.batchnorm_forward(a, arch.bn_eps)
        bns.append(cache)
        if running is not None:
            unbiased = bvar * (nb / max(nb - 1, 1))
            old = running[i]
            running[i] = BNStats((1 - mom) * old.mean + mom * bmean.astype(np.float64),
                                 (1 - mom) * old.var + mom * unbiased.astype(np.float64))
        if i < len(weights) - 1:
            zs.append(z)
            h = L.relu_forward(z) if arch.activation == "relu" else L.sign_forward(z)
        else:
            zs.append(None)
            h = z
    return h, TrainCache(inputs, masks, bns, zs, list(weights))


def backward(cache: TrainCache, g: np.ndarray, arch: Architecture) -> list[np.ndarray]:
    """Gradients of the loss w.r.t. each weight matrix, given ``g = dloss/dlogits`` (B, n_classes)."""
    n = len(cache.weights)
    grads: list[np.ndarray] = [None] * n  # type: ignore[list-item]
    for i in range(n - 1, -1, -1):
        if i < n - 1:
            z = cache.z[i]
            g = L.relu_backward(g, z) if arch.activation == "relu" else L.sign_backward(g, z, arch.ste_window)
        g = L.batchnorm_backward(g, cache.bn[i])
        w = cache.weights[i].astype(g.dtype, copy=False)
        gx, gw = L.dense_backward(g, cache.inputs[i], w, need_input_grad=i > 0)
        grads[i] = gw
        if i > 0:
            g = L.dropout_backward(gx, cache.drop_masks[i])
    return grads


def forward_eval(weights: Sequence[np.ndarray], x: np.ndarray, arch: Architecture, stats: Sequence[BNStats],
                 chunk: int = 4096) -> np.ndarray:
    """Evaluation forward pass with fixed BN statistics (no dropout); returns logits (M, n_classes)."""
    out = []
    ws = [w.astype(x.dtype, copy=False) for w in weights]
    for s in range(0, x.shape[0], chunk):
        h = x[s:s + chunk]
        for i, w in enumerate(ws):
            z = L.batchnorm_eval(L.dense_forward(h, w), stats[i].mean, stats[i].var, arch.bn_eps)
            if i < len(ws) - 1:
                h = L.relu_forward(z) if arch.activation == "relu" else L.sign_forward(z)
            else:
                h = z
        out.append(h)
    return np.concatenate(out, axis=0) if out else np.zeros((0, arch.sizes[-1]), x.dtype)


def population_stats(weights: Sequence[np.ndarray], x: np.ndarray, arch: Architecture) -> list[BNStats]:
    """BN statistics of a fixed network over a calibration set, layer by layer.

    Layer ``i``'s mean and biased variance are those of its pre-activations over all of ``x`` when the earlier
    layers are normalised with their own population statistics, i.e. exactly the statistics an evaluation-mode
    pass of this network should use (the "BN re-estimation" step for a network that was not the one seen in
    training: the MAP network of a posterior, a sampled network, the most probable ternary network).
    Sums are accumulated in float64.
    """
    stats: list[BNStats] = []
    h = x
    ws = [w.astype(x.dtype, copy=False) for w in weights]
    for i, w in enumerate(ws):
        a = L.dense_forward(h, w)
        mean = a.mean(axis=0, dtype=np.float64)
        var = np.mean((a.astype(np.float64) - mean) ** 2, axis=0)
        stats.append(BNStats(mean, var))
        if i < len(ws) - 1:
            z = L.batchnorm_eval(a, mean, var, arch.bn_eps)
            h = L.relu_forward(z) if arch.activation == "relu" else L.sign_forward(z)
    return stats
