"""Composable pieces of a learning rule (optax-like, but ascent: updates are *added* to the parameters).

A :class:`GradientTransformation` is a pair of pure functions

    init(params) -> state
    update(updates, state, params) -> (new_updates, new_state)

chained with :func:`chain`; the last output is added to the parameters with :func:`apply_updates`.
Parameters, gradients and updates are "trees": an ndarray, or a dict / list / tuple of trees
(so an MLP can pass one array per layer). States are NamedTuples of trees and step counters.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Union

import numpy as np

__all__ = [
    "GradientTransformation", "tree_map", "chain", "scale", "scale_by_learning_rate", "trace",
    "scale_by_adam", "apply_updates", "EmptyState", "ScaleState", "TraceState", "AdamState",
]

Tree = Any
Schedule = Callable[[int], float]
ScalarOrSchedule = Union[float, np.ndarray, Schedule]


class GradientTransformation(NamedTuple):
    """An (init, update) pair; see the module docstring."""

    init: Callable[[Tree], Any]
    update: Callable[[Tree, Any, Tree], tuple[Tree, Any]]


class EmptyState(NamedTuple):
    """State of a stateless transformation."""


class ScaleState(NamedTuple):
    """Step counter of a (possibly scheduled) scaling."""

    count: int


class TraceState(NamedTuple):
    """Momentum buffer."""

    trace: Tree


class AdamState(NamedTuple):
    """Adam's step counter and first/second moment estimates."""

    count: int
    mu: Tree
    nu: Tree


def tree_map(fn: Callable[..., np.ndarray], tree: Tree, *rest: Tree) -> Tree:
    """Apply ``fn`` leaf-wise to a tree (ndarray or nested dict/list/tuple) and matching trees."""
    if isinstance(tree, dict):
        return {k: tree_map(fn, tree[k], *(r[k] for r in rest)) for k in tree}
    if isinstance(tree, (list, tuple)):
        out = [tree_map(fn, t, *(r[i] for r in rest)) for i, t in enumerate(tree)]
        return type(tree)(out) if isinstance(tree, list) else tuple(out)
    return fn(tree, *rest)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply transformations one after the other (state is the tuple of their states)."""

    def init(params: Tree) -> tuple:
        return tuple(t.init(params) for t in transforms)

    def update(updates: Tree, state: tuple, params: Tree) -> tuple[Tree, tuple]:
        new_states = []
        for t, s in zip(transforms, state):
            updates, s = t.update(updates, s, params)
            new_states.append(s)
        return updates, tuple(new_states)

    return GradientTransformation(init, update)


def _check_rate(value: Any, name: str) -> None:
    if callable(value):
        return
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be finite and >= 0 (or a schedule), got {value!r}")


def scale(factor: float) -> GradientTransformation:
    """Multiply updates by a constant ``factor`` (may be negative, e.g. -1 turns ascent into descent)."""
    f = float(factor)

    def update(updates, state, params=None):
        return tree_map(lambda u: f * u, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_learning_rate(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    """Multiply updates by a learning rate: a number, an array (element-wise) or a schedule ``step -> rate``.

    The schedule is called with the number of updates done so far (0 for the first update).
    """
    _check_rate(learning_rate, "learning_rate")

    def update(updates, state: ScaleState, params=None):
        lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
        return tree_map(lambda u: lr * u, updates), ScaleState(state.count + 1)

    return GradientTransformation(lambda params: ScaleState(0), update)


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """Heavy-ball momentum: ``v <- decay * v + g``; emits ``v`` (or ``g + decay * v`` with Nesterov)."""
    if not 0.0 <= float(decay) < 1.0:
        raise ValueError(f"momentum decay must be in [0, 1), got {decay}")

    def init(params):
        return TraceState(tree_map(np.zeros_like, params))

    def update(updates, state: TraceState, params=None):
        v = tree_map(lambda g, t: decay * t + g, updates, state.trace)
        out = tree_map(lambda g, t: g + decay * t, updates, v) if nesterov else v
        return out, TraceState(v)

    return GradientTransformation(init, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """Adam's rescaling (Kingma & Ba) with bias correction; multiply by a learning rate afterwards."""
    for name, b in (("b1", b1), ("b2", b2)):
        if not 0.0 <= float(b) < 1.0:
            raise ValueError(f"Adam {name} must be in [0, 1), got {b}")
    if not float(eps) > 0:
        raise ValueError(f"Adam eps must be > 0, got {eps}")

    def init(params):
        return AdamState(0, tree_map(np.zeros_like, params), tree_map(np.zeros_like, params))

    def update(updates, state: AdamState, params=None):
        count = state.count + 1
        mu = tree_map(lambda g, m: b1 * m + (1 - b1) * g, updates, state.mu)
        nu = tree_map(lambda g, v: b2 * v + (1 - b2) * g * g, updates, state.nu)
        c1, c2 = 1 - b1 ** count, 1 - b2 ** count
        out = tree_map(lambda m, v: (m / c1) / (np.sqrt(v / c2) + eps), mu, nu)
        return out, AdamState(count, mu, nu)

    return GradientTransformation(init, update)


def apply_updates(params: Tree, updates: Tree) -> Tree:
    """``params + updates`` leaf-wise (ascent convention)."""
    return tree_map(lambda p, u: p + u, params, updates)
