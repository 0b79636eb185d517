"""The PyTorch optimizers and modules against the NumPy rules and layers they port (the NumPy code is the
reference): same λ, gradient and noise in -> same update out.

Tolerances. Both sides run the same float32 operations in the same order (the torch code mirrors the NumPy
rule, constants rounded alike), and +, −, ×, ÷ and sqrt are correctly rounded in both, so the only differences
come from the transcendental functions (log, tanh, exp), which NumPy and ATen take from different libraries
within a few ulp of the true value. Where the update does not pass through them (``estimator="expected"``: the
scale is 1 and the sample is ±1 exactly at τ = 1e-10), λ must come out bit for bit equal. ATen's vectorised
float32 sqrt is not correctly rounded either, which STE's Adam step sees. Where it does,
the bound is a few ulp times the condition number of the scale (see each test).
"""
from __future__ import annotations

import numpy as np
import pytest

from torch_skip import require_torch

torch = require_torch()

from lowprec_rbm.nn.network import Architecture, BNStats  # noqa: E402
from lowprec_rbm.nn import layers as L  # noqa: E402
from lowprec_rbm.pytorch import STE, BayesBiNN, BinaryLinear, BinaryMLP, step_noise  # noqa: E402
from lowprec_rbm.rules import bayesbinn as bb  # noqa: E402
from lowprec_rbm.rules import ste as ste_rule  # noqa: E402
from lowprec_rbm.rules.base import apply_updates  # noqa: E402

EPS32 = float(np.finfo(np.float32).eps)
SHAPES = [(6, 9), (4, 6)]


class _Pair(torch.nn.Module):
    """Two binary layers whose 'loss' is Σ_i <w_i, G_i>: the gradient at any sample is exactly G_i."""

    def __init__(self, rule, lam_std, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.a = BinaryLinear(9, 6, rule=rule, lam_init=1.0, lam_std=lam_std, random_state=rng)
        self.b = BinaryLinear(6, 4, rule=rule, lam_init=1.0, lam_std=lam_std, random_state=rng)

    def loss(self, gs):
        return sum((m.forward_weight() * torch.from_numpy(g)).sum() for m, g in zip((self.a, self.b), gs))


def _grads(rng, scale):
    return [(scale * rng.standard_normal(s)).astype(np.float32) for s in SHAPES]


@pytest.mark.parametrize("estimator,tau,momentum,prior,mc,lam_std", [
    ("expected", 1e-10, 0.0, False, 1, 0.0),
    ("expected", 1e-10, 0.9, True, 2, 0.5),
    ("published", 1e-10, 0.0, False, 1, 0.5),
    ("published", 1e-10, 0.5, True, 2, 0.5),
    ("relaxed", 0.5, 0.0, False, 1, 0.5),
    ("relaxed", 0.5, 0.9, True, 2, 0.5),
])
def test_bayesbinn_step_equals_the_numpy_rule(estimator, tau, momentum, prior, mc, lam_std):
    n_data, lr, r, seed, steps = 50, 0.05, 0.3, 7, 4
    model = _Pair("bayesbinn", lam_std, seed=3)
    lam = [model.a.lam.numpy().copy(), model.b.lam.numpy().copy()]
    lam0 = [np.random.default_rng(5).normal(size=s).astype(np.float32) for s in SHAPES] if prior else None
    opt = BayesBiNN(model, n_data=n_data, lr=lr, tau=tau, estimator=estimator, momentum=momentum,
                    kl_weight=r, mc_samples=mc, prior=[torch.from_numpy(p) for p in lam0] if prior else None,
                    seed=seed)
    tx = bb.bayesbinn(lr, lam0=0.0 if lam0 is None else lam0, momentum=momentum, kl_weight=r)
    state = tx.init(lam)
    est = bb.estimator_init(lam, estimator)
    grng = np.random.default_rng(11)
    for t in range(steps):
        gs = _grads(grng, 0.05)
        # The NumPy reference draws its noise with its own sampler from the generator the optimizer documents.
        rng = np.random.default_rng([seed, t])
        draws = [bb.relaxed_sample(lam, rng, tau, keep_logits=True) for _ in range(mc)]
        seen = []

        def closure():
            opt.zero_grad()
            seen.append([model.a.weight.detach().numpy().copy(), model.b.weight.detach().numpy().copy()])
            loss = model.loss(gs)
            loss.backward()
            return loss

        opt.step(closure)
        asc, est = bb.mean_gradient([gs] * mc, [d[0] for d in draws], lam, est, tau=tau, n_data=n_data,
                                    estimator=estimator, logits=[d[1] for d in draws])
        upd, state = tx.update(asc, state, lam)
        new = apply_updates(lam, upd)
        for k in range(mc):
            for got, want in zip(seen[k], draws[k][0]):
                if tau < 1e-6:
                    # tanh((λ + δ)/1e-10) is ±1 exactly unless |λ + δ| < ~1e-9: the samples are equal.
                    np.testing.assert_array_equal(got, want)
                else:
                    # tanh of arguments equal to a few ulp, from two libraries: a few ulp of 1.
                    np.testing.assert_allclose(got, want, rtol=0, atol=8 * EPS32)
        for i, (l_t, l_np, old) in enumerate(zip((model.a.lam, model.b.lam), new, lam)):
            got = l_t.numpy()
            if estimator == "expected":
                np.testing.assert_array_equal(got, l_np)
            else:
                # ĝ carries the scale s; its relative error is a few ulp times the scale's condition number.
                # published: 1/(1 − μ²) amplifies μ's ulp by 2μ²/(1 − μ²) while |λ| is small (the first step);
                # once |λ| >= 9 float32 tanh is ±1 on both sides and s = 1e10 exactly (λ reaches ~1e8 here, the
                # published behaviour). relaxed (τ = 0.5): exp(2(log2cosh λ − log2cosh x)) turns an absolute
                # error of a few ulp of |x| <= 30 into a relative one <= 1e-5. Hence 1e-4 of the step.
                step = np.abs(l_np - old)
                tol = 8 * EPS32 * np.abs(l_np) + 1e-4 * step + 1e-7
                assert np.all(np.abs(got - l_np) <= tol), (i, np.max(np.abs(got - l_np) - tol))
            # the optimizer leaves the MAP network in `weight` (sign(0) = +1)
            w = (model.a, model.b)[i].weight.detach().numpy()
            np.testing.assert_array_equal(w, np.where(got >= 0, 1.0, -1.0))
        lam = [l.numpy().copy() for l in (model.a.lam, model.b.lam)]   # continue both from the same λ
        if estimator == "published":
            est = bb.EstimatorState([opt.state[m.weight]["mu"].numpy().copy() for m in (model.a, model.b)])
        if momentum > 0:
            state = (state[0], state[1]._replace(v=[opt.state[m.weight]["v"].numpy().copy()
                                                    for m in (model.a, model.b)]), state[2])
    assert opt.steps == steps


def test_step_noise_is_what_relaxed_sample_draws():
    lam = [np.zeros(s, np.float32) for s in SHAPES]
    eps = step_noise(SHAPES, seed=3, step=9, samples=2)
    rng = np.random.default_rng([3, 9])
    for k in range(2):
        for e, l in zip(eps[k], lam):
            np.testing.assert_array_equal(e, rng.random(l.shape, dtype=np.float32))


def test_ste_step_equals_the_numpy_rule():
    model = _Pair("ste", 0.0, seed=4)
    params = [model.a.weight.detach().numpy().copy(), model.b.weight.detach().numpy().copy()]
    opt = STE(model, lr=0.05)
    tx = ste_rule.ste(0.05)
    state = tx.init(params)
    grng = np.random.default_rng(2)
    for t in range(1, 7):
        gs = _grads(grng, 1.0)

        def closure():
            opt.zero_grad()
            loss = model.loss(gs)
            loss.backward()
            return loss

        opt.step(closure)
        upd, state = tx.update([-g for g in gs], state, params)   # ascent convention: minus the loss gradient
        params = apply_updates(params, upd)
        # Same operations in the same order, but ATen's vectorised float32 sqrt is not correctly rounded (1 ulp
        # off NumPy's on 17 % of random inputs, measured): the step u = lr m̂/(sqrt(v̂) + eps) then differs by a
        # few ulp of |u| <= ~3 lr, and the latent weights (|w| <= 1) by a few ulp per step, adding up over t.
        for got, want in zip((model.a.weight, model.b.weight), params):
            np.testing.assert_allclose(got.detach().numpy(), want, rtol=0, atol=t * 4 * EPS32)
    assert np.all(np.abs(params[0]) <= 1.0)


def test_module_gradients_equal_the_numpy_network():
    """BinaryMLP in training mode (batch-norm statistics, sign with the straight-through window) against
    lowprec_rbm.nn's network on the same ±1 weights and bit-plane inputs."""
    from lowprec_rbm.data import load_embedded_sample

    ds = load_embedded_sample()
    sizes = (784, 40, 30, 10)
    model = BinaryMLP(sizes, input="bitplanes", random_state=0)
    rng = np.random.default_rng(1)
    ws = [np.where(rng.random((sizes[i + 1], sizes[i])) < 0.5, -1.0, 1.0).astype(np.float32)
          for i in range(3)]
    lins = [m for m in model if isinstance(m, BinaryLinear)]
    with torch.no_grad():
        for m, w in zip(lins, ws):
            m.weight.copy_(torch.from_numpy(w))
    x = model.prepare(ds.x_train[:64])
    y = ds.y_train[:64].astype(np.int64)
    model.train()
    model.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), torch.from_numpy(y))
    loss.backward()
    arch = Architecture(sizes, activation="sign", input="bitplanes")
    net = arch.network()
    running = [BNStats(np.zeros(s), np.ones(s)) for s in sizes[1:]]
    z, cache = net.forward_train(ws, x.numpy(), None, running)
    ref_loss, g, _ = L.softmax_cross_entropy(z, y)
    grads = net.backward(cache, g)
    # Layer-0 pre-activations are integers (exact in float32 whatever the summation order) and the batch means
    # are the same correctly rounded quotient, so every sign agrees; what differs is float32 summation order in
    # the variances and the matrix products: relative 1e-5 of each gradient's largest entry.
    assert abs(loss.item() - ref_loss) <= 1e-5 * abs(ref_loss)
    for m, gw in zip(lins, grads):
        got = m.weight.grad.numpy()
        np.testing.assert_allclose(got, gw, rtol=0, atol=1e-5 * np.abs(gw).max())
    # running statistics: the same momentum rule with the unbiased batch variance
    bns = [m for m in model if type(m).__name__ == "BatchNorm"]
    for bn, st in zip(bns, running):
        np.testing.assert_allclose(bn.running_mean.numpy(), st.mean, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(bn.running_var.numpy(), st.var, rtol=1e-5, atol=1e-6)


def test_bad_arguments_are_named():
    model = BinaryMLP((4, 3, 2), random_state=0)
    with pytest.raises(ValueError, match="n_data"):
        BayesBiNN(model, n_data=0)
    with pytest.raises(ValueError, match="estimator"):
        BayesBiNN(model, n_data=10, estimator="exact")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        BayesBiNN([model], n_data=10)
    with pytest.raises(ValueError, match="rule='ste'"):
        STE(model)
    with pytest.raises(ValueError, match="needs a closure"):
        BayesBiNN(model, n_data=10).step()
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        from lowprec_rbm.pytorch import BinaryConv2d
        BinaryConv2d(1, 2, kernel_size=2)


@pytest.mark.parametrize("pad", [0.0, 1.0])
def test_binary_conv2d_equals_the_numpy_convolution(pad):
    """BinaryConv2d (NCHW) computes lowprec_rbm.nn.conv's NHWC convolution with the same padding value, and its
    input and weight gradients; ±1 weights and small-integer inputs make every product and sum exact, so the
    outputs are compared exactly and the gradients (float sums of exact products) to float32 rounding."""
    from lowprec_rbm.nn import conv as C
    from lowprec_rbm.pytorch import BinaryConv2d

    rng = np.random.default_rng(3)
    layer = BinaryConv2d(3, 4, kernel_size=3, pad_value=pad, random_state=0)
    w = layer.weight.detach().numpy()                              # (O, C, k, k), ±1
    x = rng.integers(-3, 4, size=(2, 5, 6, 3)).astype(np.float32)  # NHWC
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    layer.train()
    y = layer(xt)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(torch.from_numpy(g))
    w_nhwc = w.transpose(0, 2, 3, 1)                               # (O, k, k, C)
    ref, cache = C.conv2d_forward(x, w_nhwc, pad)
    np.testing.assert_array_equal(y.detach().numpy().transpose(0, 2, 3, 1), ref)
    gx, gw = C.conv2d_backward(g.transpose(0, 2, 3, 1), cache, w_nhwc)
    np.testing.assert_allclose(xt.grad.numpy().transpose(0, 2, 3, 1), gx, rtol=0, atol=1e-5 * np.abs(gx).max())
    np.testing.assert_allclose(layer.weight.grad.numpy().transpose(0, 2, 3, 1), gw, rtol=0,
                               atol=1e-5 * np.abs(gw).max())
