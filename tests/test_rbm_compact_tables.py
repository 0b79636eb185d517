"""Compact per-unit RBM tables (export.compact_table, op UnitFieldTableCompact): the clamped span lookup gives the
full table's entry for every field, on every target and emulated device; one copy of each table serves every
Gibbs step; files with whole per-unit rows (written before compact tables) still load and verify."""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from onnx import TensorProto

from export.c import c_module
from export.compact_table import CompactTable, check_compact, compact_rows, expand
from export.errors import ArtifactInconsistentError
from export.network import InputSpec, RBMNetwork, rbm_compact_tables, rbm_tables
from export.onnx import build_model, initializers, load_artifact, network_from_onnx, save_model
from targets.reference.interpreter import load_program
from targets.reference.ops.unit_field_table import unit_field_table
from targets.reference.ops.unit_field_table_compact import unit_field_table_compact
from targets.verify import verify
from test_export_onnx_ops import run_op

LEGACY = "tests/data/legacy_rbm_fields.onnx"


def _rows(k: int) -> np.ndarray:
    """uint32 rows of K + 1 entries: saturated at both ends, at neither, only at the low end, only at the high
    end, constant, and a non-monotone row with a run inside (compaction needs no monotonicity)."""
    j = np.arange(k + 1)
    ramp = (j * 1000 + 7).astype(np.uint32)
    both = np.clip(ramp, 2000, 1000 * k - 1000 + 7) if k >= 3 else ramp
    low = np.maximum(ramp, 1007)                      # saturates on the low side only (entries 0 and 1 equal)
    high = np.minimum(ramp, 1000 * (k - 1) + 7)       # saturates on the high side only
    odd = np.where(j % 3 == 0, 5, 9).astype(np.uint32)
    return np.stack([both, ramp, low, high, np.full(k + 1, 42, np.uint32), odd]).astype(np.uint32)


@pytest.mark.parametrize("k", [1, 2, 5, 64])
def test_compact_rows_is_the_full_table_for_every_field(k):
    table = _rows(k)
    ct = compact_rows(table)
    np.testing.assert_array_equal(expand(ct), table)
    y = np.arange(-k, k + 1, 2)                       # every field, for every row
    np.testing.assert_array_equal(ct.lookup(np.repeat(y[:, None], table.shape[0], axis=1)).T, table)
    length = ct.hi - ct.lo + 1
    assert length[1] == k + 1 and length[4] == 1      # the plain ramp is kept whole; a constant row keeps 1 entry
    if k >= 3:
        assert (ct.lo[2], ct.hi[2]) == (1, k) and (ct.lo[3], ct.hi[3]) == (0, k - 1)   # one-sided saturation
        assert (ct.lo[0], ct.hi[0]) == (1, k - 1)     # both ends cut: the runs 0..1 and k-1..k leave one entry each
        assert ct.values.size < table.size
    np.testing.assert_array_equal(ct.off, np.concatenate([[0], np.cumsum(length)[:-1]]))


def test_float_tables_compare_bits_and_bad_spans_raise():
    # -0.0 == 0.0 as numbers, but the compact table must reproduce the bits: the run is broken there
    table = np.array([[-0.0, 0.0, 0.0, 0.5, 1.0]], np.float32)
    ct = compact_rows(table)
    assert (ct.lo[0], ct.hi[0]) == (0, 4)
    np.testing.assert_array_equal(expand(ct).view(np.uint32), table.view(np.uint32))
    # a span cut too short: entry 0 (field -3 for K = 3) differs from the span's first entry
    full = np.array([[1, 2, 3, 3]], np.uint32)
    bad = CompactTable(np.array([3], np.uint32), np.array([2], np.int32), np.array([2], np.int32),
                       np.array([0], np.int32), 3)
    with pytest.raises(ValueError, match=r"table row 0, entry 0 \(field -3\) is 1 but the compact table gives 3 "
                                         r"\(left of the span \[2, 2\]\): entries outside a row's span must equal"):
        check_compact(full, bad)
    with pytest.raises(ValueError, match="offsets must be the running sum"):
        CompactTable(np.array([1, 2], np.uint32), np.array([0, 0], np.int32), np.array([0, 0], np.int32),
                     np.array([0, 0], np.int32), 3)
    with pytest.raises(ValueError, match=r"row 0: span \[2, 1\] is not within \[0, K=3\]"):
        CompactTable(np.array([1], np.uint32), np.array([2], np.int32), np.array([1], np.int32),
                     np.array([0], np.int32), 3)
    with pytest.raises(ValueError, match=r"shape \(R >= 1, K \+ 1 >= 2\), got \(3,\)"):
        compact_rows(np.zeros(3, np.uint32))


@pytest.mark.parametrize("k", [1, 3, 65])
def test_op_body_and_kernel_equal_the_full_table_op(k):
    # UnitFieldTableCompact through onnxruntime and onnx.reference (custom and inlined bodies), the simulator
    # kernel, and the full-table op UnitFieldTable on the whole rows: all equal, for uint32 and float32 tables.
    rng = np.random.default_rng(k)
    u32 = _rows(k)
    f32 = np.sort(rng.random(u32.shape), axis=1).astype(np.float32)
    f32[:, :2] = 0.0
    f32[:, -1] = 1.0
    b = 4
    y = (2 * rng.integers(0, k + 1, (b, u32.shape[0])) - k).astype(np.int32)
    y[0], y[1] = -k, k
    for table, dtype in ((u32, TensorProto.UINT32), (f32, TensorProto.FLOAT)):
        ct = compact_rows(table)
        feeds = {"y": y, "values": ct.values, "lo": ct.lo, "hi": ct.hi, "off": ct.off}
        out = run_op("UnitFieldTableCompact", feeds, dtype, K=k)
        full = unit_field_table(y, table, K=k)
        np.testing.assert_array_equal(out.view(np.uint32), full.view(np.uint32))
        kernel = unit_field_table_compact(y, ct.values, ct.lo, ct.hi, ct.off, K=k)
        np.testing.assert_array_equal(kernel.view(np.uint32), full.view(np.uint32))
    with pytest.raises(ValueError, match="field 2 is not one of -K"):
        unit_field_table_compact(np.full((1, 6), 2, np.int32), ct.values, ct.lo, ct.hi, ct.off, K=k)


def _net(n, p, *, beta, steps, visible=True, hidden=True, seed=0):
    # Large β and fields of a few units make rows saturate on one side, on both or on neither.
    rng = np.random.default_rng(seed)
    spec = InputSpec("threshold", n, dtype="uint8", threshold=128.0)
    return RBMNetwork(rng.choice([-1, 1], (n, p)), beta=beta, input=spec, gibbs_steps=steps,
                      visible_field=rng.normal(0, 2.0, n) if visible else None,
                      hidden_field=rng.normal(0, 2.0, p) if hidden else None)


@pytest.mark.parametrize("n,p,beta,steps", [(40, 9, 6.0, 2), (23, 1, 3.0, 1)])
def test_compact_sampler_is_bit_exact_against_full_tables_on_every_target(tmp_path, n, p, beta, steps):
    # The same network exported with compact and with whole per-unit rows (the previous layout): the reference
    # simulator gives the same bits for every output of both files, and verify --targets all holds every target
    # and emulated device (whose C reads compact rows) to the full-table file's reference. p = 1: visible rows
    # of K + 1 = 2 entries, a one-step sampler.
    net = _net(n, p, beta=beta, steps=steps, seed=n)
    small = rbm_compact_tables(net)
    kinds = set()
    for ct in small.values():
        kinds |= {"both" if a > 0 and b < ct.k else "low" if a > 0 else "high" if b < ct.k else "none"
                  for a, b in zip(ct.lo, ct.hi)}
    if p > 1:
        assert {"both", "none"} <= kinds and kinds & {"low", "high"}, kinds   # every kind of row is exercised
    paths = {}
    for layout in ("compact", "full"):
        paths[layout] = tmp_path / f"{layout}.onnx"
        save_model(build_model(dataclasses.replace(net, unit_tables=layout)), paths[layout])
    rng = np.random.default_rng(1)
    feeds = {"v": rng.integers(0, 256, (7, n)).astype(np.uint8), "seeds": rng.integers(0, 2**32, 7, dtype=np.uint32)}
    a = load_program(str(paths["compact"])).run(feeds).outputs
    b = load_program(str(paths["full"])).run(feeds).outputs
    assert set(a) == set(b) and len(a) > 5
    for key in b:
        np.testing.assert_array_equal(np.asarray(a[key]).view(np.uint8), np.asarray(b[key]).view(np.uint8), key)
    for layout in ("full", "compact"):
        rep = verify(paths[layout], ["all"], n_inputs=6, seed=3)
        assert rep.ok, rep.lines()
        ran = {r.name.split(" ")[0] for r in rep.results if r.status == "ok"}
        assert {"reference", "onnxruntime", "onnx-reference", "native"} <= ran, rep.lines()
        assert all(r.tensors > 0 for r in rep.results if r.status == "ok")
        assert not [r.name for r in rep.results if "does not fit" in (r.reason or "")]   # skips: missing tools only


def test_tables_are_shared_by_every_gibbs_step():
    net = _net(30, 7, beta=4.0, steps=1)
    one, five = build_model(net), build_model(dataclasses.replace(net, gibbs_steps=5))
    inits_one, inits_five = initializers(one), initializers(five)
    assert sorted(inits_one) == sorted(inits_five)                 # no per-step copies
    for name, arr in inits_one.items():
        np.testing.assert_array_equal(inits_five[name], arr)
    readers = [n for n in five.graph.node if n.op_type == "UnitFieldTableCompact" and "t_visible" in n.input]
    assert len(readers) == 5 and all(list(r.input[1:]) == ["t_visible", "t_visible_lo", "t_visible_hi",
                                                           "t_visible_off"] for r in readers)
    text = c_module(dataclasses.replace(net, gibbs_steps=5), word_bits=32, prefix="m").files["m_weights.h"]
    for name in ("p_hidden", "t_hidden", "t_visible"):
        assert len(re.findall(rf"static const uint32_t m_{name}\[", text)) == 1
    # the compact table is smaller than the rows it stands for whenever a row saturates
    tables, small = rbm_tables(net), rbm_compact_tables(net)
    assert all(small[k].values.size < tables[k].size for k in small)


def test_full_table_files_still_load_and_a_changed_span_is_refused(tmp_path):
    model = load_artifact(LEGACY)
    net = network_from_onnx(model)
    assert net.unit_tables == "full" and net.has_fields
    assert {n.op_type for n in model.graph.node} >= {"UnitFieldTable"}
    rep = verify(LEGACY, ["reference", "onnxruntime", "onnx-reference", "native", "host-c"], n_inputs=4, seed=0)
    assert rep.ok and sum(r.status == "ok" for r in rep.results) >= 5, rep.lines()
    # a compact file whose span was edited (and re-sealed) no longer equals its rebuild
    from export.digest import seal
    from onnx import numpy_helper

    compact = build_model(dataclasses.replace(net, unit_tables="compact"))
    init = next(t for t in compact.graph.initializer if t.name == "t_visible_lo")
    lo = numpy_helper.to_array(init).copy()
    lo[0] += 1
    init.CopyFrom(numpy_helper.from_array(lo, "t_visible_lo"))
    path = tmp_path / "edited.onnx"
    path.write_bytes(seal(compact).SerializeToString())
    with pytest.raises(ArtifactInconsistentError, match="t_visible_lo"):
        load_artifact(path)
