"""Compact per-unit field tables: each row stored over its non-saturated span only, read through a clamp.

An RBM with fields has one table row per unit over the K + 1 integer fields y in {-K, -K+2, ..., K} (entry
j = (y + K) / 2). A row is a monotone function of the field that saturates at its ends (probability 0 or 1,
the uint32 acceptance threshold's 0 or 2^32 - 1), so most of a long row repeats its first or last entry. The
compact form keeps, for row n, only the entries lo_n..hi_n:

    values   T [S]       the rows' spans, concatenated (S = sum of hi_n - lo_n + 1)
    lo, hi   int32 [R]   row n's span [lo_n, hi_n], 0 <= lo_n <= hi_n <= K
    off      int32 [R]   where row n's span starts in ``values``: off_0 = 0, off_{n+1} = off_n + hi_n - lo_n + 1

    out[b, n] = values[clamp((y[b, n] + K) / 2, lo_n, hi_n) - lo_n + off_n]

**Invariant** (what makes the lookup exact): every entry left of a row's span equals the span's first entry,
every entry right of it equals the span's last entry, i.e. ``full[n, j] == full[n, clamp(j, lo_n, hi_n)]`` for
every j; then the clamped lookup returns the full table's entry for every field. :func:`compact_rows` takes the
smallest span with that property (a constant row keeps one entry); it needs no monotonicity. Entries are
compared by their bytes (a float32 table by its bit patterns: -0.0 is not 0.0), so "equal" means identical bits.
:func:`check_compact` re-checks a compact table against the full one entry by entry and names the first
entry that breaks the invariant; the ONNX builder and the C emitter call it on every table they write.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CompactTable", "compact_rows", "check_compact", "expand"]

_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class CompactTable:
    """A table of R rows of K + 1 entries stored over each row's span (module doc)."""

    values: np.ndarray   # (S,), the full table's dtype
    lo: np.ndarray       # int32 (R,)
    hi: np.ndarray       # int32 (R,)
    off: np.ndarray      # int32 (R,)
    k: int               # rows have k + 1 entries

    def __post_init__(self) -> None:
        r = self.lo.shape[0] if self.lo.ndim == 1 else -1
        if (self.values.ndim != 1 or r < 1 or any(a.dtype != np.int32 or a.shape != (r,)
                                                  for a in (self.lo, self.hi, self.off))):
            raise ValueError(f"CompactTable needs 1-d values and int32 lo, hi, off of one length R >= 1, got "
                             f"values {self.values.shape}, lo {self.lo.dtype} {self.lo.shape}, hi {self.hi.dtype} "
                             f"{self.hi.shape}, off {self.off.dtype} {self.off.shape}")
        if np.any(self.lo < 0) or np.any(self.hi < self.lo) or np.any(self.hi > self.k):
            n = int(np.argmax((self.lo < 0) | (self.hi < self.lo) | (self.hi > self.k)))
            raise ValueError(f"CompactTable row {n}: span [{self.lo[n]}, {self.hi[n]}] is not within [0, K={self.k}] "
                             f"with lo <= hi")
        length = self.hi.astype(np.int64) - self.lo + 1
        want = np.concatenate([[0], np.cumsum(length)[:-1]])
        if not np.array_equal(self.off, want) or self.values.shape[0] != int(length.sum()):
            raise ValueError(f"CompactTable offsets must be the running sum of the span lengths (off_0 = 0, off_n+1 "
                             f"= off_n + hi_n - lo_n + 1) and values must hold {int(length.sum())} entries, got "
                             f"{self.values.shape[0]}")

    @property
    def rows(self) -> int:
        return self.lo.shape[0]

    @property
    def nbytes(self) -> int:
        """Bytes of the values and the three int32 index arrays."""
        return self.values.nbytes + 3 * self.lo.nbytes

    def lookup(self, y: np.ndarray) -> np.ndarray:
        """out[..., n] = values[clamp((y[..., n] + K) >> 1, lo_n, hi_n) - lo_n + off_n] for y (..., R)."""
        j = (np.asarray(y).astype(np.int64) + self.k) >> 1
        return self.values[np.clip(j, self.lo, self.hi) - self.lo + self.off]


def _bits(table: np.ndarray) -> np.ndarray:
    """The entries as unsigned integers of their width: equality of bits, not of values."""
    t = np.ascontiguousarray(table)
    return t.view(np.dtype(f"u{t.dtype.itemsize}")) if t.dtype.kind in "fiu" else t


def compact_rows(table: np.ndarray) -> CompactTable:
    """The compact form of ``table`` (R, K + 1): each row's smallest span outside which it repeats its ends.

    lo_n is the last index of row n's leading run of its first entry, hi_n the first index of its trailing run of
    its last entry (lo_n = hi_n = 0 for a constant row). Checked with :func:`check_compact` before it is returned.
    """
    table = np.asarray(table)
    if table.ndim != 2 or table.shape[0] < 1 or table.shape[1] < 2:
        raise ValueError(f"a per-unit field table must have shape (R >= 1, K + 1 >= 2), got {table.shape}")
    if table.size > _INT32_MAX:
        raise ValueError(f"a table of {table.size:,} entries exceeds int32 indexing")
    bits = _bits(table)
    k = table.shape[1] - 1
    same_first = bits == bits[:, :1]
    same_last = bits == bits[:, -1:]
    lo = np.argmin(same_first, axis=1) - 1                       # last index of the leading run
    hi = k - (np.argmin(same_last[:, ::-1], axis=1) - 1)          # first index of the trailing run
    const = same_first.all(axis=1)
    lo = np.where(const, 0, lo).astype(np.int32)
    hi = np.where(const, 0, hi).astype(np.int32)
    length = hi.astype(np.int64) - lo + 1
    off = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int32)
    keep = (np.arange(k + 1)[None, :] >= lo[:, None]) & (np.arange(k + 1)[None, :] <= hi[:, None])
    ct = CompactTable(np.ascontiguousarray(table[keep]), lo, hi, off, k)   # row-major: rows in order
    check_compact(table, ct)
    return ct


def expand(ct: CompactTable) -> np.ndarray:
    """The full (R, K + 1) table a compact table stands for."""
    j = np.arange(ct.k + 1)[None, :]
    return ct.values[np.clip(j, ct.lo[:, None], ct.hi[:, None]) - ct.lo[:, None] + ct.off[:, None]]


def check_compact(table: np.ndarray, ct: CompactTable) -> None:
    """ValueError naming the first entry where the clamped lookup of ``ct`` differs from ``table`` (module doc)."""
    table = np.asarray(table)
    if table.shape != (ct.rows, ct.k + 1) or table.dtype != ct.values.dtype:
        raise ValueError(f"the compact table stands for a {ct.values.dtype} table of shape ({ct.rows}, {ct.k + 1}), "
                         f"got {table.dtype} {table.shape}")
    bad = _bits(expand(ct)) != _bits(table)
    if bad.any():
        n, j = (int(i) for i in np.argwhere(bad)[0])
        side = "left of" if j < ct.lo[n] else "right of" if j > ct.hi[n] else "inside"
        raise ValueError(f"table row {n}, entry {j} (field {2 * j - ct.k}) is {table[n, j].item()!r} but the compact "
                         f"table gives {expand(ct)[n, j].item()!r} ({side} the span [{ct.lo[n]}, {ct.hi[n]}]): entries outside "
                         f"a row's span must equal the span's end entries")
