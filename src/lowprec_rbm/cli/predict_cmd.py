"""Classify real test images with exported MLP models on any target; combine an ensemble exactly.

One model gives its accuracy. Several models (e.g. the S sampled networks of `lowprec export --mode sample
--samples S`, files OUT-0.onnx ... OUT-{S-1}.onnx) form the posterior-mean ensemble: each network's integer
outputs are combined afterwards, by majority vote of class indices (--combine vote) or by the sum of the
int64 class scores (--combine sum), so the ensemble's answer is the same on every target.

examples:
  lowprec predict model.onnx --data sample
  lowprec predict ens-0.onnx ens-1.onnx ens-2.onnx ens-3.onnx --data debian --combine sum --target onnxruntime
"""
from __future__ import annotations

import argparse

from lowprec_rbm.cli.common import output_path

__all__ = ["configure", "run", "predict"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", metavar="MODEL", help="exported MLP .onnx files (several = an ensemble)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="test images: a folder of IDX files, 'sample' or 'debian' (default: Debian's Fashion-MNIST "
                        "when installed, else the embedded sample)")
    p.add_argument("--target", default="onnxruntime", metavar="T",
                   help="where the models run: reference, onnxruntime, onnx-reference or a device (default onnxruntime)")
    p.add_argument("--combine", choices=("vote", "sum"), default="vote",
                   help="how an ensemble's integer outputs are combined (default vote)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="use the first N test images")
    p.add_argument("--batch", type=int, default=1000, metavar="B", help="rows per run (default 1000)")
    p.add_argument("--json", metavar="OUT", type=output_path, help="write accuracies and the confusion matrix as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def predict(models: list[str], images, target: str = "onnxruntime", batch: int = 1000, quiet: bool = True):
    """Run every model on ``images`` (uint8 (M, H, W)); returns (labels (S, M) int64, scores (S, M, C) int64)."""
    import numpy as np

    import targets.registry  # noqa: F401  (registers the built-in targets and devices)
    from export.network import MLPNetwork
    from export.onnx import load_artifact, network_from_onnx
    from lowprec_rbm.progress import progress
    from targets.base import TargetUnavailable, get_target
    from targets.reference.target import ReferenceTarget
    from targets.verify import data_feeds

    runner = get_target(target)
    why = runner.availability()
    if why:
        raise ValueError(f"target {target!r} cannot run here: {why}")
    labels, scores = [], []
    for path in models:
        net = network_from_onnx(load_artifact(path))
        if not isinstance(net, MLPNetwork):
            raise ValueError(f"{path}: predict classifies with MLP models; this is an RBM")
        # graph input names and dtypes, to build the feeds (the reference target parses once for both uses)
        program = (runner if isinstance(runner, ReferenceTarget) else ReferenceTarget(64)).program(path)
        lab, sc = [], []
        starts = range(0, len(images), batch)
        for s in progress(starts, total=len(starts), desc=str(path), quiet=quiet, unit="batch"):
            feeds = data_feeds(program, net, images[s:s + batch], np.random.default_rng(0))
            try:
                out = runner.run(path, feeds)
            except TargetUnavailable as exc:
                raise ValueError(f"target {target!r} cannot run here: {exc}") from None
            lab.append(out["label"])
            sc.append(out["scores"])
        labels.append(np.concatenate(lab).astype(np.int64))
        scores.append(np.concatenate(sc))
    if len({s.shape[1] for s in scores}) != 1:
        raise ValueError("the models of an ensemble must have the same number of classes")
    return np.stack(labels), np.stack(scores)


def run(args) -> int:
    import numpy as np

    from export.fileio import atomic_write_json
    from lowprec_rbm.data import load_dataset
    from lowprec_rbm.derive import sum_scores, vote

    if args.batch < 1:
        raise ValueError(f"--batch must be >= 1, got {args.batch}")
    ds = load_dataset(args.data)
    n = len(ds.x_test) if args.limit is None else int(args.limit)
    if not 1 <= n <= len(ds.x_test):
        raise ValueError(f"--limit must be in [1, {len(ds.x_test)}], got {args.limit}")
    images, truth = ds.x_test[:n], ds.y_test[:n].astype(np.int64)
    labels, scores = predict(args.models, images, args.target, args.batch, args.quiet)
    n_classes = scores.shape[2]
    result = {"data": ds.source, "images": n, "target": args.target, "models": {}}
    for path, lab in zip(args.models, labels):
        acc = float(np.mean(lab == truth))
        result["models"][path] = {"accuracy": acc}
        print(f"{path}: accuracy {100 * acc:.2f} % on {n} test images ({args.target})")
    final = labels[0]
    if len(args.models) > 1:
        final = vote(labels, n_classes) if args.combine == "vote" else sum_scores(scores)[1]
        acc = float(np.mean(final == truth))
        accs = [m["accuracy"] for m in result["models"].values()]
        result["ensemble"] = {"combine": args.combine, "size": len(args.models), "accuracy": acc,
                              "mean_member_accuracy": float(np.mean(accs))}
        print(f"ensemble of {len(args.models)} ({args.combine}): accuracy {100 * acc:.2f} % "
              f"(members {100 * min(accs):.2f}-{100 * max(accs):.2f} %)")
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (truth, final), 1)
    result["confusion"] = confusion.tolist()
    if args.json:
        atomic_write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0
