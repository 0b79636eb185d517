"""Draw samples from a trained binary-synapse RBM and write them as a grid image, to see what the model learned.

N chains start from uniform random ±1 images and run K Gibbs sweeps v -> h -> v with the MAP weights (or one
sampled weight matrix, --weights sample). The draws use the counter-based PRNG of the exported sampler, one
uint32 seed per chain, in blocks of 25 steps: --target numpy runs the chains in NumPy; any other target exports
the RBM's bit-exact Gibbs graph (ONNX, in a temporary folder) and runs it there, e.g. onnxruntime, reference
(the bit-exact simulator), native (C kernels). For the same --seed every target gives the same bits; --check
compares the target's samples with NumPy's and fails (exit 1) on any difference.

The image is an 8-bit greyscale PNG: +1 white, -1 black, one tile per chain. The image shape comes from the
posterior's recorded data (--image-shape HxW otherwise). --bits OUT.npy also writes the ±1 samples (int8).

examples:
  lowprec sample rbm.npz -n 64 --steps 1000 -o samples.png
  lowprec sample rbm.npz -n 16 --steps 200 --target onnxruntime --check -o samples.png
"""
from __future__ import annotations

import argparse

from lowprec_rbm.cli import limits
from lowprec_rbm.cli.common import nonnegative_int, output_path, positive_int, refuse_overwriting_inputs
from lowprec_rbm.cli.errors import CLIError

__all__ = ["configure", "run"]


def _shape(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW (e.g. 28x28), got {text!r}") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"expected positive HxW, got {text!r}")
    return h, w


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("posterior", help="RBM posterior file (.npz, from lowprec train rbm)")
    p.add_argument("-o", "--output", required=True, type=output_path, help="PNG image to write")
    p.add_argument("-n", "--samples", type=positive_int, default=64, metavar="N",
                   help="chains, one image each (default 64; limit: --max batch)")
    p.add_argument("--steps", type=nonnegative_int, default=1000, metavar="K",
                   help="Gibbs sweeps per chain (default 1000)")
    p.add_argument("--target", default="numpy", metavar="T",
                   help="numpy (default), or a target that runs the exported sampler: reference, onnxruntime, "
                        "onnx-reference, native, ... (see lowprec verify --help)")
    p.add_argument("--check", action="store_true",
                   help="with a --target other than numpy: also run NumPy and fail on any differing bit")
    p.add_argument("--weights", choices=("map", "sample"), default="map",
                   help="MAP weights sign(λ) (default) or one weight matrix sampled from the posterior")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the starts, chains and weight sample "
                   "(default 0)")
    p.add_argument("--image-shape", type=_shape, default=None, metavar="HxW",
                   help="image shape when the posterior does not record it")
    p.add_argument("--cols", type=positive_int, default=None, help="images per row (default ⌈√N⌉)")
    p.add_argument("--scale", type=positive_int, default=2, help="screen pixels per unit (default 2)")
    p.add_argument("--bits", type=output_path, default=None, metavar="OUT.npy",
                   help="also write the samples as int8 ±1 (N, visible units) in a .npy file")
    p.add_argument("--quiet", action="store_true", help="no progress messages")


def _image_shape(args, model) -> tuple[int, int]:
    n = model.n_visible_
    if args.image_shape is not None:
        h, w = args.image_shape
        if h * w != n:
            raise CLIError(f"--image-shape {h}x{w} has {h * w} pixels but the RBM has {n} visible units")
        return h, w
    shape = (model.data_info_ or {}).get("image_shape")
    if isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) and v > 0 for v in shape) \
            and shape[0] * shape[1] == n:
        return shape[0], shape[1]
    raise CLIError(f"{args.posterior} does not record the image shape of its {n} visible units; pass "
                   f"--image-shape HxW")


def _target_step(args, model, weights, tmp):
    """A function (v, seeds, k) -> v after k steps on the target, from exported graphs of k <= 25 steps."""
    import targets.registry  # noqa: F401  (registers the built-in targets and devices)
    from export.network import RBMNetwork
    from export.onnx import build_model, save_model
    from targets.base import TargetUnavailable
    from targets.session import Session

    sessions: dict = {}

    def step(v, seeds, k):
        if k not in sessions:
            path = tmp / f"gibbs{k}.onnx"
            save_model(build_model(RBMNetwork(weights, beta=float(model.beta), gibbs_steps=k)), path)
            try:
                sessions[k] = Session(path, target=args.target)
            except TargetUnavailable as exc:
                raise CLIError(str(exc)) from None
        return sessions[k].gibbs(v, seeds)

    return step


def run(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    import numpy as np

    from lowprec_rbm.progress import log, progress
    from lowprec_rbm.rbm import BinaryRBM
    from lowprec_rbm.rbm.sampling import block_lengths, block_seeds, gibbs_block
    from lowprec_rbm.report.png import image_grid, write_png

    limits.check("--samples", args.samples, "batch")
    if args.check and args.target == "numpy":
        raise CLIError("--check compares a target with NumPy; pick a --target other than numpy")
    refuse_overwriting_inputs({"-o": args.output, "--bits": args.bits}, {"the posterior": args.posterior})
    if args.target != "numpy":
        import targets.registry  # noqa: F401
        from targets.base import target_names

        if args.target not in target_names():
            raise CLIError(f"unknown --target {args.target!r}; known: numpy, {', '.join(target_names())}")
    if str(args.posterior).lower().endswith(".onnx"):
        raise CLIError(f"{args.posterior}: lowprec sample reads the RBM posterior (.npz from lowprec train rbm), "
                       "not an exported .onnx; --target picks where the exported sampler runs")
    model = BinaryRBM.load(args.posterior)
    shape = _image_shape(args, model)
    rng = np.random.default_rng(args.seed)
    weights = model.posterior_.map() if args.weights == "map" else model.posterior_.sample(rng)
    v, seeds = model.sample_start(args.samples, rng)
    N, P = weights.shape
    log(f"sampling {args.samples} chains x {args.steps} Gibbs steps of the {N}x{P} RBM ({args.weights} weights, "
        f"β {model.beta:g}) on {args.target} ...", quiet=args.quiet)

    def numpy_step(s, sd, k):
        return gibbs_block(weights, model.beta, s, sd, k)

    with tempfile.TemporaryDirectory(prefix="lowprec-sample-") as tmp:
        step = numpy_step if args.target == "numpy" else _target_step(args, model, weights, Path(tmp))
        lengths = block_lengths(args.steps)
        ref = v if args.check else None
        for j, k in enumerate(progress(lengths, total=len(lengths), desc="Gibbs blocks", quiet=args.quiet,
                                       unit="block")):
            sd = block_seeds(seeds, j)
            v = step(v, sd, k)
            if ref is not None:
                ref = numpy_step(ref, sd, k)
    if ref is not None:
        diff = np.argwhere(ref != v)
        if len(diff):
            i, u = diff[0]
            print(f"sample check FAILED: {args.target} and NumPy differ in {len(diff)} unit(s); first: chain {i}, "
                  f"unit {u}: {args.target} {v[i, u]:+d}, NumPy {ref[i, u]:+d}")
            return 1
        print(f"sample check: {args.target} and NumPy agree on all {v.size} units")
    path = write_png(args.output, image_grid(v, shape, cols=args.cols, scale=args.scale))
    if args.bits:
        from export.fileio import atomic_writer

        atomic_writer(args.bits, lambda f: np.save(f, v.astype(np.int8), allow_pickle=False))
    on = float((v > 0).mean())
    print(f"wrote {path}: {args.samples} samples ({shape[0]}x{shape[1]}), {args.steps} Gibbs steps on "
          f"{args.target}; {on:.1%} of units +1" + (f"; bits in {args.bits}" if args.bits else ""))
    return 0
