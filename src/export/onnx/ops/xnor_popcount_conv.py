"""XnorPopcountConv(xp: uint64 [B,H,W,Wc], wp: uint64 [O,k,k,Wc]; C, kernel, pad) -> int32 [B,H,W,O].

y[b,i,j,o] = K - 2 popcount(patch(b,i,j) XOR wp[o]) with K = k*k*C: the XNOR-popcount GEMM over the gathered
k x k patch of per-pixel words (Wc = ceil(C/64) per pixel), where a position outside the image reads the
``pad`` value (+1: words with the C low bits set; -1: zero words). Equals Σ x w on the ±1 values.

Body: unpack both operands to ±1 floats sliced to the C real channels, pad the input with the pad value
explicitly, one float Conv (see ``_body.conv_same``); the weight side folds at session creation.
"""
from __future__ import annotations

from onnx import TensorProto

from ._body import Body, conv_same, conv_weights, make_function, pad_float, slice_last, unpack_last

NAME = "XnorPopcountConv"
INPUTS = ("xp", "wp")
OUTPUTS = ("y",)
ATTRIBUTES = ("C", "kernel", "pad")


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    x = slice_last(b, unpack_last(b, "xp", 4, TensorProto.FLOAT, pm1=True), b.attr_int("C"), 4)
    conv_same(b, x, conv_weights(b, "wp"), pad_float(b), "y")
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
