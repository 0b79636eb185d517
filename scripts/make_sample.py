#!/usr/bin/env python3
"""Regenerate the embedded Fashion-MNIST sample from Debian's files (package ``dataset-fashion-mnist``).

    python scripts/make_sample.py [--source /usr/share/datasets/fashion-mnist] [--train 2000] [--test 500]

Writes ``src/lowprec_rbm/data/fmnist_sample.npz.xz``: an uncompressed ``.npz`` (no pickle) of 4-bit pixels
packed two per byte (low nibble first) plus uint8 labels, compressed with xz. Deterministic: the first
images of each file, no randomness.
"""
from __future__ import annotations

import argparse
import io
import lzma
from pathlib import Path

import numpy as np

from export.fileio import atomic_write_bytes
from lowprec_rbm.data.datasets import DEBIAN_FASHION_MNIST, SAMPLE_NAME, _load_folder


def pack_q4(images: np.ndarray) -> np.ndarray:
    q = (images.reshape(images.shape[0], -1) >> 4).astype(np.uint8)
    return (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default=str(DEBIAN_FASHION_MNIST))
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--test", type=int, default=500)
    args = ap.parse_args()
    ds = _load_folder(Path(args.source))
    buf = io.BytesIO()
    np.savez(buf, x_train_q4=pack_q4(ds.x_train[: args.train]), y_train=ds.y_train[: args.train],
             x_test_q4=pack_q4(ds.x_test[: args.test]), y_test=ds.y_test[: args.test])
    blob = lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME)
    out = Path(__file__).resolve().parents[1] / "src" / "lowprec_rbm" / "data" / SAMPLE_NAME
    atomic_write_bytes(out, blob)
    print(f"wrote {out} ({len(blob)} bytes)")


if __name__ == "__main__":
    main()
