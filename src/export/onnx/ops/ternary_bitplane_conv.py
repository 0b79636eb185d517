"""TernaryBitplaneConv(x: uint8 [B, H*W*C], ws, wm: uint64 [O,k,k,Wc]; H, W, C, kernel, pad) -> int32 [B,H,W,O].

BitplaneConv with ternary weights m (2 s - 1): Σ_j 2^j (2 popcount(P_j AND s AND m) - popcount(P_j AND m)).
"""
from __future__ import annotations

from onnx import TensorProto

from ._body import Body, conv_same, conv_weights, image_shape, make_function, pad_float

NAME = "TernaryBitplaneConv"
INPUTS = ("x", "ws", "wm")
OUTPUTS = ("y",)
ATTRIBUTES = ("H", "W", "C", "kernel", "pad")


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    x = b.op("Reshape", [b.op("Cast", ["x"], to=TensorProto.FLOAT), image_shape(b)])
    conv_same(b, x, conv_weights(b, "ws", "wm"), pad_float(b), "y")
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
