"""Learning-rate schedules: functions ``step -> rate`` for :func:`~lowprec_rbm.rules.base.scale_by_learning_rate`.

``step`` counts the updates done so far (0 for the first update). Use :func:`per_epoch` to hold a rate constant
within an epoch of ``steps_per_epoch`` minibatch updates.
"""
from __future__ import annotations

import math
from typing import Callable

__all__ = ["constant", "cosine_decay", "exponential_decay", "per_epoch"]

Schedule = Callable[[int], float]


def _positive(value: float, name: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return value


def constant(rate: float) -> Schedule:
    """The same rate at every step."""
    rate = _positive(rate, "rate")
    return lambda step: rate


def cosine_decay(rate: float, decay_steps: int, alpha: float = 0.0) -> Schedule:
    """``rate * ((1 - alpha) * (1 + cos(pi * min(step, T) / T)) / 2 + alpha)`` with ``T = decay_steps``."""
    rate = _positive(rate, "rate")
    if int(decay_steps) < 1:
        raise ValueError(f"decay_steps must be >= 1, got {decay_steps}")
    T = int(decay_steps)
    return lambda step: rate * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * min(step, T) / T)) + alpha)


def exponential_decay(rate: float, decay_rate: float, decay_steps: int = 1) -> Schedule:
    """``rate * decay_rate ** (step / decay_steps)``."""
    rate = _positive(rate, "rate")
    if not 0 < float(decay_rate) <= 1:
        raise ValueError(f"decay_rate must be in (0, 1], got {decay_rate}")
    return lambda step: rate * float(decay_rate) ** (step / int(decay_steps))


def per_epoch(schedule: Schedule, steps_per_epoch: int) -> Schedule:
    """Evaluate ``schedule`` at the epoch index ``step // steps_per_epoch`` (minibatch training)."""
    if int(steps_per_epoch) < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    return lambda step: schedule(step // int(steps_per_epoch))
