"""TernaryPopcountGemm(xp, ws, wm: uint64; K) -> int32 [B,N] = popcount(wm) - 2 popcount((xp XOR ws) AND wm).

Body: with bits x, s, m in {0,1} at every position, popcount((x XOR s) AND m) = Σ m (x + s - 2 x s), so

    popcount(m) - 2 popcount((x XOR s) AND m) = Σ_k x_k m_k (4 s_k - 2) + Σ_k m_k (1 - 2 s_k),

one MatMul against a folded weight matrix plus a folded per-row constant; both sides are sliced to the K real
bits (pad bits are 0 by the layout).
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ._body import Body, make_function

NAME = "TernaryPopcountGemm"
INPUTS = ("xp", "ws", "wm")
OUTPUTS = ("y",)
ATTRIBUTES = ("K",)


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    fdt = np.float32 if acc == TensorProto.FLOAT else np.float64
    k_int = b.attr_int("K")
    s = b.slice_k(b.unpack("ws", acc), k_int)                               # (N, K)
    m = b.slice_k(b.unpack("wm", acc), k_int)
    w = b.op("Mul", [m, b.op("Sub", [b.op("Mul", [s, b.const(4, fdt)]), b.const(2, fdt)])])   # m (4s - 2)
    wt = b.op("Transpose", [w], perm=[1, 0])
    cw = b.op("Mul", [m, b.op("Sub", [b.const(1, fdt), b.op("Mul", [s, b.const(2, fdt)])])])  # m (1 - 2s)
    c = b.op("ReduceSum", [cw, b.const([1], np.int64)], keepdims=0)
    z = b.op("Add", [b.op("MatMul", [b.slice_k(b.unpack("xp", acc), k_int), wt]), c])
    b.op("Cast", [z], outputs=["y"], to=TensorProto.INT32)
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
