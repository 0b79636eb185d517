"""MaxPoolBits(p: uint64 [B,H,W,Wc]) -> uint64 [B,H/2,W/2,Wc]: the OR of each 2x2 block of per-pixel words.

The maximum of ±1 values is +1 iff any is +1, and bit 1 means +1: max-pool is a bitwise OR, word by word
(pad bits stay 0). H and W are even (the network description checks it). Body: four stride-2 Slices, ORed.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ._body import Body, make_function

NAME = "MaxPoolBits"
INPUTS = ("p",)
OUTPUTS = ("q",)
ATTRIBUTES = ()


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    big = np.iinfo(np.int64).max
    parts = []
    for di in (0, 1):
        for dj in (0, 1):
            parts.append(b.op("Slice", ["p", b.const([di, dj], np.int64), b.const([big, big], np.int64),
                                        b.const([1, 2], np.int64), b.const([2, 2], np.int64)]))
    b.op("BitwiseOr", [b.op("BitwiseOr", parts[:2]), b.op("BitwiseOr", parts[2:])], outputs=["q"])
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
