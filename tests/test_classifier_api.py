"""The classifiers' estimator contract without scikit-learn: parameters (get/set, repr, validation in fit),
save/load of every parameter, older files migrated, random_state, any labels, partial_fit as continual
learning, and the one-call export that equals `lowprec export` on the saved posterior."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lowprec_rbm.base import NotFittedError
from lowprec_rbm.nn import CNNClassifier, MLPClassifier
from lowprec_rbm.posterior_file import PosteriorFileError, load_posterior, save_posterior

RNG = np.random.default_rng(12)
X_FLAT = RNG.integers(0, 256, size=(80, 16), dtype=np.uint8)
Y_FLAT = np.where(X_FLAT[:, :8].astype(int).sum(1) > X_FLAT[:, 8:].astype(int).sum(1), "L", "R")
X_IMG = X_FLAT.reshape(80, 4, 4)

BASE = {MLPClassifier: dict(hidden=(8,), epochs=1, batch_size=20, bn_calib=40, test_samples=2),
        CNNClassifier: dict(arch="c2,d4", epochs=1, batch_size=20, bn_calib=40, test_samples=2)}

# One non-default value per parameter (with what it needs to be valid), for every estimator.
COMMON_VALUES = {
    "batch_size": (16, {}), "bn_calib": (30, {}), "bn_eps": (1e-3, {}),
    "bn_eval": ("running", {}), "bn_momentum": (0.3, {}), "dropout": (0.1, {}), "epochs": (2, {}),
    "eval_mean_every": (1, {}), "input_dropout": (0.05, {}), "input_encoding": ("bitplanes", {}),
    "learning_rate": (0.02, {}), "logit_scale": ("fixed", {}), "predict_mode": ("mean", {}),
    "prior": ("previous", {"warm_start": True}), "random_state": (5, {}), "rule": ("ste", {}),
    "rule_params": ({"kl_weight": 0.5}, {}), "schedule": ("constant", {}), "test_samples": (3, {}),
    "threshold": (0.3, {"input_encoding": "binary"}), "verbose": (2, {}), "warm_start": (True, {}),
}
VALUES = {MLPClassifier: {**COMMON_VALUES, "hidden": ((6, 5), {}), "activation": ("sign", {})},
          CNNClassifier: {**COMMON_VALUES, "arch": ("c3,d5", {}), "image_shape": ((4, 4), {}),
                          "activation": ("relu", {})}}
CASES = [(cls, name) for cls in (MLPClassifier, CNNClassifier) for name in cls._get_param_names()]


def _data(cls):
    return (X_FLAT if cls is MLPClassifier else X_IMG), Y_FLAT


def test_every_parameter_has_a_case():
    for cls in (MLPClassifier, CNNClassifier):
        assert set(VALUES[cls]) == set(cls._get_param_names())


@pytest.mark.parametrize("cls, name", CASES, ids=[f"{c.__name__}-{n}" for c, n in CASES])
def test_save_load_round_trips_the_parameter(tmp_path, cls, name, capsys):
    value, needs = VALUES[cls][name]
    assert value != cls().get_params()[name]          # a value that the default could not fake
    est = cls(**{**BASE[cls], **needs, name: value}).fit(*_data(cls))
    est.save(tmp_path / "p.npz")
    loaded = cls.load(tmp_path / "p.npz")
    assert loaded.get_params() == est.get_params()
    assert type(loaded.get_params()[name]) is type(value)
    X, _ = _data(cls)
    # MAP predictions (posterior-mean ones after load need calibration images: set_calibration)
    np.testing.assert_array_equal(loaded.predict(X, mode="map"), est.predict(X, mode="map"))


@pytest.mark.parametrize("cls", [MLPClassifier, CNNClassifier])
def test_random_state_generator_and_none_round_trip(tmp_path, cls):
    gen = np.random.default_rng(3)
    est = cls(**BASE[cls], random_state=gen).fit(*_data(cls))
    est.save(tmp_path / "g.npz")
    loaded = cls.load(tmp_path / "g.npz").random_state
    assert isinstance(loaded, np.random.Generator) and loaded is not gen
    assert loaded.bit_generator.state == gen.bit_generator.state      # the state at save time
    est = cls(**BASE[cls], random_state=None).fit(*_data(cls))
    est.save(tmp_path / "n.npz")
    reloaded = cls.load(tmp_path / "n.npz")
    assert reloaded.random_state is None and reloaded.seed_ == est.seed_


def test_random_state_semantics():
    X, y = X_FLAT, Y_FLAT
    a = MLPClassifier(**BASE[MLPClassifier], random_state=4).fit(X, y)
    b = MLPClassifier(**BASE[MLPClassifier], random_state=4).fit(X, y)
    assert a.seed_ == 4
    for p, q in zip(a.params_, b.params_):
        np.testing.assert_array_equal(p, q)
    # Two Generators in the same state give the same model; the Generator is advanced by fit.
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    c = MLPClassifier(**BASE[MLPClassifier], random_state=g1).fit(X, y)
    d = MLPClassifier(**BASE[MLPClassifier], random_state=g2).fit(X, y)
    assert c.seed_ == d.seed_
    np.testing.assert_array_equal(c.params_[0], d.params_[0])
    assert g1.bit_generator.state != np.random.default_rng(9).bit_generator.state
    e = MLPClassifier(**BASE[MLPClassifier], random_state=g1).fit(X, y)          # next draw: another seed
    assert e.seed_ != c.seed_
    with pytest.raises(TypeError, match="random_state must be None, an int >= 0 or a numpy.random.Generator"):
        MLPClassifier(**BASE[MLPClassifier], random_state="0").fit(X, y)
    with pytest.raises(ValueError, match="random_state must be None, an int >= 0 or a numpy.random.Generator"):
        MLPClassifier(**BASE[MLPClassifier], random_state=-1).fit(X, y)


def test_parameters_are_keyword_only_stored_unchanged_and_validated_in_fit():
    with pytest.raises(TypeError):
        MLPClassifier((8,))                                 # keyword-only
    with pytest.raises(TypeError, match="seed"):
        MLPClassifier(seed=0)                               # the old names are gone from the signature
    odd = MLPClassifier(hidden="not sizes", epochs=0, rule_params={"x": 1})   # stored, not checked, in __init__
    assert odd.get_params()["hidden"] == "not sizes" and odd.epochs == 0
    with pytest.raises(ValueError, match="MLPClassifier: epochs must be an int >= 1, got 0"):
        odd.set_params(hidden=(4,)).fit(X_FLAT, Y_FLAT)
    with pytest.raises(ValueError, match="invalid parameter 'lr'"):
        MLPClassifier().set_params(lr=0.1)
    est = MLPClassifier(hidden=(8,), learning_rate=0.1, verbose=True)
    assert repr(est) == "MLPClassifier(hidden=(8,), learning_rate=0.1, verbose=True)"
    assert repr(CNNClassifier(image_shape=(8, 8))) == "CNNClassifier(image_shape=(8, 8))"


def test_not_fitted_errors():
    for method in ("predict", "predict_proba"):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(MLPClassifier(), method)(X_FLAT)
    with pytest.raises(NotFittedError):
        MLPClassifier().save("never-written.npz")
    with pytest.raises(NotFittedError):
        CNNClassifier().to_onnx()


def test_any_labels_and_n_features_in():
    """String labels (saved and loaded as strings); integer labels not 0..9; a bad label type is named."""
    est = MLPClassifier(**BASE[MLPClassifier]).fit(X_FLAT, Y_FLAT)
    assert est.classes_.tolist() == ["L", "R"] and est.n_features_in_ == 16
    assert set(est.predict(X_FLAT).tolist()) <= {"L", "R"}
    codes = np.where(Y_FLAT == "L", 17, 40)          # "L" and 17 are both output unit 0
    est2 = MLPClassifier(**BASE[MLPClassifier]).fit(X_FLAT, codes)
    assert est2.classes_.tolist() == [17, 40]
    np.testing.assert_array_equal(est2.predict(X_FLAT) == 17, est.predict(X_FLAT) == "L")   # same seed, same net
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        MLPClassifier(**BASE[MLPClassifier]).fit(X_FLAT, np.linspace(0, 1, 80))
    with pytest.raises(ValueError, match="X has 15 features, but MLPClassifier is expecting 16 features"):
        est.predict(X_FLAT[:, :15])


def test_string_classes_save_load_and_export_refusal(tmp_path):
    est = MLPClassifier(**BASE[MLPClassifier], activation="sign").fit(X_FLAT, Y_FLAT)
    est.save(tmp_path / "s.npz")
    loaded = MLPClassifier.load(tmp_path / "s.npz")
    assert loaded.classes_.tolist() == ["L", "R"]
    np.testing.assert_array_equal(loaded.predict(X_FLAT), est.predict(X_FLAT))
    with pytest.raises(ValueError, match="records integer class labels; this posterior's classes are"):
        est.to_onnx()


def test_partial_fit_is_continual_learning_with_the_previous_posterior_as_prior():
    """First call: a fit with output units for every given class (one absent from y); later calls start from
    the current λ and use it as the prior λ0 (bayesbinn)."""
    X, y = X_FLAT, np.where(Y_FLAT == "L", "a", "b")
    est = MLPClassifier(**BASE[MLPClassifier], activation="sign")
    est.partial_fit(X[:40], y[:40], classes=["a", "b", "c"])
    assert est.classes_.tolist() == ["a", "b", "c"] and est.lam0_ is None
    before = [p.copy() for p in est.params_]
    est.partial_fit(X[40:], y[40:])
    for prior, old in zip(est.lam0_, before):
        np.testing.assert_array_equal(prior, old)
    assert any(not np.array_equal(p, q) for p, q in zip(est.params_, before))   # it trained
    assert est.fit_count_ == 2
    with pytest.raises(ValueError, match=r"labels \['z'\] are not among the fitted classes_"):
        est.partial_fit(X[:20], np.full(20, "z"))
    with pytest.raises(ValueError, match="X has 8 features, but MLPClassifier is expecting 16"):
        est.partial_fit(X[:20, :8], y[:20])
    # A rule without a posterior prior continues from its weights.
    ste = MLPClassifier(**BASE[MLPClassifier], rule="ste").partial_fit(X, y).partial_fit(X, y)
    assert ste.lam0_ is None and ste.fit_count_ == 2


def test_predict_mode_decides_what_predict_computes():
    est = MLPClassifier(**{**BASE[MLPClassifier], "test_samples": 3}, activation="sign").fit(X_FLAT, Y_FLAT)
    mean = est.predict_proba(X_FLAT, mode="mean")
    np.testing.assert_array_equal(est.set_params(predict_mode="mean").predict_proba(X_FLAT), mean)
    assert not np.array_equal(mean, est.predict_proba(X_FLAT, mode="map"))   # sampled networks differ from MAP
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, rtol=0, atol=1e-12)    # float64 softmax averages


def test_cnn_image_shape_from_data_or_parameter():
    flat = CNNClassifier(**BASE[CNNClassifier], image_shape=(4, -1)).fit(X_FLAT, Y_FLAT)
    images = CNNClassifier(**BASE[CNNClassifier]).fit(X_IMG, Y_FLAT)
    assert flat.arch_.image_shape == images.arch_.image_shape == (4, 4, 1)
    np.testing.assert_array_equal(flat.params_[0], images.params_[0])
    with pytest.raises(ValueError, match="pass image_shape=\\(H, W\\) or \\(H, W, C\\) to use flat rows"):
        CNNClassifier(**BASE[CNNClassifier]).fit(X_FLAT, Y_FLAT)
    with pytest.raises(ValueError, match="images have shape \\(4, 4, 1\\), but image_shape=\\(2, 8\\)"):
        CNNClassifier(**BASE[CNNClassifier], image_shape=(2, 8)).fit(X_IMG, Y_FLAT)
    with pytest.raises(ValueError, match="image_shape must be None, or \\(H, W\\)"):
        CNNClassifier(**BASE[CNNClassifier], image_shape=(4, 0)).fit(X_IMG, Y_FLAT)


def test_files_from_before_params_are_migrated(tmp_path):
    """A posterior written before config 'params' (flat keys input/seed/lr_schedule, lr in rule_params) loads
    with the new names; parameters it never recorded take their defaults, and a warning names them."""
    est = MLPClassifier(**BASE[MLPClassifier], input_encoding="binary", threshold=0.4, learning_rate=0.03,
                        schedule="constant", random_state=7, activation="sign").fit(X_FLAT, Y_FLAT)
    est.save(tmp_path / "new.npz")
    arrays, meta = load_posterior(tmp_path / "new.npz")
    del meta["config"]["params"]
    save_posterior(tmp_path / "old.npz", arrays, meta)
    with pytest.warns(UserWarning, match="eval_mean_every, predict_mode, prior, verbose, warm_start take their defaults"):
        old = MLPClassifier.load(tmp_path / "old.npz")
    assert (old.input_encoding, old.threshold, old.learning_rate, old.schedule, old.random_state) == \
        ("binary", 0.4, 0.03, "constant", 7)
    assert old.hidden == (8,)
    np.testing.assert_array_equal(old.predict(X_FLAT), est.predict(X_FLAT))
    meta["config"]["params"] = {"seed": 1}
    save_posterior(tmp_path / "bad.npz", arrays, meta)
    with pytest.raises(PosteriorFileError, match="config 'params' has \\['seed'\\], which MLPClassifier does not"):
        MLPClassifier.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("cls, extra, export_args", [
    (MLPClassifier, dict(activation="sign", input_encoding="bitplanes"), {}),
    (MLPClassifier, dict(activation="sign", input_encoding="binary"), dict(mode="sample", random_state=3)),
    (CNNClassifier, dict(input_encoding="binary"), dict(standard_ops=True)),
])
def test_to_onnx_equals_the_cli_export_of_the_saved_posterior(tmp_path, cls, extra, export_args):
    X, _ = _data(cls)
    y = np.where(Y_FLAT == "L", 0, 1)
    est = cls(**BASE[cls], **extra).fit(X, y)
    est.save(tmp_path / "post.npz")
    model = est.to_onnx(tmp_path / "api.onnx", **export_args)
    flags = {"mode": lambda v: ["--mode", v], "random_state": lambda v: ["--seed", str(v)],
             "standard_ops": lambda v: ["--standard-ops"] if v else []}
    args = [a for k, v in export_args.items() for a in flags[k](v)]
    subprocess.run([sys.executable, "-m", "lowprec_rbm", "export", str(tmp_path / "post.npz"), "-o",
                    str(tmp_path / "cli.onnx"), "-q", *args], check=True)
    cli = (tmp_path / "cli.onnx").read_bytes()
    assert (tmp_path / "api.onnx").read_bytes() == cli
    assert model.SerializeToString() == cli
    with pytest.raises(ValueError, match="random_state applies to mode='sample' only"):
        est.to_onnx(random_state=1)


def test_real_files_from_before_the_contract_load():
    """Posterior files written by the code before this contract (tests/data/legacy_*.npz, made at commit 70b198b
    with ``MLPClassifier(hidden=(6,), activation="sign", input="binary", threshold=0.4, lr=0.03,
    lr_schedule="constant", epochs=2, batch_size=20, bn_calib=40, test_samples=2, seed=5)`` and
    ``CNNClassifier(arch="c2,p,d4", input="bitplanes", epochs=1, batch_size=20, bn_calib=40, test_samples=2,
    seed=6)`` on the inputs named in legacy_predictions.json, labels 3/7) load under the new names and predict
    what they predicted then."""
    import json
    from pathlib import Path

    data = Path(__file__).parent / "data"
    expected = json.loads((data / "legacy_predictions.json").read_text())
    X = np.random.default_rng(12).integers(0, 256, size=(80, 16), dtype=np.uint8)
    with pytest.warns(UserWarning, match="written before hyper-parameters were recorded"):
        mlp = MLPClassifier.load(data / "legacy_mlp.npz")
    assert (mlp.hidden, mlp.activation, mlp.input_encoding, mlp.threshold, mlp.learning_rate, mlp.schedule,
            mlp.random_state, mlp.epochs) == ((6,), "sign", "binary", 0.4, 0.03, "constant", 5, 2)
    np.testing.assert_array_equal(mlp.predict(X), expected["mlp_predict"])
    with pytest.warns(UserWarning, match="written before hyper-parameters were recorded"):
        cnn = CNNClassifier.load(data / "legacy_cnn.npz")
    assert (cnn.input_encoding, cnn.random_state, cnn.arch_.image_shape) == ("bitplanes", 6, (4, 4, 1))
    np.testing.assert_array_equal(cnn.predict(X.reshape(80, 4, 4)), expected["cnn_predict"])
