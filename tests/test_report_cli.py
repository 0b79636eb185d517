"""`lowprec report` on a small fixed model: JSON numbers derived by hand, a snapshot of the table, bad input."""
import json
import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from export.network import Dense, InputSpec, MLPNetwork, OutputAffine, Threshold
from export.onnx import build_model, save_model
from lowprec_rbm.cli.main import main
from lowprec_rbm.posterior_file import save_posterior

SNAPSHOT = __import__("pathlib").Path(__file__).parent / "data" / "report_snapshot.txt"


def fixed_network() -> MLPNetwork:
    """784 -> 8 (binary) -> 10 (ternary, 20 zeros); weights from a fixed pattern, no randomness."""
    k = np.arange(784)
    w0 = np.where(((k[None, :] * 7 + np.arange(8)[:, None] * 13) % 5) < 2, 1, -1)
    w1 = np.array([[(-1, 0, 1)[(3 * i + j) % 3] if (i + j) % 4 else 0 for j in range(8)] for i in range(10)])
    hidden = [(Dense(w0), Threshold(np.ones(8, int), np.zeros(8, int)))]
    return MLPNetwork(InputSpec("threshold", 784, dtype="uint8", threshold=128), hidden,
                      (Dense(w1), OutputAffine.identity(10)))


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "fixed.onnx"
    save_model(build_model(fixed_network()), path)
    return path


def test_json_numbers_by_hand(model_path, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["report", str(model_path), "--json", str(out), "--word-bits", "32"]) == 0
    rep = json.loads(out.read_text())
    t = rep["ops"]["total"]
    macs = 784 * 8 + 8 * 10
    assert t["total_macs"] == macs
    assert t["op_mac_BIPOLAR_BIPOLAR"] == 784 * 8 and t["op_mac_BIPOLAR_TERNARY"] == 80
    assert t["total_bops"] == 784 * 8 * 1 + 80 * 2
    assert t["total_mem_w_bits"] == 784 * 8 + 80 * 2
    # word ops at 32-bit words: layer0 8 rows x ceil(784/32)=25 words; layer1 10 rows x 1 word (+ AND for the mask).
    assert t["word_ops"] == {"xor": 8 * 25 + 10, "and": 10, "popcount": 8 * 25 + 10}
    zeros = int(np.sum(fixed_network().layers[1].weight == 0))
    assert rep["sparsity"]["total_zeros"] == zeros and zeros > 0
    assert rep["sparsity"]["layers"]["layer0"]["zeros"] == 0          # ±1 weights are never zeros
    mem = rep["memory"]["total"]
    assert mem["float32_bytes"] == 4 * macs and mem["int8_bytes"] == macs
    assert mem["c_bytes"]["32"] == 8 * 25 * 4 + 2 * 10 * 1 * 4
    assert mem["onnx_file_bytes"] == model_path.stat().st_size
    # Binary layer energy by hand (45 nm table): 6272 MACs x (XNOR + popcount bit) + threshold adds at
    # ceil(log2(785)) + 1 = 11 bits + 1 bit per weight from an SRAM clamped to the 8 KB class + activations.
    e0 = rep["energy"]["sram"]["precisions"]["native"]["layers"][0]
    acc = math.ceil(math.log2(785)) + 1
    by_hand = 6272 * (0.0009375 + 0.003125) + 8 * acc * 0.003125 + 6272 * 10 / 64 + (784 + 8) * 10 / 64
    assert e0["total_pJ"] == pytest.approx(by_hand, rel=1e-12)


def test_table_snapshot(model_path, capsys):
    """The printed table is a user interface: any change to it must be deliberate (regenerate with
    LOWPREC_UPDATE_SNAPSHOTS=1 and review the diff). The ONNX file size depends on the installed onnx's
    serialisation, so it is masked here and checked against the file system in test_json_numbers_by_hand."""
    import os
    import re

    assert main(["report", str(model_path)]) == 0
    text = re.sub(r"ONNX file [\d,]+ B", "ONNX file <size> B", capsys.readouterr().out)
    if os.environ.get("LOWPREC_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), f"missing snapshot {SNAPSHOT}; create it with LOWPREC_UPDATE_SNAPSHOTS=1"
    assert text == SNAPSHOT.read_text()


def test_posterior_mismatch_and_unknown_target(model_path, tmp_path, capsys):
    p = tmp_path / "wrong.npz"
    save_posterior(p, {"lam": np.zeros((784, 5))}, {"kind": "rbm", "config": {"beta": 1.0}})
    assert main(["report", str(model_path), "--posterior", str(p)]) == 2
    assert "does not match this mlp model" in capsys.readouterr().err
    q = tmp_path / "shape.npz"
    save_posterior(q, {"layer0.lam": np.zeros((9, 784)), "layer1.lam": np.zeros((10, 9))}, {"kind": "mlp"})
    assert main(["report", str(model_path), "--posterior", str(q)]) == 2
    assert "layer 0 is (9, 784) in the posterior but (8, 784) in the model" in capsys.readouterr().err
    assert main(["report", str(model_path), "--target", "pdp-11"]) == 2
    assert "unknown device target 'pdp-11'" in capsys.readouterr().err


def test_float_model_without_binary_layers(tmp_path, capsys):
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.ones(12, np.float32))
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "float",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    onnx.save(m, tmp_path / "float.onnx")
    assert main(["report", str(tmp_path / "float.onnx")]) == 2
    err = capsys.readouterr().err
    assert "lowprec: error:" in err and "float.onnx" in err


def test_plots_say_why_receptive_fields_are_skipped(model_path, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    # No image shape in this model's config: the figure is skipped with the reason, the others are written.
    assert main(["report", str(model_path), "--plots", str(tmp_path / "a"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert ("plot skipped: receptive_fields.png: the image shape of the 784 inputs is not recorded in the "
            "model's config; pass --data with the training images") in out
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["energy.png", "memory.png"]
    # --data gives the 28x28 shape of its images.
    assert main(["report", str(model_path), "--plots", str(tmp_path / "b"), "--data", "sample", "--quiet"]) == 0
    assert "plot skipped" not in capsys.readouterr().out
    assert (tmp_path / "b" / "receptive_fields.png").is_file()


@pytest.mark.device
def test_report_target_measures_the_deployed_cnn_build_when_the_verify_harness_does_not_fit(tmp_path, capsys):
    """A CNN whose verify harness (every conv output kept: 2 x 16x16x32 int32 fields) exceeds the Cortex-M0's
    16 KiB of RAM: `report --target cortex-m0` sizes and counts the deployed predict() build instead of failing."""
    from targets.devices import device_target
    from targets_nets import random_cnn

    reason = device_target("cortex-m0").availability()
    if reason is not None:
        pytest.skip(f"cortex-m0: {reason}")
    net = random_cnn(np.random.default_rng(5), (16, 16, 1), ((32, 3, False), (32, 3, True)), (24,), 4,
                     input_kind="bitplanes")
    path, out = tmp_path / "cnn.onnx", tmp_path / "report.json"
    save_model(build_model(net), path)
    assert main(["report", str(path), "--target", "cortex-m0", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "deployed predict() (MODEL_PREDICT_ONLY)" in text
    dev = json.loads(out.read_text())["device"]
    assert dev["target"] == "cortex-m0" and dev["build"].startswith("deployed predict()")
    assert 0 < dev["ram_bytes"] < 16 * 1024 and dev["instructions_per_inference"] > 0
    assert f"RAM {dev['ram_bytes']:,} B" in text
