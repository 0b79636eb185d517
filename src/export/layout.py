"""Bit layout v1: the one convention the whole toolkit shares. Every packer, kernel and emitter calls this.

- A ±1 value is a bit: bit 1 means +1, bit 0 means -1; sign(0) = +1 (a value >= 0 packs to 1).
- Bits are packed along the reduction axis K, least-significant bit first inside each word. Words are
  little-endian uint64 in files; a uint8/uint16/uint32 view of the same bytes is the same layout, so the word
  width only changes how many bits a kernel takes at once.
- K is padded to a whole number of 64-bit words with zero bits in both operands. Pad bits XOR to 0, so
  dot(x, w) = K - 2 * popcount(x XOR w) with the true K and no correction.
- Ternary {-1, 0, +1}: a sign plane (layout above; bit 0 where the value is 0) and a nonzero mask m;
  dot(x, w) = popcount(m) - 2 * popcount((x XOR s) AND m).
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "LAYOUT_VERSION", "WORD_BITS", "METADATA", "n_words", "pack_pm1", "unpack_pm1", "pack_ternary",
    "unpack_ternary", "view_words", "check_metadata", "LayoutError",
]

LAYOUT_VERSION = 1
WORD_BITS = 64  # storage word: uint64, little-endian
# Written into every artifact (ONNX metadata_props, C header comments) and checked on load.
METADATA = {
    "lowprec.layout_version": str(LAYOUT_VERSION),
    "lowprec.bit_meaning": "1=+1,0=-1",
    "lowprec.bit_order": "lsb-first",
    "lowprec.word_bits": str(WORD_BITS),
    "lowprec.word_endian": "little",
    "lowprec.pad_rule": "zero-bits-both-operands",
    "lowprec.sign_zero": "+1",
    "lowprec.ternary": "sign-plane+nonzero-mask",
}
_WORD_DTYPES = {8: np.dtype("<u1"), 16: np.dtype("<u2"), 32: np.dtype("<u4"), 64: np.dtype("<u8")}


class LayoutError(ValueError):
    """An artifact's layout metadata is missing or differs from bit layout v1."""


def n_words(k: int, word_bits: int = WORD_BITS) -> int:
    """Number of ``word_bits``-bit words holding ``k`` bits (at least 1 word for k >= 1)."""
    if k < 1:
        raise ValueError(f"K must be >= 1, got {k}")
    return -(-int(k) // int(word_bits))


def _as_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a bool array (..., K) into little-endian uint64 words (..., ceil(K/64)), zero padded."""
    k = bits.shape[-1]
    nbytes = n_words(k) * 8
    packed = np.packbits(bits, axis=-1, bitorder="little")  # (..., ceil(K/8)) uint8, pad bits are 0
    pad = nbytes - packed.shape[-1]
    if pad:
        packed = np.concatenate([packed, np.zeros(packed.shape[:-1] + (pad,), np.uint8)], axis=-1)
    return np.ascontiguousarray(packed).view("<u8")


def pack_pm1(values: np.ndarray) -> np.ndarray:
    """Pack ±1 values (or any real values, by sign with sign(0)=+1) along the last axis.

    Parameters
    ----------
    values : ndarray, shape (..., K)
        Integer ±1 values, or reals binarised as ``value >= 0``. Integer input other than ±1 is an error.

    Returns
    -------
    ndarray of uint64 (little-endian), shape (..., ceil(K/64))
    """
    values = np.asarray(values)
    if values.ndim < 1 or values.shape[-1] < 1:
        raise ValueError(f"expected values of shape (..., K) with K >= 1, got shape {values.shape}")
    if values.dtype.kind in "iu":
        if not np.all((values == 1) | (values == -1)):
            bad = values[(values != 1) & (values != -1)].ravel()[0]
            raise ValueError(f"expected ±1 integer values, found {bad}")
    elif values.dtype.kind == "f":
        if not np.all(np.isfinite(values)):
            raise ValueError("cannot pack NaN or infinite values")
    elif values.dtype.kind != "b":
        raise TypeError(f"expected an integer, float or bool array, got dtype {values.dtype}")
    return _as_bits(values > 0 if values.dtype.kind == "b" else values >= 0)


def unpack_pm1(words: np.ndarray, k: int) -> np.ndarray:
    """Inverse of :func:`pack_pm1`: words (..., W) of any width 8/16/32/64 -> int8 ±1 of shape (..., K)."""
    words = np.asarray(words)
    if words.dtype.kind != "u":
        raise TypeError(f"expected unsigned integer words, got dtype {words.dtype}")
    raw = np.ascontiguousarray(words.astype(words.dtype.newbyteorder("<"), copy=False)).view(np.uint8)
    if raw.shape[-1] * 8 < k:
        raise ValueError(f"{raw.shape[-1] * 8} bits of words cannot hold K={k}")
    bits = np.unpackbits(raw, axis=-1, count=k, bitorder="little")
    return (bits.astype(np.int8) * 2 - 1).astype(np.int8)


def pack_ternary(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pack {-1, 0, +1} values (..., K) into (sign plane, nonzero mask), each uint64 (..., ceil(K/64)).

    The sign plane has bit 1 for +1 and bit 0 for -1 and for 0 (so ``sign AND NOT mask`` is always 0).
    """
    values = np.asarray(values)
    if values.dtype.kind not in "iu":
        raise TypeError(f"expected integer ternary values, got dtype {values.dtype}")
    if not np.all((values >= -1) & (values <= 1)):
        raise ValueError("expected ternary values in {-1, 0, +1}")
    return _as_bits(values > 0), _as_bits(values != 0)


def unpack_ternary(sign: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """Inverse of :func:`pack_ternary`: int8 values in {-1, 0, +1} of shape (..., K)."""
    s = unpack_pm1(sign, k)
    m = (unpack_pm1(mask, k) + 1) // 2
    return (s * m).astype(np.int8)


def view_words(words64: np.ndarray, word_bits: int) -> np.ndarray:
    """Reinterpret little-endian uint64 words (..., W) as words of 8/16/32/64 bits (..., W*64/word_bits).

    Same bytes, same layout: bit k of a row is bit (k mod w) of word floor(k / w) for every width w.
    """
    if word_bits not in _WORD_DTYPES:
        raise ValueError(f"word width must be one of 8, 16, 32, 64; got {word_bits}")
    words64 = np.ascontiguousarray(np.asarray(words64, dtype="<u8"))
    return words64.view(_WORD_DTYPES[word_bits])


def check_metadata(props: dict[str, str], source: str = "artifact") -> None:
    """Raise :class:`LayoutError` unless ``props`` declares exactly bit layout v1."""
    for key, want in METADATA.items():
        got = props.get(key)
        if got is None:
            raise LayoutError(f"{source}: metadata {key!r} is missing; expected {want!r} (bit layout v1)")
        if got != want:
            raise LayoutError(f"{source}: metadata {key!r} is {got!r}; this toolkit reads {want!r} (bit layout v1)")
