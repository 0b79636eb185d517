"""BinarizePack(x: uint8/int8/float32 [B,K]; K, threshold) -> uint64 [B, ceil(K/64)]: bit k = x[b,k] >= threshold."""
from __future__ import annotations

from onnx import TensorProto

from ._body import Body, make_function

NAME = "BinarizePack"
INPUTS = ("x",)
OUTPUTS = ("xp",)
ATTRIBUTES = ("K", "threshold")


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    x = b.op("Cast", ["x"], to=TensorProto.FLOAT)  # exact for uint8/int8; identity for float32
    bits = b.op("GreaterOrEqual", [x, b.attr_float("threshold")])  # NaN >= t is false: bit 0
    b.pack(bits, b.attr_int("K"), out="xp")
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
