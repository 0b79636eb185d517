"""The training objective of BinaryRBM and its Bethe log-partition term: the gradients a training step hands to
the rules are those of the bound it reports, and the bound's BP does not stay in a metastable fixed point."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from lowprec_rbm.rbm import BinaryRBM, bp, exact
from lowprec_rbm.rbm.clt import data_term_fields
from lowprec_rbm.rules.base import GradientTransformation
from lowprec_rbm.rules.fields import FieldRule

from numgrad import central


def _central(f, x, eps=1e-5):
    return central(f, x, eps)


def test_training_step_gradients_are_finite_differences_of_the_bound():
    # The step's weight gradient (M/B) ∇data - M ∇<ln Z_Bethe> and field gradients, captured where they enter the
    # rules, against central differences of the same objective data(m, b, c) - M <ln Z_Bethe(m, b, c)>_z with the
    # step's own z-samples (full batch, so M/B = 1). BP in float64 to 1e-12: at a fixed point the Bethe ln Z is
    # stationary in the messages, so the message error enters the value at second order (~1e-24). Central
    # differences with eps = 1e-5 on an objective of size ~300: truncation eps²·f''' ~ 1e-8, rounding
    # 300·2^-52/eps ~ 1e-8. The data term's m-gradient is the exact derivative of the Gaussian integral (Stein's
    # lemma), its value a Gauss-Hermite sum: they differ by the quadrature error, measured 1e-7..1e-6 at the
    # default 32 nodes and ~1e-9 at 64, so 64 nodes here. Tolerance 1e-6 relative to the largest entry (~1).
    rng = np.random.default_rng(0)
    X = np.where(rng.random((30, 8)) < 0.35, -1, 1)
    rbm = BinaryRBM(n_hidden=3, epochs=2, batch_size=None, n_z=2, n_quad=64, bp_dtype="float64", bp_tol=1e-12,
                    bp_max_iter=5000, warm_start=False, random_state=0).fit(X)
    M = X.shape[0]
    captured = {}

    def weight_update(grads, state, params):
        captured["m"] = grads
        return np.zeros_like(params), state

    def field_update(grad, fisher, state, mu):
        captured["fields"] = grad
        return mu, state

    rbm._rule = GradientTransformation(lambda params: None, weight_update)
    rbm._field_rule = FieldRule(lambda mu: None, field_update)
    step_rng = np.random.default_rng(5)
    z = copy.deepcopy(step_rng).standard_normal((rbm.n_z, 3))    # the z-samples the step will draw
    m0 = np.tanh(rbm._lam)
    b0, c0 = rbm._field_values["visible"].copy(), rbm._field_values["hidden"].copy()
    rbm._step(X, M, step_rng)
    kw = dict(grad=False, damping=rbm.bp_damping, tol=1e-12, max_iter=5000, dtype=np.float64)

    def bound(m=m0, b=b0, c=c0):
        data = data_term_fields(X, m, rbm.beta, rbm.n_quad, grad=False, visible_field=b, hidden_field=c).value
        return data - M * bp.partition_term(m, rbm.beta, z, None, visible_field=b, hidden_field=c, **kw).value

    for got, var, name in ((captured["m"], m0, "m"), (captured["fields"]["visible"], b0, "b"),
                           (captured["fields"]["hidden"], c0, "c")):
        num = _central(lambda x: bound(**{name: x}), var)
        scale = max(1.0, np.abs(num).max())
        np.testing.assert_allclose(got, num, rtol=0, atol=1e-6 * scale, err_msg=name)


def _metastable_case():
    # Two hidden units storing the same pattern ξ with strong couplings (β = 3, |m| = 0.99, N = 12): BP has a
    # retrieval fixed point near +ξ and one near -ξ. A small visible field along +ξ makes +ξ the better one.
    rng = np.random.default_rng(1)
    N, P, beta = 12, 2, 3.0
    xi = rng.choice([-1.0, 1.0], N)
    m = 0.99 * np.stack([xi, xi], axis=1)
    return m, beta, 0.03 * xi, xi, np.zeros((1, P))


def test_restart_leaves_a_metastable_fixed_point_for_the_larger_bethe_log_z():
    m, beta, b, xi, z = _metastable_case()
    kw = dict(grad=False, tol=1e-12, max_iter=3000, damping=0.3, dtype=np.float64)
    # Messages converged under the opposite field: the warm start sits in the -ξ state ...
    u_minus = bp.partition_term(m, beta, z, None, visible_field=-b, **kw).bp.u
    warm = bp.partition_term(m, beta, z, u_minus, visible_field=b, **kw)
    J = beta * m / np.sqrt(m.shape[0])
    warm_stats = bp.bp_statistics(J, np.zeros((1, 2)), warm.bp.u, field=beta * b)
    assert warm.bp.converged.all() and warm_stats.sigma[0] @ xi / len(xi) < -0.5
    # ... which is metastable: its Bethe ln Z is ~2 nats below the +ξ state's (measured 19.95 vs 21.98).
    cold = bp.partition_term(m, beta, z, None, visible_field=b, **kw)
    best = bp.partition_term(m, beta, z, u_minus, visible_field=b, restart=True, **kw)
    assert cold.value > warm.value + 1.0
    assert best.value == cold.value and best.restart_gain == pytest.approx(cold.value - warm.value, abs=1e-12)
    np.testing.assert_array_equal(best.bp.u, cold.bp.u)
    # The kept fixed point is the better approximation of the exact ln Z (22.10 here: θ = 0 since z = 0).
    log_z = exact.dual_log_partition(J, np.zeros(2), beta * b)
    assert abs(best.value - log_z) < 0.2 < abs(warm.value - log_z)
    # Without a better restart nothing changes (the warm fixed point is the cold one here): gain exactly 0.
    again = bp.partition_term(m, beta, z, cold.bp.u, visible_field=b, restart=True, **kw)
    assert again.restart_gain == 0.0 and again.value == pytest.approx(cold.value, abs=1e-10)


def test_bound_history_records_the_restart_gain():
    rng = np.random.default_rng(2)
    X = np.where(rng.random((40, 10)) < 0.4, -1, 1)
    rbm = BinaryRBM(n_hidden=3, epochs=2, random_state=0).fit(X)
    gains = [r["lb_bp_restart_gain"] for r in rbm.history_]
    assert len(gains) == 2 and all(g >= 0.0 for g in gains)


def test_per_epoch_bethe_gap_is_the_ais_log_z_of_posterior_samples_minus_the_bethe_term(monkeypatch):
    # With ais_every the history carries ais_posterior_log_z: the mean AIS ln Z of POSTERIOR_SAMPLES weight
    # matrices drawn from q (stream 6 of seed_). On N = 12 it is checked against exact enumeration of the same
    # draws, within 4 of its reported standard errors plus 0.02 (the delta-method error understates a little at
    # few chains: tests/test_rbm_ais.py); and bethe_gap is that minus the bound's Bethe log_partition.
    from lowprec_rbm.rbm import model as model_module

    rng = np.random.default_rng(4)
    X = np.where(rng.random((60, 12)) < 0.4, -1, 1)
    rbm = BinaryRBM(n_hidden=3, epochs=2, ais_every=1, ais_samples=20, ais_chains=50, ais_temperatures=300,
                    random_state=0)
    with pytest.warns(RuntimeWarning, match="overstates the ELBO"):
        monkeypatch.setattr(model_module, "BETHE_GAP_WARN_PER_UNIT", -np.inf)   # force the warning's path
        rbm.fit(X)
    rec = rbm.history_[-1]
    m = rbm.posterior_.mean
    b, c = rbm.fields_()
    n = model_module.POSTERIOR_SAMPLES
    stream = np.random.default_rng(np.random.SeedSequence(rbm.seed_).spawn(7)[6])
    draws = np.where(stream.random((n,) + m.shape) < (1.0 + m) / 2.0, 1, -1)      # the estimator's draws
    exact_mean = np.mean(exact.log_partition(draws, rbm.beta, visible_field=b, hidden_field=c))
    # Each AIS run's standard error se_k: the mean's error is sqrt(Σ se_k²)/n <= the recorded se (which also
    # holds the spread over the draws). Bound the AIS error by 4 recorded se + 0.02.
    assert abs(rec["ais_posterior_log_z"] - exact_mean) < 4 * rec["ais_posterior_log_z_se"] + 0.02
    assert rbm._posterior_log_z()["ais_posterior_log_z"] == rec["ais_posterior_log_z"]   # fixed draws per seed
    assert rec["bethe_gap"] == pytest.approx(rec["ais_posterior_log_z"] - rec["log_partition"], abs=1e-12)
    # On this small model the Bethe term is close: the gap is a fraction of a nat (measured ~0.1-0.3).
    assert abs(rec["bethe_gap"]) < 1.0


@pytest.mark.parametrize("start", ["metastable", "stable"])
def test_fit_drops_training_messages_when_the_bounds_restart_wins(start):
    # The metastable case inside a model: means 0.99ξ on both hidden units (β = 3), a visible field 0.03ξ, data
    # mostly +ξ; learning rates ~0 so one partial_fit epoch leaves the state as set. Evaluation and training
    # messages start in the -ξ state (converged under the field -0.03ξ): the epoch's bound restarts, gains, and
    # fit drops training's messages. Control: messages from the +ξ state, no gain, messages kept.
    rng = np.random.default_rng(1)
    N, P, beta = 12, 2, 3.0
    xi = rng.choice([-1.0, 1.0], N)
    X = np.where(rng.random((40, N)) < 0.8, xi, -xi).astype(np.int8)
    rbm = BinaryRBM(n_hidden=P, beta=beta, epochs=1, batch_size=None, learning_rate=1e-9, field_rate=1e-9, n_z=2,
                    bp_dtype="float64", bp_damping=0.5, bp_max_iter=5000, random_state=0).fit(X)
    rbm._lam = np.arctanh(0.99 * np.stack([xi, xi], axis=1))
    rbm._field_values = {"visible": 0.03 * xi, "hidden": np.zeros(P)}
    sign = -1.0 if start == "metastable" else 1.0
    u = bp.partition_term(np.tanh(rbm._lam), beta, rbm._eval_z, None, grad=False, visible_field=sign * 0.03 * xi,
                          hidden_field=np.zeros(P), tol=1e-10, max_iter=3000, damping=0.3).bp.u
    rbm._eval_u, rbm._u = u, u.copy()
    rbm.partial_fit(X)
    gain = rbm.history_[-1]["lb_bp_restart_gain"]
    if start == "metastable":
        assert gain > 0.1 and rbm._u is None       # measured 0.54 (one of the two z-samples switched state)
    else:
        assert gain == 0.0 and rbm._u is not None
