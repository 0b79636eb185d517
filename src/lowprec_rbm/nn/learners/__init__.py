"""Learning rules of the classifiers, one module each (:class:`~lowprec_rbm.nn.learners.base.Learner`).

Every module of this package that defines ``LEARNER`` (an instance) is a rule; :data:`LEARNERS` maps the rule
names to them in ``order``. Adding a rule is adding a module.
"""
from __future__ import annotations

import importlib
import pkgutil

from lowprec_rbm.nn.learners.base import Learner

__all__ = ["Learner", "LEARNERS", "get"]


def _discover() -> dict[str, Learner]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        learner = getattr(module, "LEARNER", None)
        if isinstance(learner, Learner):
            found.append(learner)
    return {l.name: l for l in sorted(found, key=lambda l: (l.order, l.name))}


LEARNERS: dict[str, Learner] = _discover()


def get(name: str) -> Learner:
    if name not in LEARNERS:
        raise ValueError(f"rule must be one of {tuple(LEARNERS)}, got {name!r}")
    return LEARNERS[name]
