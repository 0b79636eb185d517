"""The neutral description of a deployable network: what any trainer fills and every exporter reads.

Nothing here knows about training. A trainer (ours, or a user's PyTorch model) produces integer weights,
integer thresholds and shapes; the ONNX builder, the C emitter and the reference simulator consume them.

Two network kinds:

``MLPNetwork``  input -> [Dense -> Threshold]* -> Dense -> OutputAffine -> argmax
    Dense      y[b, n] = Σ_k x[b, k] w[n, k]      (x ±1, or uint8 pixels for a bit-plane first layer;
                                                  w in {-1,+1} or {-1,0,+1}); int32
    Threshold  bit[b, n] = (s[n] * y[b, n] >= t[n]),  s in {-1, 0, +1}, t int32  (bit 1 means +1)
    Output     score[b, c] = scale[c] * y[b, c] + offset[c] (int32); class = first index of the max
               (the graph's class index c; its label is ``class_labels[c]``, from ``meta["classes"]``)

``RBMNetwork``  binary-synapse RBM, weights ξ (N visible x P hidden) in {-1,+1}
    hidden fields  X[b, a] = Σ_i σ[b, i] ξ[i, a]       visible fields  Y[b, i] = Σ_a h[b, a] ξ[i, a]
    MAP bits       h = (X >= 0)
    P(h_a = +1 | σ) = sigmoid(2 β X_a / √N)   read from a table over the K+1 values X in {-K, -K+2, ..., K}
    Gibbs sampling with the counter-based PRNG of ``export.prng`` and uint32 acceptance tables.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from export.prng import probability_to_threshold

__all__ = [
    "InputSpec", "Dense", "Threshold", "OutputAffine", "MLPNetwork", "RBMNetwork",
    "fold_batchnorm", "fold_output_batchnorm", "field_table_index", "rbm_tables",
]

InputKind = Literal["pm1", "threshold", "bitplanes"]
_INT32 = 2**31 - 1


@dataclass(frozen=True)
class InputSpec:
    """How raw input becomes the first layer's operand.

    kind : ``"pm1"``       int8 ±1 input, packed directly.
           ``"threshold"`` uint8 or float32 input x; bit = (x >= threshold) (pixels: threshold 128 = half intensity).
           ``"bitplanes"`` uint8 pixels used exactly: the first Dense computes Σ_k p_k w_k with 8 bit-planes.
    size : number of input features K.
    dtype : ``"int8"`` (pm1), ``"uint8"`` or ``"float32"``.
    """

    kind: InputKind
    size: int
    dtype: str = "uint8"
    threshold: float = 128.0
    bits: int = 8

    def __post_init__(self) -> None:
        if self.kind not in ("pm1", "threshold", "bitplanes"):
            raise ValueError(f"input kind must be 'pm1', 'threshold' or 'bitplanes', got {self.kind!r}")
        if int(self.size) < 1:
            raise ValueError(f"input size must be >= 1, got {self.size}")
        allowed = {"pm1": ("int8",), "threshold": ("uint8", "float32"), "bitplanes": ("uint8",)}[self.kind]
        if self.dtype not in allowed:
            raise ValueError(f"input kind {self.kind!r} takes dtype {' or '.join(allowed)}, got {self.dtype!r}")
        if self.kind == "bitplanes" and self.bits != 8:
            raise ValueError(f"bit-plane input supports 8-bit pixels only, got bits={self.bits}")


def _int_array(a: Any, name: str, dtype, shape=None) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {a.dtype}")
    info = np.iinfo(dtype)
    if a.size and (a.min() < info.min or a.max() > info.max):
        raise ValueError(f"{name} has values outside the range of {np.dtype(dtype).name}")
    a = a.astype(dtype)
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    return a


@dataclass(frozen=True)
class Dense:
    """Binary or ternary weights, int8 of shape (out_features, in_features)."""

    weight: np.ndarray

    def __post_init__(self) -> None:
        w = _int_array(self.weight, "Dense.weight", np.int8)
        if w.ndim != 2 or min(w.shape) < 1:
            raise ValueError(f"Dense.weight must be 2-d (out, in) with both >= 1, got shape {w.shape}")
        if not np.all((w >= -1) & (w <= 1)):
            raise ValueError("Dense.weight values must be in {-1, +1} (binary) or {-1, 0, +1} (ternary)")
        object.__setattr__(self, "weight", w)

    @property
    def ternary(self) -> bool:
        """True when any weight is 0 (then the layer needs a mask plane)."""
        return bool(np.any(self.weight == 0))

    @property
    def shape(self) -> tuple[int, int]:
        return self.weight.shape


@dataclass(frozen=True)
class Threshold:
    """Per-channel integer thresholds with sign flips: bit = (s * y >= t)."""

    s: np.ndarray
    t: np.ndarray

    def __post_init__(self) -> None:
        s = _int_array(self.s, "Threshold.s", np.int8)
        t = _int_array(self.t, "Threshold.t", np.int32)
        if s.ndim != 1 or t.shape != s.shape:
            raise ValueError(f"Threshold.s and .t must be 1-d of equal length, got {s.shape} and {t.shape}")
        if not np.all((s >= -1) & (s <= 1)):
            raise ValueError("Threshold.s values must be -1, 0 or +1")
        object.__setattr__(self, "s", s)
        object.__setattr__(self, "t", t)

    def apply(self, y: np.ndarray) -> np.ndarray:
        """Reference semantics: ±1 int8 of the shape of ``y`` (int32 (B, N))."""
        return np.where(self.s.astype(np.int64) * y >= self.t, 1, -1).astype(np.int8)


@dataclass(frozen=True)
class OutputAffine:
    """Integer class scores: scale * y + offset (int32); the class is the first index of the maximum."""

    scale: np.ndarray
    offset: np.ndarray

    def __post_init__(self) -> None:
        sc = _int_array(self.scale, "OutputAffine.scale", np.int32)
        of = _int_array(self.offset, "OutputAffine.offset", np.int32)
        if sc.ndim != 1 or of.shape != sc.shape:
            raise ValueError(f"OutputAffine.scale and .offset must be 1-d of equal length, got {sc.shape}, {of.shape}")
        object.__setattr__(self, "scale", sc)
        object.__setattr__(self, "offset", of)

    @classmethod
    def identity(cls, n: int) -> "OutputAffine":
        return cls(np.ones(n, np.int32), np.zeros(n, np.int32))


def _max_abs_field(dense: Dense, inp: InputSpec | None) -> int:
    k = dense.shape[1]
    return k * (255 if inp is not None and inp.kind == "bitplanes" else 1)


@dataclass(frozen=True)
class MLPNetwork:
    """Fully binary/ternary MLP with sign activations.

    hidden : sequence of (Dense, Threshold); output : (Dense, OutputAffine). ``meta`` is JSON-able config that
    is written into the artifact (model kind, training config summary, class names ...). ``meta["classes"]``,
    when present, lists the label of each output unit (distinct ints >= 0, one per output; a trainer that saw
    only labels {3, 5} has 2 outputs labelled [3, 5]); absent, output ``c`` is label ``c``.
    """

    input: InputSpec
    hidden: tuple[tuple[Dense, Threshold], ...]
    output: tuple[Dense, OutputAffine]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(tuple(p) for p in self.hidden))
        k = self.input.size
        layers = [d for d, _ in self.hidden] + [self.output[0]]
        for i, (d, thr) in enumerate(list(self.hidden) + [self.output]):
            if d.shape[1] != k:
                raise ValueError(f"layer {i} expects {d.shape[1]} inputs but receives {k}")
            n_out = thr.s.shape[0] if isinstance(thr, Threshold) else thr.scale.shape[0]
            if n_out != d.shape[0]:
                raise ValueError(f"layer {i} has {d.shape[0]} outputs but its threshold/affine has {n_out}")
            k = d.shape[0]
        if self.input.kind == "bitplanes" and len(layers) and _max_abs_field(layers[0], self.input) > _INT32:
            raise ValueError("bit-plane first layer would overflow int32")
        d_out, aff = self.output
        bound = int(np.max(np.abs(aff.scale.astype(np.int64)))) * _max_abs_field(
            d_out, self.input if not self.hidden else None) + int(np.max(np.abs(aff.offset.astype(np.int64))))
        if bound > _INT32:
            raise ValueError(f"output scores could reach {bound}, beyond int32; use a smaller scale")
        self.class_labels  # validates meta["classes"]

    @property
    def layers(self) -> list[Dense]:
        return [d for d, _ in self.hidden] + [self.output[0]]

    @property
    def class_labels(self) -> tuple[int, ...]:
        """The label of each output unit: ``meta["classes"]``, or ``0..n_out-1`` when absent."""
        n_out = self.output[0].shape[0]
        classes = self.meta.get("classes")
        if classes is None:
            return tuple(range(n_out))
        if (not isinstance(classes, (list, tuple))
                or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in classes)):
            raise TypeError(f"meta['classes'] must be a list of ints, got {classes!r}")
        if len(classes) != n_out or len(set(classes)) != n_out or min(classes) < 0:
            raise ValueError(f"meta['classes'] must list {n_out} distinct labels >= 0 (one per output), "
                             f"got {list(classes)}")
        return tuple(int(c) for c in classes)


@dataclass(frozen=True)
class RBMNetwork:
    """Binary-synapse RBM: weight ξ int8 (N, P) in {-1,+1}, inverse temperature β > 0."""

    weight: np.ndarray
    beta: float = 1.0
    input: InputSpec | None = None
    gibbs_steps: int = 1
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        w = _int_array(self.weight, "RBMNetwork.weight", np.int8)
        if w.ndim != 2 or min(w.shape) < 1 or not np.all((w == 1) | (w == -1)):
            raise ValueError(f"RBMNetwork.weight must be ±1 of shape (N, P), got shape {w.shape}")
        object.__setattr__(self, "weight", w)
        if not (math.isfinite(self.beta) and self.beta > 0):
            raise ValueError(f"beta must be a finite number > 0, got {self.beta}")
        if self.gibbs_steps < 0:
            raise ValueError(f"gibbs_steps must be >= 0, got {self.gibbs_steps}")
        if self.input is None:
            object.__setattr__(self, "input", InputSpec("pm1", w.shape[0], dtype="int8"))
        elif self.input.kind == "bitplanes" or self.input.size != w.shape[0]:
            raise ValueError("RBM input must be 'pm1' or 'threshold' with size N")

    @property
    def n_visible(self) -> int:
        return self.weight.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.weight.shape[1]


def field_table_index(y: np.ndarray, k: int) -> np.ndarray:
    """Index into a field table for fields y in {-k, -k+2, ..., k}: (y + k) >> 1 (int64)."""
    return (np.asarray(y).astype(np.int64) + k) >> 1


def rbm_tables(net: RBMNetwork) -> dict[str, np.ndarray]:
    """Probability tables of the RBM conditionals over the finite set of integer fields.

    Returns float32 probabilities and uint32 acceptance thresholds (see ``export.prng``):
    ``p_hidden``/``t_hidden`` of length N+1 (hidden fields range over ±N), ``p_visible``/``t_visible`` of
    length P+1. Entry j is for field 2j - K: P(+1 | field) = sigmoid(2 β field / √N).
    """
    n, p = net.weight.shape
    out = {}
    for name, k in (("hidden", n), ("visible", p)):
        fields = 2.0 * np.arange(k + 1) - k
        prob = 0.5 * (1.0 + np.tanh(net.beta * fields / math.sqrt(n)))  # = sigmoid(2 β f / √N)
        out[f"p_{name}"] = prob.astype(np.float32)
        out[f"t_{name}"] = probability_to_threshold(prob)
    return out


def fold_batchnorm(mean, var, eps: float, gamma=None, beta=None, *, k: int | None = None) -> Threshold:
    """Fold sign(BN(y)) for integer y into a Threshold (exact for every integer y).

    BN(y) = a (y - μ) + β with a = γ / sqrt(var + eps). sign(BN(y)) = +1 (sign(0) = +1) iff
      a > 0:  y >= μ - β/a            ->  s = +1, t = ceil(μ - β/a)
      a < 0:  y <= μ - β/a            ->  s = -1, t = -floor(μ - β/a)   (-y >= -floor(...))
      a = 0:  β >= 0 (constant)       ->  s =  0, t = 0 if β >= 0 else 1
    Thresholds are clipped to ±(k+1) when the fan-in k is given (beyond that the comparison is constant),
    which keeps them in int32.
    """
    mean = np.asarray(mean, np.float64)
    var = np.asarray(var, np.float64)
    gamma = np.ones_like(mean) if gamma is None else np.asarray(gamma, np.float64)
    beta = np.zeros_like(mean) if beta is None else np.asarray(beta, np.float64)
    if np.any(var + eps < 0) or not np.all(np.isfinite(mean)) or not np.all(np.isfinite(var)):
        raise ValueError("batch-norm statistics must be finite with var + eps >= 0")
    denom = np.sqrt(var + eps)
    a = np.divide(gamma, denom, out=np.zeros_like(gamma), where=denom > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = np.where(a != 0, mean - beta / np.where(a != 0, a, 1.0), 0.0)
    limit = float(k + 1) if k is not None else 2.0**31 - 2
    cut = np.clip(cut, -limit, limit)
    s = np.sign(a).astype(np.int8)
    t = np.where(a > 0, np.ceil(cut), np.where(a < 0, -np.floor(cut), np.where(beta >= 0, 0, 1)))
    return Threshold(s, t.astype(np.int64))


def fold_output_batchnorm(mean, var, eps: float, gamma=None, beta=None, *, k: int, frac_bits: int = 16) -> OutputAffine:
    """Integer output scores approximating BN(y) = a (y - μ) + β by round(2^f a) y + round(2^f (β - a μ)).

    The argmax of these integers is an exactly defined integer computation (identical on every target); it
    equals the argmax of the float BN output except where two classes' BN outputs differ by less than the
    rounding error (k + 1) 2^-f max|a|-relative. ``frac_bits`` is reduced until |scores| fit in int32.
    """
    mean = np.asarray(mean, np.float64)
    var = np.asarray(var, np.float64)
    gamma = np.ones_like(mean) if gamma is None else np.asarray(gamma, np.float64)
    beta = np.zeros_like(mean) if beta is None else np.asarray(beta, np.float64)
    a = gamma / np.sqrt(var + eps)
    b = beta - a * mean
    f = int(frac_bits)
    while f > 0:
        scale = np.round(a * 2.0**f)
        offset = np.round(b * 2.0**f)
        if np.max(np.abs(scale)) * k + np.max(np.abs(offset)) <= _INT32:
            break
        f -= 1
    return OutputAffine(np.round(a * 2.0**f).astype(np.int64), np.round(b * 2.0**f).astype(np.int64))
