"""BitplaneConv(x: uint8 [B, H*W*C], wp: uint64 [O,k,k,Wc]; H, W, C, kernel, pad) -> int32 [B,H,W,O].

The exact first conv on 8-bit pixels (image flattened in (row, column, channel) order): y = Σ over the k x k
window and C channels of pixel · w (w ±1), positions outside the image reading the pixel value ``pad``.
Contract form: Σ_{j<8} 2^j (2 popcount(P_j AND w) - popcount(P_j)) over the gathered patch of bit-plane j.
Body: the pixels cast to float, reshaped to (B, H, W, C), padded and convolved (``_body.conv_same``); every
partial sum is an integer of magnitude <= 255 k k C.
"""
from __future__ import annotations

from onnx import TensorProto

from ._body import Body, conv_same, conv_weights, image_shape, make_function, pad_float

NAME = "BitplaneConv"
INPUTS = ("x", "wp")
OUTPUTS = ("y",)
ATTRIBUTES = ("H", "W", "C", "kernel", "pad")


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    x = b.op("Reshape", [b.op("Cast", ["x"], to=TensorProto.FLOAT), image_shape(b)])
    conv_same(b, x, conv_weights(b, "wp"), pad_float(b), "y")
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
