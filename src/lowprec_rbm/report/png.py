"""A grid of ±1 images as an 8-bit greyscale PNG, written with the standard library only (no matplotlib).

PNG layout (RFC 2083 / ISO 15948): the 8-byte signature, then chunks ``length | type | data | CRC-32``:
IHDR (width, height, bit depth 8, colour type 0 = greyscale, compression 0, filter 0, interlace 0), one IDAT
holding the zlib stream of the scanlines (each prefixed with filter type 0 = none), IEND.
"""
from __future__ import annotations

import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["encode_png", "image_grid", "write_png"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(pixels: np.ndarray) -> bytes:
    """uint8 greyscale image (H, W) -> PNG bytes."""
    img = np.asarray(pixels)
    if img.dtype != np.uint8 or img.ndim != 2 or min(img.shape) < 1:
        raise ValueError(f"pixels must be a 2-d uint8 array, got {img.dtype} {img.shape}")
    h, w = img.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), img], axis=1).tobytes()   # filter byte 0 per row
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + \
        _chunk(b"IEND", b"")


def image_grid(samples: np.ndarray, image_shape: tuple[int, int], *, cols: int | None = None, scale: int = 2,
               gap: int = 1) -> np.ndarray:
    """±1 rows (n, H·W) -> one uint8 picture: +1 white, -1 black, images in a grid (``cols`` per row, default
    ⌈√n⌉) separated by ``gap`` grey pixels, each pixel drawn as a ``scale`` x ``scale`` block."""
    s = np.asarray(samples)
    h, w = (int(v) for v in image_shape)
    if s.ndim != 2 or s.shape[1] != h * w:
        raise ValueError(f"samples must have shape (n, {h * w}) for {h}x{w} images, got {s.shape}")
    n = s.shape[0]
    cols = max(1, math.ceil(math.sqrt(n))) if cols is None else int(cols)
    rows = -(-n // cols)
    ch, cw = h * scale + gap, w * scale + gap
    out = np.full((rows * ch + gap, cols * cw + gap), 128, np.uint8)
    tiles = np.where(s > 0, 255, 0).astype(np.uint8).reshape(n, h, w)
    tiles = np.repeat(np.repeat(tiles, scale, axis=1), scale, axis=2)
    for k in range(n):
        r, c = divmod(k, cols)
        out[gap + r * ch: gap + r * ch + h * scale, gap + c * cw: gap + c * cw + w * scale] = tiles[k]
    return out


def write_png(path: str | os.PathLike, pixels: np.ndarray) -> Path:
    """Write ``encode_png(pixels)`` atomically."""
    from export.fileio import atomic_write_bytes

    return atomic_write_bytes(path, encode_png(pixels))
