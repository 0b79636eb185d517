"""BernoulliSample(thr: uint32 [B,N], seeds: uint32 [B]; N, stream) -> uint64 [B, ceil(N/64)].

bit n = uniform_u32(seeds, stream, N)[b, n] < thr[b, n], the counter-based PRNG of ``export.prng`` written in
uint32 ops that wrap modulo 2^32 in every runtime (Mul, Add, BitwiseXor, BitShift RIGHT):
    salt = GOLDEN * (stream + 1);  key = mix32(seed ^ salt);  u = mix32(mix32(key + n))
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from export.prng import GOLDEN, MIX_C1, MIX_C2

from ._body import Body, make_function

NAME = "BernoulliSample"
INPUTS = ("thr", "seeds")
OUTPUTS = ("bits",)
ATTRIBUTES = ("N", "stream")


def _mix32(b: Body, x: str) -> str:
    for shift, mul in ((16, MIX_C1), (15, MIX_C2)):
        x = b.op("BitwiseXor", [x, b.op("BitShift", [x, b.const(shift, np.uint32)], direction="RIGHT")])
        x = b.op("Mul", [x, b.const(mul, np.uint32)])
    return b.op("BitwiseXor", [x, b.op("BitShift", [x, b.const(16, np.uint32)], direction="RIGHT")])


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    stream = b.op("Cast", [b.op("Add", [b.attr_int("stream"), b.const(1, np.int64)])], to=TensorProto.UINT32)
    salt = b.op("Mul", [stream, b.const(GOLDEN, np.uint32)])                 # wraps mod 2^32
    key = _mix32(b, b.op("BitwiseXor", ["seeds", salt]))                       # (B,)
    n_units = b.attr_int("N")
    n = b.op("Cast", [b.op("Range", [b.const(0, np.int64), n_units, b.const(1, np.int64)])], to=TensorProto.UINT32)
    x = b.op("Add", [b.op("Unsqueeze", [key, b.const([1], np.int64)]), n])    # (B, N), wraps
    u = _mix32(b, _mix32(b, x))
    b.pack(b.op("Less", [u, "thr"]), n_units, out="bits")
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
