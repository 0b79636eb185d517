"""pytest hooks: the fuzz tests' case counts appear in the summary of every run (``pytest -q`` included)."""
from __future__ import annotations


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from fuzzing import COUNTS

    if COUNTS:
        total = sum(v for k, v in COUNTS.items() if not k.startswith("cli"))
        cli = sum(v for k, v in COUNTS.items() if k.startswith("cli"))
        parts = ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items()))
        terminalreporter.write_line(f"fuzzed loaders: {total} cases, {cli} CLI runs ({parts})")
