"""The seeds' planted experiment: a teacher RBM with ±1 synapses, data by Gibbs sampling, overlap with the truth.

Teacher: ξ ∈ {±1}^{N×P} i.i.d., or with hidden units 1 and 2 correlated: ξ_i2 = ξ_i1 with probability (1+q)/2
(so E[ξ_i1 ξ_i2] = q). Data: Gibbs sampling of p(σ, h) ∝ exp((β/√N) σ·ξ h) with
P(h_a=+1|σ) = sigmoid(2β X_a), X_a = Σ_i ξ_ia σ_i/√N, and P(σ_i=+1|h) = sigmoid(2β Y_i), Y_i = Σ_a ξ_ia h_a/√N,
on ``n_chains`` parallel chains: ``burn_in`` sweeps, then one sample per chain every ``thin`` sweeps.
The data density is α = M/N.
"""
from __future__ import annotations

import itertools

import numpy as np

__all__ = ["planted_teacher", "gibbs_sample", "planted_data", "overlap"]


def _rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def planted_teacher(n_visible: int, n_hidden: int, rng: np.random.Generator, q: float = 0.0) -> np.ndarray:
    """Random ±1 teacher weights, int8 (N, P); with q != 0 units 0 and 1 have overlap q in expectation."""
    rng = _rng(rng)
    if n_visible < 1 or n_hidden < 1:
        raise ValueError(f"need N >= 1 and P >= 1, got N={n_visible}, P={n_hidden}")
    if not -1.0 <= q <= 1.0:
        raise ValueError(f"teacher correlation q must be in [-1, 1], got {q}")
    xi = np.where(rng.random((n_visible, n_hidden)) < 0.5, 1, -1).astype(np.int8)
    if q != 0.0:
        if n_hidden < 2:
            raise ValueError("a correlated teacher (q != 0) needs at least 2 hidden units")
        same = rng.random(n_visible) < (1.0 + q) / 2.0
        xi[:, 1] = np.where(same, xi[:, 0], -xi[:, 0])
    return xi


def _spin(field: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # P(s = +1) = e^f / (2 cosh f) = sigmoid(2 f) = (1 + tanh f) / 2.
    return np.where(rng.random(field.shape) < 0.5 * (1.0 + np.tanh(field)), 1.0, -1.0)


def gibbs_sample(W: np.ndarray, n_samples: int, rng: np.random.Generator, *, beta: float = 1.0,
                 burn_in: int = 1000, thin: int = 100, n_chains: int = 50) -> np.ndarray:
    """Visible samples of the RBM with weights W (N, P) by block Gibbs sampling; int8 ±1 of shape (M, N)."""
    rng = _rng(rng)
    W = np.asarray(W, dtype=np.float64)
    if n_samples < 1 or burn_in < 0 or thin < 1 or n_chains < 1:
        raise ValueError(f"need n_samples >= 1, burn_in >= 0, thin >= 1, n_chains >= 1; got {n_samples}, "
                         f"{burn_in}, {thin}, {n_chains}")
    N = W.shape[0]
    Wb = beta * W / np.sqrt(N)
    chains = min(n_chains, n_samples)
    sigma = np.where(rng.random((chains, N)) < 0.5, 1.0, -1.0)

    def sweep(s: np.ndarray, n: int) -> np.ndarray:
        for _ in range(n):
            h = _spin(s @ Wb, rng)
            s = _spin(h @ Wb.T, rng)
        return s

    sigma = sweep(sigma, burn_in)
    out = []
    for _ in range(-(-n_samples // chains)):
        sigma = sweep(sigma, thin)
        out.append(sigma.copy())
    return np.concatenate(out)[:n_samples].astype(np.int8)


def planted_data(n_visible: int, n_hidden: int, alpha: float, rng: np.random.Generator, *, beta: float = 1.0,
                 q: float = 0.0, **gibbs) -> tuple[np.ndarray, np.ndarray]:
    """Teacher (N, P) and M = round(α N) Gibbs samples (M, N) from it."""
    teacher = planted_teacher(n_visible, n_hidden, rng, q)
    M = int(round(alpha * n_visible))
    if M < 1:
        raise ValueError(f"alpha * N must give at least one sample, got alpha={alpha}, N={n_visible}")
    return teacher, gibbs_sample(teacher, M, rng, beta=beta, **gibbs)


def overlap(teacher: np.ndarray, W: np.ndarray) -> tuple[float, np.ndarray, tuple[int, ...]]:
    """Overlap of learned weights W with the teacher, best matching of hidden units, sign-flip invariant.

    Q_a = |Σ_i ξ_ia W_iπ(a)| / N, with the permutation π maximising Σ_a Q_a (exhaustive for P <= 8, greedy
    beyond). W may be ±1 (MAP weights) or real means.

    Returns
    -------
    mean : float
        mean_a Q_a.
    per_unit : ndarray (P,)
        Q_a in teacher order.
    perm : tuple
        π: teacher unit a is matched with learned unit π(a).
    """
    T = np.asarray(teacher, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    if T.shape != W.shape or T.ndim != 2:
        raise ValueError(f"teacher and weights must both be (N, P); got {T.shape} and {W.shape}")
    N, P = T.shape
    C = np.abs(T.T @ W) / N                                     # C[a, b] = overlap of teacher a, learned b
    if P <= 8:
        perms = np.array(list(itertools.permutations(range(P))))
        best = perms[np.argmax(C[np.arange(P), perms].sum(axis=1))]
    else:
        best = np.full(P, -1)
        Cw = C.copy()
        for _ in range(P):                                      # greedy: largest remaining entry first
            a, b = np.unravel_index(np.argmax(Cw), Cw.shape)
            best[a] = b
            Cw[a, :] = -1
            Cw[:, b] = -1
    per = C[np.arange(P), best]
    return float(per.mean()), per, tuple(int(b) for b in best)
