"""Fashion-MNIST protocol for binary and ternary MLPs (issue 6): BayesBiNN vs STE vs full precision, BW/BIN/TERN.

Protocol (the defaults): Fashion-MNIST 60k/10k from Debian's files, the last 6,000 training images held out for
validation, batch 100, 784-1024-1024-10, 30 epochs with a cosine learning-rate schedule, seeds 0, 1, 2. For each
run: test accuracy of the deployable network at the best-validation epoch (first maximum) and at the last epoch,
train accuracy at the best-validation epoch (deployable network on the 10,000-image BN calibration subset of
the training set), seconds per training epoch (evaluation excluded), peak resident memory of the run's process,
and at the end NLL/ECE of the deployable (MAP) network and of the posterior mean over S sampled networks.
Aggregates are mean ± population std (ddof = 0) over seeds, as in BayesBiNN's released logs.

Configurations (``--configs``, comma-separated names or ``all``):

======================= =====================================================================================
BW-bayesbinn            ±1 weights, BN + ReLU, pixel/255 input; BayesBiNN, expected-scale estimator (default)
BW-bayesbinn-pub        same, the published float32 estimator (guards, μ lag, λ0 = ±10, lr 1e-4, kl_weight 1)
BW-ste / BW-adam        STE (latent weights, Adam, clip) / full-precision Adam, same architecture
BIN8-*                  ±1 weights, sign activations, exact 8-bit input (bit-planes): bayesbinn, ste, adam
BINB-*                  ±1 weights, sign activations, binarised pixels (threshold 0.5): bayesbinn, ste, adam
BINB-*@threshold=0.02   the same at the threshold chosen on the validation set (``BINB_THRESHOLD``)
TERN-p{P}               ternary VI, sign activations, 8-bit input, prior p(w=0) = P (e.g. TERN-p0.5)
======================= =====================================================================================

Each run is a separate process (so the peak memory is that run's); results go to one JSON file, rewritten
(atomically) after every run, so an interrupted sweep keeps what it finished. Anything that deviates from the
protocol (fewer epochs or seeds, a training subset, configurations left out) sets ``"reduced": true`` and lists
the deviations. Sweeps split over several processes (or machines) are combined with ``--merge``, which
recomputes the aggregates and the deviations from the runs themselves. Examples::

    python bench/fmnist_mlp.py --epochs 5 --seeds 0 --configs BW-bayesbinn,BW-ste,BW-adam \\
        -o bench/results/fmnist_mlp_reduced.json
    OPENBLAS_NUM_THREADS=1 python bench/fmnist_mlp.py --configs BIN8-bayesbinn --seeds 1 -o a.json   # one lane
    python bench/fmnist_mlp.py --merge a.json b.json -o bench/results/fmnist_mlp.json

The CNN protocol of issue 12 runs through the same script with ``--arch`` (a ``lowprec train cnn`` architecture;
the result file's benchmark is then ``fmnist_cnn`` and its protocol network that architecture)::

    OPENBLAS_NUM_THREADS=1 python bench/fmnist_mlp.py --arch c32,c32,p,c64,c64,p,d256 --configs BIN8-bayesbinn \
        --seeds 0 -o bench/results/fmnist_cnn_bin8_bayesbinn_s0.json

Float32 BLAS sums in an order that depends on the thread count, so the same seed gives the same result only at
the same ``OPENBLAS_NUM_THREADS`` (BW-bayesbinn seed 0 ended at 90.05 % with two threads, 89.94 % with one).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

PROTOCOL = {"epochs": 30, "seeds": [0, 1, 2], "n_val": 6000, "batch_size": 100, "hidden": [1024, 1024],
            "schedule": "cosine", "data": "Fashion-MNIST 60k/10k (Debian dataset-fashion-mnist)"}

_BASE = {"BW": dict(activation="relu", input="real"),
         "BIN8": dict(activation="sign", input="bitplanes"),
         "BINB": dict(activation="sign", input="binary", threshold=0.5)}
# Chosen on the validation set (5-epoch runs of bayesbinn/ste/adam, seed 0, thresholds 0.02-0.5, highest mean
# validation accuracy over the three rules; bench/results/fmnist_binb_threshold.json). The test set played no part.
BINB_THRESHOLD = 0.02
_RULES = {"bayesbinn": dict(rule="bayesbinn"),
          "bayesbinn-pub": dict(rule="bayesbinn", lr=1e-4,
                                rule_params={"estimator": "published", "lam_init": 10.0, "kl_weight": 1.0}),
          "ste": dict(rule="ste"),
          "adam": dict(rule="adam")}

_MODEL_KEYS = ("lr", "threshold", "dropout", "input_dropout")     # overrides that go to MLPClassifier itself


def split_name(name: str) -> tuple[str, dict[str, str]]:
    """``"BASE@key=value:key=value"`` -> ``("BASE", {key: value text})`` (no ``@``: an empty dict)."""
    base, at, extra = name.partition("@")
    overrides: dict[str, str] = {}
    for item in extra.split(":") if at else []:
        key, eq, text = item.partition("=")
        if not eq or not key:
            raise ValueError(f"bad override {item!r} in {name!r}; expected key=value")
        overrides[key] = text
    return base, overrides


def config(name: str) -> dict:
    """Keyword arguments of MLPClassifier for a configuration name.

    A name may end in ``@key=value:key=value`` to override hyper-parameters: ``lr`` and the model settings
    ``threshold``, ``dropout`` and ``input_dropout`` go to MLPClassifier, any other key to ``rule_params``
    (e.g. ``BW-bayesbinn@kl_weight=1e-4:lr=0.3``, ``BINB-ste@threshold=0.3``).
    """
    base, overrides = split_name(name)
    if overrides:
        kw = config(base)
        rp = dict(kw.get("rule_params", {}))
        for key, text in overrides.items():
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = text
            if key in _MODEL_KEYS:
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise ValueError(f"override {key} in {name!r} must be a number, got {text!r}")
                kw[key] = float(value)
            else:
                rp[key] = value
        kw["rule_params"] = rp
        return kw
    if name.startswith("TERN-p"):
        try:
            p0 = float(name[len("TERN-p"):])
        except ValueError:
            raise ValueError(f"bad ternary configuration {name!r}; expected TERN-p<p(w=0)>, e.g. TERN-p0.5") from None
        return dict(activation="sign", input="bitplanes", rule="ternary-vi", rule_params={"p_zero": p0})
    group, _, rule = name.partition("-")
    if group not in _BASE or rule not in _RULES:
        raise ValueError(f"unknown configuration {name!r}; known: {', '.join(all_configs())} or TERN-p<P>")
    kw = dict(_BASE[group])
    kw.update(_RULES[rule])
    return kw


def estimator_kwargs(name: str) -> dict:
    """:func:`config` under MLPClassifier's parameter names (the configuration names keep the short ``input``
    and ``lr`` of the recorded results)."""
    rename = {"input": "input_encoding", "lr": "learning_rate"}
    return {rename.get(k, k): v for k, v in config(name).items()}


def all_configs() -> list[str]:
    names = [f"{g}-{r}" for g in ("BW",) for r in _RULES] + \
            [f"{g}-{r}" for g in ("BIN8", "BINB") for r in ("bayesbinn", "ste", "adam")] + \
            [f"BINB-{r}@threshold={BINB_THRESHOLD}" for r in ("bayesbinn", "ste", "adam")]
    return names + ["TERN-p0.3", "TERN-p0.5", "TERN-p0.7"]


# ------------------------------------------------------------------------------------------------ one run
def protocol_split(x, y):
    """Training and validation parts: the last 6,000 of the 60,000 training images (a tenth otherwise)."""
    n_val = PROTOCOL["n_val"] if x.shape[0] == 60000 else x.shape[0] // 10
    return x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:]


CNN_CONFIGS = ["BIN8-bayesbinn", "BIN8-ste", "BIN8-adam", "TERN-p0.5", "BW-bayesbinn", "BW-adam"]


def protocol_configs(arch: str | None) -> list[str]:
    """The configurations a complete sweep runs: every MLP one, or for a CNN the set issue 12 names (fully
    binary with BayesBiNN and its STE/Adam baselines, ternary VI, binary weights + ReLU and its float reference)."""
    return CNN_CONFIGS if arch else all_configs()


def run_one(name: str, seed: int, epochs: int, train_limit: int | None, data: str, test_samples: int,
            arch: str | None = None, save_dir: str | None = None) -> dict:
    import numpy as np

    from lowprec_rbm.data import load_dataset
    from lowprec_rbm.nn import CNNClassifier, MLPClassifier, metrics

    ds = load_dataset(data)
    xtr, ytr, xv, yv = protocol_split(ds.x_train, ds.y_train.astype(np.int64))
    if train_limit is not None:
        xtr, ytr = xtr[:train_limit], ytr[:train_limit]
    kw = estimator_kwargs(name)
    if arch:
        model = CNNClassifier(arch=arch, epochs=epochs, batch_size=PROTOCOL["batch_size"],
                              test_samples=test_samples, random_state=seed, **kw)
    else:
        model = MLPClassifier(hidden=PROTOCOL["hidden"], epochs=epochs, batch_size=PROTOCOL["batch_size"],
                              test_samples=test_samples, random_state=seed, **kw)
    stem = name.replace('@', '_').replace(':', '_').replace('=', '')
    ckpt = Path(save_dir) / f"{stem}_s{seed}.ckpt.npz" if save_dir else None
    resumed = ckpt is not None and ckpt.exists()
    if ckpt is not None:
        ckpt.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    # with --save-dir a checkpoint is written after every epoch, and a run that finds one continues from it
    # (bit-identical to an uninterrupted run at the same BLAS thread count; README "Interrupted training")
    model.fit(xtr, ytr, xv, yv, eval_sets={"test": (ds.x_test, ds.y_test.astype(np.int64))}, n_classes=10,
              checkpoint=ckpt, resume=resumed)
    wall = time.perf_counter() - t0
    h = model.history_
    val = [r["val_acc"] for r in h]
    best = int(np.argmax(val))
    out = {
        "config": name, "seed": seed, "epochs": epochs, "n_train": int(xtr.shape[0]),
        "network": arch if arch else "-".join(map(str, [784, *PROTOCOL["hidden"], 10])),
        "hyper_parameters": model.config()["rule_params"],
        "best_epoch": best + 1,
        "test_acc_best_val": h[best]["test_acc"], "test_acc_last": h[-1]["test_acc"],
        "train_acc_best_val": h[best]["train_acc"], "train_acc_last": h[-1]["train_acc"],
        "val_acc_best": val[best],
        "seconds_per_epoch": float(np.mean([r["seconds"] for r in h])),
        "eval_seconds_per_epoch": float(np.mean([r["eval_seconds"] for r in h])),
        "wall_seconds": wall,
        "logit_scale": model.gamma,
        "test_map": {k: h[-1][f"test_{k}"] for k in ("acc", "nll", "ece")},
    }
    if model.rule in ("bayesbinn", "ternary-vi"):
        p = model.predict_proba(ds.x_test, mode="mean", n_samples=test_samples)
        out["test_mean"] = metrics.summarize(p, ds.y_test.astype(np.int64))
        out["test_mean_samples"] = test_samples
    for key in ("abs_lam_quantiles", "entropy_nats", "mean_flip_prob", "frac_uncertain", "sparsity",
                "sparsity_per_layer", "kl_nats", "frac_at_clip"):
        if key in h[-1]:
            out[key] = h[-1][key]
    if model.rule == "ternary-vi":
        out["sparsity_best_val"] = h[best]["sparsity"]
    out["history"] = [{k: v for k, v in r.items() if k not in ("sparsity_per_layer",)} for r in h]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if save_dir:
        path = Path(save_dir) / f"{stem}_s{seed}.npz"
        model.save(path)
        out["posterior_file"] = str(path)
        ckpt.unlink(missing_ok=True)
    if resumed:
        # wall_seconds and peak_rss_mb then cover this process only; seconds_per_epoch covers every epoch
        out["resumed"] = True
    return out


# --------------------------------------------------------------------------------------------- aggregation
def stat(values: list[float]) -> dict:
    import numpy as np

    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=0)), "n": int(a.size)}


def aggregate(runs: list[dict]) -> dict:
    out: dict = {}
    for name in dict.fromkeys(r["config"] for r in runs):
        rs = [r for r in runs if r["config"] == name]
        agg = {key: stat([r[key] for r in rs]) for key in
               ("val_acc_best", "test_acc_best_val", "test_acc_last", "train_acc_best_val", "seconds_per_epoch",
                "peak_rss_mb")}
        for block in ("test_map", "test_mean"):
            if all(block in r for r in rs):
                agg[block] = {k: stat([r[block][k] for r in rs]) for k in ("acc", "nll", "ece")}
        for key in ("sparsity", "entropy_nats"):
            if all(key in r for r in rs):
                agg[key] = stat([r[key] for r in rs])
        out[name] = agg
    return out


def _pm(s: dict, scale: float = 100.0, digits: int = 2) -> str:
    text = f"{scale * s['mean']:.{digits}f}"
    return text + (f" ± {scale * s['std']:.{digits}f}" if s["n"] > 1 else "")


def markdown_table(report: dict, published: dict | None = None) -> str:
    """The aggregate of a result file (and of ``bench/published_bayesbinn.py``'s, if given) as a Markdown table."""
    agg = report["aggregate"]
    order = [n for n in all_configs() if n in agg] + sorted(n for n in agg if n not in all_configs())
    lines = ["| config | seeds | val % (best) | test % (best val) | test % (last) | train % | MAP NLL / ECE | "
             "posterior mean: %, NLL / ECE | zeros % | s/epoch | peak MB |",
             "|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|"]
    for name in order:
        a = agg[name]
        mean = "–"
        if "test_mean" in a:
            tm = a["test_mean"]
            mean = f"{_pm(tm['acc'])}, {tm['nll']['mean']:.3f} / {tm['ece']['mean']:.3f}"
        zeros = _pm(a["sparsity"], digits=1) if "sparsity" in a else "–"
        lines.append(f"| {name} | {a['test_acc_best_val']['n']} | {_pm(a['val_acc_best'])} | "
                     f"{_pm(a['test_acc_best_val'])} | "
                     f"{_pm(a['test_acc_last'])} | {_pm(a['train_acc_best_val'])} | "
                     f"{a['test_map']['nll']['mean']:.3f} / {a['test_map']['ece']['mean']:.3f} | {mean} | {zeros} | "
                     f"{_pm(a['seconds_per_epoch'], 1.0, 1)} | {a['peak_rss_mb']['mean']:.0f} |")
    if published is not None and "aggregate" in published:
        a = published["aggregate"]
        val = _pm(a["val_acc_best"]) if "val_acc_best" in a else "–"
        lines.append(f"| published BayesBiNN (PyTorch) | {a['test_acc_best_val']['n']} | {val} | "
                     f"{_pm(a['test_acc_best_val'])} | {_pm(a['test_acc_last'])} | {_pm(a['train_acc_best_val'])} | "
                     f"– | – | – | {_pm(a['seconds_per_epoch'], 1.0, 1)} | {published['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def selection_table(report: dict, key: str) -> tuple[str, float]:
    """Choose the value of an override ``key`` (e.g. ``threshold``) by validation accuracy alone.

    Rows are the values of ``key`` found in the configuration names (``BINB-ste@threshold=0.1``), columns the
    rules; a cell is the best validation accuracy (test accuracy at that epoch in brackets, for the record).
    The chosen value has the highest validation accuracy averaged over the rules that ran at every value; test
    accuracy plays no part. Returns the Markdown table and the chosen value.
    """
    cells: dict = {}
    for name, a in report["aggregate"].items():
        base, found = split_name(name)
        if key in found:
            cells.setdefault(float(found[key]), {})[base] = a
    if not cells:
        raise SystemExit(f"--select: no configuration in the file sets {key!r} (names like NAME@{key}=VALUE)")
    rules = sorted(set.intersection(*(set(c) for c in cells.values())))
    if not rules:
        raise SystemExit(f"--select: no rule ran at every value of {key!r}")
    score = {v: sum(c[r]["val_acc_best"]["mean"] for r in rules) / len(rules) for v, c in cells.items()}
    chosen = max(sorted(score), key=lambda v: score[v])       # ties: the smallest value
    lines = [f"| {key} | " + " | ".join(f"{r}: val % (test %)" for r in rules) + " | mean val % |",
             "|---:|" + "---:|" * (len(rules) + 1)]
    for v in sorted(cells):
        row = " | ".join(f"{100 * cells[v][r]['val_acc_best']['mean']:.2f} "
                         f"({100 * cells[v][r]['test_acc_best_val']['mean']:.2f})" for r in rules)
        mark = " **(chosen)**" if v == chosen else ""
        lines.append(f"| {v:g}{mark} | {row} | {100 * score[v]:.2f} |")
    return "\n".join(lines), chosen


def deviations_of(runs: list[dict], names: list[str], data: str, arch: str | None = None) -> list[str]:
    """How a set of runs departs from the protocol (epochs, seeds, training images, data, configurations)."""
    out = []
    epochs = sorted({r["epochs"] for r in runs})
    if epochs != [PROTOCOL["epochs"]]:
        out.append(f"{', '.join(map(str, epochs))} epochs instead of {PROTOCOL['epochs']}")
    for name in names:
        seeds = sorted(r["seed"] for r in runs if r["config"] == name)
        if seeds != PROTOCOL["seeds"]:
            out.append(f"{name}: seeds {seeds} instead of {PROTOCOL['seeds']}")
    n_train = sorted({r["n_train"] for r in runs})
    if n_train != [54000]:
        out.append(f"{', '.join(map(str, n_train))} training images instead of 54,000")
    if data != "debian":
        out.append(f"data {data!r} instead of Debian's Fashion-MNIST")
    missing = [n for n in protocol_configs(arch) if n not in names]
    if missing:
        out.append(f"configurations not run: {', '.join(missing)}")
    return out


def build_report(runs: list[dict], names: list[str], data: str, load_before, total_seconds,
                 merged_from: list[str] | None = None, arch: str | None = None) -> dict:
    import numpy as np

    deviations = deviations_of(runs, names, data, arch)
    protocol = dict(PROTOCOL)
    if arch:
        del protocol["hidden"]
        protocol["arch"] = arch
    report = {
        "benchmark": "fmnist_cnn" if arch else "fmnist_mlp",
        "protocol": protocol,
        "reduced": bool(deviations),
        "deviations": deviations,
        "configs": {n: config(n) for n in names},
        "aggregate": aggregate(runs),
        "runs": runs,
        "machine": {"cpus": os.cpu_count(), "load_average_before": load_before,
                    "load_average_after": os.getloadavg(), "platform": platform.platform(),
                    "python": platform.python_version(), "numpy": np.__version__,
                    "note": "shared 2-core machine; other jobs were running, so seconds are upper bounds"},
        "total_seconds": total_seconds,
        "notes": [
            "test accuracies are of the deployable network (MAP sign(λ), sign(latent), argmax ternary, real "
            "weights for adam) with BN statistics recomputed for that network on 10,000 training images",
            "test_mean: softmax probabilities averaged over test_samples networks sampled from the posterior",
            "the published PyTorch BayesBiNN is run by bench/published_bayesbinn.py (its own JSON); "
            "BW-bayesbinn-pub is this package's float32 port of its update (guards, μ lag, λ0 = ±10, lr 1e-4)",
        ],
    }
    if merged_from:
        report["merged_from"] = merged_from
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="all", help="comma-separated configuration names, or 'all'")
    parser.add_argument("--epochs", type=int, default=PROTOCOL["epochs"])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--train-limit", type=int, default=None, help="use only the first M training images")
    parser.add_argument("--data", default="debian", help="data source for lowprec_rbm.data.load_dataset")
    parser.add_argument("--test-samples", type=int, default=10, help="sampled networks for the posterior mean")
    parser.add_argument("--save-dir", default=None, metavar="DIR",
                        help="also save each run's posterior file there (CONFIG_sSEED.npz), e.g. to export it, and a "
                        "checkpoint after every epoch (CONFIG_sSEED.ckpt.npz): a run started again with the same "
                        "options continues from it")
    parser.add_argument("--arch", default=None,
                        help="run the CNN protocol with this `lowprec train cnn --arch` network instead of the MLP")
    parser.add_argument("-o", "--output", default="bench/results/fmnist_mlp.json")
    parser.add_argument("--merge", nargs="+", metavar="JSON", type=Path,
                        help="combine the runs of earlier result files into one report (-o) and exit")
    parser.add_argument("--table", type=Path, metavar="JSON",
                        help="print the aggregate of a result file as a Markdown table and exit")
    parser.add_argument("--published", type=Path, metavar="JSON",
                        help="with --table: add the row of bench/published_bayesbinn.py's result file")
    parser.add_argument("--select", nargs=2, metavar=("KEY", "JSON"),
                        help="choose an override (e.g. threshold) by mean validation accuracy over the rules in a "
                        "result file, print the table and the choice, and exit")
    parser.add_argument("--worker", nargs=2, metavar=("CONFIG", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.worker:
        res = run_one(args.worker[0], int(args.worker[1]), args.epochs, args.train_limit, args.data,
                      args.test_samples, args.arch, args.save_dir)
        print("RESULT " + json.dumps(res), flush=True)
        return 0
    kind = "fmnist_cnn" if args.arch else "fmnist_mlp"
    if args.select:
        key, path = args.select
        table, chosen = selection_table(read_report(path, "--select", kind), key)
        print(table)
        print(f"\nchosen {key}: {chosen:g}")
        return 0
    if args.table:
        pub = read_report(args.published, "--published", "published_bayesbinn") if args.published else None
        print(markdown_table(read_report(args.table, "--table", kind), pub))
        return 0
    if args.merge:
        runs = []
        for path in args.merge:
            runs += read_report(path, "--merge", kind)["runs"]
        seen = set()
        for r in runs:
            key = (r["config"], r["seed"])
            if key in seen:
                raise SystemExit(f"--merge: run {key[0]} seed {key[1]} appears twice")
            seen.add(key)
        names = list(dict.fromkeys(r["config"] for r in runs))
        report = build_report(runs, names, args.data, None, None, merged_from=[str(p) for p in args.merge],
                              arch=args.arch)
        write_report(args.output, report)
        return 0
    names = protocol_configs(args.arch) if args.configs == "all" else [c.strip() for c in args.configs.split(",") if c.strip()]
    for n in names:
        try:
            config(n)     # validate names before starting
        except ValueError as exc:
            parser.error(f"--configs: {exc}")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    runs = []
    started = time.time()
    load_before = os.getloadavg()
    for name in names:
        for seed in seeds:
            cmd = [sys.executable, __file__, "--worker", name, str(seed), "--epochs", str(args.epochs),
                   "--data", args.data, "--test-samples", str(args.test_samples)]
            if args.train_limit is not None:
                cmd += ["--train-limit", str(args.train_limit)]
            if args.arch:
                cmd += ["--arch", args.arch]
            if args.save_dir:
                cmd += ["--save-dir", args.save_dir]
            t = time.time()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                print(proc.stderr, file=sys.stderr)
                raise SystemExit(f"run {name} seed {seed} failed (exit {proc.returncode})")
            res = json.loads(lines[-1][len("RESULT "):])
            runs.append(res)
            extra = ""
            if "test_mean" in res:
                extra = (f"  mean-of-{res['test_mean_samples']} {100 * res['test_mean']['acc']:.2f}% "
                         f"nll {res['test_mean']['nll']:.3f} ece {res['test_mean']['ece']:.3f}")
            if "sparsity" in res:
                extra += f"  zeros {100 * res['sparsity']:.1f}%"
            print(f"{name:18s} seed {seed}: test@best-val {100 * res['test_acc_best_val']:.2f}%  "
                  f"last {100 * res['test_acc_last']:.2f}%  map nll {res['test_map']['nll']:.3f} "
                  f"ece {res['test_map']['ece']:.3f}{extra}  {res['seconds_per_epoch']:.1f} s/epoch  "
                  f"{res['peak_rss_mb']:.0f} MB  ({time.time() - t:.0f} s)", flush=True)
            # the report so far, after every run (atomic): an interrupted sweep keeps what it finished
            write_report(args.output, build_report(runs, names, args.data, load_before, time.time() - started,
                                                   arch=args.arch), quiet=True)
    report = build_report(runs, names, args.data, load_before, time.time() - started, arch=args.arch)
    write_report(args.output, report)
    return 0


def read_report(path, flag: str, benchmark: str = "fmnist_mlp") -> dict:
    """A result file as a dict; a clear exit naming ``flag`` if it cannot be read or is of another kind."""
    try:
        rep = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"{flag}: cannot read {path} ({exc})") from None
    if not isinstance(rep, dict) or rep.get("benchmark") != benchmark:
        found = rep.get("benchmark") if isinstance(rep, dict) else type(rep).__name__
        raise SystemExit(f"{flag}: {path} is not a {benchmark} result file (benchmark: {found!r})")
    return rep


def write_report(output: str, report: dict, quiet: bool = False) -> None:
    """Write a result file atomically (its folder created), and say so unless ``quiet``."""
    from export.fileio import atomic_write_json

    Path(output).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(output, report)
    if not quiet:
        print(f"wrote {output}")


if __name__ == "__main__":
    sys.exit(main())
