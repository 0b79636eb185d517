"""Operand checks shared by the kernels: a wrong dtype or shape is a clear error, never a wrong answer."""
from __future__ import annotations

import numpy as np


def check(a: np.ndarray, name: str, dtypes, ndim: int, shape: dict[int, int] | None = None) -> np.ndarray:
    """Return ``a`` as an ndarray after checking its dtype (one of ``dtypes``), rank and some dimensions."""
    a = np.asarray(a)
    names = [np.dtype(d).name for d in (dtypes if isinstance(dtypes, (tuple, list)) else (dtypes,))]
    if a.dtype.name not in names:
        raise TypeError(f"{name} must have dtype {' or '.join(names)}, got {a.dtype.name}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-d, got shape {a.shape}")
    for axis, size in (shape or {}).items():
        if a.shape[axis] != size:
            raise ValueError(f"{name} must have size {size} on axis {axis}, got shape {a.shape}")
    return a


def n_words64(k: int) -> int:
    """uint64 words per row for K bits (bit layout v1: ceil(K/64))."""
    if int(k) < 1:
        raise ValueError(f"attribute K must be >= 1, got {k}")
    return -(-int(k) // 64)


def to_int32(y: np.ndarray, what: str) -> np.ndarray:
    """Exact int64 result -> int32, refusing (not wrapping) values outside int32."""
    if y.size and (y.min() < -(2**31) or y.max() > 2**31 - 1):
        raise ValueError(f"{what} overflows int32")
    return y.astype(np.int32)
