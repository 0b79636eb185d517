"""Receptive fields sign(m) of an RBM as an image grid (matplotlib imported lazily, Agg backend).

:func:`receptive_field_grid` builds the grid as a plain array (testable, reusable); :func:`plot_receptive_fields`
draws it and writes a PNG; :func:`plot_training_curve` draws the lower bound per epoch from a history.
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np

__all__ = ["receptive_field_grid", "plot_receptive_fields", "plot_training_curve"]


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


def plot_receptive_fields(lam: np.ndarray, path: str | os.PathLike | None = None, *,
                          image_shape: tuple[int, int] = (28, 28), ncols: int | None = None,
                          title: str | None = None, mean: bool = False):
    """Draw sign(m) (or m itself with ``mean=True``) of every hidden unit; save a PNG when ``path`` is given.

    ``lam`` is the (N, P) natural-parameter array of the posterior. White = +1, black = -1, grey = padding.
    Returns the matplotlib Figure.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lam = np.asarray(lam, dtype=np.float64)
    values = np.tanh(lam) if mean else np.where(lam >= 0, 1.0, -1.0)
    grid = receptive_field_grid(values, image_shape, ncols, pad=1, pad_value=0.0)
    # About 2 screen pixels per weight at dpi 100, plus room for the title.
    fig, ax = plt.subplots(figsize=(max(2.0, 0.02 * grid.shape[1]), max(2.0, 0.02 * grid.shape[0] + 0.3)))
    ax.imshow(grid, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title or f"receptive fields {'m' if mean else 'sign(m)'} of {lam.shape[1]} hidden units",
                 fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_training_curve(history: Sequence[dict], path: str | os.PathLike | None = None, *,
                        key: str = "lower_bound_per_sample", title: str | None = None):
    """Plot ``key`` (default the lower bound per sample) against the epoch; save a PNG when ``path`` is given."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot([r["epoch"] for r in history], [r[key] for r in history], "o-")
    ax.set(xlabel="epoch", ylabel=key.replace("_", " "), title=title or "")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
