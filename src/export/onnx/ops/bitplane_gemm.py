"""BitplaneGemm(x: uint8 [B,K], wp: uint64 [N,W]; K) -> int32 [B,N] = Σ_k x_k w_k with w = ±1 from wp.

The contract's bit-plane form Σ_j 2^j (2 popcount(P_j AND w) - popcount(P_j)) equals Σ_k x_k (2 w_k - 1)
because P_j (bit-plane j of x) has zero pad bits. The body computes that sum as one MatMul of the uint8
pixels (cast to the accumulator dtype) against the folded ±1 weights sliced to K; |partial sums| <= 255 K.
"""
from __future__ import annotations

from onnx import TensorProto

from ._body import Body, make_function

NAME = "BitplaneGemm"
INPUTS = ("x", "wp")
OUTPUTS = ("y",)
ATTRIBUTES = ("K",)


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    w = b.unpack("wp", acc, pm1=True)                                        # (N, 64W) ±1
    w = b.slice_k(w, b.attr_int("K"))  # (N, K)
    wt = b.op("Transpose", [w], perm=[1, 0])
    z = b.op("MatMul", [b.op("Cast", ["x"], to=acc), wt])
    b.op("Cast", [z], outputs=["y"], to=TensorProto.INT32)
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
