"""UnpackBits(p: uint64 [B,W]; K) -> int8 [B,K]: the ±1 values of the first K bits (bit 1 -> +1)."""
from __future__ import annotations

from onnx import TensorProto

from ._body import Body, make_function

NAME = "UnpackBits"
INPUTS = ("p",)
OUTPUTS = ("values",)
ATTRIBUTES = ("K",)


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    v = b.unpack("p", TensorProto.INT8, pm1=True)
    b.slice_k(v, b.attr_int("K"), out="values")
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
