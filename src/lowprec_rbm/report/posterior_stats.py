"""Certainty profile of Bernoulli posteriors over ±1 weights.

For natural parameters λ (m = tanh λ): the fraction of weights with |m| above 0.9 / 0.99 / 0.999, the mean
entropy in nats (ln 2 = maximally uncertain, 0 = certain), and the expected number of weights in which a
sample differs from the MAP network, Σ sigmoid(-2|λ|) (with its fraction of all weights).
"""
from __future__ import annotations

import numpy as np

from lowprec_rbm.posterior import BernoulliPosterior

__all__ = ["certainty_profile", "LEVELS"]

LEVELS = (0.9, 0.99, 0.999)


def certainty_profile(lam: np.ndarray) -> dict:
    """Certainty statistics of one array of natural parameters (any shape)."""
    q = BernoulliPosterior(np.asarray(lam, dtype=np.float64))
    absm = np.abs(q.mean)
    flips = q.flip_prob()
    return {
        "weights": int(absm.size),
        **{f"frac_abs_m_above_{lv}": float(np.mean(absm > lv)) for lv in LEVELS},
        "mean_entropy_nats": float(np.mean(q.entropy())),
        "expected_flips_map_vs_sample": float(flips.sum()),
        "expected_flip_fraction": float(flips.mean()),
        "abs_lambda_quantiles": {str(p): float(np.quantile(np.abs(q.lam), p)) for p in (0.05, 0.5, 0.95)},
    }
