"""PNG figures for ``lowprec report`` (matplotlib is an optional extra, imported here only, Agg backend).

Each function writes one PNG atomically and returns its path.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from export.fileio import atomic_write_bytes

__all__ = ["require_matplotlib", "receptive_field_grid", "receptive_fields", "abs_mean_histogram", "training_curves", "cost_bars"]


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


def receptive_field_grid(weights: np.ndarray, image_shape: tuple[int, int] = (28, 28), ncols: int | None = None,
                         pad: int = 1, pad_value: float = 0.0) -> np.ndarray:
    """Tile per-unit weight images into one array.

    Parameters
    ----------
    weights : ndarray, shape (N, P)
        One column per hidden unit (λ, m or ±1 MAP weights); N = H * W of ``image_shape``.
    image_shape : (H, W)
    ncols : int, optional
        Tiles per row (default ceil(sqrt(P))).
    pad : int
        Pixels between tiles, filled with ``pad_value``.

    Returns
    -------
    ndarray of float, shape (rows * (H + pad) - pad, ncols * (W + pad) - pad)
    """
    W = np.asarray(weights, dtype=np.float64)
    H, Wd = image_shape
    if W.ndim != 2 or W.shape[0] != H * Wd:
        raise ValueError(f"weights must have shape (N, P) with N = {H}*{Wd} = {H * Wd}, got {W.shape}")
    P = W.shape[1]
    ncols = ncols or math.ceil(math.sqrt(P))
    nrows = math.ceil(P / ncols)
    grid = np.full((nrows * (H + pad) - pad, ncols * (Wd + pad) - pad), pad_value)
    tiles = W.T.reshape(P, H, Wd)
    for k in range(P):                       # one slice assignment per hidden unit (P tiles)
        r, c = divmod(k, ncols)
        grid[r * (H + pad):r * (H + pad) + H, c * (Wd + pad):c * (Wd + pad) + Wd] = tiles[k]
    return grid


def receptive_fields(weights: np.ndarray, path: Path, image_shape=(28, 28), max_units: int = 100,
                     title: str = "receptive fields sign(m)") -> Path:
    """Grid of per-hidden-unit weight images; ``weights`` is (N, P) (RBM ξ, m or λ→sign) or (P, N) rows.

    White = +1, black = -1, grey = padding between tiles.
    """
    plt = require_matplotlib()
    w = np.asarray(weights, dtype=np.float64)
    n_pix = int(np.prod(image_shape))
    if w.ndim != 2 or n_pix not in w.shape:
        raise ValueError(f"expected weights with one axis of {n_pix} pixels, got shape {w.shape}")
    cols = w if w.shape[0] == n_pix else w.T
    grid = receptive_field_grid(cols[:, :max_units], tuple(image_shape), pad=1, pad_value=0.0)
    # About 2 screen pixels per weight at 110 dpi, plus room for the title.
    fig, ax = plt.subplots(figsize=(max(2.0, 0.018 * grid.shape[1]), max(2.0, 0.018 * grid.shape[0] + 0.3)))
    ax.imshow(grid, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
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
