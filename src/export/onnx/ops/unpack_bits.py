"""UnpackBits(p: uint64 [B,W]; K) -> int8 [B,K]: the ±1 values of the first K bits (bit 1 -> +1)."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ._body import Body, make_function

NAME = "UnpackBits"
INPUTS = ("p",)
OUTPUTS = ("values",)
ATTRIBUTES = ("K",)


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    v = b.unpack("p", TensorProto.INT8, pm1=True)
    k = b.op("Unsqueeze", [b.attr_int("K"), b.const([0], np.int64)])
    b.op("Slice", [v, b.const([0], np.int64), k, b.const([1], np.int64)], outputs=["values"])
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
