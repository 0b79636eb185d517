"""2x2 max-pooling, stride 2 (:mod:`lowprec_rbm.nn.conv`), after the activation or before the batch norm.

After the activation (block key ``pool``), in a sign network it pools ±1 values, i.e. the OR of four bits,
which is what a deployment computes on packed words. Before the batch norm (``pool_before_bn``: the published
order conv -> max-pool -> BN -> sign) it pools the real conv fields, which the deployment pools as int32
fields before the threshold (``MaxPoolFields``, docs/ops.md).

Moment rule for ±1 units (a sign layer before):
``E[max] = 1 − 2 Π_i (1 − m_i)/2`` is exact for independent inputs
(:func:`~lowprec_rbm.nn.conv.maxpool2_pm1_moments`); the output is ±1-valued again. The four units of a window
are computed with the same (random) filter on overlapping patches, so they are not independent: this is the
mean-field approximation the PFP makes everywhere. Measured on a random 3x3 ternary filter (one image, 20000
sampled networks): with the exact sign means of the window, the independence formula is off by +0.01 on
average and by up to 0.14 for single units (positively correlated units make ``max = −1`` likelier than the
product says).
Backward: ``∂E/∂m_i = Π_{j≠i} q_j`` with ``q_j = (1 − m_j)/2``, computed from pairwise products (no division,
so a unit at exactly +1 is fine).

Moment rule for Gaussian units (pool before BN: the conv's pre-activations ``a ~ N(μ, σ²)``, independent):
Clark's (1961) moments of the max of two Gaussians, applied pairwise, ``max(max(a00, a01), max(a10, a11))``,
each intermediate max treated as Gaussian again (moment matching). With ``θ = sqrt(σ1² + σ2² + ε)``,
``α = (μ1 − μ2)/θ``, Φ, φ the standard normal cdf and pdf:

    E[max]  = μ1 Φ(α) + μ2 Φ(−α) + θ φ(α)
    E[max²] = (μ1² + σ1²) Φ(α) + (μ2² + σ2²) Φ(−α) + (μ1 + μ2) θ φ(α),   var = E[max²] − E[max]²

(exact for one pair of independent Gaussians; the outer max of two non-Gaussian maxima is the approximation,
and the four window units share the filter, as for ±1 units above). Derivatives, using ``θα = μ1 − μ2``:
``∂E/∂μ1 = Φ(α)``, ``∂E/∂μ2 = Φ(−α)``, ``∂E/∂σi² = φ/(2θ)``; ``∂E[max²]/∂α = φ (σ1² − σ2²)``, so
``∂E[max²]/∂μ1 = 2μ1 Φ(α) + θφ + (σ1² − σ2²) φ/θ`` (μ2: ``2μ2 Φ(−α) + θφ − (σ1² − σ2²) φ/θ``) and
``∂E[max²]/∂σ1² = Φ(α) + [(μ1 + μ2) φ − (σ1² − σ2²) φ α/θ] / (2θ)`` (σ2²: Φ(−α) + the same bracket). The
variance is clamped at 0 against rounding (not differentiated). ``ε`` keeps θ > 0 for deterministic inputs.
"""
from __future__ import annotations

import numpy as np

from lowprec_rbm.nn import conv as C
from lowprec_rbm.nn import pfp
from lowprec_rbm.nn.stack.base import Layer, Moments, Pass

_EPS = 1e-8                       # added to θ² (Gaussian pool moments)
_SQRT2 = float(np.sqrt(2.0))
_INV_SQRT_2PI = float(1.0 / np.sqrt(2.0 * np.pi))


def _max2(m1, v1, m2, v2):
    """Clark's mean and variance of max(a1, a2) for independent Gaussians, and the cache of :func:`_max2_back`."""
    th = np.sqrt(v1 + v2 + m1.dtype.type(_EPS))
    a = (m1 - m2) / th
    big_p = 0.5 * (1.0 + pfp.erf(a / _SQRT2))     # pfp.erf looked up at call time (exact in gradient tests)
    big_q = 1.0 - big_p
    ph = np.exp(-0.5 * a * a) * _INV_SQRT_2PI
    mean = m1 * big_p + m2 * big_q + th * ph
    second = (m1 * m1 + v1) * big_p + (m2 * m2 + v2) * big_q + (m1 + m2) * th * ph
    return mean, np.maximum(second - mean * mean, 0), (m1, v1, m2, v2, th, a, big_p, big_q, ph, mean)


def _max2_back(g_mean, g_var, cache):
    """Gradients w.r.t. (μ1, σ1², μ2, σ2²) given those w.r.t. the mean and variance of the max."""
    m1, v1, m2, v2, th, a, big_p, big_q, ph, mean = cache
    g_m = g_mean - 2.0 * mean * g_var            # var = E[max²] − mean²
    g_s = g_var                                  # ... so E[max²] gets g_var
    dv = v1 - v2
    ds_dth = (m1 + m2) * ph - dv * ph * a / th   # total derivative of E[max²] w.r.t. θ
    dm_dv = ph / (2.0 * th)
    g_m1 = g_m * big_p + g_s * (2.0 * m1 * big_p + th * ph + dv * ph / th)
    g_m2 = g_m * big_q + g_s * (2.0 * m2 * big_q + th * ph - dv * ph / th)
    g_v1 = g_m * dm_dv + g_s * (big_p + ds_dth / (2.0 * th))
    g_v2 = g_m * dm_dv + g_s * (big_q + ds_dth / (2.0 * th))
    return g_m1, g_v1, g_m2, g_v2


class MaxPool2(Layer):
    name = "maxpool2"

    def train(self, x, p: Pass):
        return C.maxpool2_forward(x)

    def backward(self, g, cache, p: Pass, need_input_grad: bool):
        return C.maxpool2_backward(g, cache)

    def eval(self, x, p: Pass):
        return C.maxpool2_forward(x)[0]

    def moments(self, m: Moments, p: Pass):
        if not m.pm1:
            return self._gauss_moments(m)
        out = C.maxpool2_pm1_moments(m.mu)
        return Moments(out, None, pm1=True), (m.mu, out)

    @staticmethod
    def _gauss_moments(m: Moments):
        mu = m.mu
        var = np.zeros_like(mu) if m.var is None else m.var
        q = [(mu[:, di::2, dj::2], var[:, di::2, dj::2]) for di in (0, 1) for dj in (0, 1)]
        tm, tv, tc = _max2(*q[0], *q[1])
        bm, bv, bc = _max2(*q[2], *q[3])
        om, ov, oc = _max2(tm, tv, bm, bv)
        return Moments(om, ov), ("gauss", mu.shape, tc, bc, oc)

    def moments_backward(self, g_mu, g_var, cache, p: Pass):
        if isinstance(cache[0], str):         # ("gauss", ...): the Gaussian rule
            _, shape, tc, bc, oc = cache
            g_tm, g_tv, g_bm, g_bv = _max2_back(g_mu, g_var, oc)
            g_in_mu, g_in_var = np.empty(shape, g_mu.dtype), np.empty(shape, g_mu.dtype)
            for (gm, gv), c, offs in (((g_tm, g_tv), tc, ((0, 0), (0, 1))), ((g_bm, g_bv), bc, ((1, 0), (1, 1)))):
                g1m, g1v, g2m, g2v = _max2_back(gm, gv, c)
                for (di, dj), a, b in zip(offs, (g1m, g2m), (g1v, g2v)):
                    g_in_mu[:, di::2, dj::2] = a
                    g_in_var[:, di::2, dj::2] = b
            return g_in_mu, g_in_var
        mu_in, out = cache
        g = g_mu if g_var is None else g_mu - 2.0 * out * g_var    # the output's variance is 1 − out²
        b, h, w, c = mu_in.shape
        q = (1.0 - mu_in.reshape(b, h // 2, 2, w // 2, 2, c)) * 0.5
        q00, q01, q10, q11 = q[:, :, 0, :, 0], q[:, :, 0, :, 1], q[:, :, 1, :, 0], q[:, :, 1, :, 1]
        top, bottom = q00 * q01, q10 * q11
        gin = np.empty_like(q)
        gin[:, :, 0, :, 0] = g * q01 * bottom
        gin[:, :, 0, :, 1] = g * q00 * bottom
        gin[:, :, 1, :, 0] = g * q11 * top
        gin[:, :, 1, :, 1] = g * q10 * top
        return gin.reshape(b, h, w, c), None
