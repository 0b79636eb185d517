"""Training speed of the ternary-VI CNN (the probabilistic forward pass through conv, batch norm, sign and
max-pooling) against the same trainer from another source tree, e.g. an earlier commit, in one run.

Each run is a fresh process (``python bench/pfp_cnn_speed.py --worker SRC ...``) with ``SRC`` first on
``sys.path``, so the two trees never share a module: it fits :class:`lowprec_rbm.nn.cnn.CNNClassifier` (rule
``ternary-vi``) for ``--warmup`` minibatches untimed (first-call costs), then for ``--batches`` minibatches,
and reports the trainer's own ``history_[0]["seconds"]`` (the minibatch loop; the epoch-end evaluation is
excluded) and the mean training loss. Runs alternate between the trees, round by round (the order flips every
round), and the ratio baseline / current is taken per round: the machine is shared and its speed drifts.

    git worktree add /tmp/before <commit>
    python bench/pfp_cnn_speed.py --baseline-src /tmp/before/src [--arch c32,p,c64,p,d256] [--batches 10] \
        [--rounds 5] [--threads 1] [-o bench/results/pfp_cnn_speed.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CURRENT_SRC = os.path.normpath(os.path.join(HERE, "..", "src"))


def _args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="bench/results/pfp_cnn_speed.json")
    ap.add_argument("--baseline-src", required=True, help="the other tree's src/ folder (holds lowprec_rbm)")
    ap.add_argument("--arch", default="c32,p,c64,p,d256")
    ap.add_argument("--input", default="bitplanes", choices=("bitplanes", "binary", "real"))
    ap.add_argument("--batches", type=int, default=10, help="minibatches timed per run (default 10)")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=2, help="untimed minibatches before each timed fit (default 2)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="debian")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def _worker(args) -> int:
    sys.path.insert(0, args.worker)
    import lowprec_rbm
    from lowprec_rbm.data import load_dataset
    from lowprec_rbm.nn.cnn import CNNClassifier

    if not os.path.abspath(lowprec_rbm.__file__).startswith(os.path.abspath(args.worker)):
        raise RuntimeError(f"imported {lowprec_rbm.__file__}, not the tree {args.worker}")
    ds = load_dataset(args.data)
    bs = args.batch_size

    def fit(n):
        clf = CNNClassifier(arch=args.arch, rule="ternary-vi", input_encoding=args.input, epochs=1,
                            batch_size=bs, bn_calib=bs, test_samples=1, random_state=0)
        clf.fit(ds.x_train[:n * bs], ds.y_train[:n * bs])
        return clf.history_[0]

    if args.warmup:
        fit(args.warmup)
    rec = fit(args.batches)
    print(json.dumps({"seconds": rec["seconds"], "loss": rec["loss"]}))
    return 0


def main(argv=None) -> int:
    args = _args(argv)
    if args.worker:
        return _worker(args)
    import numpy as np

    sys.path.insert(0, CURRENT_SRC)
    from export.fileio import atomic_write_json

    base = os.path.abspath(args.baseline_src)
    if not os.path.isdir(os.path.join(base, "lowprec_rbm")):
        raise SystemExit(f"--baseline-src: {base} holds no lowprec_rbm package")
    trees = {"current": CURRENT_SRC, "baseline": base}
    env = dict(os.environ, **{v: str(args.threads) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                               "MKL_NUM_THREADS")})
    env.pop("PYTHONPATH", None)
    common = ["--arch", args.arch, "--input", args.input, "--batches", str(args.batches), "--batch-size",
              str(args.batch_size), "--warmup", str(args.warmup), "--data", args.data, "--baseline-src", base]
    seconds = {k: [] for k in trees}
    losses = {k: [] for k in trees}
    for r in range(args.rounds):
        for name in (list(trees) if r % 2 == 0 else list(trees)[::-1]):
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", trees[name]] + common,
                                 env=env, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{name} run failed:\n{out.stderr[-3000:]}")
            rec = json.loads(out.stdout.strip().splitlines()[-1])
            seconds[name].append(rec["seconds"])
            losses[name].append(rec["loss"])
            print(f"round {r + 1}: {name:8s} {rec['seconds'] / args.batches * 1e3:7.0f} ms per minibatch, "
                  f"loss {rec['loss']:.6f}", flush=True)
    per = [b / c for b, c in zip(seconds["baseline"], seconds["current"])]
    med = lambda v: float(np.median(v))  # noqa: E731
    res = {
        "benchmark": "pfp_cnn_speed",
        "rule": "ternary-vi", "arch": args.arch + " (+ output dense 10)", "input": args.input,
        "batch_size": args.batch_size, "minibatches_per_run": args.batches, "warmup_minibatches": args.warmup,
        "rounds": args.rounds, "threads": args.threads, "baseline_src": base,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_at_end": list(os.getloadavg())},
        "numpy": np.__version__,
        "seconds": seconds, "mean_loss": losses,
        "median_ms_per_minibatch": {k: med(v) / args.batches * 1e3 for k, v in seconds.items()},
        "speedup_baseline_over_current": {"per_round": per, "median": med(per)},
        "command": "python bench/pfp_cnn_speed.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    atomic_write_json(args.out, res)
    print(f"baseline / current: median {med(per):.3f} (per round {', '.join(f'{p:.2f}' for p in per)}) "
          f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
