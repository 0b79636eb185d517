"""`lowprec predict`: accuracy of exported models on real test images, ensembles combined exactly."""
import json

import numpy as np
import pytest

from lowprec_rbm.cli.main import main
from cli_run import run_cli
from lowprec_rbm.cli.predict_cmd import predict
from lowprec_rbm.data import load_embedded_sample
from lowprec_rbm.posterior_file import save_posterior


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(5)
    sizes = [784, 32, 10]
    arrays = {}
    for i in range(2):
        arrays[f"layer{i}.lam"] = rng.normal(size=(sizes[i + 1], sizes[i])).astype(np.float32)
        arrays[f"bn{i}.mean"] = rng.normal(size=sizes[i + 1]) * np.sqrt(sizes[i])
        arrays[f"bn{i}.var"] = rng.uniform(0.5, 2.0, size=sizes[i + 1]) * sizes[i]
    meta = {"kind": "mlp", "config": {"sizes": sizes, "activation": "sign", "input": "binary", "threshold": 0.5,
                                      "bn_eps": 1e-4, "rule": "bayesbinn"}}
    save_posterior(tmp / "mlp.npz", arrays, meta)
    assert main(["export", str(tmp / "mlp.npz"), "-o", str(tmp / "ens.onnx"), "--mode", "sample",
                 "--samples", "3", "--seed", "2", "-q"]) == 0
    return tmp, [str(tmp / f"ens-{i}.onnx") for i in range(3)]


def test_ensemble_vote_and_targets_agree(ensemble, capsys):
    tmp, files = ensemble
    ds = load_embedded_sample()
    truth = ds.y_test[:60].astype(np.int64)
    labels_ort, scores_ort = predict(files, ds.x_test[:60], "onnxruntime", batch=25)
    labels_ref, scores_ref = predict(files, ds.x_test[:60], "reference", batch=60)
    np.testing.assert_array_equal(labels_ort, labels_ref)
    np.testing.assert_array_equal(scores_ort, scores_ref)
    # majority vote written out independently: counts per class, first maximum.
    counts = np.stack([np.bincount(labels_ort[:, j], minlength=10) for j in range(60)])
    voted = counts.argmax(axis=1)
    assert main(["predict", *files, "--data", "sample", "--limit", "60", "--json", str(tmp / "p.json"),
                 "--quiet"]) == 0
    res = json.loads((tmp / "p.json").read_text())
    assert res["ensemble"]["accuracy"] == float(np.mean(voted == truth))
    for f, lab in zip(files, labels_ort):
        assert res["models"][f]["accuracy"] == float(np.mean(lab == truth))
    assert sum(map(sum, res["confusion"])) == 60
    assert "ensemble of 3 (vote)" in capsys.readouterr().out
    assert main(["predict", *files, "--data", "sample", "--limit", "60", "--combine", "sum", "--quiet",
                 "--json", str(tmp / "s.json")]) == 0
    summed = scores_ort.astype(np.int64).sum(axis=0).argmax(axis=1)
    assert json.loads((tmp / "s.json").read_text())["ensemble"]["accuracy"] == float(np.mean(summed == truth))


def test_predict_bad_input(ensemble, tmp_path, capsys):
    _, files = ensemble
    code, err = run_cli(["predict", files[0], "--data", "sample", "--limit", "0"], capsys)
    assert code == 2 and "argument --limit: expected a positive integer, got 0" in err
    assert main(["predict", files[0], "--data", "sample", "--limit", "501"]) == 2
    assert "--limit must be in [1, 500]" in capsys.readouterr().err
    assert main(["predict", files[0], "--data", "sample", "--target", "vax"]) == 2
    assert "unknown target 'vax'" in capsys.readouterr().err


def test_predict_classifies_with_a_cnn(tmp_path, capsys):
    """A trained and exported CNN is a classifier too: predict's accuracy is that of the float ±1 forward pass
    of the same network (targets.ground_truth, independent of the packed graph), computed here on the same
    images; a test set of another image shape with as many pixels is refused."""
    from export.onnx import load_artifact, network_from_onnx
    from targets.ground_truth import float_forward
    from targets.reference.target import ReferenceTarget
    from targets.verify import data_feeds

    post, model = tmp_path / "cnn.npz", tmp_path / "cnn.onnx"
    assert main(["train", "cnn", "--data", "sample", "--arch", "c4,p,d8", "--epochs", "1", "--input", "bitplanes",
                 "--limit", "200", "--quiet", "-o", str(post)]) == 0
    assert main(["export", str(post), "-o", str(model), "-q"]) == 0
    ds = load_embedded_sample()
    images, truth = ds.x_test[:50], ds.y_test[:50].astype(np.int64)
    net = network_from_onnx(load_artifact(str(model)))
    feeds = data_feeds(ReferenceTarget(64).program(str(model)), net, images, np.random.default_rng(0))
    expected = np.asarray(float_forward(net, feeds)["label"]).astype(np.int64)
    assert main(["predict", str(model), "--data", "sample", "--limit", "50", "--quiet",
                 "--json", str(tmp_path / "p.json")]) == 0
    res = json.loads((tmp_path / "p.json").read_text())
    assert res["models"][str(model)]["accuracy"] == float(np.mean(np.asarray(net.class_labels)[expected] == truth))
    labels, _ = predict([str(model)], images, "reference")
    np.testing.assert_array_equal(labels[0], expected)
    with pytest.raises(ValueError, match=r"the CNN takes 28x28x1 images, the test images are 14x56"):
        predict([str(model)], images.reshape(50, 14, 56), "onnxruntime")
