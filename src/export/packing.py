"""Conversions between ±1 / ternary numpy arrays, numpy word arrays and ``bitarray`` objects.

All bit placement goes through ``export.layout`` (bit layout v1). A ``bitarray`` with ``endian='little'``
numbers the bits of each byte least-significant first, so the bytes of a layout-v1 row *are* the buffer of a
little-endian bitarray: bit k of the row is ``ba[k]``. ``bitarray.util.serialize`` gives a stable on-disk
form (one header byte holding endianness and pad-bit count, then the bytes).

Word arrays: packed rows are uint64 ``(..., ceil(K/64))``; ``as_words(words, 8|16|32|64)`` is the same bytes
at another width (``layout.view_words``) and ``to_words64`` goes back.
"""
from __future__ import annotations

import numpy as np
from bitarray import bitarray
from bitarray.util import deserialize, serialize

from export import layout

__all__ = [
    "pack", "unpack", "pack_ternary", "unpack_ternary", "as_words", "to_words64",
    "to_bitarray", "from_bitarray", "pm1_to_bitarray", "bitarray_to_pm1", "rows_to_bitarrays",
    "bitarrays_to_rows", "serialize_bits", "deserialize_bits", "xnor_dot",
]

if layout.METADATA["lowprec.bit_order"] != "lsb-first" or layout.METADATA["lowprec.word_endian"] != "little":
    raise ImportError("export.packing maps layout bytes to little-endian bitarrays; the layout changed")

pack = layout.pack_pm1
unpack = layout.unpack_pm1
pack_ternary = layout.pack_ternary
unpack_ternary = layout.unpack_ternary
as_words = layout.view_words


def to_words64(words: np.ndarray) -> np.ndarray:
    """A uint8/16/32/64 word view ``(..., n)`` back to little-endian uint64 words (same bytes)."""
    words = np.asarray(words)
    if words.dtype.kind != "u":
        raise TypeError(f"expected unsigned integer words, got dtype {words.dtype}")
    raw = np.ascontiguousarray(words.astype(words.dtype.newbyteorder("<"), copy=False)).view(np.uint8)
    if raw.shape[-1] % 8:
        raise ValueError(f"{raw.shape[-1]} bytes per row is not a whole number of 64-bit words")
    return raw.view("<u8")


def to_bitarray(words: np.ndarray, k: int) -> bitarray:
    """One packed row (W,) of words (any width) -> little-endian bitarray of its first ``k`` bits."""
    words = np.asarray(words)
    if words.ndim != 1:
        raise ValueError(f"expected one row of words (W,), got shape {words.shape}")
    if words.dtype.kind != "u":
        raise TypeError(f"expected unsigned integer words, got dtype {words.dtype}")
    raw = np.ascontiguousarray(words.astype(words.dtype.newbyteorder("<"), copy=False)).view(np.uint8)
    if raw.size * 8 < k:
        raise ValueError(f"{raw.size * 8} bits of words cannot hold K={k}")
    ba = bitarray(endian="little")
    ba.frombytes(raw.tobytes())
    del ba[k:]
    return ba


def from_bitarray(ba: bitarray) -> np.ndarray:
    """A bitarray (any endianness; bit k = k-th value, 1 = +1) -> one packed row, uint64 (ceil(len/64),)."""
    if not isinstance(ba, bitarray):
        raise TypeError(f"expected a bitarray, got {type(ba).__name__}")
    if len(ba) < 1:
        raise ValueError("cannot pack an empty bitarray (K >= 1)")
    little = bitarray(ba, endian="little")  # same bit sequence, little-endian buffer
    little.extend(bitarray(layout.n_words(len(ba)) * 64 - len(ba), endian="little") if len(ba) % 64 else bitarray())
    buf = np.frombuffer(little.tobytes(), dtype=np.uint8)
    return to_words64(buf[None, :])[0]


def pm1_to_bitarray(values: np.ndarray) -> bitarray:
    """±1 values (K,) -> little-endian bitarray (bit 1 = +1), via the layout packer."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"expected a 1-d array of ±1 values, got shape {values.shape}")
    return to_bitarray(pack(values), values.shape[0])


def bitarray_to_pm1(ba: bitarray) -> np.ndarray:
    """bitarray -> int8 ±1 values of length ``len(ba)``."""
    return unpack(from_bitarray(ba), len(ba))


def rows_to_bitarrays(words: np.ndarray, k: int) -> list[bitarray]:
    """Packed rows (R, W) -> one bitarray of ``k`` bits per row."""
    words = np.asarray(words)
    if words.ndim != 2:
        raise ValueError(f"expected packed rows (R, W), got shape {words.shape}")
    return [to_bitarray(row, k) for row in words]


def bitarrays_to_rows(bas: list[bitarray]) -> np.ndarray:
    """Equal-length bitarrays -> packed rows uint64 (R, ceil(K/64))."""
    if not bas:
        raise ValueError("expected at least one bitarray")
    k = len(bas[0])
    if any(len(b) != k for b in bas):
        raise ValueError(f"all bitarrays must have the same length; lengths {sorted({len(b) for b in bas})}")
    return np.stack([from_bitarray(b) for b in bas])


def serialize_bits(words: np.ndarray, k: int) -> bytes:
    """Packed rows (..., W) of ``k`` bits each -> ``bitarray.util.serialize`` bytes of the R*k bits, row-major.

    The shape is not stored; :func:`deserialize_bits` takes it back.
    """
    words = to_words64(np.asarray(words))
    flat = words.reshape(-1, words.shape[-1])
    out = bitarray(endian="little")
    for row in flat:
        out += to_bitarray(row, k)
    return serialize(out)


def deserialize_bits(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`serialize_bits`: bytes and the logical shape (..., K) -> packed uint64 (..., W)."""
    ba = deserialize(bytes(data))
    *lead, k = shape
    rows = int(np.prod(lead, dtype=np.int64)) if lead else 1
    if len(ba) != rows * k:
        raise ValueError(f"serialized data holds {len(ba)} bits; shape {tuple(shape)} needs {rows * k}")
    values = bitarray_to_pm1(ba) if len(ba) else np.zeros(0, np.int8)
    return pack(values.reshape(*lead, k))


def xnor_dot(xp: np.ndarray, wp: np.ndarray, k: int) -> np.ndarray:
    """Σ_k x_k w_k for packed rows: ``K - 2 popcount(x XOR w)``; xp (B, W), wp (N, W) -> int64 (B, N)."""
    xp, wp = np.asarray(xp, np.uint64), np.asarray(wp, np.uint64)
    pop = np.bitwise_count(xp[:, None, :] ^ wp[None, :, :]).sum(axis=-1, dtype=np.int64)
    return k - 2 * pop
