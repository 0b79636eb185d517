"""One path out of PyTorch: torch training -> save_posterior -> `lowprec export` (ONNX) -> `lowprec verify`
bit for bit on the reference simulator and onnxruntime -> `lowprec predict` with the accuracy of the torch
model's MAP (evaluation-mode) network, image by image."""
from __future__ import annotations

import json

import numpy as np
import pytest

from torch_skip import require_torch

torch = require_torch()

from lowprec_rbm.cli.main import main  # noqa: E402
from lowprec_rbm.data import load_embedded_sample  # noqa: E402
from lowprec_rbm.nn.mlp import MLPClassifier  # noqa: E402
from lowprec_rbm.posterior_file import load_posterior  # noqa: E402
from lowprec_rbm.pytorch import STE, BayesBiNN, BinaryMLP, calibrate_batchnorm, save_posterior  # noqa: E402


def _train(rule, inp, steps=20, batch=100):
    ds = load_embedded_sample()
    model = BinaryMLP((784, 32, 10), input=inp, rule=rule, random_state=0)
    opt = BayesBiNN(model, n_data=len(ds.x_train), seed=1) if rule == "bayesbinn" else STE(model)
    x = model.prepare(ds.x_train)
    y = torch.from_numpy(ds.y_train.astype(np.int64))
    model.train()
    for s in range(steps):
        i = (s * batch) % len(ds.x_train)
        xb, yb = x[i:i + batch], y[i:i + batch]

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            return loss

        opt.step(closure)
    return ds, model, opt


@pytest.mark.parametrize("rule,inp,calibrate", [("bayesbinn", "bitplanes", True), ("ste", "binary", False)])
def test_torch_training_exports_and_verifies_bit_exactly(tmp_path, capsys, rule, inp, calibrate):
    torch.manual_seed(0)
    ds, model, opt = _train(rule, inp)
    if calibrate:
        calibrate_batchnorm(model, model.prepare(ds.x_train[:500]))
    torch_labels = model.predict_index(ds.x_test)
    torch_acc = float(np.mean(torch_labels == ds.y_test))
    assert torch_acc > 0.3          # 20 steps of training: far above chance (0.1); a broken update stays near it
    post = tmp_path / "torch.npz"
    save_posterior(model, post, optimizer=opt, extra={"data": ds.describe()})
    arrays, meta = load_posterior(post)
    assert meta["config"]["rule"] == rule and meta["config"]["input"] == inp
    assert ("layer0.lam" in arrays) == (rule == "bayesbinn")
    # The NumPy classifier reads the file and predicts what the torch model predicts, image by image.
    np.testing.assert_array_equal(MLPClassifier.load(post).predict(ds.x_test), torch_labels)

    onnx_path = tmp_path / "torch.onnx"
    assert main(["export", str(post), "-o", str(onnx_path)]) == 0
    code = main(["verify", str(onnx_path), "--inputs", "16", "--targets", "reference,onnxruntime",
                 "--data", "sample", "--ground-truth", str(post)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "reference (" in out and "onnxruntime: OK" in out and "MISMATCH" not in out
    report = tmp_path / "pred.json"
    assert main(["predict", str(onnx_path), "--data", "sample", "--json", str(report), "--quiet"]) == 0
    capsys.readouterr()
    exported_acc = json.loads(report.read_text())["models"][str(onnx_path)]["accuracy"]
    assert exported_acc == torch_acc          # 500 images: equal counts, not approximately equal
    from lowprec_rbm.cli.predict_cmd import predict

    labels, _ = predict([str(onnx_path)], ds.x_test, "onnxruntime", 500, True)
    np.testing.assert_array_equal(labels[0], torch_labels)
    # `lowprec report` reads the posterior beside the artifact: per-layer posterior statistics of the torch λ
    rep = tmp_path / "report.json"
    assert main(["report", str(onnx_path), "--posterior", str(post), "--data", "sample", "--json", str(rep),
                 "--quiet"]) == 0
    capsys.readouterr()
    # (a Bernoulli posterior has per-layer statistics; STE's latent weights have none, as for the NumPy trainer)
    want = ["layer0", "layer1"] if rule == "bayesbinn" else []
    assert sorted(json.loads(rep.read_text())["posterior"]) == want


def test_save_posterior_refuses_what_it_cannot_write(tmp_path):
    from lowprec_rbm.pytorch import BatchNorm, BinaryLinear, Sign

    relu = torch.nn.Sequential(BinaryLinear(4, 3, random_state=0), BatchNorm(3), torch.nn.ReLU(),
                               BinaryLinear(3, 2, random_state=0), BatchNorm(2))
    with pytest.raises(ValueError, match="ReLU"):
        save_posterior(relu, tmp_path / "a.npz", input="bitplanes")
    no_sign = torch.nn.Sequential(BinaryLinear(4, 3, random_state=0), BatchNorm(3),
                                  BinaryLinear(3, 2, random_state=0), BatchNorm(2))
    with pytest.raises(ValueError, match="hidden block without Sign"):
        save_posterior(no_sign, tmp_path / "b.npz", input="bitplanes")
    ok = torch.nn.Sequential(BinaryLinear(4, 3, random_state=0), BatchNorm(3), Sign(),
                             BinaryLinear(3, 2, random_state=0), BatchNorm(2))
    with pytest.raises(ValueError, match="input must be one of"):
        save_posterior(ok, tmp_path / "c.npz")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        save_posterior("model", tmp_path / "d.npz")
    save_posterior(ok, tmp_path / "e.npz", input="binary")
    arrays, meta = load_posterior(tmp_path / "e.npz")
    assert meta["config"]["sizes"] == [4, 3, 2] and arrays["layer1.lam"].shape == (2, 3)
    assert not (tmp_path / "a.npz").exists()
