"""The hybrid RBM's label term (``BinaryRBM(discriminative=γ)``, :mod:`lowprec_rbm.rbm.discriminative`):
its gradients against central differences, the labels' checks, same seed same bits, exact resumption, and that
the label term does put the class into the hidden MAP bits."""
import math

import numpy as np
import pytest

from lowprec_rbm import checkpoint as ckpt
from lowprec_rbm.rbm import BinaryRBM
from lowprec_rbm.rbm.discriminative import discriminative_term, expected_bits

_verf = np.vectorize(math.erf)


def _loss_exact(X, y, m, c, U, d, beta):
    """The summed cross-entropy written out with math.erf (the module's forward uses a 1.5e-7 approximation)."""
    N = m.shape[0]
    mu = X @ m / math.sqrt(N) + c
    S = np.sqrt(np.mean(1.0 - m * m, axis=0) + 2.0 / (math.pi * beta ** 2))
    z = _verf(mu / (math.sqrt(2.0) * S)) @ U + d
    z = z - z.max(axis=1, keepdims=True)
    return float(np.sum(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))


def test_gradients_equal_central_differences():
    rng = np.random.default_rng(0)
    N, P, K, B = 13, 5, 4, 7
    X = rng.choice([-1.0, 1.0], size=(B, N))
    y = rng.integers(0, K, B)
    m = np.tanh(rng.normal(size=(N, P)))
    c = 0.3 * rng.normal(size=P)
    U, d = rng.normal(size=(P, K)), rng.normal(size=K)
    beta = 2.5        # τ = 0.32: fields of a few units reach the erf's curved part
    X[:, :4] = np.sign(m[:4, 0])
    t = discriminative_term(X, y, m, c, U, d, beta)
    # The loss agrees with the exact-erf one to B · Σ|U| · 1.5e-7 (the approximation's error in E[h]).
    assert abs(t.loss - _loss_exact(X, y, m, c, U, d, beta)) < B * np.abs(U).sum() * 1.5e-7
    # Central differences of the exact loss, step 1e-6: truncation O(h²) ~ 1e-12 and rounding ~1e-16·|loss|/h
    # ~ 1e-9; the analytic gradients use the approximate E[h] (error ≤ 1.5e-7 per entry) inside sums of at most
    # B terms of size ≤ 2·max|U| (≈ 7 · 2 · 2.5 · 1.5e-7 ≈ 5e-6), so 1e-5 bounds an honest mismatch and is far
    # below the gradients' size (~1) that a wrong term would change.
    h = 1e-6
    for name, arr, grad in (("m", m, t.grad_m), ("c", c, t.grad_hidden), ("U", U, t.grad_weights),
                            ("d", d, t.grad_bias)):
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + h
            up = _loss_exact(X, y, m, c, U, d, beta)
            arr[idx] = old - h
            down = _loss_exact(X, y, m, c, U, d, beta)
            arr[idx] = old
            num[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose(grad, num, atol=1e-5, rtol=0, err_msg=name)
        assert np.abs(num).max() > 0.05, name      # the check is not vacuous
    assert t.correct == int(np.sum(np.argmax(expected_bits(X, m, c, beta) @ U + d, axis=1) == y))
    # The Gauss-Newton diagonal wrt c, Σ_s [J_s (diag p_s - p_s p_sᵀ) J_sᵀ]_aa with J_s = ∂z_s/∂c by central
    # differences of the exact logits (same step and error budget as above)
    def logits(cc):
        N = m.shape[0]
        S = np.sqrt(np.mean(1.0 - m * m, axis=0) + 2.0 / (math.pi * beta ** 2))
        return _verf((X @ m / math.sqrt(N) + cc) / (math.sqrt(2.0) * S)) @ U + d
    z0 = logits(c)
    p = np.exp(z0 - z0.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    gn = np.zeros(P)
    for a in range(P):
        e = np.zeros(P)
        e[a] = h
        J = (logits(c + e) - logits(c - e)) / (2 * h)              # (B, K): ∂z_s/∂c_a
        gn[a] = np.sum(np.einsum("sk,sk->s", J * J, p) - np.einsum("sk,sk->s", J, p) ** 2)
    np.testing.assert_allclose(t.curv_hidden, gn, atol=1e-5, rtol=0)
    assert gn.max() > 0.05


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_expected_bits_match_sampled_weights(beta):
    # E[h] = E_q tanh(β F) (the stochastic hidden unit's mean, F the field of a weight matrix drawn from q) by the
    # CLT and the probit approximation, against the average of tanh(β F) over 4,000 drawn matrices. Errors: the
    # probit approximation max|sigmoid(t) - Φ(t√(π/8))| < 0.01, so < 0.02 in E[h]; the CLT with N = 400 terms per
    # field ~1e-2; the Monte-Carlo standard error ≤ 1/√4000 ≈ 0.016 per entry. 0.08 covers 3 standard errors plus
    # both; a wrong variance (Ξ without its 1/N, τ without its β) or sign is off by ≥ 0.15 on these entries.
    rng = np.random.default_rng(1)
    N, P = 400, 6
    m = np.tanh(rng.normal(scale=0.7, size=(N, P)))
    c = rng.normal(scale=0.2, size=P)
    X = rng.choice([-1.0, 1.0], size=(3, N))
    X[:, : N // 4] = np.sign(m[: N // 4, 0])[None, :]      # fields of mixed size, not all near 0
    e = expected_bits(X, m, c, beta)
    draws = np.zeros_like(e)
    for _ in range(4000):
        W = np.where(rng.random((N, P)) < (1 + m) / 2, 1.0, -1.0)
        draws += np.tanh(beta * (X @ W / math.sqrt(N) + c))
    draws /= 4000
    np.testing.assert_allclose(e, draws, atol=0.08)
    assert np.abs(e).max() > 0.3


def _toy(seed=0, M=1000, factors=4, block=12, code=8):
    """Patterns whose strong structure (4 independent ±prototype blocks of 12 pixels, each pixel flipped with
    probability 0.1) is unrelated to the binary label, which only a weak 8-pixel code carries (each pixel equals
    the label's sign with probability 0.75; the majority of the 8 gives the label ~89 % of the time)."""
    rng = np.random.default_rng(seed)
    N = factors * block + code
    X = np.empty((M, N), dtype=np.int8)
    for f in range(factors):
        proto = np.random.default_rng(100 + f).choice([-1, 1], size=block)   # the same prototypes in every set
        s = rng.choice([-1, 1], size=M)
        X[:, block * f:block * (f + 1)] = s[:, None] * proto * np.where(rng.random((M, block)) < 0.9, 1, -1)
    y = rng.integers(0, 2, M)
    X[:, N - code:] = (2 * y[:, None] - 1) * np.where(rng.random((M, code)) < 0.75, 1, -1)
    return X, y


def _bits_accuracy(rbm, X, y, Xt, yt):
    """Test accuracy of a logistic regression on the hidden MAP bits (the bits' linearly readable class)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(rbm.hidden_map_bits(X), y).score(rbm.hidden_map_bits(Xt), yt)


def test_label_term_puts_the_class_into_the_bits():
    pytest.importorskip("sklearn")
    X, y = _toy(M=4000)
    Xt, yt = _toy(seed=1)
    gains, readout = [], []
    for seed in range(4):
        kw = dict(n_hidden=4, epochs=3, batch_size=20, n_z=2, random_state=seed)
        gen = BinaryRBM(**kw).fit(X, y)
        hyb = BinaryRBM(discriminative=10.0, readout_rate=0.01, **kw).fit(X, y)
        gains.append(_bits_accuracy(hyb, X, y, Xt, yt) - _bits_accuracy(gen, X, y, Xt, yt))
        readout.append(hyb.history_[-1]["readout_train_acc"])
        assert "readout_train_acc" not in gen.history_[-1]
    # Four hidden units and four strong block factors: the generative RBM spends its bits on the blocks (its
    # bits give 0.65-0.72 on these seeds: the code leaks in a little); the hybrid's carry more of the code
    # (measured gains +0.03 to +0.08, mean +0.05; readout 0.75-0.81 on the training minibatches). An accuracy on
    # 1,000 test patterns has a standard error ≤ 0.016, a difference of two ≤ 0.023, the mean of 4 such ≤ 0.011:
    # a mean gain of 0.025 is > 2 of them above no effect. Without the label term in the weights' step (only the
    # fields and the readout learning) the mean gain was -0.01 and the readout 0.58-0.68.
    assert np.mean(gains) >= 0.025, gains
    assert np.mean(readout) > 0.7, readout
    assert hyb.readout_coef_.shape == (4, 2) and hyb.classes_.tolist() == [0, 1]


def test_labels_are_checked():
    X, y = _toy(M=60)
    with pytest.raises(ValueError, match=r"needs the labels: call fit\(X, y\)"):
        BinaryRBM(n_hidden=2, epochs=1, discriminative=1.0, random_state=0).fit(X)
    with pytest.raises(ValueError, match=r"y must have shape \(M,\) = \(60,\) to match X, got shape \(59,\)"):
        BinaryRBM(n_hidden=2, epochs=1, discriminative=1.0, random_state=0).fit(X, y[:59])
    with pytest.raises(ValueError, match="at least 2 classes"):
        BinaryRBM(n_hidden=2, epochs=1, discriminative=1.0, random_state=0).fit(X, np.zeros(60))
    with pytest.raises(ValueError, match="discriminative"):
        BinaryRBM(n_hidden=2, epochs=1, discriminative=-1.0).fit(X, y)
    rbm = BinaryRBM(n_hidden=2, epochs=1, discriminative=1.0, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"labels not seen in the first fit \(e.g. 7\)"):
        rbm.partial_fit(X, np.where(y == 1, 7, 0))
    # string labels work (classes_ sorted); with γ = 0 the labels are ignored: the same bits as fit(X)
    ys = np.where(y == 1, "shirt", "bag")
    assert BinaryRBM(n_hidden=2, epochs=1, discriminative=1.0, random_state=0).fit(X, ys).classes_.tolist() == [
        "bag", "shirt"]
    a = BinaryRBM(n_hidden=2, epochs=1, random_state=0).fit(X, y)
    b = BinaryRBM(n_hidden=2, epochs=1, random_state=0).fit(X)
    np.testing.assert_array_equal(a.posterior_.lam, b.posterior_.lam)


def test_same_seed_same_bits_and_exact_resume(tmp_path):
    X, y = _toy(M=200)
    make = lambda: BinaryRBM(n_hidden=3, epochs=2, batch_size=50, discriminative=5.0,  # noqa: E731
                             readout_rate=0.02, schedule="cosine", random_state=3)
    ref = make().fit(X, y)
    again = make().fit(X, y)
    np.testing.assert_array_equal(ref.posterior_.lam, again.posterior_.lam)
    np.testing.assert_array_equal(ref.readout_coef_, again.readout_coef_)
    for n_steps in (1, 5):          # inside the first epoch, and inside the second
        ck = tmp_path / f"hyb-{n_steps}.npz"
        calls = []
        with pytest.raises(ckpt.TrainingInterrupted):
            make().fit(X, y, checkpoint=ck, stop=lambda: calls.append(1) or len(calls) > n_steps)
        res = make().fit(X, y, checkpoint=ck, resume=True)
        np.testing.assert_array_equal(ref.posterior_.lam, res.posterior_.lam)
        np.testing.assert_array_equal(ref.hidden_field_, res.hidden_field_)
        np.testing.assert_array_equal(ref.readout_coef_, res.readout_coef_)
        np.testing.assert_array_equal(ref.readout_intercept_, res.readout_intercept_)
        assert [h["readout_loss"] for h in res.history_] == [h["readout_loss"] for h in ref.history_]
    # other labels are other data: the checkpoint refuses them
    ck = tmp_path / "hyb-labels.npz"
    calls = []
    with pytest.raises(ckpt.TrainingInterrupted):
        make().fit(X, y, checkpoint=ck, stop=lambda: calls.append(1) or len(calls) > 1)
    with pytest.raises(ValueError, match="data_sha256"):
        make().fit(X, 1 - y, checkpoint=ck, resume=True)
