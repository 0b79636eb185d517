"""pytest hooks and shared fixtures: the fuzz tests' case counts appear in the summary of every run (``pytest -q``
included); ``exact_erf`` swaps the training erf for the exact one in gradient checks."""
from __future__ import annotations

import math

import numpy as np
import pytest


@pytest.fixture
def exact_erf(monkeypatch):
    """The probabilistic forward pass with math.erf instead of the training approximation (accurate to 1.5e-7,
    its derivative only to ~1e-5), so central differences of it test the derivation, not the approximation."""
    import lowprec_rbm.nn.pfp as pfp

    monkeypatch.setattr(pfp, "erf", np.vectorize(math.erf, otypes=[np.float64]))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from fuzzing import COUNTS

    if COUNTS:
        total = sum(v for k, v in COUNTS.items() if not k.startswith("cli"))
        cli = sum(v for k, v in COUNTS.items() if k.startswith("cli"))
        parts = ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items()))
        terminalreporter.write_line(f"fuzzed loaders: {total} cases, {cli} CLI runs ({parts})")
