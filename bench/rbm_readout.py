"""RBM features + binary readout: a fully binary classifier from an RBM posterior and a BayesBiNN readout.

Features: pixels are binarised to v ∈ {−1, +1}^784 at the RBM's threshold, and the RBM's hidden MAP bits are
``h_a = sign(Σ_i W_ia v_i)`` with the MAP weights ``W = sign(λ)`` of the RBM posterior (sign(0) = +1: bit layout
v1). The readouts, trained on h (the last 6,000 training images held out for validation):

- ``binary``: one ±1 layer P -> 10 + batch norm, trained with BayesBiNN (the whole classifier is ±1 weights on
  ±1 inputs: XNOR-popcount, then a per-class integer threshold/score);
- ``float``: the same linear readout with real weights trained by Adam (a softmax regression whose per-class
  offset and scale come from batch norm);
- ``binary-pixels``: the BayesBiNN readout on the binarised pixels themselves (784 -> 10), for reference.

    python bench/rbm_readout.py --rbm runs/fmnist_rbm100.npz -o bench/results/rbm_readout.json
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rbm", required=True, help="RBM posterior file (kind 'rbm', array 'lam' (784, P))")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default="debian")
    parser.add_argument("-o", "--output", default="bench/results/rbm_readout.json")
    args = parser.parse_args(argv)

    import numpy as np

    from export.fileio import atomic_write_json
    from lowprec_rbm.data import binarize, load_dataset
    from lowprec_rbm.nn import MLPClassifier, metrics
    from lowprec_rbm.posterior_file import load_posterior

    arrays, meta = load_posterior(args.rbm, kind="rbm")
    if "lam" not in arrays or arrays["lam"].ndim != 2:
        raise SystemExit(f"{args.rbm}: expected an array 'lam' of shape (N visible, P hidden)")
    lam = arrays["lam"]
    w = np.where(lam >= 0, 1, -1).astype(np.float32)           # (N, P) MAP weights
    threshold = float(meta.get("config", {}).get("threshold", 0.5))
    ds = load_dataset(args.data)

    def features(images):
        v = binarize(images, threshold).astype(np.float32)
        h = v @ w
        return np.where(h >= 0, 255, 0).astype(np.uint8)           # bits as uint8 -> ±1 via input="binary"

    ftr, fte = features(ds.x_train), features(ds.x_test)
    ytr, yte = ds.y_train.astype(np.int64), ds.y_test.astype(np.int64)
    n_val = 6000 if len(ftr) == 60000 else len(ftr) // 10
    rows = {}
    runs = {"binary": ("bayesbinn", ftr, fte), "float": ("adam", ftr, fte),
            "binary-pixels": ("bayesbinn", ds.x_train, ds.x_test)}
    for name, (rule, xa, xb) in runs.items():
        t0 = time.time()
        model = MLPClassifier(hidden=(), rule=rule, input_encoding="binary", threshold=0.5, epochs=args.epochs,
                              random_state=args.seed, test_samples=10)
        model.fit(xa[:-n_val], ytr[:-n_val], xa[-n_val:], ytr[-n_val:], eval_sets={"test": (xb, yte)},
                  n_classes=10)
        h = model.history_
        best = int(np.argmax([r["val_acc"] for r in h]))
        row = {"rule": rule, "n_features": int(np.prod(xa.shape[1:])), "best_epoch": best + 1,
               "test_acc_best_val": h[best]["test_acc"], "test_acc_last": h[-1]["test_acc"],
               "test_map": {k: h[-1][f"test_{k}"] for k in ("acc", "nll", "ece")},
               "seconds": time.time() - t0}
        if rule == "bayesbinn":
            row["test_mean"] = metrics.summarize(model.predict_proba(xb, mode="mean"), yte)
        rows[name] = row
        print(f"{name:14s} ({rule}, {row['n_features']} inputs): test {100 * row['test_acc_last']:.2f}% "
              f"(at best val {100 * row['test_acc_best_val']:.2f}%)  ({row['seconds']:.0f} s)", flush=True)
    report = {"benchmark": "rbm_readout", "rbm": {"path": str(args.rbm), "config": meta.get("config", {}),
                                                  "n_hidden": int(lam.shape[1])},
              "epochs": args.epochs, "seed": args.seed, "data": ds.source, "results": rows}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.output, report)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
