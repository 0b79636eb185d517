"""XnorPopcountGemm(xp: uint64 [B,W], wp: uint64 [N,W]; K) -> int32 [B,N] = K - 2 popcount(xp[b] XOR wp[n]).

Body: with zero pad bits (bit layout v1), K - 2 popcount(x XOR w) = Σ_{k<K} x_k w_k on the ±1 values, so the
body unpacks both operands straight to ±1 (byte lookup table), slices them to the K real bits and does one
MatMul. The weight side depends only on the initializer ``wp`` and is folded once at session creation,
leaving unpack(xp) -> Slice -> MatMul -> Cast (no bias). Partial sums are integers of magnitude <= K, exact
in the accumulator dtype the builder picks (float32 up to 2^24, float64 beyond).
"""
from __future__ import annotations

from onnx import TensorProto

from ._body import Body, make_function

NAME = "XnorPopcountGemm"
INPUTS = ("xp", "wp")
OUTPUTS = ("y",)
ATTRIBUTES = ("K",)


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    k = b.attr_int("K")
    wt = b.op("Transpose", [b.slice_k(b.unpack("wp", acc, pm1=True), k)], perm=[1, 0])   # (K, N) ±1
    x = b.slice_k(b.unpack("xp", acc, pm1=True), k)                                      # (B, K) ±1
    b.op("Cast", [b.op("MatMul", [x, wt])], outputs=["y"], to=TensorProto.INT32)
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
