"""Batch inference: run an exported MLP over a set of images and write the class labels.

The images are the test images of an MNIST-format folder, one IDX image file, 'sample' (the embedded
Fashion-MNIST sample) or 'debian'. The default target is 'native' (the C kernels, in-process); where the
native runtime was not built, the numpy simulator ('reference') runs instead and one line says so. When the
data has labels, the accuracy is printed too. The last line gives the throughput in images/s.

examples:
  lowprec run model.onnx --data sample
  lowprec run model.onnx --data /usr/share/datasets/fashion-mnist -o labels.npy --threads 2
  lowprec run model.onnx --data t10k-images-idx3-ubyte.gz --target onnxruntime
"""
from __future__ import annotations

import argparse
import sys

from lowprec_rbm.cli.common import output_path, positive_int

__all__ = ["configure", "run"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="exported MLP .onnx file")
    p.add_argument("--data", required=True, metavar="DIR|FILE|sample|debian",
                   help="a folder of MNIST-format IDX files (its test images), one IDX image file, 'sample' or "
                        "'debian'")
    p.add_argument("--target", default=None, metavar="T",
                   help="where the model runs (default: native, or reference when the native runtime is missing)")
    p.add_argument("-o", "--output", type=output_path, default=None, metavar="OUT.npy",
                   help="write the labels (int64, one per image) as a .npy file")
    p.add_argument("--batch", type=positive_int, default=1024, metavar="B", help="images per call (default 1024)")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="threads of the native target (default: the cores available)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N", help="only the first N images")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _images(data: str):
    """(uint8 images (M, H, W) or (M, K), labels or None, description)."""
    import os

    from lowprec_rbm.cli.common import load_data
    from lowprec_rbm.data import read_idx

    if os.path.isfile(data):
        x = read_idx(data)
        if x.dtype != "uint8" or x.ndim < 2:
            raise ValueError(f"{data}: expected an IDX file of uint8 images, found {x.dtype} {x.shape}")
        return x, None, data
    ds = load_data(data)
    return ds.x_test, ds.y_test, f"{ds.source} (test images)"


def run(args) -> int:
    import time

    import numpy as np

    import targets.registry  # noqa: F401
    from lowprec_rbm.progress import progress
    from targets.base import TargetUnavailable
    from targets.native import missing_reason
    from targets.session import Session

    target = args.target
    if target is None:
        why = missing_reason()
        target = "native" if why is None else "reference"
        if why:
            print(f"lowprec: note: {why}; running on the numpy simulator (reference)", file=sys.stderr)
    if args.threads is not None and target != "native":
        raise ValueError("--threads applies to the native target only")
    try:
        sess = Session(args.model, target, threads=args.threads)
    except TargetUnavailable as exc:
        raise ValueError(str(exc)) from None
    if sess.kind != "mlp":
        raise ValueError(f"{args.model}: run classifies images with an MLP model; this is an RBM")
    images, truth, where = _images(args.data)
    if args.limit is not None:
        images = images[:args.limit]
        truth = None if truth is None else truth[:args.limit]
    x = sess.prepare(images)  # dtype/size checked once, before the timed loop
    starts = range(0, len(x), args.batch)
    labels = np.empty(len(x), np.int64)
    t0 = time.perf_counter()
    for s in progress(starts, total=len(starts), desc="run", quiet=args.quiet, unit="batch"):
        labels[s:s + args.batch] = sess.run(x[s:s + args.batch])
    elapsed = time.perf_counter() - t0
    if truth is not None:
        print(f"accuracy {100 * float(np.mean(labels == truth)):.2f} % on {len(x)} images of {where}")
    if args.output:
        from export.fileio import atomic_writer

        atomic_writer(args.output, lambda f: np.save(f, labels, allow_pickle=False))
        print(f"wrote {args.output} ({len(labels)} labels)")
    print(f"{len(x)} images in {elapsed:.3f} s: {len(x) / max(elapsed, 1e-9):,.0f} images/s ({sess.describe()})")
    return 0
