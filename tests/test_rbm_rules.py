"""Learning rules: the BLR update, Huang's clipped ascent, their first-order identity, composable pieces."""
import numpy as np
import pytest

from lowprec_rbm.rules import (
    apply_updates, blr, chain, huang, natural_gradient, scale_by_adam, scale_by_learning_rate, schedules, trace,
    tree_map,
)


def _step(rule, grads, lam):
    state = rule.init(lam)
    updates, state = rule.update(grads, state, lam)
    return apply_updates(lam, updates), state


def test_blr_is_the_natural_parameter_update():
    rng = np.random.default_rng(0)
    lam, g = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)) * 10
    for rho, lam0 in [(0.3, 0.0), (1.0, 0.2), (0.05, -0.5)]:
        new, _ = _step(blr(rho, lam0=lam0), g, lam)
        np.testing.assert_allclose(new, (1 - rho) * lam + rho * (lam0 + g), rtol=1e-14, atol=1e-14)


def test_blr_needs_no_clipping_but_huang_clips():
    # Huge gradients: the BLR stays linear in g (λ is unbounded, m = tanh λ never leaves (-1, 1) by
    # construction); Huang's step is cut at m = ±(1 - eps).
    lam = np.zeros(4)
    g = np.array([1e6, -1e6, 3.0, -3.0])
    new, _ = _step(blr(0.5), g, lam)
    np.testing.assert_array_equal(new, 0.5 * g)
    eps = 1e-3
    new_h, _ = _step(huang(10.0, eps=eps, adam=False), g, lam)
    assert np.all(np.abs(np.tanh(new_h)) <= 1 - eps + 1e-12)
    np.testing.assert_allclose(np.abs(np.tanh(new_h[:2])), 1 - eps, rtol=1e-12)


def test_blr_equals_huang_to_first_order_in_the_learning_rate():
    # tanh(λ + ρ d) = m + ρ (1 - m²) d + O(ρ²): Huang's plain step with η = ρ (1 - m²) (element-wise), no Adam,
    # agrees with the BLR up to O(ρ²). Halving ρ must divide the gap by ~4 (between 3 and 5).
    rng = np.random.default_rng(1)
    lam, g = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    m = np.tanh(lam)
    gaps = []
    for rho in (1e-2, 5e-3, 2.5e-3):
        m_blr = np.tanh(_step(blr(rho), g, lam)[0])
        m_huang = np.tanh(_step(huang(rho * (1 - m ** 2), eps=1e-12, adam=False), g, lam)[0])
        gaps.append(np.abs(m_blr - m_huang).max())
    assert 3 < gaps[0] / gaps[1] < 5 and 3 < gaps[1] / gaps[2] < 5
    assert gaps[-1] < 1e-4


def test_huang_plain_step_and_adam_first_step():
    lam = np.array([0.1, -0.2, 0.3])
    g = np.array([2.0, 0.5, -1.0])
    d = g - lam                                                     # ∇_m ELBO with a uniform prior
    new, _ = _step(huang(0.01, adam=False), g, lam)
    np.testing.assert_allclose(np.tanh(new), np.tanh(lam) + 0.01 * d, rtol=1e-12)
    # Bias-corrected Adam's first step is lr * sign(d) (up to eps / |d|).
    new, _ = _step(huang(0.01, adam=True), g, lam)
    np.testing.assert_allclose(np.tanh(new) - np.tanh(lam), 0.01 * np.sign(d), rtol=1e-6)


def test_momentum_schedule_and_trees_compose():
    sched = schedules.exponential_decay(1.0, 0.5)
    rule = chain(natural_gradient(0.0), trace(0.9), scale_by_learning_rate(sched))
    params = {"w1": np.zeros(2), "w2": [np.ones(3)]}
    grads = tree_map(lambda p: np.full_like(p, 2.0), params)
    state = rule.init(params)
    lam = params
    v_expected, lam_expected = [np.zeros(2)], np.zeros(2)
    for step in range(3):
        updates, state = rule.update(grads, state, lam)
        lam = apply_updates(lam, updates)
        d = 2.0 - lam_expected                                      # λ0 + g - λ for leaf w1
        v_expected.append(0.9 * v_expected[-1] + d)
        lam_expected = lam_expected + 0.5 ** step * v_expected[-1]
    np.testing.assert_allclose(lam["w1"], lam_expected, rtol=1e-14)
    assert isinstance(lam["w2"], list) and lam["w2"][0].shape == (3,)
    cos = schedules.cosine_decay(0.4, 10)
    assert cos(0) == pytest.approx(0.4) and cos(5) == pytest.approx(0.2) and cos(10) == pytest.approx(0.0)
    assert schedules.per_epoch(cos, 4)(7) == cos(1)


def test_adam_matches_its_formula_over_steps():
    rng = np.random.default_rng(2)
    tx = scale_by_adam(0.9, 0.99, 1e-8)
    state = tx.init(np.zeros(3))
    mu = nu = np.zeros(3)
    for t in range(1, 4):
        g = rng.normal(size=3)
        out, state = tx.update(g, state, None)
        mu, nu = 0.9 * mu + 0.1 * g, 0.99 * nu + 0.01 * g * g
        np.testing.assert_allclose(out, (mu / (1 - 0.9 ** t)) / (np.sqrt(nu / (1 - 0.99 ** t)) + 1e-8), rtol=1e-12)


def test_bad_rule_parameters():
    with pytest.raises(ValueError, match="learning_rate"):
        blr(-0.1)
    with pytest.raises(ValueError, match="momentum"):
        trace(1.0)
    with pytest.raises(ValueError, match="eps"):
        huang(0.1, eps=0.0)
    with pytest.raises(ValueError, match="b1"):
        scale_by_adam(b1=1.0)
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.cosine_decay(0.1, 0)
