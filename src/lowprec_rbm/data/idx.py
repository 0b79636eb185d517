"""Reader and writer for the IDX format of MNIST-style files (raw or gzip).

Layout (big-endian): two zero bytes, a type code, the number of dimensions d, then d uint32 sizes, then the
data in C order. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDXError", "read_idx", "write_idx"]

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(v).newbyteorder("=").str: k for k, v in _DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """An IDX file is malformed: wrong magic number, truncated, or of an unexpected shape."""


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == _GZIP_MAGIC:
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read()
        except (OSError, EOFError, zlib.error) as exc:   # gzip.BadGzipFile is an OSError
            raise IDXError(f"{path}: gzip stream is corrupt or truncated ({exc})") from None
    return path.read_bytes()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a numpy array in native byte order.

    Parameters
    ----------
    path : path-like
        File to read. Gzip is detected from the content, not the name.

    Returns
    -------
    numpy.ndarray
        Array of the stored dtype and shape ``(d0, d1, ...)``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    IDXError
        Wrong magic number, unknown type code, corrupt gzip stream, or a data size other than the header
        announces. Any byte string gives either an array or one of these two errors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {str(path)!r}")
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise IDXError(f"{path}: expected an IDX header of at least 4 bytes, found {len(raw)} bytes")
    zero, code, ndim = raw[0:2], raw[2], raw[3]
    if zero != b"\x00\x00" or code not in _DTYPES:
        raise IDXError(
            f"{path}: wrong magic number 0x{raw[:4].hex()}; expected 0x0000TTDD with type TT in "
            f"{{08,09,0b,0c,0d,0e}} (is this an MNIST-format IDX file?)"
        )
    if ndim == 0:
        raise IDXError(f"{path}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise IDXError(f"{path}: truncated header: {ndim} dimensions need {header_len} bytes, found {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header_len])
    dtype = _DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize    # Python ints: a corrupt header cannot overflow this
    found = len(raw) - header_len
    if found < expected:
        raise IDXError(f"{path}: truncated data: header shape {shape} needs {expected} bytes, found {found}")
    if found > expected:
        raise IDXError(f"{path}: {found - expected} trailing bytes after the data of shape {shape}")
    arr = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header_len)
    return arr.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (gzip when ``compress`` or the name ends in ``.gz``), atomically."""
    from export.fileio import atomic_write_bytes

    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str
    if key not in _CODES:
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code; expected one of uint8, int8, "
                        "int16, int32, float32, float64")
    code = _CODES[key]
    header = b"\x00\x00" + bytes([code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()
    path = Path(path)
    if compress or (compress is None and path.suffix == ".gz"):
        data = gzip.compress(data, mtime=0)
    atomic_write_bytes(path, data)
