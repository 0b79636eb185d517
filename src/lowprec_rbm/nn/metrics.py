"""Classification metrics of a predictive distribution: accuracy, negative log-likelihood, calibration error."""
from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "nll", "ece", "summarize"]


def _check(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y)
    if probs.ndim != 2 or y.ndim != 1 or probs.shape[0] != y.shape[0]:
        raise ValueError(f"expected probs (M, K) and labels (M,), got {probs.shape} and {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= probs.shape[1]):
        raise ValueError(f"labels must lie in [0, {probs.shape[1]}), found range [{y.min()}, {y.max()}]")
    return probs, y.astype(np.int64)


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows whose argmax equals the label (first maximum on ties)."""
    probs, y = _check(probs, y)
    return float(np.mean(np.argmax(probs, axis=1) == y))


def nll(probs: np.ndarray, y: np.ndarray, floor: float = 1e-12) -> float:
    """Mean ``-log p(y)`` in nats; probabilities are floored at ``floor`` so one confident error stays finite."""
    probs, y = _check(probs, y)
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(y)), y], floor))))


def ece(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error with ``n_bins`` equal-width confidence bins on the top-class probability.

    ``ECE = Σ_b (n_b / M) |acc_b − conf_b|`` (bins ``(k/n, (k+1)/n]``, the first one closed at 0).
    """
    probs, y = _check(probs, y)
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    conf = probs.max(axis=1)
    correct = (np.argmax(probs, axis=1) == y).astype(np.float64)
    idx = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    s_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    s_acc = np.bincount(idx, weights=correct, minlength=n_bins)
    return float(np.sum(np.abs(s_acc - s_conf)) / max(len(y), 1))


def summarize(probs: np.ndarray, y: np.ndarray) -> dict:
    """``{"acc", "nll", "ece"}`` of one predictive distribution."""
    return {"acc": accuracy(probs, y), "nll": nll(probs, y), "ece": ece(probs, y)}
