"""BayesBiNN under DistributedDataParallel (gloo, CPU, 2 processes) equals one process on the same global batch.

Why it can: λ is replicated, the relaxation noise of step t comes from ``default_rng([seed, t])`` on every rank
(the same sampled network everywhere), :class:`~lowprec_rbm.pytorch.BatchNorm` sums its batch statistics over
the ranks, and DDP averages the ranks' gradients of their local mean losses, which is the gradient of the
global mean loss for equal shards.

Tolerance. With bit-plane inputs every pre-activation is an integer and every batch mean the same correctly
rounded quotient of an exact integer sum, so all signs (activations and samples) agree; what differs is the
float32 summation order of the variances and of the gradient (two half-batch sums averaged vs one sum): a
relative 1e-6 of the gradient, multiplied by α N in the update. Each step's difference stays in λ, so after the
last step λ agrees to 1e-4 of the *total* movement Σ_t |Δλ_t| plus a few ulp of |λ| (the last step's size alone
is not enough: a weight that moved 0.79 in step 1 and 6e-4 in step 3 carries step 1's 1e-7); the ranks agree with
each other bit for bit (every rank applies the same update to the same λ).
"""
from __future__ import annotations

import os
import socket
import time
from datetime import timedelta

import numpy as np
import pytest

from torch_skip import require_torch

torch = require_torch()

import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from lowprec_rbm.data import load_embedded_sample  # noqa: E402
from lowprec_rbm.pytorch import BayesBiNN, BinaryMLP, binary_layers  # noqa: E402

WORLD, GLOBAL_BATCH, STEPS, SEED = 2, 64, 3, 5
SIZES = (784, 32, 10)
EPS32 = float(np.finfo(np.float32).eps)


def _run(model, opt, x, y, rows):
    """STEPS BayesBiNN steps on the given rows of each global batch; λ before each step and after the last."""
    model.train()
    lams = []
    for s in range(STEPS):
        lams.append([m.lam.numpy().copy() for m in binary_layers(model)])
        xb, yb = x[s * GLOBAL_BATCH:(s + 1) * GLOBAL_BATCH][rows], y[s * GLOBAL_BATCH:(s + 1) * GLOBAL_BATCH][rows]

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            return loss

        opt.step(closure)
    lams.append([m.lam.numpy().copy() for m in binary_layers(model)])
    return lams


def _data():
    ds = load_embedded_sample()
    model = BinaryMLP(SIZES, random_state=0)
    return model, model.prepare(ds.x_train[:STEPS * GLOBAL_BATCH]), \
        torch.from_numpy(ds.y_train[:STEPS * GLOBAL_BATCH].astype(np.int64)), len(ds.x_train)


def _worker(rank, port, out):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
                            timeout=timedelta(seconds=60))
    try:
        model, x, y, n = _data()
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        opt = BayesBiNN(ddp, n_data=n, seed=SEED)
        half = GLOBAL_BATCH // WORLD
        lams = _run(ddp, opt, x, y, slice(rank * half, (rank + 1) * half))
        bn = [m for m in model.modules() if type(m).__name__ == "BatchNorm"]
        np.savez(os.path.join(out, f"rank{rank}.npz"), **{f"lam{i}": l for i, l in enumerate(lams[-1])},
                 **{f"bn{i}": b.running_var.numpy() for i, b in enumerate(bn)})
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_posterior_equals_one_process_on_the_global_batch(tmp_path):
    ctx = mp.start_processes(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=False,
                             start_method="spawn")
    deadline = time.monotonic() + 120
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("the 2-process DDP run did not finish within 120 s")
    torch.set_num_threads(1)
    model, x, y, n = _data()
    opt = BayesBiNN(model, n_data=n, seed=SEED)
    lams = _run(model, opt, x, y, slice(0, GLOBAL_BATCH))
    r0, r1 = (np.load(tmp_path / f"rank{r}.npz") for r in range(WORLD))
    for i, want in enumerate(lams[-1]):
        np.testing.assert_array_equal(r0[f"lam{i}"], r1[f"lam{i}"])      # replicated posterior
        assert np.abs(want - lams[-2][i]).max() > 0                      # the last step did change λ
        moved = sum(np.abs(after[i] - before[i]) for before, after in zip(lams[:-1], lams[1:]))
        tol = 1e-4 * moved + 8 * EPS32 * np.abs(want)
        diff = np.abs(r0[f"lam{i}"] - want)
        assert np.all(diff <= tol), f"layer {i}: λ differs by up to {diff.max():.3g} (tolerance argued above)"
        assert np.array_equal(np.sign(r0[f"lam{i}"]), np.sign(want))
    bn = [m for m in model.modules() if type(m).__name__ == "BatchNorm"]
    for i, b in enumerate(bn):
        np.testing.assert_allclose(r0[f"bn{i}"], b.running_var.numpy(), rtol=1e-5)
