"""C array literals and word packing for the emitter (text only; the numbers come from ``export.layout``)."""
from __future__ import annotations

import numpy as np

from export.layout import n_words, pack_pm1, pack_ternary, view_words

__all__ = ["c_array", "packed_rows", "packed_ternary_rows", "C_WORD_TYPES"]

C_WORD_TYPES = {32: "uint32_t", 64: "uint64_t"}
_FORMATS = {
    "uint32_t": "0x%08xu", "uint64_t": "0x%016xull", "int32_t": "%d", "int64_t": "INT64_C(%d)", "int8_t": "%d", "uint8_t": "%du",
}
_PER_LINE = {"uint32_t": 8, "uint64_t": 4, "int32_t": 10, "int64_t": 4, "int8_t": 20, "uint8_t": 16}


def _words_at_width(words64: np.ndarray, k: int, word_bits: int) -> np.ndarray:
    """(N, ceil(K/64)) uint64 rows -> (N, ceil(K/word_bits)) words of ``word_bits`` (same bytes, extra
    all-zero pad words of the 64-bit rows dropped)."""
    return np.ascontiguousarray(view_words(words64, word_bits)[:, :n_words(k, word_bits)])


def packed_rows(values: np.ndarray, word_bits: int) -> np.ndarray:
    """±1 int8 (N, K) -> packed words (N, ceil(K/word_bits)) of ``word_bits`` bits, bit layout v1."""
    values = np.asarray(values)
    return _words_at_width(pack_pm1(values), values.shape[-1], word_bits)


def packed_ternary_rows(values: np.ndarray, word_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """{-1,0,+1} int8 (N, K) -> (sign plane, nonzero mask), each (N, ceil(K/word_bits)) words."""
    values = np.asarray(values)
    s, m = pack_ternary(values)
    k = values.shape[-1]
    return _words_at_width(s, k, word_bits), _words_at_width(m, k, word_bits)


def c_array(ctype: str, name: str, values: np.ndarray, comment: str = "", size_expr: str | None = None) -> str:
    """``static const ctype name[size] = {...};`` with ``comment`` (already sanitised) above it."""
    flat = np.asarray(values).ravel()
    if ctype.startswith("uint"):
        flat = flat.astype(np.uint64)
    else:
        flat = flat.astype(np.int64)
    if flat.size == 0:
        raise ValueError(f"C array {name} would be empty")
    text = np.char.mod(_FORMATS[ctype], flat)
    if ctype == "int32_t":
        text = np.where(flat == -2**31, "(-2147483647 - 1)", text)
    per = _PER_LINE[ctype]
    lines = [", ".join(text[i:i + per]) for i in range(0, text.size, per)]
    body = ",\n    ".join(lines)
    head = f"/* {comment} */\n" if comment else ""
    return f"{head}static const {ctype} {name}[{size_expr or flat.size}] = {{\n    {body}\n}};\n"
