"""Classify real test images with exported MLP or CNN models on any target; combine an ensemble exactly.

One model gives its accuracy. Several models (e.g. the S sampled networks of `lowprec export --mode sample
--samples S`, files OUT-0.onnx ... OUT-{S-1}.onnx) form the posterior-mean ensemble: each network's integer
outputs are combined afterwards, by majority vote of class indices (--combine vote) or by the sum of the
int64 class scores (--combine sum), so the ensemble's answer is the same on every target.

A model's class indices are mapped to the labels it was trained on (the `classes` in its metadata; a network
trained on labels {3, 5} answers 3 or 5), and accuracy is scored against the real test labels. A test image
whose label the model does not have cannot be answered right: it counts as wrong, with a warning saying how
many there are and the accuracy on the others.

examples:
  lowprec predict model.onnx --data sample
  lowprec predict ens-0.onnx ens-1.onnx ens-2.onnx ens-3.onnx --data debian --combine sum --target onnxruntime
"""
from __future__ import annotations

import argparse
import sys

from lowprec_rbm.cli import limits
from lowprec_rbm.cli.common import (add_trust_arguments, artifact_trust, output_path, positive_int,
                                     refuse_overwriting_inputs)

__all__ = ["configure", "run", "predict", "model_classes"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", metavar="MODEL", help="exported MLP or CNN .onnx files (several = an ensemble)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="test images: a folder of IDX files, 'sample' or 'debian' (default: Debian's Fashion-MNIST "
                        "when installed, else the embedded sample)")
    p.add_argument("--target", default="onnxruntime", metavar="T",
                   help="where the models run: reference, onnxruntime, onnx-reference, native or a device (default onnxruntime)")
    p.add_argument("--combine", choices=("vote", "sum"), default="vote",
                   help="how an ensemble's integer outputs are combined (default vote)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N", help="use the first N test images")
    p.add_argument("--batch", type=positive_int, default=1000, metavar="B",
                   help="rows per run (default 1000; limit: --max batch)")
    p.add_argument("--json", metavar="OUT", type=output_path, help="write accuracies and the confusion matrix as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_trust_arguments(p)


def predict(models: list[str], images, target: str = "onnxruntime", batch: int = 1000, quiet: bool = True):
    """Run every model on ``images`` (uint8 (M, H, W)); returns (labels (S, M) int64, scores (S, M, C) int64)."""
    import numpy as np

    import targets.registry  # noqa: F401  (registers the built-in targets and devices)
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
        net = _classifier(path, network_from_onnx(load_artifact(path)))
        _check_image_shape(path, net, images)
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
            if "scores" not in out:     # a device that holds only the deployed predict() build (PartialOutputs)
                raise ValueError(f"target {target!r} cannot give the class scores predict needs for {path}: "
                                 f"{getattr(out, 'note', 'it returned no scores')}; pick a target with more memory")
            lab.append(out["label"])
            sc.append(out["scores"])
        labels.append(np.concatenate(lab).astype(np.int64))
        scores.append(np.concatenate(sc))
    if len({s.shape[1] for s in scores}) != 1:
        raise ValueError("the models of an ensemble must have the same number of classes")
    return np.stack(labels), np.stack(scores)


def _classifier(path, net):
    """``net`` when it is a classifier (MLP or CNN); an RBM has no class output."""
    from export.network import CNNNetwork, MLPNetwork

    if not isinstance(net, (MLPNetwork, CNNNetwork)):
        raise ValueError(f"{path}: predict classifies with MLP or CNN models; this is a {type(net).__name__}")
    return net


def _check_image_shape(path, net, images) -> None:
    """A CNN reads its flat input as (H, W, C) images: the test images must have that shape, not only as many
    pixels (a 28x28 network fed 14x56 images would run and answer nonsense)."""
    from export.network import CNNNetwork

    if isinstance(net, CNNNetwork):
        h, w, c = net.image_shape
        shape = tuple(images.shape[1:])
        if shape not in ((h, w, c),) + (((h, w),) if c == 1 else ()):
            raise ValueError(f"{path}: the CNN takes {h}x{w}x{c} images, the test images are "
                             f"{'x'.join(map(str, shape))}")


def model_classes(models: list[str]) -> tuple[int, ...]:
    """The labels of the output units, shared by every model (an ensemble must agree on them)."""
    from export.onnx import load_artifact, network_from_onnx

    found = {}
    for path in models:
        net = _classifier(path, network_from_onnx(load_artifact(path)))
        found[path] = net.class_labels
    first = next(iter(found.values()))
    for path, classes in found.items():
        if classes != first:
            raise ValueError(f"the models of an ensemble must have the same classes: {models[0]} has "
                             f"{list(first)}, {path} has {list(classes)}")
    return first


def run(args) -> int:
    with artifact_trust(args):   # every model file read below: digest, signature, limits
        return _run(args)


def _run(args) -> int:
    import numpy as np

    from export.fileio import atomic_write_json
    from lowprec_rbm.cli.common import load_data
    from lowprec_rbm.derive import sum_scores, vote

    limits.check("--batch", args.batch, "batch")
    refuse_overwriting_inputs({"--json": args.json}, {f"model {m}": m for m in args.models})
    ds = load_data(args.data)
    n = len(ds.x_test) if args.limit is None else int(args.limit)
    if not 1 <= n <= len(ds.x_test):
        raise ValueError(f"--limit must be in [1, {len(ds.x_test)}], got {args.limit}")
    images, truth = ds.x_test[:n], ds.y_test[:n].astype(np.int64)
    classes = np.asarray(model_classes(args.models), dtype=np.int64)
    labels, scores = predict(args.models, images, args.target, args.batch, args.quiet)
    n_classes = scores.shape[2]
    result = {"data": ds.source, "images": n, "target": args.target, "classes": classes.tolist(), "models": {}}
    known = np.isin(truth, classes)
    if not known.all():
        missing = sorted(set(truth[~known].tolist()))
        print(f"warning: {int(np.sum(~known))} of {n} test images have labels {missing} that the model was not "
              f"trained on (its classes are {classes.tolist()}); they count as wrong", file=sys.stderr)
        result["unknown_class_images"] = int(np.sum(~known))
    for path, lab in zip(args.models, labels):
        hit = classes[lab] == truth
        acc = float(np.mean(hit))
        result["models"][path] = {"accuracy": acc}
        if not known.all():
            result["models"][path]["accuracy_on_model_classes"] = float(np.mean(hit[known])) if known.any() else None
        print(f"{path}: accuracy {100 * acc:.2f} % on {n} test images ({args.target})"
              + (f"; {100 * np.mean(hit[known]):.2f} % on the {int(known.sum())} of its classes"
                 if not known.all() and known.any() else ""))
    final = labels[0]
    if len(args.models) > 1:
        final = vote(labels, n_classes) if args.combine == "vote" else sum_scores(scores)[1]
        acc = float(np.mean(classes[final] == truth))
        accs = [m["accuracy"] for m in result["models"].values()]
        result["ensemble"] = {"combine": args.combine, "size": len(args.models), "accuracy": acc,
                              "mean_member_accuracy": float(np.mean(accs))}
        print(f"ensemble of {len(args.models)} ({args.combine}): accuracy {100 * acc:.2f} % "
              f"(members {100 * min(accs):.2f}-{100 * max(accs):.2f} %)")
    # Rows: true labels, columns: predicted labels, both in the order of confusion_labels (the model's classes,
    # then any test label it lacks).
    axis = classes.tolist() + sorted(set(truth.tolist()) - set(classes.tolist()))
    pos = {c: i for i, c in enumerate(axis)}
    confusion = np.zeros((len(axis), len(axis)), dtype=np.int64)
    np.add.at(confusion, (np.array([pos[t] for t in truth.tolist()], dtype=np.int64), final), 1)
    result["confusion"] = confusion.tolist()
    result["confusion_labels"] = axis
    if args.json:
        atomic_write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0
