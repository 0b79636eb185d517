"""ThresholdSignPixels(y: int32 [B,H,W,N], s: int8 [N], t: int32 [N]; N) -> uint64 [B,H,W,ceil(N/64)].

ThresholdSign per pixel: bit n = s[n] y[b,i,j,n] >= t[n], the N channel bits of each pixel packed LSB first
(the per-pixel layout of the conv ops). Same exact two-compare body as ThresholdSign.
"""
from __future__ import annotations

from onnx import TensorProto

from ._body import Body, make_function, pack_last
from .threshold_sign import threshold_bits

NAME = "ThresholdSignPixels"
INPUTS = ("y", "s", "t")
OUTPUTS = ("bits",)
ATTRIBUTES = ("N",)


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    pack_last(b, threshold_bits(b), b.attr_int("N"), 4, out="bits")
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
