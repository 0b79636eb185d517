"""TernaryPopcountConv(xp: uint64 [B,H,W,Wc], ws, wm: uint64 [O,k,k,Wc]; C, kernel, pad) -> int32 [B,H,W,O].

y = popcount(wm[o]) - 2 popcount((patch XOR ws[o]) AND wm[o]) over the gathered k x k patch (padded positions
read the ``pad`` value, ±1): Σ x w with ternary w = m (2 s - 1). Body as XnorPopcountConv with the weights
folded to m (2 s - 1).
"""
from __future__ import annotations

from onnx import TensorProto

from ._body import Body, conv_same, conv_weights, make_function, pad_float, slice_last, unpack_last

NAME = "TernaryPopcountConv"
INPUTS = ("xp", "ws", "wm")
OUTPUTS = ("y",)
ATTRIBUTES = ("C", "kernel", "pad")


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    x = slice_last(b, unpack_last(b, "xp", 4, TensorProto.FLOAT, pm1=True), b.attr_int("C"), 4)
    conv_same(b, x, conv_weights(b, "ws", "wm"), pad_float(b), "y")
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
