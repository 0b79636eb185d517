"""BernoulliSample: bit-exact Bernoulli draws from uint32 acceptance thresholds.

    bit n = u[b, n] < thr[b, n],   u = uniform_u32(seeds, stream, N)   (export.prng, counter-based)

u is a pure function of (row seed, stream, unit index), so every runtime draws the same bits; with
thr = floor(p · 2^32) the bit is +1 with probability thr / 2^32. The bits are packed like any row.
"""
from __future__ import annotations

import numpy as np

from export.prng import uniform_u32
from targets.reference.ops._check import check
from targets.reference.words import pack_rows


def bernoulli_sample(thr, seeds, *, N: int, stream: int, word_bits: int = 64) -> np.ndarray:
    thr = check(thr, "BernoulliSample thresholds thr", "uint32", 2, {1: int(N)})
    seeds = check(seeds, "BernoulliSample seeds", "uint32", 1, {0: thr.shape[0]})
    u = uniform_u32(seeds, int(stream), int(N))
    return pack_rows(u < thr, word_bits)
