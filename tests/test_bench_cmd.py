"""`lowprec bench`: every contender runs the same inputs and the integer ones agree; figures land in JSON."""
from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort

from export.onnx import build_model, save_model
from lowprec_rbm.cli.main import main
from targets.float_graph import float_mlp_model
from targets_nets import random_mlp, random_rbm


def test_bench_mlp_writes_figures_and_checks_labels(tmp_path, capsys):
    net = random_mlp(np.random.default_rng(2), 40, (16,), 5, input_kind="threshold", ternary=False)
    path = save_model(build_model(net), tmp_path / "m.onnx")
    out = tmp_path / "speed.json"
    assert main(["bench", str(path), "--batch", "1,8", "--budget", "0.05", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "batch 8" in text and "float32" in text and "onnxruntime" in text
    res = json.loads(out.read_text())
    for b in ("1", "8"):
        figs = res["batches"][b]
        assert {"onnxruntime", "reference", "float32"} <= set(figs)
        assert all(f["rounds"] >= 5 and f["wall_ms"] > 0 and f["images_per_s"] > 0 for f in figs.values())
        assert figs["float32"]["ratio"] == 1.0


def test_float_graph_computes_the_same_labels():
    """The float32 baseline is the same network: on ±1 values its labels are the integer network's, except
    where float32 rounding of the large output scale ties two classes (argued: none for these small scales)."""
    rng = np.random.default_rng(4)
    net = random_mlp(rng, 30, (12, 9), 4, input_kind="threshold", ternary=True)
    x = rng.integers(0, 256, (200, 30), dtype=np.uint8)
    f = ort.InferenceSession(float_mlp_model(net).SerializeToString(), providers=["CPUExecutionProvider"])
    e = ort.InferenceSession(build_model(net).SerializeToString(), providers=["CPUExecutionProvider"])
    # random_mlp's output scale and offset are small integers: float32 represents every score exactly
    np.testing.assert_array_equal(f.run(["label"], {"x": x})[0], e.run(["label"], {"x": x})[0])


def test_bench_refuses_an_rbm(tmp_path, capsys):
    net = random_rbm(np.random.default_rng(1), 12, 5, gibbs_steps=1, pixels=True)
    path = save_model(build_model(net), tmp_path / "r.onnx")
    assert main(["bench", str(path)]) == 2
    assert "is an RBM" in capsys.readouterr().err
