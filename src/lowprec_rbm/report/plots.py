"""PNG figures for ``lowprec report`` (matplotlib is an optional extra, imported here only, Agg backend).

Each function writes one PNG atomically and returns its path. Conventions, one place each:

- :data:`PRECISIONS`: the one colour and label of each weight precision, used by every figure that compares
  precisions (so int8 has the same colour in the energy and the memory figure).
- Figures that compare magnitudes use linear axes and print each value (and its ratio to this model's) on the
  bar, so a 10 % difference looks like 10 %.
- Labels are for people: no internal array or history-key names.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from export.fileio import atomic_write_bytes

__all__ = ["PLOT_EXTRA_HINT", "PRECISIONS", "matplotlib_available", "require_matplotlib", "receptive_field_grid",
           "receptive_fields", "abs_mean_histogram", "training_curves", "training_panels", "TRAINING_PANELS", "cost_bars"]

#: What to install to get the figures (printed when matplotlib is missing).
PLOT_EXTRA_HINT = "pip install 'lowprec-rbm[plot]' (or pip install matplotlib)"

#: precision -> (colour, label). Okabe-Ito colours (distinguishable with the common colour-vision deficiencies).
PRECISIONS: dict[str, tuple[str, str]] = {
    "binary": ("#0072B2", "±1 weights (1 bit)"),
    "ternary": ("#009E73", "ternary weights (2 bits)"),
    "int8": ("#E69F00", "int8"),
    "float32": ("#7F7F7F", "float32"),
}


def matplotlib_available() -> bool:
    """True when matplotlib can be imported (the ``plot`` extra is installed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def require_matplotlib():
    """Import matplotlib with the Agg backend, or raise a clear error naming the extra to install."""
    try:
        import matplotlib
    except ImportError:
        raise ModuleNotFoundError(f"plots need matplotlib: {PLOT_EXTRA_HINT}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return atomic_write_bytes(Path(path), buf.getvalue())


def receptive_field_grid(weights: np.ndarray, image_shape: tuple[int, int], ncols: int | None = None,
                         pad: int = 1, pad_value: float = np.nan) -> np.ndarray:
    """Tile per-unit weight images into one array.

    Parameters
    ----------
    weights : ndarray, shape (N, P)
        One column per hidden unit (λ, m or ±1 MAP weights); N = H * W of ``image_shape``.
    image_shape : (H, W)
    ncols : int, optional
        Tiles per row (default ceil(sqrt(P))).
    pad : int
        Pixels between tiles, filled with ``pad_value`` (NaN by default, drawn in a colour no weight has).

    Returns
    -------
    ndarray of float, shape (rows * (H + pad) - pad, ncols * (W + pad) - pad)
    """
    W = np.asarray(weights, dtype=np.float64)
    H, Wd = (int(v) for v in image_shape)
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


def receptive_fields(weights: np.ndarray, path: Path, image_shape: tuple[int, int], max_units: int = 100,
                     title: str = "receptive fields") -> Path:
    """Grid of per-unit weight images; ``weights`` is (N, P) (RBM) or (P, N) (dense layer rows), N = H * W.

    Values in [-1, 1]: white = +1, black = -1, grey = 0 (ternary zeros); tiles are separated by light blue.
    """
    plt = require_matplotlib()
    w = np.asarray(weights, dtype=np.float64)
    if len(tuple(image_shape)) != 2:
        raise ValueError(f"image_shape must be (height, width), got {tuple(image_shape)}")
    n_pix = int(np.prod(image_shape))
    if w.ndim != 2 or n_pix not in w.shape:
        raise ValueError(f"expected weights with one axis of {n_pix} pixels ({image_shape[0]}x{image_shape[1]} "
                         f"images), got shape {w.shape}")
    cols = w if w.shape[0] == n_pix else w.T
    shown = min(cols.shape[1], max_units)
    grid = receptive_field_grid(cols[:, :shown], tuple(image_shape), pad=1)
    cmap = plt.get_cmap("gray").with_extremes(bad="#9ecae1")
    # About 2 screen pixels per weight at 110 dpi, plus room for the title.
    fig, ax = plt.subplots(figsize=(max(2.6, 0.018 * grid.shape[1]), max(2.0, 0.018 * grid.shape[0] + 0.4)))
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    more = f", first {shown} of {cols.shape[1]} units" if shown < cols.shape[1] else f", {shown} units"
    ax.set_title(f"{title}{more}\nwhite +1, black −1" + (", grey 0" if np.any(cols[:, :shown] == 0) else ""),
                 fontsize=8)
    return _save(fig, path)


def abs_mean_histogram(lams: dict[str, np.ndarray], path: Path) -> Path:
    """Histogram of posterior certainty |m| = |tanh λ| per weight array; ``lams`` maps a human label to λ.

    Each array is normalised to a fraction of its own weights, so layers of different sizes compare.
    """
    plt = require_matplotlib()
    if not lams:
        raise ValueError("abs_mean_histogram needs at least one array of natural parameters")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0.0, 1.0, 41)
    for label, lam in lams.items():
        m = np.abs(np.tanh(np.asarray(lam, dtype=np.float64))).ravel()
        ax.hist(m, bins=bins, weights=np.full(m.size, 100.0 / m.size), histtype="step", linewidth=1.5,
                label=f"{label}, {m.size:,} weights")
    ax.set_xlim(0, 1)
    ax.set_xlabel("posterior certainty |E[w]| = |tanh λ|   (0: a coin flip, 1: always the same sign)")
    ax.set_ylabel("% of the layer's weights")
    ax.legend(fontsize=7)
    ax.set_title("how certain the posterior is about each weight")
    return _save(fig, path)


def _series(history: list[dict], key: str) -> list[float] | None:
    """The per-epoch values of ``key`` (dotted for nested dicts), or None unless every epoch has a number."""
    out = []
    for rec in history:
        v = rec
        for part in key.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
        out.append(float(v))
    return out


def _partial_series(history: list[dict], key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of the epochs that have ``key`` (e.g. the posterior mean, evaluated every few epochs)."""
    xs, ys = [], []
    for i, rec in enumerate(history):
        v = rec.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            xs.append(float(rec.get("epoch", i + 1)))
            ys.append(float(v))
    return xs, ys


#: Panels per model kind: (y-axis label, [(history key, legend label, scale)]); a series whose key is missing
#: from any epoch is left out, a panel with no series is left out. ``scale`` multiplies the values (100: %).
#: Shares of a whole that are normally near 100 % are drawn on a fixed 0-100 % axis (:data:`_FULL_RANGE`): an
#: automatic range would make 99.4 % look like a collapse.
TRAINING_PANELS: dict[str, list[tuple[str, list[tuple[str, str, float]]]]] = {
    "rbm": [
        ("lower bound\nper image (nats)", [("lower_bound_per_sample", "lower bound on ln p(image)", 1.0)]),
        ("test ln p\nper image (nats)", [("ais_log_likelihood", "AIS log-likelihood, MAP weights", 1.0)]),
        ("KL(q ‖ prior)\n(nats)", [("kl", "KL of the posterior from the prior", 1.0)]),
        ("MAP weights\nflipped", [("map_flips", "weights whose sign changed this epoch", 1.0)]),
        ("BP sweeps\nper step (mean)", [("bp_iterations_mean", "belief-propagation sweeps", 1.0)]),
        ("BP runs\nconverged (%)", [("bp_converged_fraction", "belief-propagation runs converged", 100.0)]),
        ("overlap with\nthe teacher", [("overlap", "overlap", 1.0)]),
    ],
    "mlp": [
        ("accuracy (%)", [("train_acc", "train (deployable network)", 100.0),
                          ("val_acc", "validation (deployable network)", 100.0),
                          ("val_mean_acc", "validation (posterior mean)", 100.0)]),
        ("validation NLL\n(nats per image)", [("val_nll", "deployable network", 1.0)]),
        ("validation ECE", [("val_ece", "deployable network", 1.0)]),
        ("|λ| median", [("abs_lam_quantiles.q50", "median |λ| over all weights", 1.0)]),
        ("entropy per weight\n(nats)", [("entropy_nats", "mean posterior entropy", 1.0)]),
        ("zero weights (%)", [("sparsity", "ternary zeros", 100.0)]),
        ("latent weights\nat the clip (%)", [("frac_at_clip", "STE latent weights at ±clip", 100.0)]),
    ],
}


_FULL_RANGE = frozenset({"BP runs\nconverged (%)"})
# Series recorded every few epochs only (``eval_mean_every``, ``ais_every``).
_SOME_EPOCHS = frozenset({"val_mean_acc", "ais_log_likelihood"})


def training_panels(history: list[dict], kind: str) -> list[tuple[str, list[tuple[str, list[float], list[float]]]]]:
    """The panels :func:`training_curves` draws: ``[(y label, [(legend label, epochs, values), ...]), ...]``."""
    if kind not in TRAINING_PANELS:
        raise ValueError(f"kind must be one of {sorted(TRAINING_PANELS)}, got {kind!r}")
    history = [h for h in history if isinstance(h, dict)]
    x = [float(h.get("epoch", i + 1)) for i, h in enumerate(history)]
    panels = []
    for ylabel, specs in TRAINING_PANELS[kind]:
        lines = []
        for key, label, scale in specs:
            ys = _series(history, key) if history else None
            if ys is not None:
                lines.append((label, x, [scale * v for v in ys]))
            elif key in _SOME_EPOCHS:                   # evaluated at some epochs only: drawn as points
                px, py = _partial_series(history, key)
                if px:
                    lines.append((label, px, [scale * v for v in py]))
        if lines:
            panels.append((ylabel, lines))
    if not panels:
        raise ValueError(f"the posterior's history has none of the per-epoch series plotted for a {kind} "
                         f"(e.g. {TRAINING_PANELS[kind][0][1][0][0]!r})")
    return panels


def training_curves(history: list[dict], path: Path, kind: str) -> Path:
    """The per-epoch curves that tell whether a model of ``kind`` ('rbm' or 'mlp') learned (:data:`TRAINING_PANELS`)."""
    plt = require_matplotlib()
    panels = training_panels(history, kind)
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.4, 1.75 * len(panels) + 0.6), squeeze=False, sharex=True)
    for ax, (ylabel, lines) in zip(axes[:, 0], panels):
        for label, xs, ys in lines:
            ax.plot(xs, ys, linestyle="-" if len(xs) > 1 else "none", marker="o", ms=3, label=label)
        ax.set_ylabel(ylabel, fontsize=8)
        if ylabel in _FULL_RANGE:
            ax.set_ylim(0, 105)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize=7)
    axes[-1, 0].set_xlabel("epoch")
    axes[-1, 0].xaxis.get_major_locator().set_params(integer=True)
    n_epochs = len([h for h in history if isinstance(h, dict)])
    fig.suptitle(f"training history ({'binary RBM' if kind == 'rbm' else 'MLP'}, {n_epochs} epochs)",
                 fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _number(v: float) -> str:
    """Thousands separators for large values, three significant digits for small ones."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def cost_bars(bars: list[tuple[str, str, float]], path: Path, unit: str, title: str,
              hatched: frozenset[str] = frozenset()) -> Path:
    """Horizontal bars on a linear axis, one per ``(label, precision, value)``, each labelled with its value and
    its ratio to the first bar; the colour is the precision's (:data:`PRECISIONS`). Labels in ``hatched`` are
    drawn hatched (e.g. a file that holds more than the weights)."""
    plt = require_matplotlib()
    if not bars:
        raise ValueError("cost_bars needs at least one bar")
    for label, prec, value in bars:
        if prec not in PRECISIONS:
            raise ValueError(f"bar {label!r}: precision must be one of {sorted(PRECISIONS)}, got {prec!r}")
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"bar {label!r}: value must be a finite number >= 0, got {value!r}")
    ref = float(bars[0][2])
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(bars) + 1.2))
    ys = np.arange(len(bars))[::-1]
    top = max(v for _, _, v in bars)
    for y, (label, prec, value) in zip(ys, bars):
        ax.barh(y, value, color=PRECISIONS[prec][0], hatch="//" if label in hatched else None,
                edgecolor="white" if label in hatched else None)
        ratio = f"  = {value / ref:.3g}× {bars[0][0]}" if ref > 0 and label != bars[0][0] else ""
        ax.annotate(f" {_number(value)} {unit}{ratio}", (value, y), va="center", fontsize=8)
    ax.set_yticks(ys, [b[0] for b in bars], fontsize=8)
    ax.set_xlim(0, top * 1.7 if top > 0 else 1)
    ax.xaxis.set_major_locator(plt.MaxNLocator(4))
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _pos: _number(v)))
    ax.set_xlabel(unit)
    ax.grid(axis="x", alpha=0.3)
    seen = dict.fromkeys(p for _, p, _ in bars)
    handles = [plt.Rectangle((0, 0), 1, 1, color=PRECISIONS[p][0]) for p in seen]
    ax.legend(handles, [PRECISIONS[p][1] for p in seen], fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              title="colour = precision", title_fontsize=7)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)
