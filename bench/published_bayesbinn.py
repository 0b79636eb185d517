"""The published PyTorch BayesBiNN on this project's Fashion-MNIST protocol, beside ours (issue 6).

The issue asks for BayesBiNN in this package to be no less accurate than the published implementation
(Meng, Bachmann & Khan, github.com/team-approx-bayes/BayesBiNN) and no slower on this machine. Its code is
not part of this project: give a checkout with ``--published-dir`` (the folder that holds
``optimizers/BayesBiNN.py``; only that file is imported, unchanged) and install PyTorch
(``pip install torch==2.13.0``, the CPU build on this machine's disk). Torchvision and tensorboard, which the
published scripts import, are not needed: this script is the driver.

What is theirs and what is ours:

- Theirs, unchanged: the ``BayesBiNN`` optimizer (λ init ±λ_init, relaxed sample, float32 scale with its
  ``1e-10`` guards and μ lag, momentum, KL reweight) and its mode predictor ``get_mc_predictions`` (sign of μ).
- Written here in the pattern of their ``MLPBinaryConnect`` (which has three 2048-unit layers): 784-1024-1024-10,
  each layer ``Linear(bias=False) → BatchNorm1d(affine=False, eps=1e-4, momentum=0.15) → ReLU → Dropout``, the
  input dropped out too, the last layer ``Linear → BatchNorm1d``; cross-entropy; their training step (closure
  returning loss and logits); ``CosineAnnealingLR(T_max=epochs, eta_min=1e-16)`` stepped before each epoch as
  in their ``train_model``; inputs normalised with their constants (0.1307, 0.3081).
- The protocol (the same as ``bench/fmnist_mlp.py``): Debian's Fashion-MNIST, the last 6,000 training images
  held out for validation, batch 100, 30 epochs; test accuracy of the mode network at the best-validation
  epoch (first maximum) and at the last epoch; seconds per training epoch (evaluation excluded).
- Their defaults from ``main_mnist.py``: lr 1e-4, τ = 1e-10, λ_init = 10, 1 MC sample, momentum 0, KL reweight 1,
  dropout 0.2, N = the training-set size.

Speed (``--speed-rounds R``, default 2): R rounds, each one training epoch of this package's ``BW-bayesbinn``
(``bench/fmnist_mlp.py``'s configuration) then one of the published optimizer, on the same 54,000 images
with the same thread count; the JSON gets each epoch's seconds and the ratio ours/theirs of the medians.
Interleaving keeps the two under the same load on a shared machine.

Example::

    python bench/published_bayesbinn.py --published-dir ../ext/BayesBiNN --epochs 30 --seeds 0 \\
        -o bench/results/published_bayesbinn.json
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fmnist_mlp import (PROTOCOL, estimator_kwargs, protocol_split, read_report, stat,  # noqa: E402  (a sibling script)
                        write_report)

PUBLISHED_DEFAULTS = {"lr": 1e-4, "temperature": 1e-10, "lamda_init": 10.0, "train_samples": 1,
                      "momentum": 0.0, "kl_reweight": 1.0, "drop_prob": 0.2, "bn_momentum": 0.15,
                      "bn_eps": 1e-4, "normalise": [0.1307, 0.3081]}


def load_published(folder: Path):
    """The ``BayesBiNN`` class from ``folder/optimizers/BayesBiNN.py``, imported unchanged."""
    path = folder / "optimizers" / "BayesBiNN.py"
    if not path.is_file():
        raise SystemExit(f"--published-dir: expected {path} (a checkout of team-approx-bayes/BayesBiNN), "
                         "found no such file")
    spec = importlib.util.spec_from_file_location("published_bayesbinn_optimizer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.BayesBiNN


def make_model(torch, hidden: list[int], drop: float, bn_momentum: float, bn_eps: float):
    nn = torch.nn
    layers: list = [nn.Dropout(drop)]
    width = 784
    for h in hidden:
        layers += [nn.Linear(width, h, bias=False), nn.BatchNorm1d(h, eps=bn_eps, momentum=bn_momentum, affine=False),
                   nn.ReLU(), nn.Dropout(drop)]
        width = h
    layers += [nn.Linear(width, 10, bias=False), nn.BatchNorm1d(10, eps=bn_eps, momentum=bn_momentum, affine=False)]
    return nn.Sequential(*layers)


class PublishedRun:
    """One training run of the published optimizer on the protocol's data."""

    def __init__(self, torch, BayesBiNN, data: dict, seed: int, epochs: int, hp: dict, hidden: list[int]):
        self.torch = torch
        torch.manual_seed(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.data = data
        self.epochs = epochs
        self.model = make_model(torch, hidden, hp["drop_prob"], hp["bn_momentum"], hp["bn_eps"])
        n = data["xtr"].shape[0]
        self.opt = BayesBiNN(self.model, train_set_size=n, lr=hp["lr"], betas=hp["momentum"],
                             num_samples=hp["train_samples"], lamda_init=hp["lamda_init"], lamda_std=0,
                             temperature=hp["temperature"], reweight=hp["kl_reweight"])
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=epochs, eta_min=1e-16)
        self.criterion = torch.nn.CrossEntropyLoss()

    def train_epoch(self) -> tuple[float, float]:
        """One epoch; returns (seconds, running train accuracy of the sampled networks)."""
        torch = self.torch
        import warnings
        with warnings.catch_warnings():      # their train_model steps the scheduler before the epoch's updates
            warnings.simplefilter("ignore", UserWarning)
            self.sched.step()
        self.model.train(True)
        xtr, ytr = self.data["xtr"], self.data["ytr"]
        perm = torch.randperm(xtr.shape[0], generator=self.gen)
        correct = 0
        t0 = time.perf_counter()
        bs = PROTOCOL["batch_size"]
        for i in range(0, xtr.shape[0], bs):
            idx = perm[i:i + bs]
            inputs, labels = xtr[idx], ytr[idx]

            def closure():
                self.opt.zero_grad()
                output = self.model(inputs)
                return self.criterion(output, labels), output

            _, outputs = self.opt.step(closure)
            correct += int((outputs[0].argmax(1) == labels).sum())
        return time.perf_counter() - t0, correct / xtr.shape[0]

    def accuracy(self, x, y) -> float:
        """Accuracy of the mode network sign(μ) (their ``get_mc_predictions`` with no noise), BN in eval mode."""
        torch = self.torch
        self.model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, x.shape[0], 1000):
                out = self.opt.get_mc_predictions(self.model, x[i:i + 1000], raw_noises=None)[0]
                correct += int((out.argmax(1) == y[i:i + 1000]).sum())
        return correct / x.shape[0]


def load_protocol_data(torch, data_source: str, mean: float, std: float) -> dict:
    from lowprec_rbm.data import load_dataset

    ds = load_dataset(data_source)
    x = ds.x_train.reshape(len(ds.x_train), -1).astype(np.float32) / 255.0
    xt = ds.x_test.reshape(len(ds.x_test), -1).astype(np.float32) / 255.0
    xtr, ytr, xv, yv = protocol_split(x, ds.y_train.astype(np.int64))
    norm = lambda a: torch.from_numpy((a - mean) / std)   # noqa: E731
    ours_x, ours_y, _, _ = protocol_split(ds.x_train, ds.y_train.astype(np.int64))   # uint8 images, for ours
    return {"xtr": norm(xtr), "ytr": torch.from_numpy(ytr), "xv": norm(xv), "yv": torch.from_numpy(yv),
            "xte": norm(xt), "yte": torch.from_numpy(ds.y_test.astype(np.int64)), "ours_xtr": ours_x,
            "ours_ytr": ours_y}


def full_run(torch, BayesBiNN, data, seed, epochs, hp, hidden, log) -> dict:
    run = PublishedRun(torch, BayesBiNN, data, seed, epochs, hp, hidden)
    hist = []
    calib = slice(0, 10000)
    for ep in range(epochs):
        sec, run_train = run.train_epoch()
        rec = {"epoch": ep + 1, "seconds": sec, "train_acc_running": run_train,
               "train_acc": run.accuracy(data["xtr"][calib], data["ytr"][calib]),
               "val_acc": run.accuracy(data["xv"], data["yv"]),
               "test_acc": run.accuracy(data["xte"], data["yte"]),
               "abs_lam_median": float(run.opt.state["lamda"].abs().median())}
        hist.append(rec)
        log(f"  published seed {seed} epoch {ep + 1}/{epochs}: {sec:.1f} s  val {100 * rec['val_acc']:.2f}%  "
            f"test {100 * rec['test_acc']:.2f}%  median |λ| {rec['abs_lam_median']:.3g}")
    val = [r["val_acc"] for r in hist]
    best = int(np.argmax(val))
    return {"seed": seed, "epochs": epochs, "best_epoch": best + 1,
            "test_acc_best_val": hist[best]["test_acc"], "test_acc_last": hist[-1]["test_acc"],
            "train_acc_best_val": hist[best]["train_acc"], "val_acc_best": val[best],
            "seconds_per_epoch": float(np.mean([r["seconds"] for r in hist])), "history": hist}


def speed_rounds(torch, BayesBiNN, data, rounds: int, hp, hidden, log) -> dict:
    """Interleaved single training epochs: ours (BW-bayesbinn) then theirs, ``rounds`` times."""
    from lowprec_rbm.nn import MLPClassifier

    ours, theirs = [], []
    for r in range(rounds):
        model = MLPClassifier(hidden=PROTOCOL["hidden"], epochs=1, batch_size=PROTOCOL["batch_size"], random_state=r,
                              **estimator_kwargs("BW-bayesbinn"))
        model.fit(data["ours_xtr"], data["ours_ytr"], n_classes=10)
        ours.append(float(model.history_[0]["seconds"]))
        run = PublishedRun(torch, BayesBiNN, data, r, 30, hp, hidden)
        theirs.append(run.train_epoch()[0])
        log(f"  speed round {r + 1}/{rounds}: ours {ours[-1]:.1f} s/epoch, published {theirs[-1]:.1f} s/epoch")
    return {"ours_seconds": ours, "published_seconds": theirs,
            "ours_median": float(np.median(ours)), "published_median": float(np.median(theirs)),
            "ratio_ours_over_published": float(np.median(ours) / np.median(theirs))}


def aggregate(runs: list[dict]) -> dict:
    """Mean ± population std over seeds, as ``bench/fmnist_mlp.py``."""
    return {k: stat([r[k] for r in runs])
            for k in ("val_acc_best", "test_acc_best_val", "test_acc_last", "train_acc_best_val",
                      "seconds_per_epoch")}


def merge(paths: list[Path]) -> dict:
    """One report from several result files of this script: all runs (one per seed), the latest speed block."""
    reports = [read_report(path, "--merge", "published_bayesbinn") for path in paths]
    runs = [r for rep in reports for r in rep.get("runs", [])]
    seeds = [r["seed"] for r in runs]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"--merge: a seed appears twice among {sorted(seeds)}")
    out = {k: v for k, v in reports[0].items() if k not in ("runs", "aggregate", "speed", "seeds")}
    out["seeds"] = sorted(seeds)
    out["runs"] = sorted(runs, key=lambda r: r["seed"])
    if runs:
        out["aggregate"] = aggregate(runs)
    speeds = [rep["speed"] for rep in reports if "speed" in rep]
    if speeds:
        out["speed"] = speeds[-1]
    out["peak_rss_mb"] = max(rep["peak_rss_mb"] for rep in reports if rep.get("runs")) if runs else None
    out["merged_from"] = [str(p) for p in paths]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                        help="combine result files of this script into one (-o) and exit")
    parser.add_argument("--published-dir", type=Path,
                        help="checkout of team-approx-bayes/BayesBiNN (holds optimizers/BayesBiNN.py)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds for full runs ('' for none)")
    parser.add_argument("--speed-rounds", type=int, default=2, help="interleaved timing rounds (0 to skip)")
    parser.add_argument("--data", default="debian")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    for key, value in PUBLISHED_DEFAULTS.items():
        if key != "normalise":
            parser.add_argument("--" + key.replace("_", "-"), type=type(value), default=value,
                                help=f"published default {value}")
    parser.add_argument("-o", "--output", default="bench/results/published_bayesbinn.json")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.merge:
        write_report(args.output, merge(args.merge))
        return 0
    if args.published_dir is None:
        parser.error("--published-dir is required (a checkout of team-approx-bayes/BayesBiNN)")
    try:
        import torch
    except ImportError:
        raise SystemExit("this benchmark needs PyTorch: pip install torch==2.13.0") from None
    torch.set_num_threads(args.threads)
    BayesBiNN = load_published(args.published_dir)
    hp = {k: getattr(args, k) if k != "normalise" else v for k, v in PUBLISHED_DEFAULTS.items()}
    hidden = list(PROTOCOL["hidden"])
    log = lambda s: print(s, file=sys.stderr, flush=True)   # noqa: E731
    data = load_protocol_data(torch, args.data, *hp["normalise"])
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    started = time.time()
    report: dict = {"benchmark": "published_bayesbinn", "published_dir": str(args.published_dir),
                    "hyper_parameters": hp, "hidden": hidden, "epochs": args.epochs, "seeds": seeds,
                    "torch": torch.__version__, "threads": args.threads}
    if args.speed_rounds > 0:
        report["speed"] = speed_rounds(torch, BayesBiNN, data, args.speed_rounds, hp, hidden, log)
    runs = [full_run(torch, BayesBiNN, data, s, args.epochs, hp, hidden, log) for s in seeds]
    report["runs"] = runs
    if runs:
        report["aggregate"] = aggregate(runs)
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    report["machine"] = {"cpus": os.cpu_count(), "load_average_after": os.getloadavg(),
                         "platform": platform.platform(), "python": platform.python_version()}
    report["total_seconds"] = time.time() - started
    print(json.dumps({k: report[k] for k in ("speed", "aggregate") if k in report}, indent=1))
    write_report(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
