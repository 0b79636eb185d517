"""`lowprec report --posterior --plots` on a CNN: the posterior is matched layer by layer (conv weights are
4-d) and the first conv layer's kernels are drawn."""
from __future__ import annotations

import json

import pytest

from lowprec_rbm.cli.main import main

pytest.importorskip("matplotlib")


def test_report_of_a_trained_cnn_with_its_posterior(tmp_path, capsys):
    post, model = tmp_path / "c.npz", tmp_path / "c.onnx"
    assert main(["train", "cnn", "--data", "sample", "--arch", "c4,p,d8", "--epochs", "1", "--limit", "200",
                 "--quiet", "-o", str(post)]) == 0
    assert main(["export", str(post), "-o", str(model), "-q"]) == 0
    out = tmp_path / "r.json"
    assert main(["report", str(model), "--posterior", str(post), "--plots", str(tmp_path / "p"), "--json", str(out),
                 "--quiet"]) == 0
    rep = json.loads(out.read_text())
    assert rep["artifact"]["kind"] == "cnn"
    assert set(rep["posterior"]) == {"layer0", "layer1", "layer2"}   # one certainty profile per λ array
    names = {p.name for p in (tmp_path / "p").iterdir()}
    assert {"receptive_fields.png", "posterior_certainty.png", "training_curves.png"} <= names
    # a posterior of another network is refused, naming the layer
    other = tmp_path / "o.npz"
    assert main(["train", "cnn", "--data", "sample", "--arch", "c6,p,d8", "--epochs", "1", "--limit", "200",
                 "--quiet", "-o", str(other)]) == 0
    capsys.readouterr()
    assert main(["report", str(model), "--posterior", str(other), "--quiet"]) == 2
    assert "layer 0 is (6, 3, 3, 1) in the posterior but (4, 3, 3, 1) in the model" in capsys.readouterr().err
