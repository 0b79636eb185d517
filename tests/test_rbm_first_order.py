"""The technical note's claim, checked on a real RBM gradient: the BLR step and the clipped mean-field step agree
to first order in the step size.

Meng's note says Huang's clipped ascent ``m <- clip(m + η ∇_m L)`` is a first-order approximation of the BLR
``λ <- λ + ρ ∇_m L`` (m = tanh λ), with the element-wise step η = ρ (1 - m²). Here both steps start from the
same state (means m, the gradient g = ∇_m E_q ln p(D|W) of a planted RBM from the library's CLT data term and
BP log-partition term, as ``BinaryRBM`` computes it) and go through the library's real rule objects
(:func:`lowprec_rbm.rules.blr`, :func:`lowprec_rbm.rules.huang` with ``adam=False`` and its default clipping).

Taylor: with d = λ0 + g - λ (the ELBO gradient in m, the same direction for both rules) and x = ρ d,
    tanh(λ + x) = m + (1 - m²) x - m (1 - m²) x² + R,   |R| <= |x|³ max|tanh'''| / 6 = |x|³ / 3,
while the clipped step (no clip active for small steps) is exactly m + (1 - m²) x. So the gap is
-m (1 - m²) x² up to |x|³/3 element by element: first-order agreement, second-order gap.
"""
import numpy as np
import pytest

from lowprec_rbm.rbm.bp import partition_term
from lowprec_rbm.rbm.clt import data_term
from lowprec_rbm.rbm.planted import planted_data
from lowprec_rbm.rules import apply_updates, blr, huang


def _state(lam0: float):
    """A planted RBM (N = 40, P = 3, α = 3) at random means, and its full-batch likelihood gradient."""
    rng = np.random.default_rng(7)
    teacher, X = planted_data(40, 3, 3, rng)
    lam = np.arctanh(rng.uniform(-0.6, 0.6, size=teacher.shape))
    m = np.tanh(lam)
    _, g_data = data_term(X, m, 1.0, 32)
    part = partition_term(m, 1.0, rng.standard_normal((8, 3)), tol=1e-10, max_iter=500)
    assert part.bp.converged.all()
    g = g_data - X.shape[0] * part.grad
    return lam, g, lam0 + g - lam


def _one_step(rule, g, lam):
    updates, _ = rule.update(g, rule.init(lam), lam)
    return np.tanh(apply_updates(lam, updates))


@pytest.mark.parametrize("lam0", [0.0, 0.4])
def test_blr_and_clipped_step_agree_to_first_order_on_a_real_gradient(lam0):
    lam, g, d = _state(lam0)
    m = np.tanh(lam)
    h0 = 0.1 / np.abs(d).max()                          # the largest step moves λ by 0.1
    gaps = []
    for k in range(4):
        rho = h0 / 2 ** k
        m_blr = _one_step(blr(rho, lam0=lam0), g, lam)
        m_clip = _one_step(huang(rho * (1 - m ** 2), adam=False, lam0=lam0), g, lam)
        x = rho * d
        # Element-wise second-order term with the Taylor remainder bound |x|³/3 (plus float64 rounding of
        # tanh/arctanh on values ~1: a few 1e-16, covered by 1e-13).
        np.testing.assert_array_less(np.abs((m_blr - m_clip) + m * (1 - m ** 2) * x ** 2), np.abs(x) ** 3 / 3 + 1e-13)
        gaps.append(np.abs(m_blr - m_clip).max())
    # O(step²): halving the step divides the gap by 4 up to the cubic term; at the arg-max entry that term is
    # at most |x|/(3 |m| (1 - m²)) of the quadratic one (≤ 0.1 here), so each ratio is within 4 (1 ± 0.15).
    ratios = np.array(gaps[:-1]) / np.array(gaps[1:])
    assert np.all(np.abs(ratios - 4) < 0.6), ratios
    # The gap over the step goes to 0 (first-order agreement): gap/ρ halves with ρ.
    per_step = np.array(gaps) / (h0 / 2 ** np.arange(4))
    assert per_step[-1] < per_step[0] / 7


def test_a_constant_clipped_step_differs_at_first_order():
    # The same check fails for Huang's rule as it is used (constant η, here η = ρ, no Adam): its step in m is
    # ρ d, not ρ (1 - m²) d, so the gap is ρ m² d + O(ρ²) and halving the step only halves it. This shows the
    # element-wise η = ρ (1 - m²) is what makes the note's identity hold, and that the test above can fail.
    lam, g, d = _state(0.0)
    m = np.tanh(lam)
    h0 = 0.1 / np.abs(d).max()
    gaps = [np.abs(_one_step(blr(h0 / 2 ** k), g, lam) - _one_step(huang(h0 / 2 ** k, adam=False), g, lam)).max()
            for k in range(4)]
    ratios = np.array(gaps[:-1]) / np.array(gaps[1:])
    assert np.all(np.abs(ratios - 2) < 0.3), ratios
    # Leading term ρ max|m² d| (the ρ² corrections are ≤ 0.1 of it at these steps).
    np.testing.assert_allclose(gaps[-1] / (h0 / 8), np.abs(m ** 2 * d).max(), rtol=0.1)
