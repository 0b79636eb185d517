"""MaxPoolFields(y: int32 [B,H,W,N]) -> int32 [B,H/2,W/2,N]: the maximum of each 2x2 block of conv fields.

The published block order conv -> max-pool -> BN -> sign pools the conv's integer fields before the threshold
(``ThresholdSignPixels`` then thresholds the pooled field; see ``export.network.POOL_KINDS`` for why the two may
not be swapped when a channel's BN scale is negative). H and W are even (the network description checks it).
Body: four stride-2 Slices and a variadic Max (int32 Max is exact; standard MaxPool has no int32 kernel).
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ._body import Body, make_function

NAME = "MaxPoolFields"
INPUTS = ("y",)
OUTPUTS = ("m",)
ATTRIBUTES = ()


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    big = np.iinfo(np.int64).max
    parts = [b.op("Slice", ["y", b.const([di, dj], np.int64), b.const([big, big], np.int64),
                            b.const([1, 2], np.int64), b.const([2, 2], np.int64)])
             for di in (0, 1) for dj in (0, 1)]
    b.op("Max", parts, outputs=["m"])
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
