"""PackPixels(x: uint8/int8/float32 [B, H*W*C]; H, W, C, threshold) -> uint64 [B, H, W, ceil(C/64)].

The image flattened in (row, column, channel) order is binarised, bit = x >= threshold (int8 ±1 input uses
threshold 0), and each pixel's C channel bits are packed LSB first into ceil(C/64) words with zero pad bits:
the per-pixel layout every conv op reads.
"""
from __future__ import annotations

from onnx import TensorProto

from ._body import Body, image_shape, make_function, pack_last

NAME = "PackPixels"
INPUTS = ("x",)
OUTPUTS = ("xp",)
ATTRIBUTES = ("H", "W", "C", "threshold")


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    x = b.op("Cast", ["x"], to=TensorProto.FLOAT)  # exact for uint8/int8; identity for float32
    bits = b.op("GreaterOrEqual", [x, b.attr_float("threshold")])
    bits = b.op("Reshape", [bits, image_shape(b)])                                      # (B, H, W, C)
    pack_last(b, bits, b.attr_int("C"), 4, out="xp")
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
