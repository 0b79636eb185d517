"""What every target implements, and the registry ``lowprec verify --target`` looks names up in.

A target runs an exported ONNX artifact on a batch of inputs and returns every named output the artifact
declares (fields, packed bits, probabilities, class indices, Gibbs states) as numpy arrays with the dtypes
and shapes of the ONNX graph outputs. Packed tensors are returned as uint64 words in bit layout v1 whatever
word width the target computes in (same bytes, ``export.layout.view_words``).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import numpy as np

__all__ = ["Target", "TargetUnavailable", "PartialOutputs", "register", "get_target", "target_names"]


class TargetUnavailable(RuntimeError):
    """A target cannot run here (a tool is missing); the message names what to install.

    Examples
    --------
    >>> from targets import TargetUnavailable, get_target
    >>> for name in ("reference", "onnxruntime"):
    ...     reason = get_target(name).availability()      # None, or why it would raise TargetUnavailable
    ...     print(name, reason)
    reference None
    onnxruntime None
    >>> issubclass(TargetUnavailable, RuntimeError)
    True
    """


class PartialOutputs(dict):
    """What a target returns when it ran the model but could compute only some of the graph outputs.

    A dict (graph output name -> array) holding the outputs it has, each named and shaped as the graph output
    it equals, plus ``note``: in words, what ran and why not everything (e.g. a device whose RAM holds the
    deployed ``predict()`` build but not the verify harness that keeps every intermediate). ``verify``
    compares exactly the outputs present and reports the note; a target returns it only with the final
    outputs (the label) among them.
    """

    def __init__(self, outputs: dict, note: str) -> None:
        super().__init__(outputs)
        if not isinstance(note, str) or not note:
            raise ValueError("note must say in words which outputs are missing and why")
        self.note = note


class Target(ABC):
    """A place an artifact runs. Subclasses set ``name`` and ``description``."""

    name: str = ""
    description: str = ""

    def availability(self) -> str | None:
        """``None`` when the target can run here, else a message naming the missing tool and its package."""
        return None

    @abstractmethod
    def run(self, model_path: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the artifact at ``model_path`` on ``feeds`` (graph input name -> array); return all outputs."""


_REGISTRY: dict[str, Callable[[], Target]] = {}


def register(name: str, factory: Callable[[], Target]) -> None:
    """Register a target factory under ``name`` (lower-case, e.g. ``"onnxruntime"``, ``"cortex-m4"``)."""
    _REGISTRY[name] = factory


def target_names() -> list[str]:
    """All registered target names (importing ``targets.registry`` registers the built-in ones).

    Returns
    -------
    list of str
        In registration order, which follows the order the registering modules were imported (the built-ins
        in ``targets.registry``, device profiles in ``targets.devices``).

    Examples
    --------
    >>> from targets import target_names
    >>> sorted({"reference", "onnxruntime", "onnx-reference", "native"} & set(target_names()))
    ['native', 'onnx-reference', 'onnxruntime', 'reference']
    """
    return list(_REGISTRY)


def get_target(name: str) -> Target:
    """Instantiate the target registered as ``name``.

    Parameters
    ----------
    name : str
        A registered name (:func:`target_names`), e.g. ``"reference"``, ``"onnxruntime"``, ``"native"``.

    Returns
    -------
    Target
        Its ``availability()`` is None when it can run here, else the reason; ``run(model_path, feeds)``
        returns every graph output by name.

    Raises
    ------
    ValueError
        Unknown name; the message lists the known ones.

    Examples
    --------
    >>> from targets import get_target
    >>> t = get_target("reference")
    >>> t.name, t.availability() is None
    ('reference', True)
    >>> get_target("nope")
    Traceback (most recent call last):
    ...
    ValueError: unknown target 'nope'; known targets: ...
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown target {name!r}; known targets: {', '.join(sorted(_REGISTRY)) or '(none)'}")
    return _REGISTRY[name]()
