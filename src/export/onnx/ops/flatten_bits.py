"""FlattenBits(p: uint64 [B,H,W,Wc]; C, K) -> uint64 [B, ceil(K/64)], K = H*W*C.

Repacks per-pixel words (C bits each, zero padded to Wc words) into one contiguous bit vector per row in
(row, column, channel) order, bit layout v1: bit (i W + j) C + c of the row = bit c of pixel (i, j). The
dense layers after it read plain K-bit rows, in the same order training flattens NHWC activations.
"""
from __future__ import annotations

from onnx import TensorProto

from ._body import Body, make_function, slice_last, unpack_last

NAME = "FlattenBits"
INPUTS = ("p",)
OUTPUTS = ("flat",)
ATTRIBUTES = ("C", "K")


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    bits = slice_last(b, unpack_last(b, "p", 4, TensorProto.FLOAT), b.attr_int("C"), 4)   # (B, H, W, C) 0/1
    flat = b.op("Flatten", [bits], axis=1)                                                  # (B, H*W*C)
    b.pack(flat, b.attr_int("K"), out="flat")
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
