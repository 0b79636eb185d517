"""`lowprec export` and `lowprec verify` end to end, from posterior files written with save_posterior."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from export.onnx import load_artifact, network_from_onnx
from lowprec_rbm.cli.main import main
from lowprec_rbm.posterior_file import save_posterior
from targets_nets import flip_weight_bit


def _mlp_posterior(path, rng, sizes=(784, 48, 24, 10), *, inp="binary", activation="sign", ternary=False):
    arrays = {}
    for i in range(len(sizes) - 1):
        shape = (sizes[i + 1], sizes[i])
        if ternary:
            arrays[f"layer{i}.logits"] = rng.normal(size=shape + (3,)).astype(np.float32)
        else:
            arrays[f"layer{i}.lam"] = rng.normal(size=shape).astype(np.float32)
        fan = sizes[i] * (3000.0 if i == 0 and inp == "bitplanes" else 1.0)
        arrays[f"bn{i}.mean"] = rng.normal(size=sizes[i + 1]) * np.sqrt(fan)
        arrays[f"bn{i}.var"] = rng.uniform(0.5, 2.0, size=sizes[i + 1]) * fan
    cfg = {"sizes": list(sizes), "activation": activation, "input": inp, "threshold": 0.5, "bn_eps": 1e-4,
           "rule": "ternary-vi" if ternary else "bayesbinn"}
    save_posterior(path, arrays, {"kind": "mlp", "config": cfg})
    return path


@pytest.fixture(scope="module")
def mlp_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    return _mlp_posterior(d / "mlp.npz", np.random.default_rng(0))


def test_export_then_verify_mlp(mlp_file, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", str(mlp_file), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().err
    model = load_artifact(out)
    assert {p.key: p.value for p in model.metadata_props}["lowprec.export_mode"] == "custom"
    code = main(["verify", str(out), "--inputs", "12", "--targets", "reference,onnxruntime",
                 "--target", "onnx-reference", "--data", "sample", "--word-bits", "32"])
    text = capsys.readouterr().out.splitlines()
    assert code == 0, text
    assert text[0] == f"{out}: 12 random + 12 real inputs in " + text[0].split(" in ")[-1]
    assert text[1].startswith("float ±1 ground truth: OK, 24 inputs")
    assert text[2].startswith("real-valued batch norms: OK, 24 inputs, hidden bits and labels as the reference")
    assert text[3].startswith("reference (8/16/64-bit words): OK, 24 inputs")
    assert text[4].startswith("onnxruntime: OK, 24 inputs") and text[5].startswith("onnx-reference: OK, 24 inputs")


@pytest.mark.parametrize("inp,ternary", [("bitplanes", True), ("real", False)])
def test_standard_ops_export_of_bitplane_models(tmp_path, capsys, inp, ternary):
    post = _mlp_posterior(tmp_path / "p.npz", np.random.default_rng(1), sizes=(784, 30, 10), inp=inp,
                          ternary=ternary)
    out = tmp_path / "s.onnx"
    assert main(["export", str(post), "-o", str(out), "--standard-ops"]) == 0
    model = load_artifact(out)
    assert not any(n.domain == "lowprec" for n in model.graph.node)
    assert network_from_onnx(model).input.kind == "bitplanes"
    assert main(["verify", str(out), "--inputs", "8", "--data", "sample"]) == 0, capsys.readouterr().out


def test_sampled_export_is_seeded(mlp_file, tmp_path, capsys):
    a, b, c = (tmp_path / f"{n}.onnx" for n in "abc")
    for path, seed in ((a, 5), (b, 5), (c, 6)):
        assert main(["export", str(mlp_file), "-o", str(path), "--mode", "sample", "--seed", str(seed), "-q"]) == 0
    wa, wb, wc = (network_from_onnx(onnx.load(p)).layers[0].weight for p in (a, b, c))
    np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(wa, wc)
    assert main(["export", str(mlp_file), "-o", str(tmp_path / "e.onnx"), "--mode", "sample", "--samples", "3",
                 "-q"]) == 0
    assert all((tmp_path / f"e-{i}.onnx").is_file() for i in range(3))
    cal = tmp_path / "cal.onnx"
    assert main(["export", str(mlp_file), "-o", str(cal), "--mode", "sample", "--seed", "5", "--calibrate",
                 "sample", "--calib-size", "300", "-q"]) == 0
    na, nc = network_from_onnx(onnx.load(a)), network_from_onnx(onnx.load(cal))
    np.testing.assert_array_equal(na.layers[0].weight, nc.layers[0].weight)   # same sampled weights ...
    assert not np.array_equal(na.hidden[0][1].t, nc.hidden[0][1].t)          # ... re-estimated thresholds


def test_rbm_with_gibbs_against_every_available_target(tmp_path, capsys):
    rng = np.random.default_rng(2)
    post = tmp_path / "rbm.npz"
    save_posterior(post, {"lam": rng.normal(size=(784, 30))},
                   {"kind": "rbm", "config": {"beta": 1.2, "threshold": 0.5}})
    out = tmp_path / "rbm.onnx"
    assert main(["export", str(post), "-o", str(out), "--gibbs-steps", "2", "--mode", "sample", "--seed", "1"]) == 0
    code = main(["verify", str(out), "--inputs", "6", "--target", "all", "--data", "sample", "--seed", "9"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0, lines
    assert any(line.split()[:2] == ["onnxruntime", "OK"] for line in lines)  # one table row per target


def test_flipped_weight_bit_exits_1_with_the_first_differing_layer(mlp_file, tmp_path, capsys):
    good, bad = tmp_path / "good.onnx", tmp_path / "bad.onnx"
    assert main(["export", str(mlp_file), "-o", str(good), "-q"]) == 0
    bad.write_bytes(flip_weight_bit(onnx.load(good), "w0", 3, 100).SerializeToString())
    # self-consistent: every runtime agrees with the simulator on the tampered file ...
    assert main(["verify", str(bad), "--inputs", "8", "--targets", "onnxruntime"]) == 0
    capsys.readouterr()
    # ... but not with the float ground truth of the original network
    code = main(["verify", str(bad), "--inputs", "8", "--targets", "onnxruntime", "--ground-truth", str(good)])
    out = capsys.readouterr().out
    assert code == 1
    assert "float ±1 ground truth: MISMATCH at output 'y0', batch 0" in out and ", 3): reference simulator" in out


def test_bad_inputs_exit_2(mlp_file, tmp_path, capsys):
    good = tmp_path / "m.onnx"
    assert main(["export", str(mlp_file), "-o", str(good), "-q"]) == 0
    trunc = tmp_path / "t.onnx"
    trunc.write_bytes(good.read_bytes()[:1000])
    assert main(["verify", str(trunc)]) == 2
    assert "lowprec: error:" in capsys.readouterr().err
    assert main(["verify", str(good), "--targets", "nope"]) == 2
    assert "unknown target 'nope'" in capsys.readouterr().err
    relu = _mlp_posterior(tmp_path / "r.npz", np.random.default_rng(3), sizes=(20, 5, 3), activation="relu")
    assert main(["export", str(relu), "-o", str(tmp_path / "r.onnx")]) == 2
    assert "'relu' activations" in capsys.readouterr().err
    assert main(["export", str(mlp_file), "-o", str(tmp_path / "x.onnx"), "--samples", "2"]) == 2
    assert main(["verify", str(tmp_path / "missing.onnx")]) == 2
