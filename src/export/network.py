"""The neutral description of a deployable network: what any trainer fills and every exporter reads.

Nothing here knows about training. A trainer (ours, or a user's PyTorch model) produces integer weights,
integer thresholds and shapes; the ONNX builder, the C emitter and the reference simulator consume them.

Three network kinds:

``MLPNetwork``  input -> [Dense -> Threshold]* -> Dense -> OutputAffine -> argmax
    Dense      y[b, n] = Σ_k x[b, k] w[n, k]      (x ±1, or uint8 pixels for a bit-plane first layer;
                                                  w in {-1,+1} or {-1,0,+1}); int32
    Threshold  bit[b, n] = (s[n] * y[b, n] >= t[n]),  s in {-1, 0, +1}, t int32  (bit 1 means +1)
    Output     score[b, c] = scale[c] * y[b, c] + offset[c] (int64, |score| <= 2^53); class = first index
               of the max (the graph's class index c; its label is ``class_labels[c]``, from ``meta["classes"]``)
    An MLPNetwork may also carry the real-valued batch norms its integers were folded from (``RealBatchNorm``):
    the independent ground truth that ``targets.ground_truth.real_forward`` checks the integers against.

``CNNNetwork``  input -> [Conv2d -> Threshold -> (2x2 max-pool)]+ -> flatten -> [Dense -> Threshold]* -> Dense
                -> OutputAffine -> argmax; activations NHWC, conv weights (O, k, k, C), odd k, stride 1, "same"
                size, every position outside the image reads the layer's ``pad`` value (±1, or a pixel value
                for a bit-plane first layer). A conv block pools in one of two places (:data:`POOL_KINDS`):
                ``"bits"`` after the threshold (max of ±1 values = the OR of the four bits), or ``"fields"``
                before it (the published order conv -> max-pool -> BN -> sign: the max of the four int32 fields,
                then the threshold).

``RBMNetwork``  binary-synapse RBM, weights ξ (N visible x P hidden) in {-1,+1}, optional real fields (biases)
               b (N,) and c (P,): p(σ, h) ∝ exp(β[σᵀξh/√N + bᵀσ + cᵀh])
    hidden fields  X[b, a] = Σ_i σ[b, i] ξ[i, a]       visible fields  Y[b, i] = Σ_a h[b, a] ξ[i, a]   (int32)
    MAP bits       h_a = (X_a >= t_a), t_a = the least X with β X/√N + β c_a >= 0 in float64 (0 without c), so
                   the integer comparison is exactly the real one, as batch norm folds into thresholds for the MLP
    P(h_a = +1 | σ) = sigmoid(2β(X_a/√N + c_a)), P(σ_i = +1 | h) = sigmoid(2β(Y_i/√N + b_i)), read from tables
                   over the K+1 values X in {-K, -K+2, ..., K}: for a side (hidden / visible) without fields one
                   table shared by its units, with fields one row per unit (shape (units, K+1))
    Gibbs sampling with the counter-based PRNG of ``export.prng`` and uint32 acceptance tables.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from export.compact_table import CompactTable, compact_rows
from export.prng import probability_to_threshold

__all__ = [
    "InputSpec", "Dense", "Threshold", "OutputAffine", "RealBatchNorm", "MLPNetwork", "RBMNetwork",
    "Conv2d", "CNNNetwork",
    "fold_batchnorm", "fold_output_batchnorm", "label_tie_bound", "field_table_index", "rbm_tables",
    "rbm_compact_tables", "UNIT_TABLE_LAYOUTS",
    "rbm_probability", "rbm_hidden_argument",
    "SCORE_LIMIT", "first_difference", "POOL_KINDS", "pool_kind", "pool_to_json",
]

InputKind = Literal["pm1", "threshold", "bitplanes"]
_INT32 = 2**31 - 1
# |class score| bound: scores are exact in float64, and a sum of up to 1024 ensemble members fits int64.
SCORE_LIMIT = 2**53
# how an ONNX file stores an RBM side's per-unit Gibbs tables (RBMNetwork.unit_tables)
UNIT_TABLE_LAYOUTS = ("compact", "full")


@dataclass(frozen=True)
class InputSpec:
    """How raw input becomes the first layer's operand.

    Parameters
    ----------
    kind : {"pm1", "threshold", "bitplanes"}
        ``"pm1"``: int8 ±1 input, packed directly. ``"threshold"``: uint8 or float32 input x; bit =
        (x >= threshold) (pixels: threshold 128 = half intensity). ``"bitplanes"``: uint8 pixels used exactly:
        the first layer computes Σ_k p_k w_k with 8 bit-planes.
    size : int
        Number of input features K (H*W*C for an image); one input row has shape (K,).
    dtype : {"int8", "uint8", "float32"}, default "uint8"
        ``"int8"`` for ``pm1``; ``"uint8"`` or ``"float32"`` for ``threshold``; ``"uint8"`` for ``bitplanes``.
    threshold : float, default 128.0
        The binarisation threshold of ``kind="threshold"``.
    bits : int, default 8
        Pixel bits of ``kind="bitplanes"`` (8 only).

    Examples
    --------
    >>> from export import InputSpec
    >>> InputSpec("threshold", 784)            # 28x28 uint8 pixels, bit = (pixel >= 128)
    InputSpec(kind='threshold', size=784, dtype='uint8', threshold=128.0, bits=8)
    >>> InputSpec("pm1", 16, dtype="int8").kind
    'pm1'
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
    """A dense layer's binary or ternary weights: its integer field is ``y[b, n] = Σ_k x[b, k] weight[n, k]``.

    Parameters
    ----------
    weight : array of int, shape (out_features, in_features)
        Values in {-1, +1} (binary) or {-1, 0, +1} (ternary); stored as int8.

    Examples
    --------
    >>> import numpy as np
    >>> from export import Dense
    >>> d = Dense(np.array([[1, -1, 1], [0, 1, -1]]))
    >>> d.shape, d.weight.dtype, d.ternary
    ((2, 3), dtype('int8'), True)
    """

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
    """Per-channel integer thresholds with sign flips: ``bit[b, n] = (s[n] * y[b, n] >= t[n])`` (bit 1 is +1).

    Parameters
    ----------
    s : array of int, shape (N,)
        -1, 0 or +1 per channel (stored as int8); 0 makes the bit constant (``0 >= t``).
    t : array of int, shape (N,)
        Integer thresholds (stored as int32).

    Examples
    --------
    >>> import numpy as np
    >>> from export import Threshold
    >>> thr = Threshold(s=np.array([1, -1]), t=np.array([0, 2]))
    >>> thr.apply(np.array([[3, 3], [-1, -5]]))       # int32 fields (B, N) -> int8 ±1 (B, N)
    array([[ 1, -1],
           [-1,  1]], dtype=int8)
    """

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
    """Integer class scores ``score[b, c] = scale[c] * y[b, c] + offset[c]`` (int64); the class is the first
    index of the maximum.

    Parameters
    ----------
    scale, offset : array of int, shape (n_classes,)
        Stored as int64; ``max|scale| * max|y| + max|offset|`` must stay within 2^53 (checked by the networks).
    frac_bits : int, optional
        f when scale/offset approximate 2^f times a real affine map (see :func:`fold_output_batchnorm`); it
        sets the tie bound of :func:`label_tie_bound`.

    Examples
    --------
    >>> from export import OutputAffine
    >>> OutputAffine.identity(3).scale                 # scores = output fields, unchanged
    array([1, 1, 1])
    """

    scale: np.ndarray
    offset: np.ndarray
    frac_bits: int | None = None

    def __post_init__(self) -> None:
        sc = _int_array(self.scale, "OutputAffine.scale", np.int64)
        of = _int_array(self.offset, "OutputAffine.offset", np.int64)
        if sc.ndim != 1 or of.shape != sc.shape:
            raise ValueError(f"OutputAffine.scale and .offset must be 1-d of equal length, got {sc.shape}, {of.shape}")
        if self.frac_bits is not None and not isinstance(self.frac_bits, (int, np.integer)):
            raise TypeError(f"OutputAffine.frac_bits must be an int or None, got {type(self.frac_bits).__name__}")
        object.__setattr__(self, "scale", sc)
        object.__setattr__(self, "offset", of)
        if self.frac_bits is not None:
            object.__setattr__(self, "frac_bits", int(self.frac_bits))

    @classmethod
    def identity(cls, n: int) -> "OutputAffine":
        return cls(np.ones(n, np.int64), np.zeros(n, np.int64))


@dataclass(frozen=True)
class RealBatchNorm:
    """The real-valued batch norm of one layer, in the units of that layer's integer field y:
    ``z = gamma * (y - mean) / sqrt(var + eps) + beta`` (float64). Hidden layers deploy ``sign(z)`` (z >= 0 -> +1),
    the output layer ``argmax z``. Kept beside the folded integers so a verifier can recompute the network
    without trusting the folding.

    Parameters
    ----------
    mean, var : array of float, shape (N,)
        Statistics of the integer field, one per channel; ``var + eps > 0``.
    eps : float
    gamma, beta : array of float, shape (N,), optional
        Affine parameters (default 1 and 0).

    Examples
    --------
    >>> from export import RealBatchNorm
    >>> bn = RealBatchNorm(mean=[2.0, 0.0], var=[4.0, 1.0], eps=0.0)
    >>> bn([4, -1])                                   # z for one row of fields y, shape (N,)
    array([ 1., -1.])
    """

    mean: np.ndarray
    var: np.ndarray
    eps: float
    gamma: np.ndarray | None = None
    beta: np.ndarray | None = None

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, np.float64)
        if mean.ndim != 1:
            raise ValueError(f"RealBatchNorm.mean must be 1-d, got shape {mean.shape}")
        arrays = {"mean": mean}
        for name in ("var", "gamma", "beta"):
            v = getattr(self, name)
            v = np.full_like(mean, 1.0 if name == "gamma" else 0.0) if v is None and name != "var" else v
            v = np.asarray(v, np.float64)
            if v.shape != mean.shape:
                raise ValueError(f"RealBatchNorm.{name} must have shape {mean.shape}, got {v.shape}")
            arrays[name] = v
        eps = float(self.eps)
        if not all(np.all(np.isfinite(a)) for a in arrays.values()) or not np.isfinite(eps):
            raise ValueError("RealBatchNorm statistics must be finite")
        if np.any(arrays["var"] + eps <= 0):
            raise ValueError("RealBatchNorm needs var + eps > 0")
        for name, v in arrays.items():
            object.__setattr__(self, name, v)
        object.__setattr__(self, "eps", eps)

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) with z = a * y + b, in float64 (the reference values the integer folding approximates)."""
        a = self.gamma / np.sqrt(self.var + self.eps)
        return a, self.beta - a * self.mean

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return self.gamma * (np.asarray(y, np.float64) - self.mean) / np.sqrt(self.var + self.eps) + self.beta

    def to_json(self) -> dict:
        # Python floats round-trip exactly through JSON (repr is the shortest exact decimal).
        return {k: [float(v) for v in getattr(self, k)] for k in ("mean", "var", "gamma", "beta")} | {"eps": self.eps}

    @classmethod
    def from_json(cls, d: dict) -> "RealBatchNorm":
        if not isinstance(d, dict):
            raise ValueError(f"a real batch norm entry must be a JSON object, got {type(d).__name__}")
        missing = {"mean", "var", "eps"} - set(d)
        if missing:
            raise ValueError(f"a real batch norm entry lacks {sorted(missing)}")
        return cls(d["mean"], d["var"], d["eps"], d.get("gamma"), d.get("beta"))


def _max_abs_field(dense: Dense, inp: InputSpec | None) -> int:
    k = dense.shape[1]
    return k * (255 if inp is not None and inp.kind == "bitplanes" else 1)


@dataclass(frozen=True)
class MLPNetwork:
    """Fully binary/ternary MLP with sign activations: input -> [Dense -> Threshold]* -> Dense -> OutputAffine
    -> argmax.

    Parameters
    ----------
    input : InputSpec
        How a raw row of shape (K,) becomes the first layer's ±1 (or pixel) operand.
    hidden : sequence of (Dense, Threshold)
        Hidden layers; layer i's Dense has shape (N_i, N_{i-1}) with N_{-1} = K.
    output : (Dense, OutputAffine)
        The output layer, shape (n_classes, N_last).
    meta : dict, optional
        JSON-able config written into the artifact (model kind, training config summary ...).
        ``meta["classes"]``, when present, lists the label of each output unit (distinct ints >= 0, one per
        output; a trainer that saw only labels {3, 5} has 2 outputs labelled [3, 5]); absent, output ``c`` is
        label ``c``.
    real_bn : sequence of RealBatchNorm, optional
        The real-valued batch norms the integers were folded from, one per layer (an independent check for
        ``targets.verify``).

    Examples
    --------
    A 16-8-3 network with random ±1 weights, reading uint8 pixels binarised at 128:

    >>> import numpy as np
    >>> from export import Dense, InputSpec, MLPNetwork, OutputAffine, Threshold
    >>> rng = np.random.default_rng(0)
    >>> w0 = rng.choice(np.array([-1, 1], np.int8), size=(8, 16))
    >>> w1 = rng.choice(np.array([-1, 1], np.int8), size=(3, 8))
    >>> net = MLPNetwork(InputSpec("threshold", 16),
    ...                  hidden=[(Dense(w0), Threshold(np.ones(8, int), np.zeros(8, int)))],
    ...                  output=(Dense(w1), OutputAffine.identity(3)), meta={"classes": [3, 5, 7]})
    >>> [layer.shape for layer in net.layers], net.class_labels
    ([(8, 16), (3, 8)], (3, 5, 7))
    """

    input: InputSpec
    hidden: tuple[tuple[Dense, Threshold], ...]
    output: tuple[Dense, OutputAffine]
    meta: dict = field(default_factory=dict)
    real_bn: tuple[RealBatchNorm, ...] | None = None

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
        _check_score_bound(self.output[1], self.output_field_bound)
        if self.real_bn is not None:
            object.__setattr__(self, "real_bn", _check_real_bn(self.real_bn, [d.shape[0] for d in layers]))
        self.class_labels  # validates meta["classes"]

    @property
    def output_field_bound(self) -> int:
        """Largest |y| the output layer can produce (its fan-in, times 255 when it reads bit-plane pixels)."""
        return _max_abs_field(self.output[0], None if self.hidden else self.input)

    @property
    def layers(self) -> list[Dense]:
        return [d for d, _ in self.hidden] + [self.output[0]]

    @property
    def class_labels(self) -> tuple[int, ...]:
        """The label of each output unit: ``meta["classes"]``, or ``0..n_out-1`` when absent."""
        return _class_labels(self.meta, self.output[0].shape[0])


def _class_labels(meta: dict, n_out: int) -> tuple[int, ...]:
    classes = meta.get("classes")
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
class Conv2d:
    """Binary or ternary convolution weights (NHWC activations, odd k, stride 1, "same" output size).

    Parameters
    ----------
    weight : array of int, shape (out, k, k, in)
        Values in {-1, +1} or {-1, 0, +1}; stored as int8.
    pad : int, default 1
        The value every position outside the image reads: ±1 when the layer reads ±1 activations (+1 is bit 1
        of bit layout v1), a pixel value 0..255 when it is a bit-plane first layer reading pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from export import Conv2d
    >>> conv = Conv2d(np.ones((4, 3, 3, 1), np.int8))     # 4 output channels, 3x3 kernel, 1 input channel
    >>> conv.kernel, conv.out_channels, conv.fan_in
    (3, 4, 9)
    """

    weight: np.ndarray
    pad: int = 1

    def __post_init__(self) -> None:
        w = _int_array(self.weight, "Conv2d.weight", np.int8)
        if w.ndim != 4 or w.shape[1] != w.shape[2] or w.shape[1] % 2 == 0 or min(w.shape) < 1:
            raise ValueError(f"Conv2d.weight must be 4-d (out, k, k, in) with odd k and all sizes >= 1, "
                             f"got shape {w.shape}")
        if not np.all((w >= -1) & (w <= 1)):
            raise ValueError("Conv2d.weight values must be in {-1, +1} (binary) or {-1, 0, +1} (ternary)")
        if isinstance(self.pad, bool) or not isinstance(self.pad, (int, np.integer)):
            raise TypeError(f"Conv2d.pad must be an int, got {type(self.pad).__name__}")
        if not -1 <= int(self.pad) <= 255:
            raise ValueError(f"Conv2d.pad must be -1 or +1 (±1 input) or a pixel value 0..255, got {self.pad}")
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "pad", int(self.pad))

    @property
    def ternary(self) -> bool:
        return bool(np.any(self.weight == 0))

    @property
    def kernel(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    @property
    def in_channels(self) -> int:
        return int(self.weight.shape[3])

    @property
    def fan_in(self) -> int:
        """K = k·k·C, the true reduction length of one output value."""
        return self.kernel * self.kernel * self.in_channels

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return self.weight.shape


# Where a conv block's 2x2 max-pool sits (False: no pool).
#   "bits":   conv -> threshold -> pool: max of ±1 values = OR of the bits (the order conv -> BN -> sign -> pool).
#   "fields": conv -> pool -> threshold: the max of the four int32 fields, thresholded once (the published order
#             conv -> max-pool -> BN -> sign). The threshold folds the BN of the *pooled* field, bit =
#             (s * max(y) >= t), so it is exact whatever the sign s of the BN scale. It may not be commuted
#             with the pool in general: for s = +1, (max y >= t) = OR_i (y_i >= t), the "bits" order with the same
#             threshold; but for s = -1 the bit is (-max y >= t) = AND_i (-y_i >= t), the AND of the four bits,
#             not their OR (tests/test_cnn_pool_fields.py shows the OR differing). Hence a separate op.
POOL_KINDS = ("bits", "fields")


def pool_kind(pool) -> str | bool:
    """Normalise a conv block's pool value: False/None (no pool), True or ``"bits"``, ``"fields"``."""
    if pool is None or (isinstance(pool, (bool, np.bool_)) and not pool):
        return False
    if isinstance(pool, (bool, np.bool_)):
        return "bits"
    if isinstance(pool, str) and pool in POOL_KINDS:
        return pool
    raise ValueError(f"pool must be False, True, 'bits' or 'fields', got {pool!r}")


def pool_to_json(pool) -> bool | str:
    """The pool value as artifacts record it: false, true (bits; what files before "fields" wrote) or "fields"."""
    p = pool_kind(pool)
    return "fields" if p == "fields" else bool(p)


def _check_real_bn(real_bn, widths: list[int]):
    rbn = tuple(real_bn)
    if len(rbn) != len(widths) or not all(isinstance(r, RealBatchNorm) for r in rbn):
        raise ValueError(f"real_bn must hold one RealBatchNorm per layer ({len(widths)}), got {len(rbn)} entries")
    for i, (r, n) in enumerate(zip(rbn, widths)):
        if r.mean.shape != (n,):
            raise ValueError(f"real_bn[{i}] has {r.mean.shape[0]} channels; layer {i} has {n}")
    return rbn


def _check_score_bound(aff: OutputAffine, field_bound: int) -> None:
    bound = int(np.max(np.abs(aff.scale.astype(np.int64)))) * field_bound + int(
        np.max(np.abs(aff.offset.astype(np.int64))))
    if bound > SCORE_LIMIT:
        raise ValueError(f"output scores could reach {bound}, beyond the limit 2^53; use a smaller scale")


@dataclass(frozen=True)
class CNNNetwork:
    """Binary/ternary convolutional network with sign activations (docs/ops.md, "CNN").

    input -> [Conv2d -> Threshold (per channel) -> optional 2x2 max-pool]+ -> flatten (row, column, channel)
          -> [Dense -> Threshold]* -> Dense -> OutputAffine -> argmax

    Parameters
    ----------
    input : InputSpec
        Size H*W*C; the raw input row, shape (H*W*C,), is the image flattened in (row, column, channel) order.
    image_shape : (H, W, C)
    features : sequence of (Conv2d, Threshold, pool)
        One per conv block; ``pool`` (:func:`pool_kind`; stored normalised) is False, ``"bits"`` (True is
        accepted for it): a 2x2 max-pool after the sign, the OR of four bits, or ``"fields"``: a 2x2 max-pool of
        the int32 fields before the threshold (the published order; ``real_bn`` of that layer is then the BN of
        the pooled field). Both need even H and W at that point. Conv layer 0 reads ±1 input bits (kinds
        ``pm1``, ``threshold``; pad ±1) or exact pixels (``bitplanes``; pad a pixel value); later layers pad ±1.
    hidden, output, meta, real_bn
        As for :class:`MLPNetwork`; real_bn holds one entry per conv layer then per dense layer, in the units
        of that layer's integer field.

    Examples
    --------
    An 8x8 grey image -> 4 channels of 3x3 conv, pooled to 4x4 -> 2 classes:

    >>> import numpy as np
    >>> from export import CNNNetwork, Conv2d, Dense, InputSpec, OutputAffine, Threshold
    >>> rng = np.random.default_rng(0)
    >>> conv = Conv2d(rng.choice(np.array([-1, 1], np.int8), size=(4, 3, 3, 1)))
    >>> net = CNNNetwork(InputSpec("threshold", 64), image_shape=(8, 8, 1),
    ...                  features=[(conv, Threshold(np.ones(4, int), np.zeros(4, int)), True)], hidden=(),
    ...                  output=(Dense(rng.choice(np.array([-1, 1], np.int8), size=(2, 64))),
    ...                          OutputAffine.identity(2)))
    >>> net.features[0][2]                             # True is stored as the pool kind "bits"
    'bits'
    >>> net.feature_shapes()                           # (H, W, C) into each conv layer, then flattened
    [(8, 8, 1), (4, 4, 4)]
    """

    input: InputSpec
    image_shape: tuple[int, int, int]
    features: tuple[tuple[Conv2d, Threshold, bool | str], ...]
    hidden: tuple[tuple[Dense, Threshold], ...]
    output: tuple[Dense, OutputAffine]
    meta: dict = field(default_factory=dict)
    real_bn: tuple[RealBatchNorm, ...] | None = None

    def __post_init__(self) -> None:
        shape = tuple(self.image_shape)
        if len(shape) != 3 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                                      for v in shape):
            raise ValueError(f"image_shape must be (H, W, C) of ints >= 1, got {self.image_shape!r}")
        shape = tuple(int(v) for v in shape)
        object.__setattr__(self, "image_shape", shape)
        if self.input.size != shape[0] * shape[1] * shape[2]:
            raise ValueError(f"input size {self.input.size} != H*W*C = {shape[0] * shape[1] * shape[2]} of "
                             f"image_shape {shape}")
        feats = []
        for i, blk in enumerate(self.features):
            blk = tuple(blk)
            if len(blk) != 3 or not isinstance(blk[0], Conv2d) or not isinstance(blk[1], Threshold):
                raise TypeError(f"features[{i}] must be (Conv2d, Threshold, pool), got {blk!r:.80}")
            if not isinstance(blk[2], (bool, np.bool_, str)):
                raise TypeError(f"features[{i}] pool must be a bool or 'bits'/'fields', got {type(blk[2]).__name__}")
            try:
                pool = pool_kind(blk[2])
            except ValueError as exc:
                raise ValueError(f"features[{i}]: {exc}") from None
            feats.append((blk[0], blk[1], pool))
        if not feats:
            raise ValueError("a CNNNetwork needs at least one conv layer (use MLPNetwork otherwise)")
        object.__setattr__(self, "features", tuple(feats))
        object.__setattr__(self, "hidden", tuple(tuple(p) for p in self.hidden))
        h, w, c = shape
        for i, (conv, thr, pool) in enumerate(feats):
            if conv.in_channels != c:
                raise ValueError(f"conv layer {i} expects {conv.in_channels} input channels but receives {c}")
            if thr.s.shape[0] != conv.out_channels:
                raise ValueError(f"conv layer {i} has {conv.out_channels} output channels but its threshold "
                                 f"has {thr.s.shape[0]}")
            pixels = i == 0 and self.input.kind == "bitplanes"
            if not pixels and conv.pad not in (-1, 1):
                raise ValueError(f"conv layer {i} reads ±1 values and must pad with -1 or +1, got pad={conv.pad}")
            if pixels and conv.pad < 0:
                raise ValueError(f"conv layer 0 reads pixels and must pad with a pixel value 0..255, got {conv.pad}")
            if self._conv_bound(i) > _INT32:
                raise ValueError(f"conv layer {i} fields could overflow int32")
            c = conv.out_channels
            if pool:
                if h % 2 or w % 2:
                    raise ValueError(f"conv layer {i} pools 2x2 but its output is {h}x{w} (needs even sizes)")
                h, w = h // 2, w // 2
        k = h * w * c
        for i, (d, thr) in enumerate(list(self.hidden) + [self.output]):
            j = len(feats) + i
            if d.shape[1] != k:
                raise ValueError(f"layer {j} expects {d.shape[1]} inputs but receives {k}"
                                 + (f" (flattened {h}x{w}x{c})" if i == 0 else ""))
            n_out = thr.s.shape[0] if isinstance(thr, Threshold) else thr.scale.shape[0]
            if n_out != d.shape[0]:
                raise ValueError(f"layer {j} has {d.shape[0]} outputs but its threshold/affine has {n_out}")
            k = d.shape[0]
        _check_score_bound(self.output[1], self.output_field_bound)
        if self.real_bn is not None:
            object.__setattr__(self, "real_bn", _check_real_bn(self.real_bn, [lay.shape[0] for lay in self.layers]))
        self.class_labels  # validates meta["classes"]

    def _conv_bound(self, i: int) -> int:
        conv = self.features[i][0]
        return conv.fan_in * (255 if i == 0 and self.input.kind == "bitplanes" else 1)

    def conv_field_bounds(self) -> list[int]:
        """Largest |y| of each conv layer's fields (k·k·C, times 255 for a bit-plane first layer)."""
        return [self._conv_bound(i) for i in range(len(self.features))]

    def feature_shapes(self) -> list[tuple[int, int, int]]:
        """(H, W, C) of each conv layer's input, then the shape that is flattened."""
        h, w, c = self.image_shape
        out = [(h, w, c)]
        for conv, _, pool in self.features:
            c = conv.out_channels
            if pool:
                h, w = h // 2, w // 2
            out.append((h, w, c))
        return out

    @property
    def flat_size(self) -> int:
        h, w, c = self.feature_shapes()[-1]
        return h * w * c

    @property
    def output_field_bound(self) -> int:
        """Largest |y| of the output layer (its fan-in: it always reads ±1 bits)."""
        return self.output[0].shape[1]

    @property
    def layers(self) -> list:
        """Every weight layer in order: the Conv2d layers, then the Dense layers."""
        return [c for c, _, _ in self.features] + [d for d, _ in self.hidden] + [self.output[0]]

    @property
    def class_labels(self) -> tuple[int, ...]:
        return _class_labels(self.meta, self.output[0].shape[0])


@dataclass(frozen=True)
class RBMNetwork:
    """Binary-synapse RBM: weight ξ int8 (N, P) in {-1,+1}, inverse temperature β > 0, optional real fields
    (biases) on the visible and hidden units.

    Parameters
    ----------
    weight : array of int, shape (n_visible, n_hidden)
        ±1 synapses ξ.
    beta : float, default 1.0
        Inverse temperature: P(h_a = +1 | σ) = sigmoid(2 β X_a / √N).
    input : InputSpec, optional
        ``pm1`` (default) or ``threshold``, of size N.
    gibbs_steps : int, default 1
        Gibbs steps the exported graph runs (0: MAP hidden units only).
    meta : dict, optional
        JSON-able config written into the artifact.
    visible_field : array of float, shape (n_visible,), optional
        Real field b on the visible units (float64, finite; None = no field).
    hidden_field : array of float, shape (n_hidden,), optional
        Real field c on the hidden units (float64, finite; None = no field).
    unit_tables : {"compact", "full"}, default "compact"
        How an ONNX file stores the per-unit Gibbs tables of a side with fields: ``compact`` (each row over its
        non-saturated span, op ``UnitFieldTableCompact``, :func:`rbm_compact_tables`) or ``full`` (every row
        whole, op ``UnitFieldTable``: files written before compact tables, read back as such). A storage
        choice only: the sampled bits, the network digest and the C sources are the same either way.

    Examples
    --------
    >>> import numpy as np
    >>> from export import RBMNetwork
    >>> rbm = RBMNetwork(np.where(np.arange(12).reshape(6, 2) % 3 == 0, 1, -1), beta=1.5)
    >>> rbm.n_visible, rbm.n_hidden, rbm.input.kind
    (6, 2, 'pm1')
    """

    weight: np.ndarray
    beta: float = 1.0
    input: InputSpec | None = None
    gibbs_steps: int = 1
    meta: dict = field(default_factory=dict)
    visible_field: np.ndarray | None = None
    hidden_field: np.ndarray | None = None
    unit_tables: str = "compact"

    def __post_init__(self) -> None:
        if self.unit_tables not in UNIT_TABLE_LAYOUTS:
            raise ValueError(f"RBMNetwork.unit_tables must be one of {UNIT_TABLE_LAYOUTS}, got {self.unit_tables!r}")
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
        for name, size in (("visible_field", w.shape[0]), ("hidden_field", w.shape[1])):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, (np.ndarray, list, tuple)):
                raise TypeError(f"RBMNetwork.{name} must be an array of {size} floats or None, "
                                f"got {type(value).__name__}")
            arr = np.array(value, dtype=np.float64)
            if arr.shape != (size,) or not np.all(np.isfinite(arr)):
                raise ValueError(f"RBMNetwork.{name} must hold {size} finite numbers, got shape {arr.shape}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def has_fields(self) -> bool:
        """True when either field is present."""
        return self.visible_field is not None or self.hidden_field is not None

    @property
    def map_thresholds(self) -> np.ndarray:
        """int32 (P,) thresholds t of the MAP bits h_a = (X_a >= t_a) (module doc; zeros without hidden fields).

        X runs over {-N, -N+2, ..., N}; t_a is the least of them with :func:`rbm_hidden_argument` >= 0, i.e.
        β X/√N + β c_a in float64 (products, a division and a sum: each monotone in X under rounding, so the set
        is an upper interval), N + 2 when none is (the unit never fires)."""
        n, p = self.weight.shape
        if self.hidden_field is None:
            return np.zeros(p, np.int32)
        xs = 2.0 * np.arange(n + 1) - n
        on = rbm_hidden_argument(self.beta, n, xs[:, None], self.hidden_field[None, :]) >= 0   # (N+1, P)
        first = np.argmax(on, axis=0)
        return np.where(on.any(axis=0), xs[first], n + 2).astype(np.int32)

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
    ``p_hidden``/``t_hidden`` over the N+1 hidden fields (X ranges over ±N), ``p_visible``/``t_visible`` over
    the P+1 visible fields. Entry j is for field 2j - K: P(+1 | field) = sigmoid(2 β field / √N) for a side
    without fields (a 1-d table shared by its units); for a side with fields (c for the hidden units, b for the
    visible ones) one row per unit, P(+1 | field) = sigmoid(2β(field/√N + f_unit)), shape (P, N+1) / (N, P+1).
    The sides are independent: an RBM with hidden fields only keeps the shared visible table (N(P+1) fewer
    entries). Computed by :func:`rbm_probability`.
    """
    n, p = net.weight.shape
    out = {}
    for name, k, f in (("hidden", n, net.hidden_field), ("visible", p, net.visible_field)):
        fields = 2.0 * np.arange(k + 1) - k
        if f is not None:
            prob = rbm_probability(net.beta, n, fields[None, :], f[:, None])
        else:
            prob = rbm_probability(net.beta, n, fields, None)
        out[f"p_{name}"] = prob.astype(np.float32)
        out[f"t_{name}"] = probability_to_threshold(prob)
    return out


def rbm_compact_tables(net: RBMNetwork) -> dict[str, CompactTable]:
    """The per-unit tables of :func:`rbm_tables` in compact form (``export.compact_table``): ``p_hidden`` and
    ``t_hidden`` when the hidden units have fields, ``t_visible`` when the visible units do (a side without
    fields keeps its one shared row). Each is checked entry by entry against the full table
    (``check_compact``), so a lookup through it gives the full table's value for every field.

    The one place that decides how per-unit tables are stored compactly: the ONNX builder, the C emitter and
    the native target all read these."""
    tables = rbm_tables(net)
    sides = {"p_hidden": net.hidden_field, "t_hidden": net.hidden_field, "t_visible": net.visible_field}
    return {name: compact_rows(tables[name]) for name, f in sides.items() if f is not None}


def rbm_hidden_argument(beta: float, n_visible: int, field: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """β field/√N + β bias in float64, in the one order of operations the tables, the MAP thresholds, the ground
    truth and ``lowprec_rbm``'s sampler and transform use: (β·field)/√N, then + (β·bias) (bias None: no sum)."""
    x = beta * field / math.sqrt(n_visible)
    return x if bias is None else x + beta * bias


def rbm_probability(beta: float, n_visible: int, field: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """P(unit = +1) = sigmoid(2β(field/√N + bias)) = (1 + tanh(:func:`rbm_hidden_argument`))/2 in float64 (bias
    None: (1 + tanh(β field/√N))/2, the fieldless form, bit for bit as before fields existed)."""
    return 0.5 * (1.0 + np.tanh(rbm_hidden_argument(beta, n_visible, field, bias)))


def fold_batchnorm(mean, var, eps: float, gamma=None, beta=None, *, k: int | None = None) -> Threshold:
    """Fold sign(BN(y)) for integer y into a Threshold (exact for every integer y).

    BN(y) = a (y - μ) + β with a = γ / sqrt(var + eps). sign(BN(y)) = +1 (sign(0) = +1) iff
      a > 0:  y >= μ - β/a            ->  s = +1, t = ceil(μ - β/a)
      a < 0:  y <= μ - β/a            ->  s = -1, t = -floor(μ - β/a)   (-y >= -floor(...))
      a = 0:  β >= 0 (constant)       ->  s =  0, t = 0 if β >= 0 else 1
    Thresholds are clipped to ±(k+1) when the fan-in k is given (beyond that the comparison is constant),
    which keeps them in int32.

    Parameters
    ----------
    mean, var : array of float, shape (N,)
        Batch-norm statistics of the integer field y.
    eps : float
    gamma, beta : array of float, shape (N,), optional
        Affine parameters (default 1 and 0).
    k : int, optional
        The layer's fan-in (largest |y|).

    Returns
    -------
    Threshold
        ``s`` and ``t`` of shape (N,) with ``(s * y >= t) == (BN(y) >= 0)`` for every integer y.

    Examples
    --------
    >>> from export import fold_batchnorm
    >>> thr = fold_batchnorm(mean=[2.5, 0.0], var=[1.0, 1.0], eps=0.0, gamma=[1.0, -1.0])
    >>> thr.s, thr.t                                  # channel 0: y >= 3; channel 1: -y >= 0
    (array([ 1, -1], dtype=int8), array([3, 0], dtype=int32))
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


def fold_output_batchnorm(mean, var, eps: float, gamma=None, beta=None, *, k: int,
                          limit: int = SCORE_LIMIT) -> OutputAffine:
    """Integer class scores S = A y + B approximating z = a y + b, a = γ/sqrt(var+eps), b = β − a μ.

    f is the largest integer with max_c |A_c| k + |B_c| <= ``limit`` (k = the largest |y|, the fan-in bound),
    A_c = round(2^f a_c) and B_c = round(2^f b_c), both rounded exactly (rational arithmetic on the float64
    a_c, μ_c, β_c, which *define* the real network). The label bound (see :func:`label_tie_bound`):

        |S_c − 2^f z_c| <= |A_c − 2^f a_c| |y_c| + |B_c − 2^f b_c| <= (k + 1) / 2        for |y_c| <= k,

    so S_c − S_d and 2^f (z_c − z_d) differ by at most k + 1. If z_c − z_d > δ = (k + 1) 2^−f then S_c > S_d:
    the integer argmax equals the real argmax unless the real top two scores are within δ of each other.
    With |S| <= 2^53, δ ≈ (k + 1) max|z| 2^−53, e.g. 2e-9 for a 784-pixel bit-plane layer (k = 199,920) whose
    |z| reach 100 — against ~1e-4 with the int32 scores of bit layout v1's first exporter, which gave 8 wrong
    labels in 500 on such a network.
    """
    from fractions import Fraction

    rbn = RealBatchNorm(mean, var, eps, gamma, beta)
    a, b = rbn.affine()
    k = int(k)
    if k < 1:
        raise ValueError(f"k (largest |y|) must be >= 1, got {k}")
    # b_c = β_c − a_c μ_c evaluated exactly (the float64 product a_c μ_c would add its own rounding).
    fa = [Fraction(float(x)) for x in a]
    fb = [Fraction(float(be)) - Fraction(float(x)) * Fraction(float(mu))
          for x, be, mu in zip(a, rbn.beta, rbn.mean)]
    top = max(max(abs(x) for x in fa) * k + max(abs(x) for x in fb), Fraction(1, 2**64))
    # Start from the real-valued bound, then step down while the rounded integers exceed the limit.
    f = min(int(np.floor(np.log2(float(limit / top)))), 1000)

    def ints(f: int) -> tuple[list[int], list[int]]:
        p = Fraction(2) ** f
        return [round(x * p) for x in fa], [round(x * p) for x in fb]

    scale, offset = ints(f)
    while max(abs(s) for s in scale) * k + max(abs(o) for o in offset) > limit:
        f -= 1
        scale, offset = ints(f)
    return OutputAffine(np.array(scale, np.int64), np.array(offset, np.int64), frac_bits=f)


def label_tie_bound(net: MLPNetwork | CNNNetwork) -> float | None:
    """δ of :func:`fold_output_batchnorm` for ``net``: the integer argmax equals the argmax of its real-valued
    output batch norm whenever the real top score exceeds every other by more than δ. None when the output
    affine records no ``frac_bits``."""
    f = net.output[1].frac_bits
    if f is None:
        return None
    return float((net.output_field_bound + 1) * 2.0**-f)


def first_difference(a: MLPNetwork | CNNNetwork | RBMNetwork, b: MLPNetwork | CNNNetwork | RBMNetwork,
                     names: tuple[str, str] = ("first", "second"), weights_only: bool = False) -> str | None:
    """The first way in which two deployable networks differ, in words, or None when they are identical.

    Compared in order: kind, input spec, for a CNN the image shape and per conv layer its pad value and pooling,
    per layer the weights (the first differing weight is named by layer and index), thresholds, output scale/offset; for an RBM β and Gibbs steps. ``names`` label a and b.
    ``weights_only``: stop after the input spec and the weights (e.g. when b's batch norm was re-estimated).
    """
    na, nb = names
    if type(a) is not type(b):
        return f"the {na} network is an {type(a).__name__}, the {nb} an {type(b).__name__}"
    if a.input != b.input:
        return f"input: {na} {a.input}, {nb} {b.input}"

    def weights(i: int, wa: np.ndarray, wb: np.ndarray) -> str | None:
        if wa.shape != wb.shape:
            return f"layer {i} weights: shape {wa.shape} in the {na}, {wb.shape} in the {nb}"
        diff = np.argwhere(wa != wb)
        if diff.size:
            idx = tuple(int(v) for v in diff[0])
            return (f"layer {i} weight [{', '.join(map(str, idx))}]: {na} {int(wa[idx]):+d}, {nb} {int(wb[idx]):+d} "
                    f"({len(diff)} weight{'s' * (len(diff) != 1)} differ in this layer)")
        return None

    def vec(what: str, va: np.ndarray, vb: np.ndarray) -> str | None:
        if va.shape != vb.shape:
            return f"{what}: shape {va.shape} in the {na}, {vb.shape} in the {nb}"
        diff = np.flatnonzero(va != vb)
        if diff.size:
            j = int(diff[0])
            return f"{what} [{j}]: {na} {va[j]}, {nb} {vb[j]}"
        return None

    if isinstance(a, RBMNetwork):
        found = weights(0, a.weight, b.weight)
        if found:
            return found
        if a.beta != b.beta:
            return f"beta: {na} {a.beta!r}, {nb} {b.beta!r}"
        if a.gibbs_steps != b.gibbs_steps:
            return f"Gibbs steps: {na} {a.gibbs_steps}, {nb} {b.gibbs_steps}"
        for what in ("visible_field", "hidden_field"):
            fa, fb = getattr(a, what), getattr(b, what)
            if (fa is None) != (fb is None):
                return f"{what}: {na} {'none' if fa is None else 'present'}, {nb} {'none' if fb is None else 'present'}"
            if fa is not None and not np.array_equal(fa, fb):
                j = int(np.flatnonzero(fa != fb)[0])
                return f"{what} [{j}]: {na} {fa[j]!r}, {nb} {fb[j]!r}"
        return None
    if isinstance(a, CNNNetwork):
        if a.image_shape != b.image_shape:
            return f"image shape: {na} {a.image_shape}, {nb} {b.image_shape}"
        if len(a.features) != len(b.features):
            return f"{na} has {len(a.features)} conv layers, {nb} {len(b.features)}"
        for i, ((ca, _, pa), (cb, _, pb)) in enumerate(zip(a.features, b.features)):
            if ca.pad != cb.pad:
                return f"layer {i} pad value: {na} {ca.pad:+d}, {nb} {cb.pad:+d}"
            if pa != pb:
                return f"layer {i} max-pool: {na} {pa or 'no'}, {nb} {pb or 'no'}"
    if len(a.layers) != len(b.layers):
        return f"{na} has {len(a.layers)} layers, {nb} {len(b.layers)}"
    for i, (da, db) in enumerate(zip(a.layers, b.layers)):
        found = weights(i, da.weight, db.weight)
        if found:
            return found
    if weights_only:
        return None
    thresholds = [t for _, t in a.hidden]
    thresholds_b = [t for _, t in b.hidden]
    if isinstance(a, CNNNetwork):
        thresholds = [t for _, t, _ in a.features] + thresholds
        thresholds_b = [t for _, t, _ in b.features] + thresholds_b
    for i, (ta, tb) in enumerate(zip(thresholds, thresholds_b)):
        found = vec(f"layer {i} threshold signs", ta.s, tb.s) or vec(f"layer {i} thresholds", ta.t, tb.t)
        if found:
            return found
    (_, aa), (_, ab) = a.output, b.output
    return vec("output scale", aa.scale, ab.scale) or vec("output offset", aa.offset, ab.offset)
