"""Training speed of the BayesBiNN CNN (``lowprec train cnn``'s trainer) against PyTorch training the same
architecture with the straight-through estimator, on the same Fashion-MNIST minibatches and threads (issue 12,
protocol bullet "Speed": ours <= 1.25x PyTorch).

Contenders, interleaved in one run (round r runs every contender once; the order alternates between rounds so
that a slow phase of the shared machine does not always hit the same one):

- ``ours``: :class:`lowprec_rbm.nn.cnn.CNNClassifier` (rule bayesbinn, sign activations, bit-plane input, the
  trainer's defaults) fitted for one epoch of exactly ``--batches`` minibatches; the time is the trainer's own
  ``history_[0]["seconds"]`` (the minibatch loop: relaxed sample, forward, backward, update; the epoch-end
  evaluation is excluded).
- ``ours_before`` (``--before``): the same, with the convolution / pooling / batch-norm / sign kernels of the
  engine before this benchmark's optimisations (kept below, monkeypatched into ``lowprec_rbm.nn``), so the speed-up
  is measured in the same run.
- ``ours_fresh_buffers`` (``--fresh-buffers``): ``ours`` with fresh im2col matrices every step (the trainer's
  ``Network.recycling`` switched off), so what the buffer reuse saves is measured in the same run.
- ``torch_nchw`` and ``torch_channels_last``: PyTorch (CPU) training the same network with STE: ±1 weights
  ``sign(latent)`` with identity straight-through gradient, sign activations with the hard-tanh gradient (window
  1), batch norm without affine parameters (eps 1e-4, momentum 0.15), the same padding values (first conv pads
  with pixel 0, later ones with +1), 2x2 max-pool after the sign, Adam on the latents clipped to [-1, 1], the
  same batch size and the same images in the same order; timed over the same number of minibatches after two
  warm-up steps. PyTorch is a benchmark-only dependency.

Before round 1, every contender runs ``--warmup`` minibatches untimed (default 2), so that the process's
first-call costs (lazy imports, BLAS and oneDNN buffers, the allocator's first pages) do not fall on whichever
contender round 1 runs first.

Threads: ``--threads`` sets OPENBLAS/OMP/MKL_NUM_THREADS before numpy and torch load, and torch.set_num_threads.
Ratios ``ours / torch`` are per round (the same round's runs), and their median is reported.

    python bench/cnn_torch_speed.py [--batches 50] [--rounds 3] [--warmup 2] [--threads 2] [--before] \
        [--fresh-buffers] [-o bench/results/cnn_torch_speed.json]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from typing import NamedTuple


def _args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="bench/results/cnn_torch_speed.json")
    ap.add_argument("--arch", default="c32,c32,p,c64,c64,p,d256")
    ap.add_argument("--batches", type=int, default=50, help="minibatches timed per run (default 50)")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2,
                    help="minibatches of one untimed run of every contender before round 1 (default 2; 0: none)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--before", action="store_true", help="also time the engine's kernels before optimisation")
    ap.add_argument("--fresh-buffers", action="store_true",
                    help="also time ours without reusing the im2col buffers between steps (Network.recycling)")
    ap.add_argument("--data", default="debian")
    return ap.parse_args(argv)


# --------------------------------------------------------------------------- the engine's kernels before
def _legacy_kernels():
    """The conv / pool / BN / sign kernels of lowprec_rbm.nn as they were before the speed work (commit 70b198b),
    as replacements for the current ones: {module: {name: function}}."""
    import numpy as np

    from lowprec_rbm.nn import conv as C
    from lowprec_rbm.nn import layers as L

    def _pad(x, p, value):
        return x if p == 0 else np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="constant",
                                       constant_values=value)

    def _im2col(x, k, value):
        b, h, w, c = x.shape
        win = np.lib.stride_tricks.sliding_window_view(_pad(x, k // 2, value), (k, k), axis=(1, 2))
        return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(b * h * w, k * k * c)

    def conv2d_forward(x, w, pad_value, cols=None):      # (the buffer-reuse argument is ignored)
        k = C.check_kernel(w)
        cols = _im2col(x, k, pad_value)
        y = cols @ w.reshape(w.shape[0], -1).T
        b, h, wd, _ = x.shape
        return y.reshape(b, h, wd, w.shape[0]), C.ConvCache(cols, x.shape)

    def conv2d_backward(g, cache, w, need_input_grad=True):
        k = C.check_kernel(w)
        o = w.shape[0]
        g2 = g.reshape(-1, o)
        gw = (g2.T @ cache.cols).reshape(w.shape)
        if not need_input_grad:
            return None, gw
        b, h, wd, c = cache.shape
        gcols = (g2 @ w.reshape(o, -1)).reshape(b, h, wd, k, k, c)
        p = k // 2
        gx = np.zeros((b, h + 2 * p, wd + 2 * p, c), dtype=g.dtype)
        for di in range(k):
            for dj in range(k):
                gx[:, di:di + h, dj:dj + wd, :] += gcols[:, :, :, di, dj, :]
        return gx[:, p:p + h, p:p + wd, :], gw

    def _windows(x):
        b, h, w, c = x.shape
        return x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(b, h // 2, w // 2, c, 4)

    class PoolCache(NamedTuple):
        argmax: np.ndarray
        shape: tuple

    def maxpool2_forward(x):
        win = _windows(x)
        idx = np.argmax(win, axis=-1)
        return np.take_along_axis(win, idx[..., None], axis=-1)[..., 0], PoolCache(idx, x.shape)

    def maxpool2_backward(g, cache):
        b, h, w, c = cache.shape
        gwin = np.zeros((b, h // 2, w // 2, c, 4), dtype=g.dtype)
        np.put_along_axis(gwin, cache.argmax[..., None], g[..., None], axis=-1)
        return gwin.reshape(b, h // 2, w // 2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(b, h, w, c)

    def batchnorm_forward(a, eps):
        mean = a.mean(axis=0)
        c = a - mean
        var = np.mean(c * c, axis=0)
        rstd = 1.0 / np.sqrt(var + a.dtype.type(eps))
        xhat = c * rstd
        return xhat, L.BatchNormCache(xhat, rstd), mean, var

    def batchnorm_backward(g, cache):
        xhat, rstd = cache
        return rstd * (g - g.mean(axis=0) - xhat * np.mean(g * xhat, axis=0))

    def sign_backward(g, z, window=1.0):
        return g * (np.abs(z) <= window)

    return {C: {"conv2d_forward": conv2d_forward, "conv2d_backward": conv2d_backward,
                "maxpool2_forward": maxpool2_forward, "maxpool2_backward": maxpool2_backward},
            L: {"batchnorm_forward": batchnorm_forward, "batchnorm_backward": batchnorm_backward,
                "sign_backward": sign_backward}}


class _patched:
    def __init__(self, table):
        self.table, self.saved = table, []

    def __enter__(self):
        for mod, funcs in self.table.items():
            for name, f in funcs.items():
                self.saved.append((mod, name, getattr(mod, name)))
                setattr(mod, name, f)

    def __exit__(self, *exc):
        for mod, name, f in reversed(self.saved):
            setattr(mod, name, f)


# ------------------------------------------------------------------------------------------- contenders
def run_ours(x, y, arch, batch_size, seed=0):
    from lowprec_rbm.nn.cnn import CNNClassifier

    clf = CNNClassifier(arch=arch, activation="sign", input_encoding="bitplanes", rule="bayesbinn", epochs=1,
                        batch_size=batch_size, bn_calib=batch_size, test_samples=1, random_state=seed)
    clf.fit(x, y)
    return float(clf.history_[0]["seconds"]), float(clf.history_[0]["loss"])


def torch_model(blocks, image_shape, torch):
    """The PyTorch STE network of our block list (same layers, padding values, BN settings)."""
    nn = torch.nn

    class SignSTE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return torch.where(z >= 0, 1.0, -1.0)

        @staticmethod
        def backward(ctx, g):
            (z,) = ctx.saved_tensors
            return g * (z.abs() <= 1.0)

    class WeightSign(torch.autograd.Function):        # identity straight-through for the latent weights
        @staticmethod
        def forward(ctx, w):
            return torch.where(w >= 0, 1.0, -1.0)

        @staticmethod
        def backward(ctx, g):
            return g

    class Act(nn.Module):
        def forward(self, z):
            return SignSTE.apply(z)

    class BinConv(nn.Conv2d):
        def forward(self, x):
            return self._conv_forward(x, WeightSign.apply(self.weight), None)

    class BinLinear(nn.Linear):
        def forward(self, x):
            return nn.functional.linear(x, WeightSign.apply(self.weight))

    h, w, c = image_shape
    layers, flat = [], False
    for i, b in enumerate(blocks):
        last = i == len(blocks) - 1
        if b["kind"] == "conv":
            k = int(b["k"])
            layers += [nn.ConstantPad2d(k // 2, float(b["pad"])), BinConv(c, b["out"], k, bias=False),
                       nn.BatchNorm2d(b["out"], eps=1e-4, momentum=0.15, affine=False), Act()]
            c = b["out"]
            if b["pool"]:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
        else:
            if not flat:
                layers.append(nn.Flatten())
                c, flat = h * w * c, True
            layers += [BinLinear(c, b["out"], bias=False),
                       nn.BatchNorm1d(b["out"], eps=1e-4, momentum=0.15, affine=False)]
            if not last:
                layers.append(Act())
            c = b["out"]
    return nn.Sequential(*layers)


def run_torch(x, y, blocks, image_shape, batch_size, batches, channels_last, torch, seed=0):
    torch.manual_seed(seed)
    model = torch_model(blocks, image_shape, torch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt = torch.from_numpy(x.astype("float32")).unsqueeze(1)       # (M, 1, H, W) pixel values 0..255
    yt = torch.from_numpy(y.astype("int64"))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        xt = xt.contiguous(memory_format=torch.channels_last)

    def step(s):
        xb, yb = xt[s * batch_size:(s + 1) * batch_size], yt[s * batch_size:(s + 1) * batch_size]
        opt.zero_grad(set_to_none=True)
        loss = nn_ce(model(xb), yb)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for p in model.parameters():
                p.clamp_(-1.0, 1.0)
        return float(loss.detach())

    nn_ce = torch.nn.functional.cross_entropy
    model.train()
    step(0), step(1)                                              # warm-up (oneDNN primitive creation)
    t0 = time.perf_counter()
    loss = 0.0
    for s in range(batches):
        loss += step(s)
    return time.perf_counter() - t0, loss / batches


def main(argv=None) -> int:
    args = _args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    import numpy as np
    import torch

    from export.fileio import atomic_write_json
    from lowprec_rbm.data import load_dataset
    from lowprec_rbm.nn.stack.blocks import parse_arch

    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data)
    m = args.batches * args.batch_size
    x, y = ds.x_train[:m], ds.y_train[:m].astype(np.int64)
    blocks = parse_arch(args.arch, "bitplanes", "sign") + [{"kind": "dense", "out": 10}]
    # every contender is a function of the number of minibatches n (the first n of x, y)
    bs = args.batch_size
    contenders = {
        "ours": lambda n: run_ours(x[:n * bs], y[:n * bs], args.arch, bs),
        "torch_nchw": lambda n: run_torch(x, y, blocks, (28, 28, 1), bs, n, False, torch),
        "torch_channels_last": lambda n: run_torch(x, y, blocks, (28, 28, 1), bs, n, True, torch),
    }
    if args.before:
        legacy = _legacy_kernels()

        def before(n):
            with _patched(legacy):
                return run_ours(x[:n * bs], y[:n * bs], args.arch, bs)
        contenders["ours_before"] = before
    if args.fresh_buffers:
        from contextlib import contextmanager

        from lowprec_rbm.nn.stack.network import Network

        @contextmanager
        def no_recycling(self):
            yield self

        def fresh(n):
            with _patched({Network: {"recycling": no_recycling}}):
                return run_ours(x[:n * bs], y[:n * bs], args.arch, bs)
        contenders["ours_fresh_buffers"] = fresh
    names = list(contenders)
    if args.warmup:
        # one untimed round of short runs first: the process-level first-call costs (lazy imports, BLAS and
        # oneDNN buffers, the allocator's first pages) would otherwise land on round 1's first contender only
        for n in names:
            contenders[n](args.warmup)
        print(f"warm-up: every contender ran {args.warmup} minibatches (untimed)", flush=True)
    times: dict[str, list[float]] = {n: [] for n in names}
    losses: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            sec, loss = contenders[n](args.batches)
            times[n].append(sec)
            losses[n].append(loss)
            print(f"round {r + 1}: {n:22s} {sec:7.2f} s for {args.batches} minibatches "
                  f"({sec / args.batches * 1e3:.0f} ms each), mean loss {loss:.3f}", flush=True)
    med = lambda v: float(np.median(v))  # noqa: E731
    ratios = {}
    for ref in ("torch_nchw", "torch_channels_last"):
        per = [a / b for a, b in zip(times["ours"], times[ref])]
        ratios[f"ours/{ref}"] = {"per_round": per, "median": med(per)}
    if args.fresh_buffers:
        per = [a / b for a, b in zip(times["ours_fresh_buffers"], times["ours"])]
        ratios["ours_fresh_buffers/ours"] = {"per_round": per, "median": med(per)}
    if args.before:
        per = [a / b for a, b in zip(times["ours_before"], times["ours"])]
        ratios["ours_before/ours"] = {"per_round": per, "median": med(per)}
        for ref in ("torch_nchw", "torch_channels_last"):
            per = [a / b for a, b in zip(times["ours_before"], times[ref])]
            ratios[f"ours_before/{ref}"] = {"per_round": per, "median": med(per)}
    best_torch = min(med(times["torch_nchw"]), med(times["torch_channels_last"]))
    steps_per_epoch = 54000 // args.batch_size
    res = {
        "benchmark": "cnn_torch_speed",
        "arch": args.arch + " (+ output dense 10)",
        "input": "bitplanes (pixel values 0..255; first conv pads with 0, later convs with +1)",
        "batch_size": args.batch_size, "minibatches_per_run": args.batches, "rounds": args.rounds,
        "warmup_minibatches": args.warmup,
        "threads": args.threads, "torch": torch.__version__, "numpy": np.__version__,
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                    "load_average_at_end": list(os.getloadavg())},
        "data": ds.source,
        "seconds": times, "mean_loss": losses,
        "median_ms_per_minibatch": {n: med(v) / args.batches * 1e3 for n, v in times.items()},
        "estimated_s_per_epoch_54k": {n: med(v) / args.batches * steps_per_epoch for n, v in times.items()},
        "ratios": ratios,
        "target": "ours <= 1.25 x PyTorch (the faster of its two layouts)",
        "ours_over_best_torch": med(times["ours"]) / best_torch,
        "command": "python bench/cnn_torch_speed.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    atomic_write_json(args.out, res)
    for k, v in ratios.items():
        print(f"{k}: median {v['median']:.3f} (per round {', '.join(f'{p:.3f}' for p in v['per_round'])})")
    print(f"ours / best torch (medians): {res['ours_over_best_torch']:.3f} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
