"""Counter-based integer PRNG for bit-exact sampling across runtimes (numpy, ONNX, C).

Only uint32 operations that every runtime has and that wrap modulo 2^32: XOR, logical shift right, multiply,
add. The mixer is a 32-bit integer hash (xorshift-multiply, two rounds; a bijection on uint32):

    mix32(x) = x ^= x >> 16;  x *= 0x7FEB352D;  x ^= x >> 15;  x *= 0x846CA68B;  x ^= x >> 16

A uniform uint32 for row seed ``seed``, stream ``stream`` (e.g. 2t for the hidden draw of Gibbs step t,
2t+1 for the visible draw) and unit index ``n`` is

    key = mix32(seed ^ (GOLDEN * (stream + 1)))        GOLDEN = 0x9E3779B9
    u   = mix32(mix32(key + n))

Distinct n give distinct u inside a row (mix32 is a bijection and n < 2^32). A unit is +1 when
``u < threshold`` where ``threshold = min(2^32 - 1, floor(p * 2^32))``, so P(+1) = threshold / 2^32, within
2^-32 of p. Not cryptographic; statistical quality is tested (means and pair correlations).
"""
from __future__ import annotations

import numpy as np

__all__ = ["MIX_C1", "MIX_C2", "GOLDEN", "mix32", "uniform_u32", "probability_to_threshold"]

MIX_C1 = 0x7FEB352D
MIX_C2 = 0x846CA68B
GOLDEN = 0x9E3779B9


def mix32(x: np.ndarray) -> np.ndarray:
    """The 32-bit mixer above, on uint32 arrays (wrapping arithmetic)."""
    x = np.asarray(x, dtype=np.uint32).copy()
    x ^= x >> np.uint32(16)
    x *= np.uint32(MIX_C1)
    x ^= x >> np.uint32(15)
    x *= np.uint32(MIX_C2)
    x ^= x >> np.uint32(16)
    return x


def uniform_u32(seeds: np.ndarray, stream: int, n_units: int) -> np.ndarray:
    """Uniform uint32 words of shape (B, n_units) for per-row seeds (B,) and a stream number."""
    seeds = np.asarray(seeds)
    if seeds.dtype != np.uint32 or seeds.ndim != 1:
        raise TypeError(f"seeds must be a 1-d uint32 array (one per row), got {seeds.dtype} {seeds.shape}")
    if not 0 <= int(stream) < 2**31:
        raise ValueError(f"stream must be in [0, 2^31), got {stream}")
    with np.errstate(over="ignore"):
        salt = np.uint32((GOLDEN * (int(stream) + 1)) & 0xFFFFFFFF)
        key = mix32(seeds ^ salt)
        n = np.arange(n_units, dtype=np.uint32)
        return mix32(mix32(key[:, None] + n[None, :]))


def probability_to_threshold(p: np.ndarray) -> np.ndarray:
    """uint32 acceptance thresholds: floor(p * 2^32) clipped to [0, 2^32 - 1], so u < t has probability t/2^32."""
    p = np.asarray(p, dtype=np.float64)
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("probabilities must be finite and lie in [0, 1]")
    return np.minimum(np.floor(p * 2.0**32), 2.0**32 - 1).astype(np.uint32)
