"""XnorPopcountGemm(xp: uint64 [B,W], wp: uint64 [N,W]; K) -> int32 [B,N] = K - 2 popcount(xp[b] XOR wp[n]).

Body (an exact rewrite that onnxruntime turns into one float MatMul): with bits x_k, w_k in {0,1} over all
64 W positions,  popcount(x XOR w) = Σ x + Σ w - 2 Σ x w, hence

    K - 2 popcount(x XOR w) = Σ_k x_k (4 w_k - 2) + (K - 2 Σ_k w_k).

The weight side (4 w - 2, transposed, and the per-row constant) depends only on the initializer ``wp`` and is
folded once at session creation, leaving unpack(xp) -> Slice -> MatMul -> Add -> Cast. Both operands are
sliced to the K real bits (pad bits are 0 by the layout, so they add nothing to either side; slicing saves
the padded MatMul columns, 6% at K = 784). Partial sums are integers of magnitude <= 3 K, exact in the
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
    k_int = b.attr_int("K")
    w = b.slice_k(b.unpack("wp", acc), k_int)                               # (N, K) 0/1
    w4 = b.op("Sub", [b.op("Mul", [w, b.const(4, fdt)]), b.const(2, fdt)])
    wt = b.op("Transpose", [w4], perm=[1, 0])                                # (K, N)
    pop_w = b.op("ReduceSum", [w, b.const([1], np.int64)], keepdims=0)      # (N,)
    c = b.op("Sub", [b.op("Cast", [k_int], to=acc), b.op("Mul", [b.const(2, fdt), pop_w])])  # K - 2 popcount(w)
    x = b.slice_k(b.unpack("xp", acc), k_int)                               # (B, K) 0/1
    z = b.op("Add", [b.op("MatMul", [x, wt]), c])
    b.op("Cast", [z], outputs=["y"], to=TensorProto.INT32)
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
