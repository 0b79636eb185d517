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


def test_cnn_table_shows_pools_qonnx_keys_and_memory_and_agrees_with_the_json(tmp_path, capsys):
    """The text table of a CNN with both pool kinds, a ternary conv and a bit-plane first layer: every layer row
    carries its pool token (p = bits, pf = fields), its qonnx MAC key, MACs, BOPs, word ops, weight bytes and
    peak activation bytes, and each equals the JSON written by the same run; two values are derived by hand."""
    import numpy as np

    from export.onnx import build_model, save_model
    from targets.measure.report import POOL_TOKENS, bits_to_bytes
    from targets_nets import random_cnn

    net = random_cnn(np.random.default_rng(5), (8, 8, 1), ((6, 3, "fields"), (10, 3, "bits"), (7, 5, False)),
                     (12,), 4, input_kind="bitplanes", ternary=True)
    path = save_model(build_model(net), tmp_path / "cnn.onnx")
    capsys.readouterr()
    assert main(["report", str(path), "--word-bits", "32", "--json", str(tmp_path / "r.json"), "--quiet"]) == 0
    text = capsys.readouterr().out
    rep = json.loads((tmp_path / "r.json").read_text())
    lines = text.splitlines()
    header = lines[1].split()
    assert header[:3] == ["layer", "shape", "pool"] and "peak" in header
    rows = {ln.split()[0]: ln for ln in lines[3:] if ln.split() and ln.split()[0] in {"conv0", "conv1", "conv2",
                                                                                     "layer3", "layer4", "total"}}
    assert list(rows) == ["conv0", "conv1", "conv2", "layer3", "layer4", "total"]
    for lo in rep["ops"]["layers"]:
        cells = rows[lo["name"]].split()
        # name, fan-in x outputs, [x pixels], pool, key, MACs, BOPs, word ops, weights B, peak act. B, energy
        cells = cells[:2] + cells[3:] if cells[2].startswith("x") else cells
        key = f"op_mac_{lo['input_type']}_{lo['weight_type']}"
        assert cells[2] == POOL_TOKENS[lo.get("pool", False)]
        assert cells[3] == key and lo[key] == lo["macs"]
        got = [int(c.replace(",", "")) for c in cells[4:9]]
        assert got == [lo["macs"], lo["bops"], sum(lo["word_ops"].values()), bits_to_bytes(lo["weight_bits"]),
                       bits_to_bytes(lo["peak_act_bits"])]
    assert [POOL_TOKENS[r.get("pool", False)] for r in rep["ops"]["layers"]] == ["pf", "p", "-", "-", "-"]
    # by hand: conv0 reads 8x8 pixels at 8 bits (64 B) and hands on the pooled 4x4x6 bits (12 B);
    # conv1 is ternary: 10 x 3 x 3 x 6 weights at 2 bits = 135 B, and it reads 4x4x6 bits (12 B), hands on 2x2x10 (5 B)
    assert rows["conv0"].split()[-2] == "76" and rows["conv1"].split()[-3] == "135"
    assert rows["conv1"].split()[-2] == "17"
    total = rep["ops"]["total"]
    assert rows["total"].split()[-2] == f"{bits_to_bytes(total['total_peak_act_bits']):,}"
    assert total["peak_act_layer"] == "conv0"
    act = rep["memory"]["total"]["activations"]
    assert (f"C predict() scratch/32b {act['c_predict_scratch_bytes']['32']:,} B" in text
            and f"peak {bits_to_bytes(act['peak_bits_layer_at_a_time']):,} B layer at a time (conv0)" in text)
    assert "pf = 2x2 max-pool of the int32 fields" in text
