"""Activation statistics of ±1 layers on real inputs: how often units are +1 and how often they toggle.

For ±1 networks "sparsity" is not about zero weights (there are none) but about bit activity: the fraction of
+1 outputs per layer (RBM hidden firing rates) and the toggle rate, the fraction of units whose value changes
between consecutive inputs of the stream (what switching energy in hardware is proportional to).
"""
from __future__ import annotations

import numpy as np

__all__ = ["activity_stats"]


def activity_stats(layers: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per-layer activity of ±1 outputs.

    Parameters
    ----------
    layers : dict of str to ndarray of int8, shape (B, N)
        ±1 outputs of each binary layer, rows in stream order (B >= 2 for toggle rates).

    Returns
    -------
    dict of name -> {``units``, ``inputs``, ``fraction_plus``, ``toggle_rate``, ``dead_units``,
    ``always_on_units``}. ``toggle_rate`` is None when B < 2.
    """
    out = {}
    for name, v in layers.items():
        v = np.asarray(v)
        if v.ndim != 2 or v.dtype.kind not in "iu" or not np.all((v == 1) | (v == -1)):
            raise ValueError(f"layer {name!r}: expected ±1 integers of shape (B, N), got {v.dtype} {v.shape}")
        plus = v == 1
        per_unit = plus.mean(axis=0)
        out[name] = {
            "units": int(v.shape[1]),
            "inputs": int(v.shape[0]),
            "fraction_plus": float(plus.mean()),
            "toggle_rate": float((plus[1:] != plus[:-1]).mean()) if v.shape[0] >= 2 else None,
            "dead_units": int(np.sum(per_unit == 0.0)),
            "always_on_units": int(np.sum(per_unit == 1.0)),
        }
    return out
