"""Buffer reuse between training steps (``Network.recycling``): the same bits as fresh buffers, and a consumed
cache cannot be backpropagated again (inside the block its buffers may already hold the next step's values)."""
import copy

import numpy as np
import pytest

from lowprec_rbm.nn import layers as L
from lowprec_rbm.nn.network import Architecture


def _net(k2=3):
    blocks = ({"kind": "conv", "out": 3, "k": 3, "pad": 0, "pool": True},
              {"kind": "conv", "out": 4, "k": k2, "pad": 1, "pool": False},
              {"kind": "dense", "out": 3})
    return Architecture((6 * 6 * 2, 3), activation="sign", layers=blocks, image_shape=(6, 6, 2)).network()


def _steps(net, ws, batches):
    """forward_train + backward on each (x, y) in turn: the weight gradients of every step."""
    out = []
    for x, y in batches:
        z, cache = net.forward_train(ws, x)
        out.append(net.backward(cache, L.softmax_cross_entropy(z, y)[1]))
    return out


@pytest.mark.parametrize("k2", [3, 1])
def test_recycled_steps_give_the_same_gradients_and_release_their_buffers(k2):
    rng = np.random.default_rng(5)
    net = _net(k2)
    ws = [rng.standard_normal(s).astype(np.float32) for s in net.weight_shapes]
    # the third minibatch is smaller (an epoch's last): its conv buffers cannot be reused and are made afresh
    batches = [(rng.standard_normal((m, 72)).astype(np.float32), rng.integers(0, 3, m)) for m in (5, 5, 3, 5)]
    fresh = _steps(net, ws, batches)
    convs = [l for l in net.layers if l.name == "conv2d"]
    with net.recycling():
        reused = _steps(net, ws, batches)
        # the last step's matrices wait for the next one, except a k = 1 conv's, which is a read-only view of
        # its input (the previous layer's activations: never written into)
        assert [l._spare is not None for l in convs] == [True, k2 > 1]
        assert all(copy.deepcopy(l)._spare is None for l in convs)   # and a copy does not carry them
    assert all(l._spare is None for l in convs)
    for a, b in zip(fresh, reused):
        for ga, gb in zip(a, b):
            np.testing.assert_array_equal(ga, gb)


def test_recycled_buffer_really_is_reused():
    rng = np.random.default_rng(6)
    net = _net()
    ws = [rng.standard_normal(s).astype(np.float32) for s in net.weight_shapes]
    x, y = rng.standard_normal((4, 72)).astype(np.float32), rng.integers(0, 3, 4)
    with net.recycling():
        z, cache = net.forward_train(ws, x)
        first = cache[0][0].cols
        net.backward(cache, L.softmax_cross_entropy(z, y)[1])
        z, cache = net.forward_train(ws, x)
        assert cache[0][0].cols is first


@pytest.mark.parametrize("recycle", [False, True])
def test_a_consumed_cache_cannot_be_backpropagated_again(recycle):
    rng = np.random.default_rng(7)
    net = _net()
    ws = [rng.standard_normal(s).astype(np.float32) for s in net.weight_shapes]
    x, y = rng.standard_normal((4, 72)).astype(np.float32), rng.integers(0, 3, 4)

    def run():
        z, cache = net.forward_train(ws, x)
        g = L.softmax_cross_entropy(z, y)[1]
        net.backward(cache, g)
        with pytest.raises(ValueError, match="already used by backward"):
            net.backward(cache, g)

    if recycle:
        with net.recycling():
            run()
    else:
        run()


def test_a_fit_with_buffer_reuse_equals_one_without(monkeypatch):
    """The trainer's minibatch loop runs inside ``recycling()``: the fitted parameters must be the same bits as
    with fresh buffers every step (2 epochs of 4 minibatches)."""
    from contextlib import contextmanager

    from lowprec_rbm.nn.cnn import CNNClassifier
    from lowprec_rbm.nn.stack.network import Network

    rng = np.random.default_rng(8)
    x = rng.integers(0, 256, size=(36, 8, 8)).astype(np.uint8)
    y = rng.integers(0, 3, size=36)

    def fit():
        clf = CNNClassifier(arch="c4,p,c6,d8", input_encoding="bitplanes", epochs=2, batch_size=8, bn_calib=16,
                            test_samples=1, random_state=0)
        return clf.fit(x, y).params_

    reused = fit()

    @contextmanager
    def fresh_buffers(self):
        yield self

    monkeypatch.setattr(Network, "recycling", fresh_buffers)
    fresh = fit()
    assert len(reused) == len(fresh) == 4
    for a, b in zip(reused, fresh):
        np.testing.assert_array_equal(a, b)
