"""XnorPopcountGemm(xp: uint64 [B,W], wp: uint64 [N,W]; K) -> int32 [B,N] = K - 2 popcount(xp[b] XOR wp[n]).

Body (an exact rewrite that onnxruntime turns into one float MatMul): with bits x_k, w_k in {0,1} over all
64 W positions,  popcount(x XOR w) = Σ x + Σ w - 2 Σ x w, hence

    K - 2 popcount(x XOR w) = Σ_k x_k (4 w_k - 2) + (K - 2 Σ_k w_k).

The weight side (4 w - 2, transposed, and the per-row constant) depends only on the initializer ``wp`` and is
folded once at session creation, leaving unpack(xp) -> MatMul -> Add -> Cast. Pad bits need no special case
(the identity holds for every bit). Partial sums are integers of magnitude <= 2 * 64 W + K, exact in the
accumulator dtype chosen by the builder (float32 up to 2^24, float64 beyond).
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ._body import Body, make_function

NAME = "XnorPopcountGemm"
INPUTS = ("xp", "wp")
OUTPUTS = ("y",)
ATTRIBUTES = ("K",)


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    fdt = np.float32 if acc == TensorProto.FLOAT else np.float64
    w = b.unpack("wp", acc)                                                  # (N, 64W) 0/1
    w4 = b.op("Sub", [b.op("Mul", [w, b.const(4, fdt)]), b.const(2, fdt)])
    wt = b.op("Transpose", [w4], perm=[1, 0])                                # (64W, N)
    k = b.op("Cast", [b.attr_int("K")], to=acc)
    pop_w = b.op("ReduceSum", [w, b.const([1], np.int64)], keepdims=0)      # (N,)
    c = b.op("Sub", [k, b.op("Mul", [b.const(2, fdt), pop_w])])             # K - 2 popcount(w)
    z = b.op("Add", [b.op("MatMul", [b.unpack("xp", acc), wt]), c])
    b.op("Cast", [z], outputs=["y"], to=TensorProto.INT32)
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
