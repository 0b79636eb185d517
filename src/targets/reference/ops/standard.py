"""The few standard ONNX ops a custom-mode main graph uses around the ``lowprec`` nodes.

Integer arithmetic follows ONNX/onnxruntime: results keep the operands' dtype (wrapping modulo 2^bits, which
never happens for graphs built from a validated ``MLPNetwork``). ArgMax returns int64 indices; with
``select_last_index = 0`` ties go to the first maximum (np.argmax does exactly that).
"""
from __future__ import annotations

import numpy as np


def _same_dtype(a: np.ndarray, b: np.ndarray, op: str) -> None:
    if a.dtype != b.dtype:
        raise TypeError(f"{op}: operands must share a dtype, got {a.dtype} and {b.dtype}")


def add(a, b, **_):
    _same_dtype(a, b, "Add")
    return np.add(a, b, dtype=a.dtype)


def sub(a, b, **_):
    _same_dtype(a, b, "Sub")
    return np.subtract(a, b, dtype=a.dtype)


def mul(a, b, **_):
    _same_dtype(a, b, "Mul")
    return np.multiply(a, b, dtype=a.dtype)


def argmax(x, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0, **_):
    x = np.asarray(x)
    if select_last_index:
        # Last maximum = (size - 1) - first maximum of the reversed axis.
        idx = x.shape[axis] - 1 - np.argmax(np.flip(x, axis=axis), axis=axis)
    else:
        idx = np.argmax(x, axis=axis)
    idx = idx.astype(np.int64)
    return np.expand_dims(idx, axis) if keepdims else idx


def identity(x, **_):
    return np.asarray(x)


def cast(x, *, to: int, **_):
    from onnx.helper import tensor_dtype_to_np_dtype

    return np.asarray(x).astype(tensor_dtype_to_np_dtype(int(to)))


def cast_like(x, like, **_):
    """CastLike: ``x`` in ``like``'s dtype (the int32 -> int64 widening before the output affine)."""
    return np.asarray(x).astype(np.asarray(like).dtype)


def constant(*, value=None, **attrs):
    if value is None:
        raise ValueError(f"Constant: only the 'value' attribute (a tensor) is supported, got {sorted(attrs)}")
    return np.asarray(value)
