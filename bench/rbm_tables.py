"""Gibbs table bytes of an RBM with fields, whole per-unit rows against compact rows (each stored over its
non-saturated span, ``export.compact_table``), the ONNX file in both layouts, and the deployed model's flash,
RAM and exact instructions per inference on the device profiles (the emitted C always reads compact rows).

The model is the demo's RBM by default: ``lowprec train rbm --data sample --hidden 64 --epochs 5 --seed 0``
(784-64, learned visible and hidden fields), exported with 2 Gibbs steps as ``lowprec demo`` does.

    PYTHONPATH=src python bench/rbm_tables.py [--posterior rbm.npz] [-o bench/results/rbm_tables.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile

import numpy as np

import targets.registry  # noqa: F401  (registers the device targets)
from export.fileio import atomic_write_json
from export.network import rbm_compact_tables, rbm_tables
from export.onnx import build_model, network_from_onnx
from targets.base import TargetUnavailable
from targets.devices import device_target, measure
from targets.devices.device import DoesNotFit

KEYS = ("flash_bytes", "ram_bytes", "model_const_bytes", "model_code_bytes", "instructions_per_inference",
        "device_flash_bytes", "device_ram_bytes", "compiler", "cflags")


def _network(posterior: str | None, tmp: str, gibbs_steps: int):
    from lowprec_rbm.cli.main import main as lowprec

    if posterior is None:
        posterior = os.path.join(tmp, "rbm.npz")
        if lowprec(["train", "rbm", "--data", "sample", "--hidden", "64", "--epochs", "5", "--seed", "0", "--quiet",
                    "-o", posterior]) != 0:
            raise SystemExit("training the demo RBM failed")
    onnx_path = os.path.join(tmp, "rbm.onnx")
    if lowprec(["export", posterior, "-o", onnx_path, "--gibbs-steps", str(gibbs_steps), "--quiet"]) != 0:
        raise SystemExit(f"exporting {posterior} failed")
    import onnx

    return network_from_onnx(onnx.load(onnx_path)), posterior


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posterior", help="an RBM posterior file (default: train the demo's RBM)")
    ap.add_argument("--gibbs-steps", type=int, default=2)
    ap.add_argument("--targets", default="cortex-m4,cortex-m0,host-c")
    ap.add_argument("-o", "--out", default="bench/results/rbm_tables.json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        net, source = _network(args.posterior, tmp, args.gibbs_steps)
    full, small = rbm_tables(net), rbm_compact_tables(net)
    tables = {}
    for name in ("p_hidden", "t_hidden", "t_visible"):
        rec = {"full_shape": list(full[name].shape), "full_bytes": int(full[name].nbytes)}
        if name in small:
            ct = small[name]
            span = ct.hi - ct.lo + 1
            rec.update(compact_entries=int(ct.values.size), compact_bytes=int(ct.nbytes),
                       span_min=int(span.min()), span_median=float(np.median(span)), span_max=int(span.max()),
                       rows_saturated_low=int(np.sum(ct.lo > 0)), rows_saturated_high=int(np.sum(ct.hi < ct.k)))
        tables[name] = rec
        print(f"{name}: {rec}", flush=True)
    total_full = sum(r["full_bytes"] for r in tables.values())
    total_compact = sum(r.get("compact_bytes", r["full_bytes"]) for r in tables.values())
    files = {layout: len(build_model(dataclasses.replace(net, unit_tables=layout)).SerializeToString())
             for layout in ("full", "compact")}
    print(f"tables: {total_full:,} B whole rows -> {total_compact:,} B compact (values + int32 lo/hi/off); "
          f"ONNX file {files['full']:,} -> {files['compact']:,} B", flush=True)
    devices = {}
    for t in [s.strip() for s in args.targets.split(",") if s.strip()]:
        tgt = device_target(t)
        try:
            m = measure(net, tgt)
        except DoesNotFit as exc:
            devices[t] = {"fits": False, "message": str(exc), **exc.sizes}
            print(f"{t}: does not fit: {exc}", flush=True)
            continue
        except TargetUnavailable as exc:
            devices[t] = {"skipped": str(exc)}
            print(f"{t}: skipped: {exc}", flush=True)
            continue
        rec = {"fits": True, **{k: m.get(k) for k in KEYS}}
        try:   # the verify harness (every output kept) must link too for verify --targets all to run it
            tgt.build(net)
            rec["verify_harness_links"] = True
        except DoesNotFit as exc:
            rec["verify_harness_links"], rec["verify_harness_message"] = False, str(exc)
        devices[t] = rec
        print(f"{t}: flash {m['flash_bytes']:,} B, RAM {m['ram_bytes']:,} B, "
              f"{m['instructions_per_inference']:,.0f} instructions", flush=True)
    res = {"benchmark": "rbm_tables", "model": "demo RBM 784-64 with fields (seed 0)" if args.posterior is None
           else os.path.basename(source), "n_visible": net.n_visible, "n_hidden": net.n_hidden,
           "beta": net.beta, "gibbs_steps": net.gibbs_steps, "tables": tables,
           "tables_full_bytes": total_full, "tables_compact_bytes": total_compact, "onnx_file_bytes": files,
           "devices": devices,
           "definitions": "full = whole per-unit rows (R x (K+1) 4-byte entries); compact = span values + three "
                          "int32 arrays per table; device figures from targets.devices.footprint.measure (the "
                          "deployed build, as `lowprec report --target`)",
           "command": "PYTHONPATH=src python bench/rbm_tables.py " + " ".join(argv or sys.argv[1:])}
    atomic_write_json(args.out, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
