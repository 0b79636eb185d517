"""An RBM with fields exported exactly: thresholds folded from the hidden fields, per-unit tables, every target
and emulated device bit-exact (``verify --targets all``), the file formats, and the CLI on screen."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from cli_run import run_cli
from export.network import InputSpec, RBMNetwork, rbm_tables
from export.onnx import build_model, network_from_onnx, save_model
from lowprec_rbm.posterior_file import PosteriorFileError, load_posterior, save_posterior
from lowprec_rbm.rbm import BinaryRBM
from targets.verify import verify


def _net(rng, n, p, *, gibbs_steps=3, visible=True, hidden=True, pixels=True):
    spec = InputSpec("threshold", n, dtype="uint8", threshold=128.0) if pixels else None
    return RBMNetwork(rng.choice([-1, 1], (n, p)), beta=float(rng.uniform(0.5, 1.8)), input=spec,
                      gibbs_steps=gibbs_steps, visible_field=rng.normal(0, 0.7, n) if visible else None,
                      hidden_field=rng.normal(0, 1.0, p) if hidden else None)


def test_hidden_fields_fold_into_exact_integer_thresholds():
    # N = 4 (√N = 2): X in {-4, -2, 0, 2, 4}. c = -1 puts a tie at X = 2 (2/2 - 1 = 0 -> +1, sign(0) = +1);
    # c = ±10 makes the unit constant (threshold -N: always on; N + 2: never).
    net = RBMNetwork(np.ones((4, 5), np.int8), hidden_field=np.array([-1.0, 0.0, 0.3, 10.0, -10.0]))
    np.testing.assert_array_equal(net.map_thresholds, [2, 0, 0, -4, 6])
    # For every X and a few hundred random fields, X >= t is exactly βX/√N + βc >= 0 in float64.
    rng = np.random.default_rng(0)
    n = 37
    c = np.concatenate([rng.normal(0, 2, 300), (2.0 * np.arange(-n, n + 1, 2)[:20] + 1) / math.sqrt(n)])
    net = RBMNetwork(rng.choice([-1, 1], (n, c.size)), beta=1.7, hidden_field=c)
    xs = np.arange(-n, n + 1, 2)[:, None]
    np.testing.assert_array_equal(xs >= net.map_thresholds, 1.7 * xs / math.sqrt(n) + 1.7 * c >= 0)
    assert RBMNetwork(np.ones((4, 2), np.int8)).map_thresholds.tolist() == [0, 0]


def test_tables_include_the_fields_per_unit_and_stay_shared_without():
    rng = np.random.default_rng(1)
    net = _net(rng, 9, 4)
    t = rbm_tables(net)
    assert t["p_hidden"].shape == (4, 10) and t["t_visible"].shape == (9, 5)
    a, j = 2, 7                                                         # unit 2, field X = 2*7 - 9 = 5
    want = 1 / (1 + math.exp(-2 * net.beta * (5 / 3 + net.hidden_field[a])))
    assert t["p_hidden"][a, j] == pytest.approx(want, rel=1e-6)        # float32 rounding
    i, j = 5, 1                                                         # visible unit 5, field Y = -2
    want = 1 / (1 + math.exp(-2 * net.beta * (-2 / 3 + net.visible_field[i])))
    assert t["p_visible"][i, j] == pytest.approx(want, rel=1e-6)
    # The sides are independent: with the visible field only, the hidden tables stay shared (and equal to a
    # fieldless network's, bit for bit), so an RBM pays the per-unit table size only where it has fields.
    only_v = _net(rng, 9, 4, hidden=False)
    plain = rbm_tables(RBMNetwork(only_v.weight, beta=only_v.beta))
    t = rbm_tables(only_v)
    assert t["p_hidden"].shape == (10,) and t["t_visible"].shape == (9, 5) and plain["t_visible"].shape == (5,)
    np.testing.assert_array_equal(t["t_hidden"], plain["t_hidden"])
    with pytest.raises(ValueError, match="hidden_field must hold 4 finite numbers"):
        RBMNetwork(net.weight, hidden_field=np.array([0.0, 1.0, np.nan, 2.0]))
    with pytest.raises(TypeError, match="visible_field must be an array of 9 floats or None, got str"):
        RBMNetwork(net.weight, visible_field="zero")


@pytest.mark.parametrize("mode,visible,hidden", [("custom", True, True), ("standard", True, True),
                                                 ("custom", True, False), ("custom", False, True)])
def test_rbm_with_fields_is_bit_exact_on_every_target_and_device(tmp_path, mode, visible, hidden):
    # verify --targets all: the float ±1 ground truth (real-valued fields: X/√N + c >= 0, sigmoid tables in
    # float64) against the reference simulator at 8-bit words, then 16/32/64-bit words, onnxruntime,
    # onnx.reference, tract, native C, host C and every emulated device, all compared exactly.
    rng = np.random.default_rng(2)
    net = _net(rng, 70, 33, visible=visible, hidden=hidden)
    assert np.any(net.map_thresholds != 0) == hidden                    # the fold is exercised
    path = tmp_path / f"{mode}.onnx"
    save_model(build_model(net, mode=mode), path)
    rep = verify(path, ["all"], n_inputs=9, seed=5, word_bits=8)
    assert rep.ok, rep.lines()
    ran = {r.name for r in rep.results if r.status == "ok"}
    assert {"reference", "onnxruntime", "onnx-reference", "native"} <= {n.split(" ")[0] for n in ran}
    assert all(r.tensors > 0 for r in rep.results if r.status == "ok")
    back = network_from_onnx(build_model(net, mode=mode))
    for key in ("visible_field", "hidden_field"):
        if getattr(net, key) is None:
            assert getattr(back, key) is None
        else:
            np.testing.assert_array_equal(getattr(back, key), getattr(net, key))


def test_fieldless_artifacts_are_unchanged_and_fields_change_the_graph():
    rng = np.random.default_rng(3)
    net = _net(rng, 20, 6, visible=False, hidden=False, pixels=False)
    model = build_model(net)
    ops = {n.op_type for n in model.graph.node}
    config = json.loads({p.key: p.value for p in model.metadata_props}["lowprec.config"])
    assert "FieldTable" in ops and "UnitFieldTable" not in ops and "hidden_field" not in config
    with_fields = build_model(_net(rng, 20, 6, pixels=False))
    ops = {n.op_type for n in with_fields.graph.node}
    config = json.loads({p.key: p.value for p in with_fields.metadata_props}["lowprec.config"])
    assert "UnitFieldTableCompact" in ops and "FieldTable" not in ops and len(config["hidden_field"]) == 6
    assert config["unit_tables"] == "compact"
    only_h = _net(rng, 20, 6, visible=False, pixels=False)
    tables = {n.output[0]: n.op_type for n in build_model(only_h).graph.node if "FieldTable" in n.op_type}
    assert tables["hidden_prob"] == tables["gibbs_hthr_0"] == "UnitFieldTableCompact"
    assert tables["gibbs_vthr_0"] == "FieldTable"
    # the layout of files written before compact tables: whole rows, UnitFieldTable, no 'unit_tables' entry
    full = build_model(dataclasses.replace(only_h, unit_tables="full"))
    tables = {n.output[0]: n.op_type for n in full.graph.node if "FieldTable" in n.op_type}
    assert tables["hidden_prob"] == tables["gibbs_hthr_0"] == "UnitFieldTable" == "Unit" + tables["gibbs_vthr_0"]
    assert "unit_tables" not in json.loads({p.key: p.value for p in full.metadata_props}["lowprec.config"])


def test_native_lookup_reads_per_unit_tables_and_refuses_a_short_one():
    from targets import native

    if native.missing_reason() is not None:
        pytest.skip(native.missing_reason())
    lib = native.load()
    y = np.array([-3, 1, 3, -1], np.int32)
    out = np.empty(4, np.uint32)
    table = np.arange(2 * 4, dtype=np.uint32)                           # 2 units x (K + 1 = 4)
    lib.lookup(4, 3, y, table, out, 2)
    np.testing.assert_array_equal(out, [0, 4 + 2, 3, 4 + 1])            # row (i % 2), index (y + 3) >> 1
    with pytest.raises(ValueError, match="at least 16 items, got 8"):
        lib.lookup(4, 3, y, table, out, 4)


def test_posterior_file_version_2_only_with_fields(tmp_path):
    lam = np.zeros((5, 2))
    save_posterior(tmp_path / "v1.npz", {"lam": lam}, {"kind": "rbm"})
    save_posterior(tmp_path / "v2.npz", {"lam": lam, "hidden_field": np.zeros(2)}, {"kind": "rbm"})
    assert load_posterior(tmp_path / "v1.npz")[1]["format_version"] == 1
    assert load_posterior(tmp_path / "v2.npz")[1]["format_version"] == 2
    # a future version is refused by name
    import zipfile

    with zipfile.ZipFile(tmp_path / "v2.npz") as z:
        files = {n: z.read(n) for n in z.namelist()}
    meta = json.loads(np.load(tmp_path / "v2.npz")["__meta__"][()])
    meta["format_version"] = 3
    import io

    buf = io.BytesIO()
    np.save(buf, np.array(json.dumps(meta)))
    files["__meta__.npy"] = buf.getvalue()
    with zipfile.ZipFile(tmp_path / "v3.npz", "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    with pytest.raises(PosteriorFileError, match="format version 3 is not supported .this release reads versions 1, 2"):
        load_posterior(tmp_path / "v3.npz")


def test_cli_train_export_verify_report_with_fields(tmp_path, capsys):
    post, onnx_path = tmp_path / "rbm.npz", tmp_path / "rbm.onnx"
    code, err = run_cli(["train", "rbm", "--data", "sample", "--limit", "200", "--hidden", "8", "--epochs", "1",
                         "--seed", "2", "-o", post], capsys)
    assert code == 0, err
    model = BinaryRBM.load(post)
    last = model.history_[-1]
    assert model.visible_field_.shape == (784,) and model.hidden_field_.shape == (8,)
    # on screen: the same counts as the history, recomputed here from the saved model's MAP bits
    from lowprec_rbm.data import binarize, load_dataset

    X = binarize(load_dataset("sample").x_train[:200], 0.5)
    act = model.hidden_activity(X)
    assert (act["dead_units"], act["saturated_units"]) == (last["dead_units"], last["saturated_units"])
    assert (f"hidden units over the 200 training patterns (MAP bits): {act['dead_units']} of 8 dead (always -1)"
            in err) and f"{act['saturated_units']} saturated (always +1)" in err
    code, err = run_cli(["export", post, "-o", onnx_path, "--gibbs-steps", "2", "--quiet"], capsys)
    assert code == 0, err
    from lowprec_rbm.cli.main import main

    capsys.readouterr()
    assert main(["verify", str(onnx_path), "--targets", "reference,onnxruntime,native,host-c", "--inputs", "6"]) == 0
    out = capsys.readouterr().out
    assert out.count(": OK") >= 4, out
    assert main(["report", str(onnx_path), "--data", "sample", "--inputs", "50", "--quiet"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("activity"))
    assert "dead" in header and "always on" in header
    row = next(line for line in out.splitlines() if line.lstrip().startswith("hidden_bits")).split()
    bits = model.hidden_map_bits(binarize(load_dataset("sample").x_test[:50], 0.5))
    rate = (bits > 0).mean(axis=0)
    assert row[-2:] == [str(int(np.sum(rate == 0))), str(int(np.sum(rate == 1)))]


def test_cli_fields_none_trains_the_seeds_fieldless_model(tmp_path, capsys):
    post = tmp_path / "plain.npz"
    code, err = run_cli(["train", "rbm", "--data", "sample", "--limit", "100", "--hidden", "3", "--epochs", "1",
                         "--fields", "none", "--quiet", "-o", post], capsys)
    assert code == 0, err
    arrays, meta = load_posterior(post, kind="rbm")
    assert set(arrays) == {"lam"} and meta["format_version"] == 1
    code, err = run_cli(["train", "rbm", "--data", "sample", "--fields", "some", "-o", post], capsys)
    assert code == 2 and "argument --fields: invalid choice: 'some'" in err


def test_network_digest_covers_the_fields_and_keeps_fieldless_digests():
    from export.digest import network_digest

    rng = np.random.default_rng(7)
    net = _net(rng, 12, 5, pixels=False)
    plain = RBMNetwork(net.weight, beta=net.beta, gibbs_steps=net.gibbs_steps)
    c = net.hidden_field.copy()
    c[3] = np.nextafter(c[3], np.inf)                                   # one ulp in one field
    other = RBMNetwork(net.weight, beta=net.beta, gibbs_steps=net.gibbs_steps, visible_field=net.visible_field,
                       hidden_field=c)
    digests = {network_digest(n) for n in (net, plain, other)}
    assert len(digests) == 3
    # the fieldless digest is the weights-only one (arrays: xi alone), unchanged by this release
    assert network_digest(plain) == network_digest(RBMNetwork(net.weight.copy(), beta=net.beta,
                                                              gibbs_steps=net.gibbs_steps))
