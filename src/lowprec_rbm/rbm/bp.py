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

Arithmetic (speed). The sweep above costs two tanh and two arctanh per edge; numpy's arctanh has no vector
loop without AVX-512 (~21 ns per element against ~1.5 for log or exp). :func:`run_bp` therefore iterates in
the *ratio domain*: with U = e^{2u}, G = e^{2J} and the identity atanh(tanh(x) tanh(J)) = ½ ln[(e^{2x} G + 1)
/ (e^{2x} + G)], and the cavity ratio e^{2(H_i - u_ia)} = A_i / U_ia (A_i = e^{2H_i}, H_i = Σ_a u_ia),

    G R_ia = G e^{2 r_ia} = (G V + G²) / (G V + 1),   V = U_ia / A_i
    B_a  = e^{2(θ_a + R_a)} = e^{2θ_a} Π_i R_ia
    G U'_ia = G e^{2 u'_ia} = (G W + G²) / (G W + 1),  W = R_ia / B_a

so a sweep is one exp (U from the damped messages) and one log (u' for damping and the residual) per edge plus
divisions and products, all positive numbers (no cancellation; each operation adds <= 1 ulp relative, i.e.
<= 2^-p absolute to the doubled log-messages). Its messages agree with the tanh/arctanh sweep to float
rounding (tests/test_rbm_bp_speed.py). The ratios must stay inside the float range: |2H_i| <= 2 Σ_a max(|J_ia|,
|u0_ia|) and |2F_a| <= 2(|θ_a| + Σ_i |J_ia|) (messages never exceed |J| in size after a sweep, and damping is
a convex combination), so the ratio form is used when those bounds, plus 2 max |J|, stay below
``_RATIO_LIMIT`` (40 in float32, e^80 < float max; 350 in float64; Π_i G R is taken in row blocks); otherwise the
log-domain sweep runs with the message function :func:`_message`, ½ ln[cosh(x + J)/cosh(x - J)] written so that
it is finite and accurate for any |x|, |J| (tests/test_rbm_bp_stable.py: exact on trees with |J| up to 50).
The beliefs and the Bethe ln Z use the tanh-product formulas for |J| <= 1 and the cosh forms of
:func:`_beliefs_stable` beyond. (Before, the float64 ratio sweep wrote G R as 1 + (G² - 1)/(1 + G V), which
cancels to 0 for J << 0 and returned NaN from |J| ≈ 18, and the arctanh forms were ±inf once tanh x tanh J
rounded to ±1.) The previous implementation (tanh/arctanh sweep, numpy
arctanh/log1p statistics) is kept as ``legacy=True`` for the benchmark (bench/rbm_speed.py) and the tests.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lowprec_rbm.rbm.clt import field_std
from lowprec_rbm.vecmath import log1p as _log1p, log2cosh

__all__ = ["BPResult", "BPStatistics", "FieldMoments", "PartitionTerm", "run_bp", "bp_statistics",
           "partition_term", "annealed_partition_term"]

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


class FieldMoments(NamedTuple):
    """Gradients of <ln Z> wrt the visible fields b (N,) and hidden fields c (P,), and the model variances
    <1 - <σ_i>²>_z (N,), <1 - <h_a>²>_z (P,) (the Fisher information of the fields, divided by β²)."""

    grad_visible: np.ndarray
    grad_hidden: np.ndarray
    var_visible: np.ndarray
    var_hidden: np.ndarray


class PartitionTerm:
    """<ln Z_dual>_z (mean over z-samples) as ``value``, its gradient wrt m (N, P) as ``grad``, the BP run as
    ``bp``, the field gradients as ``fields`` (:class:`FieldMoments`, None without ``grad``). The value (the
    Bethe ln Z, a few transcendentals per edge) is evaluated on first access: a training step needs only the
    gradient. ``restart_gain``: with ``restart=True``, how much the restart from zero messages raised the
    z-averaged Bethe ln Z over the warm-started run (0 when the warm fixed point was the better one)."""

    __slots__ = ("grad", "bp", "_value", "fields", "restart_gain")

    def __init__(self, value, grad: np.ndarray | None, bp: BPResult, fields: FieldMoments | None = None,
                 restart_gain: float = 0.0):
        self._value, self.grad, self.bp, self.fields = value, grad, bp, fields
        self.restart_gain = restart_gain

    @property
    def value(self) -> float:
        if callable(self._value):
            self._value = float(self._value())
        return self._value

    def __iter__(self):
        return iter((self.value, self.grad, self.bp))


def _visible(field, n: int) -> np.ndarray:
    """Visible local fields φ (N,) as float64 (zeros for None)."""
    if field is None:
        return np.zeros(n)
    phi = np.asarray(field, dtype=np.float64)
    if phi.shape != (n,):
        raise ValueError(f"visible fields must have shape (N,) = ({n},), got {phi.shape}")
    return phi


def _check(J: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    J = np.asarray(J, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if J.ndim != 2 or theta.ndim != 2 or theta.shape[1] != J.shape[1]:
        raise ValueError(f"expected couplings (N, P) and hidden fields (K, P); got {J.shape} and {theta.shape}")
    return J, theta


# Largest |ln ratio| the ratio-domain sweep may meet (module doc): e^80 and e^700 stay finite and normal.
_RATIO_LIMIT = {np.dtype(np.float32): 40.0, np.dtype(np.float64): 350.0}


def run_bp(J: np.ndarray, theta: np.ndarray, u0: np.ndarray | None = None, *, damping: float = 0.5,
           tol: float = 1e-6, max_iter: int = 200, dtype: type = np.float64, legacy: bool = False,
           field: np.ndarray | None = None) -> BPResult:
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
        Arithmetic of the iterations (float32 is ~2x faster). Returned messages are float64. The float32
        ratio-domain sweep rounds the messages to ~1e-7 absolute (measured noise floor 8e-8 at a fixed
        point, N = 300, P = 40; the tanh/arctanh sweep's was 9e-9), so tolerances down to ~1e-6 are
        reachable; float64 reaches ~1e-15.
    legacy : bool
        Run the previous implementation (tanh/arctanh sweep, :func:`_run_bp_reference`) instead of the
        ratio-domain sweep; same equations, kept for the speed benchmark and the equivalence tests.
    field : ndarray, shape (N,), optional
        Visible local fields φ_i (the factor e^{φ_i σ_i} of the dual model with visible fields, φ = βb): the
        cavity field of σ_i towards factor a becomes φ_i + Σ_{b≠a} u_ib. None = 0.
    """
    J, theta = _check(J, theta)
    phi = _visible(field, J.shape[0])
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"BP damping must be in [0, 1), got {damping}")
    K, (N, P) = theta.shape[0], J.shape
    if u0 is not None and np.shape(u0) != (K, N, P):
        raise ValueError(f"warm-start messages have shape {np.shape(u0)}, expected {(K, N, P)}")
    if legacy:
        return _run_bp_reference(J, theta, u0, damping=damping, tol=tol, max_iter=max_iter, dtype=dtype,
                                 phi=phi)
    dt = np.dtype(dtype)
    aJ = np.abs(J)
    limit = _RATIO_LIMIT.get(dt, _RATIO_LIMIT[np.dtype(np.float32)])
    row = ((aJ.sum(axis=1) if u0 is None else np.maximum(aJ, np.abs(u0)).sum(axis=2)) + np.abs(phi)).max()
    col = aJ.sum(axis=0).max() + np.abs(theta).max()
    if not max(row, col) + 2 * aJ.max() <= limit:          # also catches NaN
        return _run_bp_log(J, theta, u0, damping=damping, tol=tol, max_iter=max_iter, dtype=dt, phi=phi)
    # State w = 2u + 2J = ln(G U): then G V = e^{w - H2} with H2 = 2H_i = Σ_a w_ia - Σ_a 2J_ia, and
    # (X + G)/(1 + G X) times G is (G X + G²)/(G X + 1), so G R = (G V + G²)/(G V + 1) and
    # ln(G U') = ln((G W + G²)/(G W + 1)), G W = G R / B, B = e^{2F} = (e^{2θ} / Π_i G) Π_i G R.
    # Both forms are sums, quotients and products of positive numbers: no cancellation for either sign of J.
    # (The former 1 + (G² - 1)/(1 + G X) cancelled for J << 0, G X << 1: G R = 1 - (1 - G²)/(1 + G X) lost
    # all digits once G² < 2^-p, gave 0, then B = 0 and NaN: float64 failed from |J| ≈ 18.)
    # Every quantity is e^{x} with |x| <= 2 limit by the bounds above, except Π_i G R (|x| <= 4 Σ_i |J_ia|):
    # it is taken over row blocks with 4 Σ_block max_a |J_ia| <= 2 limit and the blocks multiplied in float64.
    G2 = np.exp(4.0 * J).astype(dt)[None]                            # (1, N, P) G²
    # (1, N, 1) Σ_a 2J_ia - 2φ_i: H2 = Σ_a w_ia - jrow = 2(φ_i + Σ_a u_ia) includes the visible field.
    jrow = (2.0 * (J.sum(axis=1) - phi)).astype(dt)[None, :, None]
    scale = np.exp(2.0 * (theta - J.sum(axis=0)))[:, None, :]         # (K, 1, P) e^{2θ} / Π_i G, float64
    blocks = _blocks(aJ.max(axis=1), limit / 2)
    w = np.empty((K, N, P), dt)
    w[...] = 2.0 * J if u0 is None else 2.0 * (np.asarray(u0, dtype=np.float64) + J)
    ones = np.ones(P, dt)
    a, b = np.empty_like(w), np.empty_like(w)
    residual = np.full(K, np.inf)
    it = 0
    for it in range(1, max_iter + 1):
        H2 = np.matmul(w, ones)[..., None]                 # Σ_a w_ia (BLAS; numpy's sum is 5x slower here)
        H2 -= jrow                                         # 2H_i
        np.subtract(w, H2, out=a)
        np.exp(a, out=a)                                   # G V = G e^{2u} / e^{2H}
        np.add(a, 1, out=b)
        a += G2
        a /= b                                             # G R = G e^{2r}
        B = scale.copy()
        for lo, hi in blocks:
            B *= a[:, lo:hi].prod(axis=1, keepdims=True)
        a /= B.astype(dt)                                  # G W = G R e^{-2F}
        np.add(a, 1, out=b)
        a += G2
        a /= b                                             # G U'
        np.log(a, out=a)                                   # w' (undamped)
        np.subtract(a, w, out=b)                           # 2Δu
        residual = 0.5 * np.maximum(b.max(axis=(1, 2)), -b.min(axis=(1, 2))).astype(np.float64)
        if damping:
            b *= 1.0 - damping
        w += b                                             # w + (1 - damping)(w' - w)
        if residual.max() <= tol:
            break
    return BPResult(0.5 * w.astype(np.float64) - J, it, residual, residual <= tol)


def _blocks(c: np.ndarray, cap: float) -> list[tuple[int, int]]:
    """Consecutive index ranges [lo, hi) with Σ_range c_i <= cap (each c_i <= cap; one pass over c)."""
    out, lo, acc = [], 0, 0.0
    for i, ci in enumerate(c.tolist()):
        if acc + ci > cap and i > lo:
            out.append((lo, i))
            lo, acc = i, 0.0
        acc += ci
    out.append((lo, len(c)))
    return out


def _message(x: np.ndarray, J: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """atanh(tanh x tanh J) = ½ ln[cosh(x + J) / cosh(x - J)] for any magnitudes (broadcasting).

    With s = x + J, d = x - J and ln cosh y = |y| + ln(1 + e^{-2|y|}) - ln 2 it is
    ½(|s| - |d|) + ½ ln[(1 + e^{-2|s|}) / (1 + e^{-2|d|})], and ½(|s| - |d|) = sign(x) sign(J) min(|x|, |J|)
    exactly (no cancellation when |x| >> |J|). The log's argument lies in [1/2, 2] and its operands are
    finite, so the result is within a few ulp of 1 absolute of the true value whatever the sizes (the
    tanh/arctanh form rounds tanh x tanh J to ±1 once both exceed ~19 in float64, ~9 in float32, and returns
    ±inf). Two exp and one log per call."""
    s = np.add(x, J)
    d = np.subtract(x, J)
    np.abs(s, out=s)
    np.abs(d, out=d)
    np.multiply(s, -2.0, out=s)
    np.exp(s, out=s)
    s += 1.0
    np.multiply(d, -2.0, out=d)
    np.exp(d, out=d)
    d += 1.0
    s /= d
    np.log(s, out=s)
    s *= 0.5                                               # ½ ln[(1 + e^{-2|s|}) / (1 + e^{-2|d|})]
    np.abs(x, out=d)
    np.minimum(d, np.abs(J), out=d)
    np.copysign(d, x, out=d)
    d *= np.sign(J)                                        # sign(x) sign(J) min(|x|, |J|)
    return np.add(d, s, out=out)


def _run_bp_log(J, theta, u0, *, damping, tol, max_iter, dtype, phi=None) -> BPResult:
    """The log-domain sweep of the module doc for couplings and fields too large for ratios: messages from
    :func:`_message` (finite for any |J|, θ, φ; ~3x the ratio sweep's cost per edge)."""
    K, (N, P) = theta.shape[0], J.shape
    phi = _visible(phi, N)
    Jd = J.astype(dtype)[None]
    th = theta.astype(dtype)[:, None, :]
    ph = phi.astype(dtype)[None, :, None]
    u = np.zeros((K, N, P), dtype) if u0 is None else np.array(u0, dtype=dtype)
    c, new = np.empty_like(u), np.empty_like(u)
    residual = np.full(K, np.inf)
    it = 0
    for it in range(1, max_iter + 1):
        np.subtract(u.sum(axis=2, keepdims=True), u, out=c)
        c += ph                                            # cavity field of σ_i towards a
        _message(c, Jd, out=c)                             # r_ia
        np.subtract(c.sum(axis=1, keepdims=True), c, out=new)
        new += th
        _message(new, Jd, out=new)                         # undamped new messages
        np.subtract(new, u, out=c)
        residual = np.maximum(c.max(axis=(1, 2)), -c.min(axis=(1, 2))).astype(np.float64)
        if damping:
            c *= 1.0 - damping
        u += c
        if residual.max() <= tol:
            break
    return BPResult(u.astype(np.float64), it, residual, residual <= tol)


def _run_bp_reference(J, theta, u0, *, damping, tol, max_iter, dtype, phi=None) -> BPResult:
    """Before-version of :func:`run_bp` (numpy tanh/arctanh per edge), kept for the benchmark and tests."""
    K, (N, P) = theta.shape[0], J.shape
    phi = _visible(phi, N)
    t = np.tanh(J).astype(dtype)[None]                     # (1, N, P)
    th = theta.astype(dtype)[:, None, :]                   # (K, 1, P)
    ph = phi.astype(dtype)[None, :, None]                  # (1, N, 1)
    u = np.zeros((K, N, P), dtype) if u0 is None else np.array(u0, dtype=dtype)
    c, new = np.empty_like(u), np.empty_like(u)
    residual = np.full(K, np.inf)
    it = 0
    for it in range(1, max_iter + 1):
        np.subtract(u.sum(axis=2, keepdims=True), u, out=c)
        c += ph
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


def bp_statistics(J: np.ndarray, theta: np.ndarray, u: np.ndarray, *, legacy: bool = False,
                  field: np.ndarray | None = None) -> BPStatistics:
    """Beliefs and the Bethe log-partition at messages ``u`` (a BP fixed point for the results to hold).

    ln Z_Bethe = Σ_a ln Z_a + Σ_i ln Z_i - Σ_ia ln Z_ia with (normalised messages)
    ln Z_a  = Σ_j ln cosh J_ja + ½ Σ_j ln(1 - c_ja² t_ja²) + ln 2cosh(θ_a + R_a)
    ln Z_i  = ln 2cosh(H_i) - Σ_a ln 2cosh(u_ia),   H_i = φ_i + Σ_a u_ia  (φ = ``field``, visible fields)
    ln Z_ia = ln(1 + c_ia tanh u_ia) - ln 2
    and, given h_a, σ_i has mean (c + h t)/(1 + h c t) under the factor belief, so
    <σ_i h_a> = p(h=+1)(c + t)/(1 + c t) - p(h=-1)(c - t)/(1 - c t).

    All in float64. ``legacy`` runs the previous implementation (numpy arctanh/log1p, scalar without
    AVX-512); the default uses :mod:`lowprec_rbm.vecmath` and shares 1 ± c t between the terms.
    """
    J, theta = _check(J, theta)
    phi = _visible(field, J.shape[0])
    if legacy:
        return _bp_statistics_reference(J, theta, u, phi)
    stats = _beliefs(J, theta, u, phi)
    return stats._replace(log_z=_bethe_log_z(J, u, stats))


class _Beliefs(NamedTuple):
    h: np.ndarray
    sigma: np.ndarray
    sigma_h: np.ndarray
    log_z: object          # placeholder filled by _bethe_log_z
    H: np.ndarray          # (K, N, 1) Σ_a u_ia
    c: np.ndarray          # cavity magnetisations (None on the stable path)
    ct: np.ndarray         # (None on the stable path)
    F: np.ndarray          # (K, P) factor-belief field of h_a
    edge: np.ndarray | None = None   # stable path: (K,) ½ Σ_ia [ln 2cosh(x + J) + ln 2cosh(x - J)]


# Largest |J| for which the tanh-product beliefs (:func:`_beliefs_fast`) are used. Their only ill-conditioned
# operation is 1 - |c t| with |t| = tanh|J|: 1 - |ct| >= 1 - tanh|J| >= 2e^{-2|J|}/(1 + e^{-2|J|}), so the
# rounding of ct (<= 2^-53) moves ½ ln((1 + ct)/(1 - ct)) by <= 2^-53 e^{2|J|} <= 1.7e-15 for |J| <= 1. Beyond,
# :func:`_beliefs_stable` (cosh forms, any magnitude, ~2x the cost) is used.
_FAST_BELIEFS_MAX_J = 1.0


def _beliefs(J: np.ndarray, theta: np.ndarray, u: np.ndarray, phi: np.ndarray):
    """h, <σ>, <σ h> and the intermediates the Bethe ln Z reuses, by the fast or the stable formulas."""
    if J.size and np.abs(J).max() <= _FAST_BELIEFS_MAX_J:
        return _beliefs_fast(J, theta, u, phi)
    return _beliefs_stable(J, theta, u, phi)


def _beliefs_fast(J: np.ndarray, theta: np.ndarray, u: np.ndarray, phi: np.ndarray):
    """The tanh-product beliefs (no transcendental beyond one tanh and one log per edge: arctanh(ct) =
    ½ ln((1 + ct)/(1 - ct)), whose rounding is <= 3·2^-53 absolute per edge for |J| <= 1)."""
    t = np.tanh(J)[None]
    H = u.sum(axis=2, keepdims=True) + phi[None, :, None]
    c = np.subtract(H, u)
    np.tanh(c, out=c)
    ct = c * t
    p = np.add(ct, 1.0)                                    # 1 + ct
    q = np.subtract(1.0, ct)                               # 1 - ct
    r = np.divide(p, q)
    np.log(r, out=r)
    F = theta + 0.5 * r.sum(axis=1)                        # (K, P) field of h_a in its factor belief
    h = np.tanh(F)
    pp, pm = (0.5 * (1 + h))[:, None, :], (0.5 * (1 - h))[:, None, :]
    a = np.add(c, t, out=r)
    a /= p
    a *= pp
    b = np.subtract(c, t, out=p)
    b /= q
    b *= pm
    a -= b                                                 # <σ_i h_a>
    return _Beliefs(h, np.tanh(H[..., 0]), a, None, H, c, ct, F)


def _beliefs_stable(J: np.ndarray, theta: np.ndarray, u: np.ndarray, phi: np.ndarray):
    """The beliefs in cavity fields x_ia = H_i - u_ia, finite for any |J|, |θ|, |φ|.

    With c = tanh x, t = tanh J: (c ± t)/(1 ± ct) = tanh(x ± J), so <σ_i h_a> = p₊ tanh(x + J) - p₋ tanh(x - J);
    r_ia = atanh(ct) = ½[L(x + J) - L(x - J)] with L = ln 2cosh; and the Bethe ln Z of :func:`bp_statistics`
    collapses (1 ± ct = cosh(x ± J)/(cosh x cosh J), 1 + c tanh u = cosh(x + u)/(cosh x cosh u), x + u = H_i) to

        ln Z_Bethe = Σ_a L(F_a) + (1 - P) Σ_i L(H_i) + ½ Σ_ia [L(x_ia + J_ia) + L(x_ia - J_ia)],

    the textbook Σ_a ln Z_a + Σ_i ln Z_i - Σ_ia ln Z_ia with unnormalised messages. Each L carries <= 2 ulp of
    its argument (:func:`lowprec_rbm.vecmath.log2cosh`), so the errors are absolute and size-independent in
    relative terms."""
    Jb = J[None]
    H = u.sum(axis=2, keepdims=True) + phi[None, :, None]
    x = np.subtract(H, u)
    Lp, Lm = log2cosh(x + Jb), log2cosh(x - Jb)
    F = theta + 0.5 * (Lp - Lm).sum(axis=1)
    h = np.tanh(F)
    pp, pm = (0.5 * (1 + h))[:, None, :], (0.5 * (1 - h))[:, None, :]
    sigma_h = pp * np.tanh(x + Jb) - pm * np.tanh(x - Jb)
    edge = 0.5 * (Lp + Lm).sum(axis=(1, 2))
    return _Beliefs(h, np.tanh(H[..., 0]), sigma_h, None, H, None, None, F, edge)


def _bethe_log_z(J: np.ndarray, u: np.ndarray, st) -> np.ndarray:
    """Bethe ln Z (K,) from the beliefs' intermediates (formula in :func:`bp_statistics`; the collapsed form of
    :func:`_beliefs_stable` when the stable path computed them)."""
    if st.edge is not None:
        P = J.shape[1]
        return log2cosh(st.F).sum(axis=1) + (1 - P) * log2cosh(st.H[..., 0]).sum(axis=1) + st.edge
    ct2 = np.multiply(st.ct, st.ct)
    np.negative(ct2, out=ct2)
    _log1p(ct2, out=ct2)                                   # ln(1 - c²t²)
    ctu = np.tanh(u)
    ctu *= st.c
    _log1p(ctu, out=ctu)                                   # ln(1 + c tanh u)
    return (np.sum(log2cosh(J)) - J.size * _LN2
            + 0.5 * ct2.sum(axis=(1, 2)) + log2cosh(st.F).sum(axis=1)
            + log2cosh(st.H[..., 0]).sum(axis=1) - log2cosh(u).sum(axis=(1, 2))
            - ctu.sum(axis=(1, 2)) + J.size * _LN2)


def _log2cosh_reference(x: np.ndarray) -> np.ndarray:
    """Before-version of log 2cosh (numpy log1p, scalar without AVX-512)."""
    ax = np.abs(x)
    return ax + np.log1p(np.exp(-2.0 * ax))


def _bp_statistics_reference(J: np.ndarray, theta: np.ndarray, u: np.ndarray, phi: np.ndarray) -> BPStatistics:
    """Before-version of :func:`bp_statistics`, kept for the benchmark and the equivalence tests."""
    t = np.tanh(J)[None]
    H = u.sum(axis=2, keepdims=True) + phi[None, :, None]
    c = np.tanh(H - u)
    ct = c * t
    F = theta + np.arctanh(ct).sum(axis=1)                 # (K, P) field of h_a in its factor belief
    h = np.tanh(F)
    pp, pm = (0.5 * (1 + h))[:, None, :], (0.5 * (1 - h))[:, None, :]
    sigma_h = pp * (c + t) / (1 + ct) - pm * (c - t) / (1 - ct)
    log_z = (np.sum(_log2cosh_reference(J)) - J.size * _LN2
             + 0.5 * np.log1p(-ct * ct).sum(axis=(1, 2)) + _log2cosh_reference(F).sum(axis=1)
             + _log2cosh_reference(H[..., 0]).sum(axis=1) - _log2cosh_reference(u).sum(axis=(1, 2))
             - np.log1p(c * np.tanh(u)).sum(axis=(1, 2)) + J.size * _LN2)
    return BPStatistics(h, np.tanh(H[..., 0]), sigma_h, log_z)


def _stats_and_log_z(J, theta, u, legacy: bool, phi: np.ndarray):
    """Beliefs now and a thunk for the Bethe ln Z (K,), evaluated only when a value is asked for."""
    if legacy:
        st = _bp_statistics_reference(J, theta, u, phi)
        return st, lambda: st.log_z
    st = _beliefs(J, theta, u, phi)
    return st, lambda: _bethe_log_z(J, u, st)


def _fields(beta: float, N: int, P: int, visible_field, hidden_field) -> tuple[np.ndarray, np.ndarray]:
    """(βb (N,), βc (P,)) as float64; zeros where a field is None."""
    b = np.zeros(N) if visible_field is None else np.asarray(visible_field, dtype=np.float64)
    c = np.zeros(P) if hidden_field is None else np.asarray(hidden_field, dtype=np.float64)
    if b.shape != (N,) or c.shape != (P,):
        raise ValueError(f"fields must have shapes (N,) = ({N},) and (P,) = ({P},), got {b.shape} and {c.shape}")
    return beta * b, beta * c


def _field_moments(beta: float, st) -> FieldMoments:
    """∂<ln Z>/∂b = β<σ>, ∂<ln Z>/∂c = β<h> (z-averaged beliefs) and the model variances <1 - σ²>, <1 - h²>."""
    return FieldMoments(beta * st.sigma.mean(axis=0), beta * st.h.mean(axis=0),
                        np.mean(1.0 - st.sigma ** 2, axis=0), np.mean(1.0 - st.h ** 2, axis=0))


# Smallest rise of a z-sample's Bethe ln Z for which the restart's fixed point replaces the warm one. Two runs
# that end at the same fixed point differ by message rounding (float32: ~1e-7 per edge, N·P edges), so the
# value is a hundredth of a nat, far below the metastable gaps measured (2-20 nats) and negligible in a bound
# per sample; without it the training messages were dropped on rounding noise.
_RESTART_MIN_GAIN = 1e-2


def _run_best(J, theta, u0, phi, legacy: bool, restart: bool, kw: dict):
    """BP from ``u0``; with ``restart`` (and a warm ``u0``) also from zero messages, keeping per z-sample the
    converged fixed point with the larger Bethe ln Z.

    Why: BP's fixed points are stationary points of the Bethe free energy F = -ln Z_Bethe, and the Bethe
    approximation is its minimum, i.e. the largest ln Z_Bethe among them. A warm start tracks the fixed point it
    was in; as the model changes that one can become metastable with a lower ln Z_Bethe, and the bound then
    reads too high (measured: a 784-64 RBM with fields on the sample, epoch 5: warm 1,040.4, from zero
    messages 1,061.3, AIS over posterior samples 1,070.5). Returns (BPResult, beliefs, ln Z thunk, gain)."""
    run = run_bp(J, theta, u0, legacy=legacy, field=phi, **kw)
    st, log_z = _stats_and_log_z(J, theta, run.u, legacy, phi)
    if not restart or u0 is None:
        return run, st, log_z, 0.0
    warm_z = log_z()
    cold = run_bp(J, theta, None, legacy=legacy, field=phi, **kw)
    cold_z = _stats_and_log_z(J, theta, cold.u, legacy, phi)[1]()
    pick = (cold_z > warm_z + _RESTART_MIN_GAIN) & (cold.converged | ~run.converged)
    if not pick.any():
        return run, st, (lambda: warm_z), 0.0
    u = np.where(pick[:, None, None], cold.u, run.u)
    best = BPResult(u, max(run.iterations, cold.iterations), np.where(pick, cold.residual, run.residual),
                    np.where(pick, cold.converged, run.converged))
    st, log_z = _stats_and_log_z(J, theta, u, legacy, phi)
    return best, st, log_z, float(np.where(pick, cold_z - warm_z, 0.0).mean())


def partition_term(m: np.ndarray, beta: float, z: np.ndarray, u0: np.ndarray | None = None, *,
                   damping: float = 0.5, tol: float = 1e-6, max_iter: int = 200, grad: bool = True,
                   dtype: type = np.float64, legacy: bool = False, visible_field: np.ndarray | None = None,
                   hidden_field: np.ndarray | None = None, restart: bool = False) -> PartitionTerm:
    """<ln Z_dual(βm/√N, β(c + Ξz), βb)>_z over the rows of ``z`` (K, P) and its gradient wrt m (N, P).

    With fields (model p(σ, h) ∝ exp(β[σᵀWh/√N + bᵀσ + cᵀh])), ``visible_field`` b (N,) enters BP as the local
    field βb_i of σ_i and ``hidden_field`` c (P,) shifts the quenched hidden field θ_a = β(c_a + Ξ_a z_a); the
    result then also carries ``fields`` (:class:`FieldMoments`): ∂/∂b = β<σ>, ∂/∂c = β<h>, the Bethe
    stationarity argument of the module doc applied to the local factors e^{βb_iσ_i} and to θ_a.
    ``legacy`` selects the previous BP and statistics implementation (see :func:`run_bp`). ``restart``: with a
    warm ``u0``, also run BP from zero messages and keep, per z-sample, the fixed point with the larger Bethe
    ln Z (:func:`_run_best`; the gain is ``restart_gain``)."""
    m = np.asarray(m, dtype=np.float64)
    N, P = m.shape
    xi = field_std(m)
    phi, psi = _fields(beta, N, P, visible_field, hidden_field)
    J = beta * m / np.sqrt(N)
    theta = psi[None, :] + beta * xi[None, :] * z
    J, theta = _check(J, theta)
    bp, st, log_z, gain = _run_best(J, theta, u0, phi, legacy, restart,
                                    dict(damping=damping, tol=tol, max_iter=max_iter, dtype=dtype))
    value = lambda: log_z().mean()
    if not grad:
        return PartitionTerm(value, None, bp, restart_gain=gain)
    # <z m̂>/Ξ; as Ξ -> 0 it tends (Stein) to β <z² ∂m̂/∂θ> ≈ β <z² (1 - m̂²)> (local response of the belief).
    # θ_a = β(c_a + Ξ_a z_a): ∂θ_a/∂m_ia = βz_a ∂Ξ_a/∂m_ia whatever c, so the field does not change this term.
    zh = np.mean(z * st.h, axis=0)
    small = xi < 1e-10
    coef = np.where(small, beta * np.mean(z * z * (1 - st.h ** 2), axis=0), zh / np.where(small, 1.0, xi))
    g = (beta / np.sqrt(N)) * st.sigma_h.mean(axis=0) - (beta / N) * m * coef[None, :]
    return PartitionTerm(value, g, bp, _field_moments(beta, st), gain)


def annealed_partition_term(m: np.ndarray, beta: float, u0: np.ndarray, *, damping: float = 0.5,
                            tol: float = 1e-6, max_iter: int = 200, grad: bool = True,
                            dtype: type = np.float64, legacy: bool = False,
                            visible_field: np.ndarray | None = None,
                            hidden_field: np.ndarray | None = None, restart: bool = False) -> PartitionTerm:
    """ln E_q Z ≈ Σ_a β²Ξ_a²/2 + ln Z_Bethe(βm/√N, θ = βc, φ = βb), averaged over the K BP runs started at ``u0``.

    E_q 2cosh(β(X_a(σ) + c_a)) ≈ e^{β²Ξ_a²/2} 2cosh(β(G_a(σ) + c_a)) by the CLT, hence the form. The gradient
    is (β/√N) <σ_i h_a> - β² m_ia / N (and β<σ>, β<h> for the fields, in ``fields``). With no fields the
    all-zero messages are a fixed point (σ -> -σ symmetry), so ``u0`` (K, N, P) should be random or warm:
    different starts can find different retrieval states.
    ``legacy`` selects the previous BP and statistics implementation (see :func:`run_bp`); ``restart`` as in
    :func:`partition_term`.
    """
    m = np.asarray(m, dtype=np.float64)
    N, P = m.shape
    xi = field_std(m)
    phi, psi = _fields(beta, N, P, visible_field, hidden_field)
    J = beta * m / np.sqrt(N)
    theta = np.broadcast_to(psi, (np.shape(u0)[0], P))
    J, theta = _check(J, theta)
    bp, st, log_z, gain = _run_best(J, theta, u0, phi, legacy, restart,
                                    dict(damping=damping, tol=tol, max_iter=max_iter, dtype=dtype))
    value = lambda: np.sum(beta ** 2 * xi ** 2) / 2 + log_z().mean()
    if not grad:
        return PartitionTerm(value, None, bp, restart_gain=gain)
    return PartitionTerm(value, (beta / np.sqrt(N)) * st.sigma_h.mean(axis=0) - (beta ** 2 / N) * m, bp,
                         _field_moments(beta, st), gain)
