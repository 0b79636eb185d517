"""Classes come from the labels: the network's outputs are the labels present in training, carried into the
posterior and the ONNX export, mapped back by `lowprec predict`; labels outside the declared classes are errors
naming the file and index; old posterior files without `classes` still load."""
import json

import numpy as np
import pytest

from lowprec_rbm import derive
from lowprec_rbm.cli.main import main
from lowprec_rbm.cli.train_mlp import _split
from lowprec_rbm.data import IDXError, load_dataset, load_embedded_sample, write_idx
from lowprec_rbm.data import datasets
from lowprec_rbm.nn import MLPClassifier
from lowprec_rbm.posterior_file import load_posterior, save_posterior

FAST = ["--hidden", "16", "--epochs", "1", "--activation", "sign", "--input", "binary", "--test-samples", "1",
        "--quiet"]


def _folder(path, x_train, y_train, x_test, y_test):
    path.mkdir()
    write_idx(path / "train-images-idx3-ubyte", x_train)
    write_idx(path / "train-labels-idx1-ubyte", np.asarray(y_train, np.uint8))
    write_idx(path / "t10k-images-idx3-ubyte", x_test)
    write_idx(path / "t10k-labels-idx1-ubyte", np.asarray(y_test, np.uint8))
    return path


def test_a_corrupt_label_in_fashion_mnist_is_an_error_naming_file_and_index(tmp_path, monkeypatch, capsys):
    ds = load_embedded_sample()
    y = ds.y_train.copy()
    y[17] = 128
    folder = _folder(tmp_path / "fm", ds.x_train, y, ds.x_test, ds.y_test)
    # Debian's files declare the 10 Fashion-MNIST classes; point the loader at a copy with one corrupt byte.
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", folder)
    with pytest.raises(IDXError) as exc:
        load_dataset("debian")
    assert str(exc.value) == (f"{folder / 'train-labels-idx1-ubyte'}: label 128 at index 17 is not one of the 10 "
                              "classes 0..9 of Fashion-MNIST (1 such label in the file)")
    assert main(["train", "mlp", "--data", "debian", *FAST, "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lowprec: error: ") and "label 128 at index 17" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()
    # A folder declares nothing by itself; --classes declares the set, and the same byte is refused.
    assert main(["train", "mlp", "--data", str(folder), "--classes", "10", *FAST, "-o", str(tmp_path / "x.npz")]) == 2
    assert "train-labels-idx1-ubyte: label 128 at index 17 is not one of the 10 classes 0..9 declared" in \
        capsys.readouterr().err
    # A corrupt test label is refused the same way.
    yt = ds.y_test.copy()
    yt[3] = 10
    folder2 = _folder(tmp_path / "fm2", ds.x_train, ds.y_train, ds.x_test, yt)
    with pytest.raises(IDXError, match="t10k-labels-idx1-ubyte: label 10 at index 3 is not one of the 10 classes"):
        load_dataset(folder2, classes=10)


def test_undeclared_rare_label_is_a_class_and_the_startup_line_says_so(tmp_path, capsys):
    ds = load_embedded_sample()
    y = ds.y_train.copy()
    y[17] = 128
    folder = _folder(tmp_path / "fm", ds.x_train, y, ds.x_test, ds.y_test)
    out = tmp_path / "m.npz"
    assert main(["train", "mlp", "--data", str(folder), "--limit", "400", "--val-fraction", "0",
                 *[a for a in FAST if a != "--quiet"], "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "MLP 784-16-11 (sign, binary input; classes [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 128])" in err
    assert "warning: label 128 has only 1 training image (first at index 17 of" in err
    _, meta = load_posterior(out)
    assert meta["config"]["classes"] == list(range(10)) + [128] and meta["config"]["sizes"][-1] == 11


def test_training_on_a_subset_of_labels_never_predicts_the_others(tmp_path, capsys):
    """Labels {3, 5}: a 2-output network whose answers are 3 or 5, in the trainer, the ONNX file and predict."""
    ds = load_embedded_sample()
    keep = np.isin(ds.y_train, [3, 5])
    folder = _folder(tmp_path / "d35", ds.x_train[keep], ds.y_train[keep], ds.x_test, ds.y_test)
    out = tmp_path / "m.npz"
    assert main(["train", "mlp", "--data", str(folder), *[a for a in FAST if a != "--quiet"], "--epochs", "3",
                 "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "MLP 784-16-2" in err and "classes [3, 5]" in err
    n_other = int(np.sum(~np.isin(ds.y_test, [3, 5])))
    assert f"warning: {n_other} of 500 test images have labels [0, 1, 2, 4, 6, 7, 8, 9]" in err
    arrays, meta = load_posterior(out)
    assert meta["config"]["classes"] == [3, 5] and arrays["layer1.lam"].shape == (2, 16)
    clf = MLPClassifier.load(out)
    pred = clf.predict(ds.x_test)
    assert set(np.unique(pred).tolist()) <= {3, 5}
    on35 = np.isin(ds.y_test, [3, 5])
    assert clf.score(ds.x_test, ds.y_test) == float(np.mean(pred == ds.y_test))
    ev = clf.evaluate(ds.x_test, ds.y_test)
    assert ev["unknown_class"] == n_other and ev["acc"] == float(np.sum(pred[on35] == ds.y_test[on35]) / 500)
    assert meta["final"]["test_map"]["acc"] == ev["acc"]
    # Export: the ONNX config carries the classes; predict maps the graph's class index back to the label.
    assert main(["export", str(out), "-o", str(tmp_path / "m.onnx"), "-q"]) == 0
    from export.onnx import load_artifact, metadata, network_from_onnx
    from targets.reference import simulate

    model = load_artifact(tmp_path / "m.onnx")
    assert json.loads(metadata(model)["lowprec.config"])["classes"] == [3, 5]
    assert network_from_onnx(model).class_labels == (3, 5)
    idx = simulate(tmp_path / "m.onnx", {"x": ds.x_test.reshape(500, -1)}).outputs["label"]
    assert set(np.unique(idx).tolist()) <= {0, 1}
    labels = np.array([3, 5])[idx]
    assert main(["predict", str(tmp_path / "m.onnx"), "--data", str(folder), "--target", "reference",
                 "--json", str(tmp_path / "p.json"), "--quiet"]) == 0
    cap = capsys.readouterr()
    assert f"warning: {n_other} of 500 test images have labels [0, 1, 2, 4, 6, 7, 8, 9]" in cap.err
    res = json.loads((tmp_path / "p.json").read_text())
    entry = res["models"][str(tmp_path / "m.onnx")]
    assert entry["accuracy"] == float(np.mean(labels == ds.y_test))
    assert entry["accuracy_on_model_classes"] == float(np.mean(labels[on35] == ds.y_test[on35]))
    assert res["classes"] == [3, 5] and res["confusion_labels"][:2] == [3, 5]
    conf = np.array(res["confusion"])
    assert conf.sum() == 500 and conf[:, 2:].sum() == 0   # nothing is ever predicted outside {3, 5}


def test_labels_one_to_ten_never_predict_zero(tmp_path):
    ds = load_embedded_sample()
    clf = MLPClassifier(hidden=(16,), activation="sign", input_encoding="binary", epochs=2, test_samples=1, random_state=0)
    clf.fit(ds.x_train[:600], ds.y_train[:600] + 1)
    np.testing.assert_array_equal(clf.classes_, np.arange(1, 11))
    pred = clf.predict(ds.x_test)
    assert pred.min() >= 1 and pred.max() <= 10
    assert clf.score(ds.x_test, ds.y_test + 1) == float(np.mean(pred == ds.y_test + 1))
    clf.save(tmp_path / "p.npz")
    assert derive.network_from_posterior(tmp_path / "p.npz").class_labels == tuple(range(1, 11))


def test_library_label_checks_and_unknown_eval_labels():
    ds = load_embedded_sample()
    x, y = ds.x_train[:300], ds.y_train[:300].astype(np.int64)
    bad = y.copy()
    bad[40] = 128
    with pytest.raises(ValueError, match="training set: label 128 at index 40 is not among the declared classes 0..9"):
        MLPClassifier(hidden=(8,), epochs=1).fit(x, bad, n_classes=10)
    with pytest.raises(ValueError, match="need at least 2 classes"):
        MLPClassifier(hidden=(8,), epochs=1).fit(x, np.full(300, 4))
    keep = np.isin(y, [0, 1, 2])
    clf = MLPClassifier(hidden=(8,), activation="sign", epochs=1, batch_size=20, bn_calib=50, test_samples=1)
    with pytest.warns(RuntimeWarning, match="validation set: .* labels \\[3, 4, 5, 6, 7, 8, 9\\] that the training "
                                            "set lacks"):
        clf.fit(x[keep], y[keep], ds.x_test[:100], ds.y_test[:100])
    rec = clf.history_[-1]
    n_unknown = int(np.sum(~np.isin(ds.y_test[:100], [0, 1, 2])))
    assert rec["val_unknown_class"] == n_unknown
    pred = clf.predict(ds.x_test[:100])
    assert rec["val_acc"] == float(np.mean(pred == ds.y_test[:100]))


def test_old_posterior_without_classes_still_loads(tmp_path):
    ds = load_embedded_sample()
    clf = MLPClassifier(hidden=(8,), activation="sign", input_encoding="binary", epochs=1, test_samples=1)
    clf.fit(ds.x_train[:300], ds.y_train[:300])
    clf.save(tmp_path / "new.npz")
    arrays, meta = load_posterior(tmp_path / "new.npz")
    del meta["config"]["classes"]
    save_posterior(tmp_path / "old.npz", arrays, meta)
    old = MLPClassifier.load(tmp_path / "old.npz")
    np.testing.assert_array_equal(old.classes_, np.arange(10))
    np.testing.assert_array_equal(old.predict(ds.x_test), clf.predict(ds.x_test))
    assert derive.network_from_posterior(tmp_path / "old.npz").class_labels == tuple(range(10))
    meta["config"]["classes"] = [0, 1, 1, 3, 4, 5, 6, 7, 8, 9]
    save_posterior(tmp_path / "bad.npz", arrays, meta)
    with pytest.raises(ValueError, match="10 distinct labels"):
        MLPClassifier.load(tmp_path / "bad.npz")


def test_network_meta_classes_are_checked():
    from export.network import MLPNetwork

    net = derive.network_from_posterior(_tiny_posterior())
    assert net.class_labels == tuple(range(3))
    with pytest.raises(ValueError, match="3 distinct labels >= 0"):
        MLPNetwork(net.input, net.hidden, net.output, meta={"classes": [1, 2]})
    with pytest.raises(TypeError, match="list of ints"):
        MLPNetwork(net.input, net.hidden, net.output, meta={"classes": ["a", "b", "c"]})
    assert MLPNetwork(net.input, net.hidden, net.output, meta={"classes": [7, 2, 9]}).class_labels == (7, 2, 9)


def _tiny_posterior():
    rng = np.random.default_rng(0)
    arrays = {"layer0.lam": rng.normal(size=(3, 20)).astype(np.float32), "bn0.mean": np.zeros(3),
              "bn0.var": np.ones(3)}
    meta = {"kind": "mlp", "config": {"sizes": [20, 3], "activation": "sign", "input": "binary", "threshold": 0.5,
                                      "bn_eps": 1e-4, "rule": "bayesbinn"}}
    return arrays, meta


def test_validation_split_is_random_and_seeded():
    tr0, va0 = _split(1000, 0.1, 0)
    tr0b, va0b = _split(1000, 0.1, 0)
    tr1, va1 = _split(1000, 0.1, 1)
    np.testing.assert_array_equal(va0, va0b)
    assert len(va0) == 100 and len(tr0) == 900 and not np.array_equal(va0, va1)
    np.testing.assert_array_equal(np.sort(np.concatenate([tr0, va0])), np.arange(1000))
    # On a file sorted by label, the last 10 % would be one class; the random hold-out spans all of them.
    y_sorted = np.repeat(np.arange(10), 100)
    assert len(np.unique(y_sorted[va0])) == 10
