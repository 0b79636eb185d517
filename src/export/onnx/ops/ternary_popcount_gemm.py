"""TernaryPopcountGemm(xp, ws, wm: uint64; K) -> int32 [B,N] = popcount(wm) - 2 popcount((xp XOR ws) AND wm).

Body: at a position with mask bit 1 the term is +1 when x and s agree and -1 otherwise, i.e. x_k (2 s_k - 1)
on ±1 x; positions with mask 0 add nothing. So the value is Σ_k x_k m_k (2 s_k - 1): one MatMul of the ±1
unpacked input against the folded ternary weights m (2 s - 1), both sliced to the K real bits (pad bits are
0 by the layout).
"""
from __future__ import annotations

from onnx import TensorProto

from ._body import Body, make_function

NAME = "TernaryPopcountGemm"
INPUTS = ("xp", "ws", "wm")
OUTPUTS = ("y",)
ATTRIBUTES = ("K",)


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    k = b.attr_int("K")
    w = b.op("Mul", [b.unpack("ws", acc, pm1=True), b.unpack("wm", acc)])                 # m (2s - 1)
    wt = b.op("Transpose", [b.slice_k(w, k)], perm=[1, 0])                                 # (K, N)
    x = b.slice_k(b.unpack("xp", acc, pm1=True), k)                                        # (B, K) ±1
    b.op("Cast", [b.op("MatMul", [x, wt])], outputs=["y"], to=TensorProto.INT32)
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
