"""Log-partition term of the ELBO: belief propagation on the dual RBM with quenched Gaussian hidden fields.

Under q(W), X_a(σ) = m^a·σ/√N + Ξ_a z_a with the noise variance Ξ_a² independent of σ. Treating the noise as one
quenched z_a ~ N(0, 1) per hidden unit (the seed's "dual network"),

    E_q ln Z(W) ≈ < ln Z_dual(J, θ) >_z,  Z_dual = Σ_σ Π_a 2cosh(Σ_i J_ia σ_i + θ_a),
    J = β m / √N,  θ_a = β Ξ_a z_a.

BP on the factor graph (variables σ_i, factors a), all K z-samples and all N·P edges at once. Each factor is
a mixture over h_a of product measures, so its message is exact without a Gaussian cavity approximation:

    c_ia = tanh(Σ_{b≠a} u_ib)                        cavity magnetisation m_{i→a}
    r_ia = atanh(c_ia tanh J_ia),  R_a = Σ_i r_ia     cavity field of h_a (≈ Σ_j J_ja c_ja for small J)
    u_ia = atanh(tanh(θ_a + R_a - r_ia) tanh J_ia)    message a→i

Hidden magnetisation m̂_a = tanh(θ_a + R_a) is built from *cavity* magnetisations (the factor belief), so the
fluctuation is not counted twice (pitfall §8). At a fixed point the Bethe ln Z is stationary in the messages,
so its derivatives are belief averages: ∂/∂J_ia = <σ_i h_a>_{b_a}, ∂/∂θ_a = m̂_a. With ∂θ_a/∂m_ia =
-β z_a m_ia / (N Ξ_a):

    ∂<ln Z_dual>/∂m_ia = (β/√N) <<σ_i h_a>>_z - (β m_ia / N) <z_a m̂_a>_z / Ξ_a

Measured caveat (tests/test_rbm_exact.py): the quenched form sits below E_q ln Z by about the Jensen gap
Σ_a [β²Ξ_a²/2 - <ln cosh(βΞ_a z)>] (≈ 0.1 nat per hidden unit at Ξ ≈ 1), which does not shrink with N: in the
paramagnetic phase the weight noise acts on each σ almost independently (annealed), not as one shared field.
:func:`annealed_partition_term` is the alternative ln E_q Z ≈ Σ_a β²Ξ_a²/2 + ln Z_dual(J, θ = 0), an upper
bound on E_q ln Z (so the ELBO estimate stays a lower bound up to the CLT and Bethe approximations).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lowprec_rbm.posterior import log2cosh
from lowprec_rbm.rbm.clt import field_std

__all__ = ["BPResult", "BPStatistics", "PartitionTerm", "run_bp", "bp_statistics", "partition_term",
           "annealed_partition_term"]

_LN2 = float(np.log(2.0))


class BPResult(NamedTuple):
    """Messages and convergence report of one BP run.

    u : (K, N, P) messages factor a -> variable i (fields). iterations : sweeps done. residual : (K,) the
    last max |Δu| per z-sample (undamped). converged : (K,) residual <= tol.
    """

    u: np.ndarray
    iterations: int
    residual: np.ndarray
    converged: np.ndarray


class BPStatistics(NamedTuple):
    """Beliefs at the messages: h (K, P) = <h_a>, sigma (K, N) = <σ_i>, sigma_h (K, N, P) = <σ_i h_a>
    (from the factor beliefs), log_z (K,) the Bethe ln Z."""

    h: np.ndarray
    sigma: np.ndarray
    sigma_h: np.ndarray
    log_z: np.ndarray


class PartitionTerm(NamedTuple):
    """<ln Z_dual>_z (mean over z-samples), its gradient wrt m (N, P), and the BP run."""

    value: float
    grad: np.ndarray | None
    bp: BPResult


def _check(J: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    J = np.asarray(J, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if J.ndim != 2 or theta.ndim != 2 or theta.shape[1] != J.shape[1]:
        raise ValueError(f"expected couplings (N, P) and hidden fields (K, P); got {J.shape} and {theta.shape}")
    return J, theta


def run_bp(J: np.ndarray, theta: np.ndarray, u0: np.ndarray | None = None, *, damping: float = 0.5,
           tol: float = 1e-6, max_iter: int = 200, dtype: type = np.float64) -> BPResult:
    """Iterate the BP equations (parallel schedule) for K hidden-field samples at once.

    Parameters
    ----------
    J : ndarray, shape (N, P)
        Real couplings of the dual RBM.
    theta : ndarray, shape (K, P)
        Hidden fields, one row per z-sample.
    u0 : ndarray, shape (K, N, P), optional
        Starting messages (warm start); zeros otherwise.
    damping : float in [0, 1)
        u <- damping * u_old + (1 - damping) * u_new.
    tol : float
        Per-entry tolerance on the message change max |u_new - u_old|.
    max_iter : int
        Iteration cap.
    dtype : numpy float type
        Arithmetic of the iterations (float32 is ~3x faster; messages of size ~β/√N keep ~1e-7 relative
        precision, so tolerances down to ~1e-6 are reachable). Returned messages are float64.
    """
    J, theta = _check(J, theta)
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"BP damping must be in [0, 1), got {damping}")
    K, (N, P) = theta.shape[0], J.shape
    t = np.tanh(J).astype(dtype)[None]                     # (1, N, P)
    th = theta.astype(dtype)[:, None, :]                   # (K, 1, P)
    u = np.zeros((K, N, P), dtype) if u0 is None else np.array(u0, dtype=dtype)
    if u.shape != (K, N, P):
        raise ValueError(f"warm-start messages have shape {u.shape}, expected {(K, N, P)}")
    c, new = np.empty_like(u), np.empty_like(u)
    residual = np.full(K, np.inf)
    it = 0
    for it in range(1, max_iter + 1):
        np.subtract(u.sum(axis=2, keepdims=True), u, out=c)
        np.tanh(c, out=c)                                  # cavity magnetisations m_{i→a}
        c *= t
        np.arctanh(c, out=c)                               # r_ia
        np.subtract(c.sum(axis=1, keepdims=True), c, out=new)
        new += th
        np.tanh(new, out=new)
        new *= t
        np.arctanh(new, out=new)                           # undamped new messages
        np.subtract(new, u, out=c)
        np.abs(c, out=c)
        residual = c.max(axis=(1, 2)).astype(np.float64)
        if damping:
            new *= 1.0 - damping
            new += damping * u
        u, new = new, u
        if residual.max() <= tol:
            break
    return BPResult(u.astype(np.float64), it, residual, residual <= tol)


def bp_statistics(J: np.ndarray, theta: np.ndarray, u: np.ndarray) -> BPStatistics:
    """Beliefs and the Bethe log-partition at messages ``u`` (a BP fixed point for the results to hold).

    ln Z_Bethe = Σ_a ln Z_a + Σ_i ln Z_i - Σ_ia ln Z_ia with (normalised messages)
    ln Z_a  = Σ_j ln cosh J_ja + ½ Σ_j ln(1 - c_ja² t_ja²) + ln 2cosh(θ_a + R_a)
    ln Z_i  = ln 2cosh(H_i) - Σ_a ln 2cosh(u_ia),   H_i = Σ_a u_ia
    ln Z_ia = ln(1 + c_ia tanh u_ia) - ln 2
    and, given h_a, σ_i has mean (c + h t)/(1 + h c t) under the factor belief, so
    <σ_i h_a> = p(h=+1)(c + t)/(1 + c t) - p(h=-1)(c - t)/(1 - c t).
    """
    J, theta = _check(J, theta)
    t = np.tanh(J)[None]
    H = u.sum(axis=2, keepdims=True)
    c = np.tanh(H - u)
    ct = c * t
    F = theta + np.arctanh(ct).sum(axis=1)                 # (K, P) field of h_a in its factor belief
    h = np.tanh(F)
    pp, pm = (0.5 * (1 + h))[:, None, :], (0.5 * (1 - h))[:, None, :]
    sigma_h = pp * (c + t) / (1 + ct) - pm * (c - t) / (1 - ct)
    log_z = (np.sum(log2cosh(J)) - J.size * _LN2
             + 0.5 * np.log1p(-ct * ct).sum(axis=(1, 2)) + log2cosh(F).sum(axis=1)
             + log2cosh(H[..., 0]).sum(axis=1) - log2cosh(u).sum(axis=(1, 2))
             - np.log1p(c * np.tanh(u)).sum(axis=(1, 2)) + J.size * _LN2)
    return BPStatistics(h, np.tanh(H[..., 0]), sigma_h, log_z)


def partition_term(m: np.ndarray, beta: float, z: np.ndarray, u0: np.ndarray | None = None, *,
                   damping: float = 0.5, tol: float = 1e-6, max_iter: int = 200, grad: bool = True,
                   dtype: type = np.float64) -> PartitionTerm:
    """<ln Z_dual(βm/√N, βΞz)>_z over the rows of ``z`` (K, P) and its gradient wrt m (N, P)."""
    m = np.asarray(m, dtype=np.float64)
    N = m.shape[0]
    xi = field_std(m)
    J = beta * m / np.sqrt(N)
    theta = beta * xi[None, :] * z
    bp = run_bp(J, theta, u0, damping=damping, tol=tol, max_iter=max_iter, dtype=dtype)
    st = bp_statistics(J, theta, bp.u)
    if not grad:
        return PartitionTerm(float(st.log_z.mean()), None, bp)
    # <z m̂>/Ξ; as Ξ -> 0 it tends (Stein) to β <z² ∂m̂/∂θ> ≈ β <z² (1 - m̂²)> (local response of the belief).
    zh = np.mean(z * st.h, axis=0)
    small = xi < 1e-10
    coef = np.where(small, beta * np.mean(z * z * (1 - st.h ** 2), axis=0), zh / np.where(small, 1.0, xi))
    g = (beta / np.sqrt(N)) * st.sigma_h.mean(axis=0) - (beta / N) * m * coef[None, :]
    return PartitionTerm(float(st.log_z.mean()), g, bp)


def annealed_partition_term(m: np.ndarray, beta: float, u0: np.ndarray, *, damping: float = 0.5,
                            tol: float = 1e-6, max_iter: int = 200, grad: bool = True,
                            dtype: type = np.float64) -> PartitionTerm:
    """ln E_q Z ≈ Σ_a β²Ξ_a²/2 + ln Z_Bethe(βm/√N, θ = 0), averaged over the K BP runs started at ``u0``.

    E_q 2cosh(βX_a(σ)) ≈ e^{β²Ξ_a²/2} 2cosh(βG_a(σ)) by the CLT, hence the form. The gradient is
    (β/√N) <σ_i h_a> - β² m_ia / N. With θ = 0 the all-zero messages are a fixed point (σ -> -σ symmetry),
    so ``u0`` (K, N, P) should be random or warm: different starts can find different retrieval states.
    """
    m = np.asarray(m, dtype=np.float64)
    N = m.shape[0]
    xi = field_std(m)
    J = beta * m / np.sqrt(N)
    theta = np.zeros((np.shape(u0)[0], m.shape[1]))
    bp = run_bp(J, theta, u0, damping=damping, tol=tol, max_iter=max_iter, dtype=dtype)
    st = bp_statistics(J, theta, bp.u)
    value = float(np.sum(beta ** 2 * xi ** 2) / 2 + st.log_z.mean())
    if not grad:
        return PartitionTerm(value, None, bp)
    return PartitionTerm(value, (beta / np.sqrt(N)) * st.sigma_h.mean(axis=0) - (beta ** 2 / N) * m, bp)
