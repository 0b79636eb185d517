"""TernaryBitplaneGemm(x: uint8 [B,K], ws, wm: uint64 [N,W]; K) -> int32 [B,N] = Σ_k x_k w_k, w ternary.

Σ_j 2^j (2 popcount(P_j AND s AND m) - popcount(P_j AND m)) = Σ_k x_k m_k (2 s_k - 1): one MatMul of the
pixels against the folded ternary weights m (2 s - 1) sliced to K; |partial sums| <= 255 K.
"""
from __future__ import annotations

from onnx import TensorProto

from ._body import Body, make_function

NAME = "TernaryBitplaneGemm"
INPUTS = ("x", "ws", "wm")
OUTPUTS = ("y",)
ATTRIBUTES = ("K",)


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    w = b.op("Mul", [b.unpack("ws", acc, pm1=True), b.unpack("wm", acc)])   # m (2s - 1)
    w = b.slice_k(w, b.attr_int("K"))
    wt = b.op("Transpose", [w], perm=[1, 0])
    z = b.op("MatMul", [b.op("Cast", ["x"], to=acc), wt])
    b.op("Cast", [z], outputs=["y"], to=TensorProto.INT32)
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
