"""ThresholdSign(y: int32 [B,N], s: int8 [N], t: int32 [N]; N) -> uint64 [B, ceil(N/64)]: bit n = s[n] y >= t[n].

Exact without 64-bit products on the activations: per channel (folded from the initializers s, t)
    s = +1:  y >= t                       -> lo = t,                        hi = INT32_MAX
    s = -1:  -y >= t  <=>  y <= -t        -> lo = INT32_MIN,                hi = min(-t, INT32_MAX)
    s =  0:  0 >= t (constant)            -> [INT32_MIN, INT32_MAX] if t <= 0, else empty [MAX, MIN]
and bit = (y >= lo) AND (y <= hi), two int32 compares. (s is restricted to {-1, 0, +1}.)
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ._body import Body, make_function

NAME = "ThresholdSign"
INPUTS = ("y", "s", "t")
OUTPUTS = ("bits",)
ATTRIBUTES = ("N",)

_MIN, _MAX = -(2**31), 2**31 - 1


def threshold_bits(b: Body) -> str:
    """bool bits = s y >= t of the function inputs ``y``, ``s``, ``t`` (any rank of y; s, t on its last axis)."""
    s = b.op("Cast", ["s"], to=TensorProto.INT64)
    t = b.op("Cast", ["t"], to=TensorProto.INT64)
    lo_c, hi_c = b.const(_MIN, np.int64), b.const(_MAX, np.int64)
    pos = b.op("Equal", [s, b.const(1, np.int64)])
    neg = b.op("Equal", [s, b.const(-1, np.int64)])
    always = b.op("LessOrEqual", [t, b.const(0, np.int64)])
    lo = b.op("Where", [pos, t, b.op("Where", [neg, lo_c, b.op("Where", [always, lo_c, hi_c])])])
    neg_t = b.op("Neg", [t])
    # clip -t to INT32_MAX with Where: onnxruntime 1.31's int64 Min(x, scalar) returned 2^31 for
    # min(2^31, 2^31 - 1) in a test here, so Min is avoided.
    neg_t = b.op("Where", [b.op("Greater", [neg_t, hi_c]), hi_c, neg_t])
    hi = b.op("Where", [pos, hi_c, b.op("Where", [neg, neg_t, b.op("Where", [always, hi_c, lo_c])])])
    lo = b.op("Cast", [lo], to=TensorProto.INT32)
    hi = b.op("Cast", [hi], to=TensorProto.INT32)
    return b.op("And", [b.op("GreaterOrEqual", ["y", lo]), b.op("LessOrEqual", ["y", hi])])


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    b.pack(threshold_bits(b), b.attr_int("N"), out="bits")
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
