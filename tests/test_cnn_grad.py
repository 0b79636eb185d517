"""Backward passes of assembled convolutional networks against central differences (float64).

Tolerance argument as in test_mlp_grad.py: h = 1e-6 central differences of O(1) smooth functions have
truncation and rounding errors below ~1e-9, so rtol 1e-6 (atol 1e-8) fails only on a wrong derivative.
ReLU and max-pooling have kinks, but with continuous random data no unit sits within h of a kink.
The probabilistic forward pass (ternary VI) is smooth everywhere; it is checked with an exact erf (the
training erf is accurate to 1.5e-7, its derivative to ~1e-5).
"""
import numpy as np
import pytest

from lowprec_rbm.nn import layers as L
from lowprec_rbm.nn.network import Architecture
from lowprec_rbm.rules import ternary_vi as tvi
from numgrad import close, in_place as numgrad



def check_loss_weight_gradients(net, x, rng, n_classes=3):
    """Backward pass of ``net`` (cross-entropy of random labels) against central differences, every layer."""
    ws = [rng.standard_normal(s) for s in net.weight_shapes]
    y = rng.integers(0, n_classes, size=len(x))

    def f():
        return L.softmax_cross_entropy(net.forward_train(ws, x)[0], y)[0]

    out, cache = net.forward_train(ws, x)
    grads = net.backward(cache, L.softmax_cross_entropy(out, y)[1])
    for w, g in zip(ws, grads):
        close(g, numgrad(f, w))


def check_pfp_logit_gradients(net, x, rng, n_classes=3):
    """Ternary-VI moment propagation of ``net`` on input x: the gradient of a random linear functional of the
    output moments (Σ cm·m + Σ cv·v) with respect to every layer's logits, by pfp_backward and the rule's
    moments_backward, against central differences of the same functional."""
    logits = [rng.standard_normal((3,) + s) for s in net.weight_shapes]
    cm, cv = rng.standard_normal((len(x), n_classes)), rng.standard_normal((len(x), n_classes))

    def f():
        mus, vs = zip(*[tvi.moments(r)[1:] for r in logits])
        mz, vz, _ = net.pfp_forward(mus, vs, x)
        return np.sum(cm * mz) + np.sum(cv * vz)

    qs, mus, vs = zip(*[tvi.moments(r) for r in logits])
    _, _, cache = net.pfp_forward(mus, vs, x)
    gm, gv = net.pfp_backward(cache, cm, cv)
    for i, r in enumerate(logits):
        close(tvi.moments_backward(qs[i], mus[i], gm[i], gv[i]), numgrad(f, r))


def _arch(activation, pads=(0, 1), dropout=0.0, input_dropout=0.0, k2=3):
    blocks = ({"kind": "conv", "out": 3, "k": 3, "pad": pads[0], "pool": True},
              {"kind": "conv", "out": 4, "k": k2, "pad": pads[1], "pool": False},
              {"kind": "dense", "out": 5},
              {"kind": "dense", "out": 3})
    return Architecture((6 * 6 * 2, 3), activation=activation, layers=blocks, image_shape=(6, 6, 2),
                        dropout=dropout, input_dropout=input_dropout)


@pytest.fixture
def rng():
    return np.random.default_rng(99)


def test_layer_sequence_of_a_conv_network():
    net = _arch("sign").network()
    assert [l.name for l in net.layers] == [
        "conv2d", "batchnorm", "sign", "maxpool2", "conv2d", "batchnorm", "sign", "flatten", "dense", "batchnorm",
        "sign", "dense", "batchnorm"]
    assert net.weight_shapes == [(3, 3, 3, 2), (4, 3, 3, 3), (5, 36), (3, 5)]


def test_relu_cnn_backward_matches_numerical_gradient(rng):
    check_loss_weight_gradients(_arch("relu", pads=(0, 0)).network(), rng.standard_normal((5, 6 * 6 * 2)), rng)


def test_relu_cnn_with_dropout_and_k5_backward(rng):
    """Dropout masks are fixed by re-seeding the generator for every evaluation; a 5x5 kernel on 3x3 maps."""
    arch = _arch("relu", pads=(0, 0), dropout=0.3, input_dropout=0.2, k2=5)
    net = arch.network()
    ws = [rng.standard_normal(s) for s in net.weight_shapes]
    x = rng.standard_normal((4, 6 * 6 * 2))
    y = rng.integers(0, 3, size=4)

    def f():
        return L.softmax_cross_entropy(net.forward_train(ws, x, np.random.default_rng(3))[0], y)[0]

    out, cache = net.forward_train(ws, x, np.random.default_rng(3))
    grads = net.backward(cache, L.softmax_cross_entropy(out, y)[1])
    for w, g in zip(ws, grads):
        close(g, numgrad(f, w))


def test_sign_cnn_output_layer_gradient_is_exact_and_conv_gradients_are_straight_through(rng):
    """With sign activations only the last layer's gradient is a true derivative; the conv gradients equal
    those of the same network with hard-tanh activations at this point (the straight-through definition),
    which is checked numerically by swapping the sign layers for clip(z, -1, 1)."""
    arch = _arch("sign")
    net = arch.network()
    ws = [rng.standard_normal(s) for s in net.weight_shapes]
    x = rng.standard_normal((6, 6 * 6 * 2))
    y = rng.integers(0, 3, size=6)
    out, cache = net.forward_train(ws, x)
    grads = net.backward(cache, L.softmax_cross_entropy(out, y)[1])
    close(grads[-1], numgrad(lambda: L.softmax_cross_entropy(net.forward_train(ws, x)[0], y)[0], ws[-1]))

    from lowprec_rbm.nn.stack.sign import Sign

    class HardTanhFrozen(Sign):
        """Forward value = the sign of the unperturbed pass (frozen), derivative = hard-tanh's: the function
        whose exact gradient the straight-through estimator returns."""

        def __init__(self, frozen):
            super().__init__(1.0)
            self.frozen = frozen

        def train(self, z, p):
            key = id(self)
            base = self.frozen.setdefault(key, z.copy())
            return L.sign_forward(base) + (np.clip(z, -1, 1) - np.clip(base, -1, 1)), z   # exactly ±1 at base

    from lowprec_rbm.nn import conv as C
    from lowprec_rbm.nn.stack.maxpool import MaxPool2

    class PoolFrozen(MaxPool2):
        """Max-pool routed through the unperturbed pass's first maxima (the ±1 windows are full of ties,
        which a perturbation would break differently)."""

        def __init__(self, frozen):
            self.frozen = frozen

        def train(self, x, p):
            y, cache = C.maxpool2_forward(x)
            cache = self.frozen.setdefault(id(self), cache)
            # the window element marked as the first maximum (exactly one per window), a linear function of x
            return sum(q * sel for q, sel in zip(C._quarters(x), cache.first)), cache

    frozen: dict = {}
    layers = [HardTanhFrozen(frozen) if l.name == "sign" else PoolFrozen(frozen) if l.name == "maxpool2" else l
              for l in net.layers]
    from lowprec_rbm.nn.stack.network import Network

    twin = Network(layers, net.in_shape, net.units_per_example)
    twin.forward_train(ws, x)                  # freezes the unperturbed pre-activations
    for i in range(len(ws) - 1):
        close(grads[i], numgrad(lambda: L.softmax_cross_entropy(twin.forward_train(ws, x)[0], y)[0], ws[i]))


@pytest.mark.parametrize("pads", [(0, 1), (1, -1)])
def test_pfp_through_conv_and_maxpool_matches_numerical_gradient(rng, exact_erf, pads):
    """Moments through conv (deterministic input, ±1 input), BN, sign, max-pool of ±1 units, flatten, dense."""
    check_pfp_logit_gradients(_arch("sign", pads=pads).network(), rng.standard_normal((4, 6 * 6 * 2)), rng)


def test_pfp_conv_with_dropout_takes_the_general_variance_path(rng, exact_erf):
    net = _arch("sign", dropout=0.3, input_dropout=0.2).network()
    mus = [rng.uniform(-1, 1, s) for s in net.weight_shapes]
    vs = [rng.uniform(0.05, 0.5, s) for s in net.weight_shapes]
    x = rng.standard_normal((4, 6 * 6 * 2))
    cm, cv = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))

    def f():
        mz, vz, _ = net.pfp_forward(mus, vs, x, np.random.default_rng(5))
        return np.sum(cm * mz) + np.sum(cv * vz)

    _, _, cache = net.pfp_forward(mus, vs, x, np.random.default_rng(5))
    gm, gv = net.pfp_backward(cache, cm, cv)
    for i in range(len(mus)):
        close(gm[i], numgrad(f, mus[i]))
        close(gv[i], numgrad(f, vs[i]))


def _block_moments_and_samples(rng, n_layers):
    """PFP means after the first ``n_layers`` layers of a conv block (conv, BN, sign[, max-pool]) for one image
    with fixed BN statistics, and the same quantity averaged over 20000 networks sampled from the posterior."""
    from lowprec_rbm.nn import conv as C
    from lowprec_rbm.nn.network import BNStats
    from lowprec_rbm.nn.stack.base import Moments, Pass

    net = _arch("sign").network()
    logits = [rng.standard_normal((3,) + s) * 1.5 for s in net.weight_shapes]
    _, mus, vs = zip(*[tvi.moments(r) for r in logits])
    x = rng.standard_normal((1, 6, 6, 2))
    stats = [BNStats(np.zeros(s[0]), np.full(s[0], 9.0)) for s in net.weight_shapes]
    p = Pass(mu_w=list(mus), var_w=list(vs), stats=stats, train=False)
    m = Moments(x, None)
    for layer in net.layers[:n_layers]:
        m, _ = layer.moments(m, p)
    samples = tvi.sample(logits[0], rng, size=20000).astype(np.float64)     # (S, 3, 3, 3, 2)
    cols = C._im2col(x, 3, 0.0)                                             # (36, 18)
    a = np.einsum("pk,sok->spo", cols, samples.reshape(20000, 3, -1))      # (S, 36, 3)
    h = np.where(a >= 0, 1.0, -1.0).reshape(20000, 6, 6, 3)              # BN with mean 0 keeps the sign
    return m.mu[0], (C.maxpool2_forward(h)[0] if n_layers == 4 else h).mean(axis=0)


def test_pfp_sign_means_of_a_conv_block_match_monte_carlo(rng):
    """The conv moments are exact (tests/test_nn_conv.py checks them against Monte Carlo); the sign mean treats
    the pre-activation, a sum of 18 independent terms of very unequal size (standard-normal pixels), as
    Gaussian. Measured: most units agree to 0.05, the worst to 0.08; 0.1 absolute bounds that approximation
    (Monte Carlo standard error below 0.01), while a wrong variance (a missing border or weight-variance term)
    moves means by several tenths."""
    pfp, mc = _block_moments_and_samples(rng, 3)
    np.testing.assert_allclose(pfp, mc, atol=0.1)
    assert np.median(np.abs(pfp - mc)) < 0.03
