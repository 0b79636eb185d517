"""Resource limits on size and count arguments, checked before any work starts.

A typo such as ``--hidden 100000000`` or ``--inputs 100000000`` should not exhaust the machine's memory or run
for days. Every size or count argument has a limit (below); a value above it is refused with a message naming
the flag, the limit and how to raise it. One mechanism raises any limit: the top-level option
``lowprec --max NAME=VALUE`` (repeatable), e.g. ``lowprec --max hidden=32768 train mlp --hidden 20000``.
"""
from __future__ import annotations

from dataclasses import dataclass

from lowprec_rbm.cli.errors import CLIError

__all__ = ["LIMITS", "Limit", "parse_max", "set_limits", "check", "limit"]


@dataclass(frozen=True)
class Limit:
    default: float
    what: str          # what the limit bounds, for messages and the README table


# name -> default limit. Defaults are far above every documented use (README, demo, benchmarks) and well
# below what exhausts a workstation: a 16,384-unit layer after a 16,384-unit layer holds 268 M weights
# (about 1 GB per float32 copy, several copies while training). Verifying a 784x8 RBM exported with 1,000 Gibbs
# steps did not finish in 5 minutes (onnx.reference runs the unrolled steps one node at a time), hence 100.
LIMITS: dict[str, Limit] = {
    "hidden": Limit(16_384, "units per hidden layer (train --hidden)"),
    "layers": Limit(64, "hidden layers of an MLP (train mlp --hidden)"),
    "epochs": Limit(10_000, "training epochs (--epochs)"),
    "batch": Limit(1_000_000, "rows per minibatch or batch (--batch-size, --batch)"),
    "n-z": Limit(4_096, "z-samples of the RBM partition term (--n-z)"),
    "bp-iter": Limit(100_000, "belief-propagation sweeps (--bp-max-iter)"),
    "test-samples": Limit(1_000, "sampled networks of the posterior mean (train mlp --test-samples)"),
    "samples": Limit(256, "sampled networks written by one export (export --samples)"),
    "gibbs-steps": Limit(100, "Gibbs steps unrolled in an RBM graph (export --gibbs-steps)"),
    "inputs": Limit(100_000, "input rows of verify / report (--inputs)"),
    "beta": Limit(100.0, "inverse temperature of the RBM (train rbm --beta)"),
}

_current: dict[str, float] = {k: v.default for k, v in LIMITS.items()}


def parse_max(text: str) -> tuple[str, float]:
    """``NAME=VALUE`` of ``--max`` -> (name, value); ValueError naming the known limits otherwise."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or name not in LIMITS:
        raise ValueError(f"--max expects NAME=VALUE with NAME one of {', '.join(LIMITS)}; got {text!r}")
    try:
        v = float(value)
    except ValueError:
        raise ValueError(f"--max {name}=...: expected a number, got {value!r}") from None
    if not v > 0 or v == float("inf"):
        raise ValueError(f"--max {name}=...: expected a finite positive number, got {value!r}")
    return name, v


def set_limits(overrides: list[tuple[str, float]] | None = None) -> None:
    """Reset every limit to its default, then apply ``overrides`` (called once per ``main()``)."""
    _current.clear()
    _current.update({k: v.default for k, v in LIMITS.items()})
    for name, value in overrides or []:
        _current[name] = value


def limit(name: str) -> float:
    return _current[name]


def check(flag: str, value, name: str) -> None:
    """Refuse ``value`` of ``flag`` above the limit ``name`` (None = the flag was not given)."""
    if value is None:
        return
    lim = _current[name]
    if value > lim:
        shown = f"{lim:,.0f}" if float(lim).is_integer() else f"{lim:g}"
        raise CLIError(f"{flag} {value} is above the limit {shown} on the {LIMITS[name].what.split(' (')[0]}; "
                       f"if you mean it, raise the limit: lowprec --max {name}=N ...")
