"""PNG figures for ``lowprec report`` (matplotlib is an optional extra, imported here only, Agg backend).

Each function writes one PNG atomically and returns its path.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from export.fileio import atomic_write_bytes

__all__ = ["require_matplotlib", "receptive_fields", "abs_mean_histogram", "training_curves", "cost_bars"]


def require_matplotlib():
    """Import matplotlib with the Agg backend, or raise a clear error naming the extra to install."""
    try:
        import matplotlib
    except ImportError:
        raise ModuleNotFoundError(
            "plots need matplotlib: pip install 'lowprec-rbm[plot]' (or pip install matplotlib)") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def receptive_fields(weights: np.ndarray, path: Path, image_shape=(28, 28), max_units: int = 100,
                     title: str = "receptive fields sign(m)") -> Path:
    """Grid of per-hidden-unit weight images; ``weights`` is (N, P) (RBM ξ / m) or (P, N) rows with N = H*W."""
    plt = require_matplotlib()
    w = np.asarray(weights, dtype=np.float64)
    n_pix = int(np.prod(image_shape))
    if w.ndim != 2 or n_pix not in w.shape:
        raise ValueError(f"expected weights with one axis of {n_pix} pixels, got shape {w.shape}")
    units = w.T if w.shape[0] == n_pix else w
    units = units[:max_units]
    cols = math.ceil(math.sqrt(len(units)))
    rows = math.ceil(len(units) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.1), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, u in zip(axes.ravel(), units):
        ax.imshow(u.reshape(image_shape), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    fig.suptitle(title)
    return _save(fig, path)


def abs_mean_histogram(lams: dict[str, np.ndarray], path: Path) -> Path:
    """Histogram of posterior |m| = |tanh λ| per weight array."""
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, lam in lams.items():
        ax.hist(np.abs(np.tanh(np.asarray(lam, dtype=np.float64))).ravel(), bins=50, range=(0, 1),
                histtype="step", label=name)
    ax.set_xlabel("|m| = |tanh λ|")
    ax.set_ylabel("weights")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title("posterior certainty")
    return _save(fig, path)


def training_curves(history: list[dict], path: Path) -> Path:
    """Every numeric per-epoch series of a posterior's history (lower bound, loss, accuracy, ...)."""
    plt = require_matplotlib()
    keys = [k for k in (history[0] if history else {})
            if all(isinstance(h.get(k), (int, float)) and not isinstance(h.get(k), bool) for h in history)
            and k not in ("epoch", "step")]
    if not keys:
        raise ValueError("the posterior's history has no numeric per-epoch series to plot")
    keys = keys[:8]
    fig, axes = plt.subplots(len(keys), 1, figsize=(6, 1.8 * len(keys)), squeeze=False, sharex=True)
    x = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    for ax, k in zip(axes[:, 0], keys):
        ax.plot(x, [h[k] for h in history], marker="o", ms=3)
        ax.set_ylabel(k, fontsize=8)
    axes[-1, 0].set_xlabel("epoch")
    fig.suptitle("training history")
    return _save(fig, path)


def cost_bars(values: dict[str, float], path: Path, ylabel: str, title: str) -> Path:
    """Bar chart (log scale) of one quantity per precision, e.g. energy or memory."""
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    names = list(values)
    bars = ax.bar(names, [values[n] for n in names], color=["#3b7", "#37b", "#b73", "#777"][: len(names)])
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    for b, n in zip(bars, names):
        ax.annotate(f"{values[n]:.3g}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                    va="bottom", fontsize=8)
    return _save(fig, path)
