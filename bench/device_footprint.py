"""Flash, RAM and exact instructions per inference of the deployed `predict` call on every device profile, for the
784-256-256-10 binary MLP and the VGG-style binary CNN c32,c32,p,c64,c64,p,d256 of issue 12.

Both networks have random ±1 weights and thresholds (``tests/targets_nets.py``; sizes and instruction counts
depend on the shapes, and only through threshold outcomes on the values): the MLP reads uint8 pixels
thresholded at 127.5 (28x28 = 784 inputs), the CNN reads the exact 8-bit pixels through bit-plane convolution
(first conv pads with pixel 0, later convs with +1), 10 classes. Measured with
``targets.devices.footprint.measure`` (the deployed build: C compiled with ``MODEL_PREDICT_ONLY``, so no full
forward pass and no per-layer buffers) -- the same numbers ``lowprec report MODEL --target DEVICE`` prints. For the
CNN it also records whether the *verify* harness (every intermediate kept) links on the device.

    PYTHONPATH=src python bench/device_footprint.py [-o bench/results/device_footprint.json] [--targets all]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from targets_nets import random_cnn, random_mlp  # noqa: E402

import targets.registry  # noqa: E402,F401  (registers the device targets)
from export.fileio import atomic_write_json  # noqa: E402
from targets.base import TargetUnavailable  # noqa: E402
from targets.devices import device_names, device_target, measure  # noqa: E402
from targets.devices.device import DoesNotFit  # noqa: E402

KEYS = ("flash_bytes", "ram_bytes", "api_scratch_bytes", "max_stack_frame_bytes", "model_code_bytes",
        "model_const_bytes", "instructions_per_inference", "instructions_min", "instructions_max",
        "energy_nJ_per_inference", "image_flash_bytes", "image_static_ram_bytes", "device_flash_bytes",
        "device_ram_bytes", "compiler", "cflags", "cpu", "popcount_instruction", "build")


def models():
    rng = np.random.default_rng(0)
    mlp = random_mlp(rng, 784, (256, 256), 10, input_kind="threshold", ternary=False, threshold=127.5)
    cnn = random_cnn(rng, (28, 28, 1), ((32, 3, False), (32, 3, True), (64, 3, False), (64, 3, True)), (256,), 10,
                     input_kind="bitplanes")
    return {"mlp 784-256-256-10 (uint8 thresholded)": mlp,
            "cnn c32,c32,p,c64,c64,p,d256,d10 (bit-plane pixels)": cnn}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="bench/results/device_footprint.json")
    ap.add_argument("--targets", default="all", help="comma-separated device profiles (default all)")
    ap.add_argument("--rows", type=int, default=4)
    args = ap.parse_args(argv)
    names = device_names() if args.targets == "all" else [t.strip() for t in args.targets.split(",")]
    res = {"benchmark": "device_footprint", "rows": args.rows, "models": {}}
    for mname, net in models().items():
        rows = {}
        for t in names:
            tgt = device_target(t)
            try:
                m = measure(net, tgt, rows=args.rows)
            except TargetUnavailable as exc:
                rows[t] = {"skipped": str(exc)}
                print(f"{mname} on {t}: skipped: {exc}", flush=True)
                continue
            rec = {k: m.get(k) for k in KEYS}
            if mname.startswith("cnn") and tgt.profile.family == "cortex-m":
                try:
                    tgt.build(net)
                    rec["verify_harness_links"] = True
                except DoesNotFit as exc:
                    rec["verify_harness_links"] = False
                    rec["verify_harness_message"] = str(exc)
            rows[t] = rec
            print(f"{mname} on {t}: flash {m['flash_bytes']:,} B, RAM {m['ram_bytes']:,} B, "
                  f"{m['instructions_per_inference']:,.0f} instructions", flush=True)
        res["models"][mname] = rows
    res["definitions"] = ("flash = model code + const data of the deployed object (size -A); RAM = predict() "
                          "scratch + largest stack frame (no static data); instructions = exact emulator/callgrind "
                          "count of one predict() call, mean over the rows (random inputs)")
    res["command"] = "PYTHONPATH=src python bench/device_footprint.py " + " ".join(argv or sys.argv[1:])
    atomic_write_json(args.out, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
