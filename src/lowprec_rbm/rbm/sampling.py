"""Gibbs sampling of the binary-synapse RBM in NumPy, on the same PRNG path as the exported sampler.

The exported graph (``export.onnx``, ``RBMNetwork.gibbs_steps`` = G) draws step t's hidden units from stream 2t
and its visible units from stream 2t + 1 of the counter-based PRNG (:mod:`export.prng`), one uint32 seed per
row, and accepts a unit as +1 when its uniform word is below the uint32 threshold of
P(+1 | field) = (1 + tanh(β field / √N)) / 2 (float64, the order of operations of ``export.network.rbm_tables``).

A chain of K steps runs in blocks of at most :data:`BLOCK` steps (an unrolled graph holds at most 100 steps, the
export limit). Block j uses row seeds ``block_seeds(seeds, j)``: the user's seeds for j = 0, and for j >= 1 a
word drawn from stream ``2**30 + j`` of the same PRNG (a stream no block's own draws reach, since a block uses
streams below 2·BLOCK). So a chain of K <= BLOCK steps here equals one call of a graph exported with
``gibbs_steps = K``, and a longer chain equals ceil(K / BLOCK) calls of such graphs with :func:`block_seeds`:
:func:`gibbs_chain` (NumPy) and a target's ``Session.gibbs`` (the CLI's ``lowprec sample --target``) give the
same bits.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from export.prng import probability_to_threshold, uniform_u32

__all__ = ["BLOCK", "block_seeds", "block_lengths", "gibbs_block", "gibbs_chain", "run_blocks"]

BLOCK = 25
_SEED_STREAM = 2 ** 30


def block_seeds(seeds: np.ndarray, block: int) -> np.ndarray:
    """Row seeds (uint32 (B,)) of block ``block`` of a chain started with ``seeds``."""
    seeds = np.asarray(seeds)
    if seeds.dtype != np.uint32 or seeds.ndim != 1:
        raise TypeError(f"seeds must be a 1-d uint32 array (one per row), got {seeds.dtype} {seeds.shape}")
    if block == 0:
        return seeds
    return uniform_u32(seeds, _SEED_STREAM + int(block), 1)[:, 0]


def block_lengths(n_steps: int) -> list[int]:
    """Steps of each block of a chain of ``n_steps`` (all BLOCK but the last)."""
    full, rest = divmod(int(n_steps), BLOCK)
    return [BLOCK] * full + ([rest] if rest else [])


def _accept(field: np.ndarray, beta: float, n: int, shift: np.ndarray | None) -> np.ndarray:
    # β·field/√N in this order of operations, as export.network.rbm_tables evaluates it (same float64 bits)
    x = beta * field / math.sqrt(n)
    return probability_to_threshold(0.5 * (1.0 + np.tanh(x if shift is None else x + shift)))


def gibbs_block(weights: np.ndarray, beta: float, v: np.ndarray, seeds: np.ndarray, n_steps: int, *,
                visible_field: np.ndarray | None = None, hidden_field: np.ndarray | None = None) -> np.ndarray:
    """``n_steps`` Gibbs sweeps v -> h -> v from ±1 rows v (B, N) with the exported graph's draws (module doc).

    Fields (when given) add to β·field/√N inside the tanh, in units of the exponent (zero: the exported model).
    """
    W = np.asarray(weights)
    n, p = W.shape
    Wf = W.astype(np.float64)
    beta = float(beta)
    sigma = np.asarray(v).astype(np.float64)
    for t in range(int(n_steps)):
        x = sigma @ Wf                                        # integer hidden fields, exact in float64
        h = uniform_u32(seeds, 2 * t, p) < _accept(x, beta, n, hidden_field)
        y = np.where(h, 1.0, -1.0) @ Wf.T
        vb = uniform_u32(seeds, 2 * t + 1, n) < _accept(y, beta, n, visible_field)
        sigma = np.where(vb, 1.0, -1.0)
    return sigma.astype(np.int8)


def run_blocks(step: Callable[[np.ndarray, np.ndarray, int], np.ndarray], v: np.ndarray, seeds: np.ndarray,
               n_steps: int, progress: Callable[[int, int], Any] | None = None) -> np.ndarray:
    """Run a chain of ``n_steps`` as blocks: ``step(v, block_seeds, length)`` returns the state after a block.

    ``progress(steps_done, n_steps)`` is called after each block.
    """
    done = 0
    for j, length in enumerate(block_lengths(n_steps)):
        v = step(v, block_seeds(seeds, j), length)
        done += length
        if progress is not None:
            progress(done, n_steps)
    return v


def gibbs_chain(weights: np.ndarray, beta: float, v: np.ndarray, seeds: np.ndarray, n_steps: int, *,
                visible_field: np.ndarray | None = None, hidden_field: np.ndarray | None = None,
                progress: Callable[[int, int], Any] | None = None) -> np.ndarray:
    """A chain of ``n_steps`` Gibbs sweeps in NumPy (blocks of :data:`BLOCK`, see the module docstring)."""
    return run_blocks(lambda s, sd, k: gibbs_block(weights, beta, s, sd, k, visible_field=visible_field,
                                                   hidden_field=hidden_field), np.asarray(v), seeds, n_steps,
                      progress)
