"""A binary MLP on Fashion-MNIST trained with the PyTorch BayesBiNN optimizer on 1 and on 2 processes
(DistributedDataParallel), end to end: accuracy of the deployable network and seconds per epoch for each
process count, in one JSON file (issue 16).

Protocol (defaults): Debian's Fashion-MNIST (60k/10k), 784-1024-1024-10 with sign activations and bit-plane input
(the NumPy trainer's BIN8 configuration), BayesBiNN with the NumPy learner's defaults (lr 0.1 with a cosine
decay over all steps, τ 1e-10, expected-scale estimator, kl_weight 1e-3), global batch 100. Every process count
trains on the same global batches (epoch e's order is ``default_rng([seed, e])``; rank r of P takes rows
[r B/P, (r+1) B/P) of each global batch) with the same relaxation noise, so the runs differ only by float
summation order. After each epoch rank 0 sets the batch norms to the MAP network's population statistics on
the first 10,000 training images (``calibrate_batchnorm``) and scores the 10,000 test images; that evaluation is
not in the epoch's seconds. ``--posterior`` saves the last run's posterior for ``lowprec export`` / ``verify``.

Launch modes:

- ``python bench/torch_ddp_mlp.py --processes 1,2 --epochs 3``: spawns the processes itself on this machine
  (gloo on CPU; ``--threads`` torch threads per process, default 1: 2 processes x 1 thread on a 2-core CPU).
- ``torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500
  bench/torch_ddp_mlp.py --epochs 30``: run on every node; torchrun sets RANK/WORLD_SIZE/LOCAL_RANK and this
  script joins that group (one JSON run, written by rank 0). Add ``--device cuda`` for GPUs (backend nccl, one GPU
  per local rank).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--processes", default="1,2", help="process counts to compare, comma-separated (spawn mode)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--hidden", default="1024,1024")
    p.add_argument("--batch", type=int, default=100, help="global batch size (divisible by every process count)")
    p.add_argument("--lr", type=float, default=None, help="BayesBiNN learning rate (default: the NumPy learner's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="MNIST-format folder (default Debian's Fashion-MNIST)")
    p.add_argument("--train-limit", type=int, default=None, help="use the first N training images")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--device", default="cpu", help="cpu or cuda (torchrun mode: cuda:LOCAL_RANK)")
    p.add_argument("--posterior", default=None, help="save the last run's posterior file here")
    p.add_argument("-o", "--output", default=str(ROOT / "bench/results/torch_ddp_mlp.json"))
    p.add_argument("--append", action="store_true", help="keep the runs already in the output file (each run records "
                   "its own settings)")
    return p.parse_args(argv)


def _machine() -> dict:
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), None)
    except OSError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "load_average_before": os.getloadavg()[0],
            "python": platform.python_version()}


def train(rank: int, world: int, args, result_path: str | None) -> dict | None:
    """One rank's training (the process group, if any, is already initialised)."""
    import torch
    import torch.distributed as dist

    from lowprec_rbm.data import load_dataset
    from lowprec_rbm.pytorch import BayesBiNN, BinaryMLP, calibrate_batchnorm, save_posterior
    from lowprec_rbm.pytorch.bayesbinn import DEFAULTS

    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    ds = load_dataset(args.data)
    xtr, ytr = ds.x_train, ds.y_train.astype(np.int64)
    if args.train_limit:
        xtr, ytr = xtr[:args.train_limit], ytr[:args.train_limit]
    sizes = [xtr[0].size] + [int(h) for h in args.hidden.split(",") if h.strip()] + [len(ds.classes)]
    model = BinaryMLP(sizes, input="bitplanes", random_state=args.seed).to(dev)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    lr = DEFAULTS["lr"] if args.lr is None else args.lr
    opt = BayesBiNN(net, n_data=len(xtr), lr=lr, seed=args.seed)
    if args.batch % world:
        raise ValueError(f"--batch {args.batch} is not divisible by {world} processes")
    steps = len(xtr) // args.batch
    total = steps * args.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    x_all = model.prepare(xtr)                      # CPU; each batch is moved to the device
    y_all = torch.from_numpy(ytr)
    calib = model.prepare(xtr[:10000], dev)
    local = args.batch // world
    epochs = []
    for epoch in range(args.epochs):
        order = np.random.default_rng([args.seed, epoch]).permutation(len(xtr))
        net.train()
        if world > 1:
            dist.barrier()
        t0 = time.perf_counter()
        loss_sum = 0.0
        for s in range(steps):
            rows = torch.from_numpy(order[s * args.batch + rank * local: s * args.batch + (rank + 1) * local])
            xb, yb = x_all[rows].to(dev), y_all[rows].to(dev)

            def closure():
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(xb), yb)
                loss.backward()
                return loss

            loss_sum += float(opt.step(closure))
            sched.step()
        if world > 1:
            dist.barrier()
        seconds = time.perf_counter() - t0
        rec = {"epoch": epoch + 1, "seconds": seconds, "train_loss_rank0": loss_sum / steps}
        if rank == 0:
            calibrate_batchnorm(model, calib)
            rec["test_acc"] = float(np.mean(model.predict_index(ds.x_test) == ds.y_test.astype(np.int64)))
            print(f"[{world} process(es)] epoch {epoch + 1}: {seconds:.1f} s, test accuracy "
                  f"{100 * rec['test_acc']:.2f} %", flush=True)
        epochs.append(rec)
    if rank != 0:
        return None
    if args.posterior:
        save_posterior(model, args.posterior, optimizer=opt, extra={"data": ds.describe()})
    run = {"processes": world, "threads_per_process": args.threads, "epochs_run": args.epochs,
           "load_average_end": os.getloadavg()[0], "device": args.device, "sizes": sizes,
           "epochs": epochs, "seconds_per_epoch": float(np.mean([e["seconds"] for e in epochs])),
           "final_test_acc": epochs[-1]["test_acc"], "lam_abs_median": float(np.median(np.concatenate(
               [m.lam.abs().cpu().numpy().ravel() for m in model.modules() if hasattr(m, "lam")])))}
    if result_path:
        Path(result_path).write_text(json.dumps(run))
    return run


def _spawned(rank, world, port, args, result_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=timedelta(minutes=10))
    try:
        train(rank, world, args, result_path if rank == 0 else None)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    args = _args(argv)
    import torch

    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:        # launched by torchrun
        import torch.distributed as dist

        local = int(os.environ.get("LOCAL_RANK", 0))
        if args.device.startswith("cuda"):
            args.device = f"cuda:{local}"
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if args.device.startswith("cuda") else "gloo")
        try:
            run = train(dist.get_rank(), dist.get_world_size(), args, None)
        finally:
            dist.destroy_process_group()
        if run is not None:
            _write(args, [run])
        return 0
    import torch.multiprocessing as mp

    runs = []
    if args.append and Path(args.output).is_file():
        runs = json.loads(Path(args.output).read_text())["runs"]
    for world in [int(p) for p in args.processes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "run.json")
            mp.start_processes(_spawned, args=(world, _free_port(), args, out), nprocs=world, join=True,
                               start_method="spawn")
            runs.append(json.loads(Path(out).read_text()))
        _write(args, runs)
    return 0


def _write(args, runs):
    import torch

    from export.fileio import atomic_write_json

    doc = {"benchmark": "bench/torch_ddp_mlp.py", "torch": torch.__version__, "machine": _machine(),
           "settings": {k: v for k, v in vars(args).items() if k != "output"}, "runs": runs,
           "note": "s/epoch excludes the per-epoch evaluation; accuracy is the MAP network with batch norm "
                   "recalibrated on 10,000 training images, on the 10,000 test images"}
    atomic_write_json(args.output, doc)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    sys.exit(main())
