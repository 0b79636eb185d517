"""Deploy a CNN of the Fashion-MNIST protocol (issue 12) and check it end to end, through the ``lowprec`` CLI a
user would run.

For one run of ``bench/fmnist_mlp.py --arch ... --save-dir DIR`` (its result file and its saved posterior):

1. ``lowprec export`` the posterior (MAP network) to ONNX and C;
2. ``lowprec verify --targets all`` on random and real test images: every target and emulated device that can
   run here must agree bit for bit (the per-target lines and the skipped ones are recorded);
3. ``lowprec predict`` on all 10,000 test images with onnxruntime and with the native runtime; the accuracy must
   equal the trainer's MAP test accuracy recorded in the result file (the same network, so the same integers:
   a difference is a bug, not noise);
4. ``lowprec report --target cortex-m4`` (and cortex-m0): flash, RAM and instructions per inference of the
   deployed ``predict`` build.

    python bench/fmnist_cnn_deploy.py --runs bench/results/fmnist_cnn.json --config BIN8-bayesbinn --seed 0 \\
        --posterior runs/BIN8-bayesbinn_s0.npz -o bench/results/fmnist_cnn_deploy.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def lowprec(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "lowprec_rbm", *args]
    print("$ lowprec " + " ".join(args), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"lowprec {args[0]} failed (exit {proc.returncode})")
    return proc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, type=Path, help="result file of bench/fmnist_mlp.py --arch")
    ap.add_argument("--config", default="BIN8-bayesbinn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--posterior", required=True, type=Path, help="the run's posterior file (--save-dir)")
    ap.add_argument("--data", default="debian")
    ap.add_argument("--devices", default="cortex-m4,cortex-m0", help="profiles to measure with report --target")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)

    rep = json.loads(args.runs.read_text())
    runs = [r for r in rep.get("runs", []) if r["config"] == args.config and r["seed"] == args.seed]
    if not runs:
        raise SystemExit(f"--runs: {args.runs} has no run {args.config} seed {args.seed}")
    run = runs[0]
    if not args.posterior.is_file():
        raise SystemExit(f"--posterior: {args.posterior} does not exist")
    out = {"benchmark": "fmnist_cnn_deploy", "config": args.config, "seed": args.seed,
           "network": run.get("network"), "posterior": str(args.posterior),
           "trainer_test_map_acc": run["test_map"]["acc"], "steps": {}}
    with tempfile.TemporaryDirectory(prefix="cnn-deploy-") as tmp:
        onnx = os.path.join(tmp, "cnn.onnx")
        t = time.perf_counter()
        lowprec("export", str(args.posterior), "-o", onnx, "--c", os.path.join(tmp, "c"), "--quiet")
        out["onnx_bytes"] = os.path.getsize(onnx)
        out["steps"]["export_s"] = time.perf_counter() - t

        t = time.perf_counter()
        proc = lowprec("verify", onnx, "--targets", "all", "--inputs", "16", "--data", args.data, check=False)
        out["verify"] = {"exit": proc.returncode, "lines": proc.stdout.strip().splitlines()}
        out["steps"]["verify_s"] = time.perf_counter() - t
        print(proc.stdout, flush=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)

        out["predict"] = {}
        for target in ("onnxruntime", "native"):
            js = os.path.join(tmp, f"predict-{target}.json")
            t = time.perf_counter()
            lowprec("predict", onnx, "--data", args.data, "--target", target, "--json", js, "--quiet")
            acc = json.loads(Path(js).read_text())["models"][onnx]["accuracy"]
            out["predict"][target] = {"accuracy": acc, "seconds": time.perf_counter() - t,
                                      "equals_trainer_map": acc == run["test_map"]["acc"]}
            print(f"predict {target}: {100 * acc:.2f} % (trainer MAP {100 * run['test_map']['acc']:.2f} %)")

        out["devices"] = {}
        for dev in [d for d in args.devices.split(",") if d]:
            js = os.path.join(tmp, f"report-{dev}.json")
            proc = lowprec("report", onnx, "--target", dev, "--json", js, "--quiet", check=False)
            if proc.returncode != 0:
                out["devices"][dev] = {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
                continue
            out["devices"][dev] = json.loads(Path(js).read_text()).get("device")
    ok = out["verify"]["exit"] == 0 and all(p["equals_trainer_map"] for p in out["predict"].values())
    out["ok"] = ok
    from export.fileio import atomic_write_json

    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.output, out)
    print(f"wrote {args.output} ({'OK' if ok else 'FAILED'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
