"""A network as a sequence of layer objects (:mod:`.base`): training, evaluation, BN statistics, moments.

:class:`Network` runs whatever layers it is given in order; it knows no layer by kind. Weighted layers are
addressed by their ``index`` (block ``i`` of :mod:`.blocks` owns weights ``i`` and batch norm ``i``), so the
weights are a list ``ws[i]`` and the BN statistics a list ``stats[i]``.

Memory: evaluation and BN re-estimation run in chunks of rows sized so that the widest intermediate array
(for a convolution, its im2col matrix) holds at most :data:`UNIT_BUDGET` numbers per chunk.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Sequence

import numpy as np

from lowprec_rbm.nn.stack.base import Moments, Pass

__all__ = ["Network", "UNIT_BUDGET"]

UNIT_BUDGET = 1 << 25        # numbers per chunk in the widest intermediate array (128 MiB of float32)
EVAL_CHUNK = 4096            # at most this many rows per evaluation chunk


def _bn_stats(mean, var):
    from lowprec_rbm.nn.network import BNStats
    return BNStats(mean, var)


class Network:
    """Layers in order, on per-example inputs of shape ``in_shape`` (a flat input is reshaped to it).

    Parameters
    ----------
    layers : sequence of layer objects
    in_shape : tuple, per-example input shape ((D,) or (H, W, C))
    units_per_example : int, the largest intermediate array's size per example (for chunking)
    """

    def __init__(self, layers: Sequence, in_shape: tuple, units_per_example: int):
        self.layers = list(layers)
        self.in_shape = tuple(int(s) for s in in_shape)
        shapes = {l.index: l.weight_shape for l in self.layers if l.weight_shape is not None}
        if sorted(shapes) != list(range(len(shapes))):
            raise ValueError(f"weighted layers must have indices 0..n-1, got {sorted(shapes)}")
        self.weight_shapes = [shapes[i] for i in range(len(shapes))]
        self.n_bn = len({l.index for l in self.layers if l.name == "batchnorm"})
        self._first_w = next(i for i, l in enumerate(self.layers) if l.weight_shape is not None)
        self.units_per_example = max(1, int(units_per_example))
        self._recycle = False

    def __repr__(self) -> str:
        return " -> ".join(repr(l) for l in self.layers)

    def _x(self, x: np.ndarray) -> np.ndarray:
        return x.reshape((x.shape[0],) + self.in_shape)

    def chunk_rows(self, cap: int | None = None) -> int:
        rows = max(1, UNIT_BUDGET // self.units_per_example)
        return rows if cap is None else min(rows, cap)

    # ---------------------------------------------------------------------------------------------- training
    def forward_train(self, ws, x, rng=None, running=None):
        """Training-mode pass: returns the logits and the cache for :meth:`backward`. ``running`` (a list of
        BNStats) is updated in place."""
        p = Pass(list(ws), running=running, rng=rng)
        p.network = self
        p.recycle = self._recycle
        h = self._x(x)
        caches = []
        for layer in self.layers:
            h, c = layer.train(h, p)
            caches.append(c)
        return h, (caches, p)

    def backward(self, cache, g) -> list:
        """Weight gradients (one per weighted layer) given ``g = dloss/dlogits``. Consumes the cache: a second
        call with it raises (inside :meth:`recycling` its buffers may already hold another step's values)."""
        caches, p = cache
        if p.consumed:
            raise ValueError("this forward_train cache was already used by backward; run forward_train again")
        p.consumed = True
        for i in range(len(self.layers) - 1, self._first_w - 1, -1):
            g = self.layers[i].backward(g, caches[i], p, i > self._first_w)
        return list(p.grads)

    @contextmanager
    def recycling(self):
        """Within this block, training passes (:meth:`forward_train` then :meth:`backward`, in turn) reuse the
        large buffers of the previous step (a convolution's im2col matrix), which :meth:`backward` frees
        by consuming its cache; the buffers are dropped on exit. The results are the same bits either way."""
        self._recycle = True
        try:
            yield self
        finally:
            self._recycle = False
            for layer in self.layers:
                layer.release()

    # -------------------------------------------------------------------------------------------- evaluation
    def forward_eval(self, ws, x, stats, chunk: int | None = None) -> np.ndarray:
        """Evaluation pass (fixed BN statistics, no dropout), in chunks; returns the logits."""
        x = self._x(x)
        ws = [w.astype(x.dtype, copy=False) for w in ws]
        p = Pass(ws, stats=stats, train=False)
        step = chunk or self.chunk_rows(EVAL_CHUNK)
        out = []
        for s in range(0, x.shape[0], step):
            h = x[s:s + step]
            for layer in self.layers:
                h = layer.eval(h, p)
            out.append(h)
        return np.concatenate(out, axis=0)

    def population_stats(self, ws, x) -> list:
        """BN statistics of fixed weights over ``x``, block by block: block ``i``'s pre-activation mean and
        biased variance when the earlier blocks are normalised with their own population statistics (the
        "BN re-estimation" of a network that was not the one trained: a MAP network, a sample). float64 sums.

        When ``x`` fits in one chunk (every MLP, small CNN calibration sets) this is one pass with an exact
        two-pass variance; otherwise each batch norm takes one pass over the chunks (sums of a and a²)."""
        x = self._x(x)
        ws = [w.astype(x.dtype, copy=False) for w in ws]
        stats: list = [None] * self.n_bn
        p = Pass(ws, stats=stats, train=False)
        rows = self.chunk_rows()
        if x.shape[0] <= rows:
            h = x
            for layer in self.layers:
                if layer.name == "batchnorm":
                    a = h.reshape(-1, h.shape[-1])
                    mean = a.mean(axis=0, dtype=np.float64)
                    var = np.mean((a.astype(np.float64) - mean) ** 2, axis=0)
                    stats[layer.index] = _bn_stats(mean, var)
                h = layer.eval(h, p)
            return stats
        bn_pos = [i for i, l in enumerate(self.layers) if l.name == "batchnorm"]
        for pos in bn_pos:
            s1 = s2 = 0.0
            n = 0
            for s in range(0, x.shape[0], rows):
                h = x[s:s + rows]
                for layer in self.layers[:pos]:
                    h = layer.eval(h, p)
                a = h.reshape(-1, h.shape[-1]).astype(np.float64)
                s1 = s1 + a.sum(axis=0)
                s2 = s2 + np.einsum("ij,ij->j", a, a)
                n += a.shape[0]
            mean = s1 / n
            stats[self.layers[pos].index] = _bn_stats(mean, np.maximum(s2 / n - mean * mean, 0.0))
        return stats

    # ------------------------------------------------------------------------------- probabilistic forward
    def pfp_forward(self, mu_w, var_w, x, rng=None, running=None, train: bool = True, stats=None):
        """Moments of the logits for independent random weights (means ``mu_w``, variances ``var_w``).

        ``train``: batch moments (``running`` updated in place) and dropout; otherwise ``stats`` (or
        ``running``) are the fixed statistics. Returns ``(mu_z, var_z, cache)``."""
        if not train and stats is None:
            if running is None:
                raise ValueError("evaluation-mode PFP needs BN statistics")
            stats = running
        p = Pass(mu_w=list(mu_w), var_w=list(var_w), running=running if train else None, rng=rng,
                 stats=stats, train=train)
        p.network = self
        m = Moments(self._x(x), None)
        caches = []
        for layer in self.layers:
            m, c = layer.moments(m, p)
            caches.append(c)
        return m.mu, m.variance(), (caches, p)

    def pfp_backward(self, cache, g_mu, g_var):
        """Gradients w.r.t. the weight means and variances given those w.r.t. the logit moments."""
        caches, p = cache
        for i in range(len(self.layers) - 1, self._first_w - 1, -1):
            g_mu, g_var = self.layers[i].moments_backward(g_mu, g_var, caches[i], p)
        return list(p.g_mu_w), list(p.g_var_w)
