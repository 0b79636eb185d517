"""CNNClassifier: every rule learns on conv layers, posterior round trip, checkpoint/resume, classes, errors."""
import numpy as np
import pytest

from lowprec_rbm.data import load_dataset
from lowprec_rbm.nn import CNNClassifier, MLPClassifier
from lowprec_rbm.posterior_file import PosteriorFileError, load_posterior

SMALL = dict(arch="c4,p,c8,p,d16", input_encoding="bitplanes", epochs=2, batch_size=50, bn_calib=300, test_samples=2)


@pytest.fixture(scope="module")
def data():
    d = load_dataset("sample")
    return d.x_train[:600], d.y_train[:600], d.x_test[:200], d.y_test[:200]


@pytest.fixture(scope="module")
def fitted(data):
    x, y, xt, yt = data
    return {rule: CNNClassifier(**SMALL, rule=rule, random_state=1).fit(x, y, xt, yt)
            for rule in ("bayesbinn", "ste", "adam", "ternary-vi")}


@pytest.mark.parametrize("rule", ["bayesbinn", "ste", "adam", "ternary-vi"])
def test_every_rule_learns_on_conv_layers(fitted, data, rule):
    _, _, xt, yt = data
    # 10 balanced classes: chance is 10 %; 600 images and 2 epochs reach far beyond it for every rule.
    assert fitted[rule].score(xt, yt) > 0.3


def test_weights_have_conv_shapes_and_are_deployable(fitted):
    m = fitted["ternary-vi"]
    assert m.arch_.weight_shapes == [(4, 3, 3, 1), (8, 3, 3, 4), (16, 7 * 7 * 8), (10, 16)]
    for w in m.deployable_weights():
        assert set(np.unique(w)) <= {-1.0, 0.0, 1.0}
    assert set(np.unique(fitted["bayesbinn"].deployable_weights()[0])) == {-1.0, 1.0}
    assert "sparsity" in m.history_[-1]


@pytest.mark.parametrize("rule", ["bayesbinn", "ternary-vi"])
def test_posterior_file_round_trip(fitted, data, tmp_path, rule):
    _, _, xt, _ = data
    m = fitted[rule]
    path = m.save(tmp_path / "cnn.npz")
    arrays, meta = load_posterior(path)
    assert meta["kind"] == "cnn" and "sizes" not in meta["config"]
    assert meta["config"]["image_shape"] == [28, 28, 1]
    assert meta["config"]["layers"][0] == {"kind": "conv", "out": 4, "k": 3, "pad": 0, "pool": True}
    assert meta["config"]["layers"][1]["pad"] == 1                    # ±1 activations pad with +1
    want = (4, 3, 3, 1) + ((3,) if rule == "ternary-vi" else ())
    assert arrays[f"layer0.{m.learner_.param_name}"].shape == want
    loaded = CNNClassifier.load(path)
    np.testing.assert_array_equal(loaded.predict(xt), m.predict(xt))
    if rule == "ternary-vi":     # the PFP predictor needs no calibration images (its BN statistics are saved)
        np.testing.assert_array_equal(loaded.predict_proba(xt, mode="pfp", seed=3),
                                      m.predict_proba(xt, mode="pfp", seed=3))
    with pytest.raises(PosteriorFileError, match="kind 'mlp'"):
        MLPClassifier.load(path)


def test_binary_input_pads_the_first_conv_with_plus_one():
    m = CNNClassifier(arch="c4,p,d8", input_encoding="binary")
    assert m.hidden_blocks()[0]["pad"] == 1
    m = CNNClassifier(arch="c4,c4", input_encoding="real", activation="relu")
    assert [b["pad"] for b in m.hidden_blocks()] == [0, 0]


def test_stop_and_resume_is_bit_identical(data, tmp_path):
    x, y, xt, yt = data
    kw = dict(SMALL, rule="ternary-vi", random_state=4, epochs=2)
    ref = CNNClassifier(**kw).fit(x, y, xt, yt)
    ck = tmp_path / "c.ckpt.npz"
    calls = []
    from lowprec_rbm.checkpoint import TrainingInterrupted

    with pytest.raises(TrainingInterrupted):
        CNNClassifier(**kw).fit(x, y, xt, yt, checkpoint=ck, stop=lambda: calls.append(1) or len(calls) == 17)
    res = CNNClassifier(**kw).fit(x, y, xt, yt, checkpoint=ck, resume=True)
    for a, b in zip(ref.params_, res.params_):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="layers"):
        CNNClassifier(**dict(kw, arch="c4,p,c8,d16")).fit(x, y, xt, yt, checkpoint=ck, resume=True)


def test_classes_from_labels(data):
    x, y, xt, yt = data
    keep = (y == 3) | (y == 5)
    m = CNNClassifier(**dict(SMALL, epochs=1), rule="ste").fit(x[keep], y[keep])
    assert m.classes_.tolist() == [3, 5]
    assert set(m.predict(xt).tolist()) <= {3, 5}


def test_bad_arguments(data):
    x, y, _, _ = data
    with pytest.raises(ValueError, match="unknown block 'q3'"):
        CNNClassifier(arch="c4,q3").fit(x, y)
    with pytest.raises(ValueError, match="'p'.*must follow a conv"):
        CNNClassifier(arch="d8,p").fit(x, y)
    with pytest.raises(ValueError, match="odd"):
        CNNClassifier(arch="c4k2").fit(x, y)
    with pytest.raises(ValueError, match="conv blocks must come before dense"):
        CNNClassifier(arch="d8,c4").fit(x, y)
    with pytest.raises(ValueError, match="even height"):
        CNNClassifier(arch="c4,p,c4,p,c4,p").fit(x, y)      # 28 -> 14 -> 7: odd
    with pytest.raises(ValueError, match="a CNN needs images"):
        CNNClassifier(**SMALL).fit(x.reshape(len(x), -1), y)
    with pytest.raises(ValueError, match="activation='sign'"):
        CNNClassifier(arch="c4,d8", activation="relu", rule="ternary-vi").fit(x, y)
    m = CNNClassifier(**dict(SMALL, epochs=1), rule="ste").fit(x, y)
    with pytest.raises(ValueError, match="X has 196 features, but CNNClassifier is expecting 784 features"):
        m.predict(x[:, ::2, ::2])


def test_cnn_network_derivation(fitted):
    """The export-side network of a CNN posterior (notes/conv_spec.md): conv blocks with their pad values and
    pooling, then dense blocks; without export.network.CNNNetwork the derivation says what is missing."""
    import export.network as xn
    from lowprec_rbm import derive
    from lowprec_rbm.nn import schema

    m = fitted["bayesbinn"]
    meta = {"kind": "cnn", "config": m.config()}
    arrays = m.to_arrays()
    schema.check_arrays(arrays, schema.layout(meta))
    if not hasattr(xn, "CNNNetwork"):
        with pytest.raises(ValueError, match="CNNNetwork"):
            derive.cnn_network(arrays, meta)
        return
    net = derive.cnn_network(arrays, meta)
    assert [(f[0].pad, f[2]) for f in net.features] == [(0, "bits"), (1, "bits")]
    np.testing.assert_array_equal(np.asarray(net.features[0][0].weight), m.deployable_weights()[0].astype(np.int8))
    assert len(net.hidden) == 1 and net.image_shape == (28, 28, 1)
