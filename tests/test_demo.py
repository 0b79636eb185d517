"""The README's main job, `lowprec demo`, end to end on the embedded data (quick settings, Python runtimes)."""
import json

import pytest

from lowprec_rbm.cli.main import main

pytest.importorskip("matplotlib")


def test_demo_quick(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick", "--no-devices"]) == 0
    text = capsys.readouterr().out
    for name in ("rbm.npz", "rbm.onnx", "mlp.npz", "mlp.onnx", "report-rbm.json", "report-mlp.json",
                 "plots-rbm/receptive_fields.png", "plots-rbm/energy.png", "plots-mlp/training_curves.png",
                 "c/rbm/rbm.c", "c/mlp/mlp.h"):
        assert (out / name).is_file(), name
    assert "onnx-reference: OK" in text and "MISMATCH" not in text
    assert "accuracy" in text                           # predict ran on the exported MLP
    rep = json.loads((out / "report-rbm.json").read_text())
    assert rep["model"]["kind"] == "rbm" and rep["ops"]["total"]["total_macs"] > 0
    assert set(rep["posterior"]) == {"xi"} and "activity" in rep
