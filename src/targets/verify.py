"""Verify an exported model: every target, every intermediate, compared exactly with the reference simulator.

For one ONNX file:

1. Inputs: random inputs of the graph's dtypes and shapes (±1 int8, uint8 pixels with extra mass exactly at
   the binarisation threshold, floats around the threshold including ties, uint32 PRNG seeds), split into
   batches of random sizes; plus real inputs when a dataset array of uint8 images is given.
2. Baseline: the reference simulator (``targets.reference``) at ``word_bits``; its trace holds every
   intermediate and every graph output.
3. Ground truth: the float ±1 computation of the network (``targets.ground_truth``), from the network the
   file encodes (``export.onnx.network_from_onnx``) or from a network given by the caller (e.g. the original
   network of a file that may have been altered since). Compared with the baseline, output by output.
   For an MLP that carries its real-valued batch norms, a second, independent truth: the network recomputed
   from those statistics in float64 (not from the folded integer thresholds and scores) must give the same
   hidden bits and the same labels, up to ties within the proven bound of the integer output scale
   (``targets.ground_truth.real_check``).
4. Targets: each one's graph outputs compared with the baseline's by name, dtype, shape and value
   (``np.array_equal``; no tolerance anywhere). The ``reference`` target runs the simulator at the other
   word widths. Unavailable targets are skipped with their reason. A device whose RAM or flash cannot hold
   the verify harness (a buffer for every intermediate) but can hold the deployed ``predict()`` build (MLP,
   CNN) runs that build: it returns :class:`targets.base.PartialOutputs` (the output layer's int32 fields and
   the labels), those are compared just as exactly, and the target's row says so and counts only them.

The first difference is reported with the output (graph outputs are in layer order, so it is the first
differing layer), the batch, the index and both values; for packed outputs also the unit (bit) index.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from targets.base import PartialOutputs, Target, TargetUnavailable, get_target
from targets.reference.target import ReferenceTarget
from targets.reference.words import WORD_WIDTHS

__all__ = ["Difference", "TargetResult", "VerifyReport", "compare", "make_inputs", "resolve_targets",
           "verify", "GROUND_TRUTH"]

GROUND_TRUTH = "float"
REAL_NETWORK = "real"


@dataclass(frozen=True)
class Difference:
    """The first difference between a baseline and a target."""

    output: str
    what: str                      # "value", "dtype", "shape" or "missing"
    batch: int = -1
    rows: int = 0
    index: tuple | None = None
    expected: Any = None
    found: Any = None
    unit: str = ""

    def describe(self, target: str, baseline: str) -> str:
        where = f"output {self.output!r}" + (f", batch {self.batch} ({self.rows} rows)" if self.batch >= 0 else "")
        if self.what == "missing":
            return f"{where}: {target} returned no such output"
        if self.what in ("dtype", "shape"):
            return f"{where}: {self.what} {baseline} {self.expected} != {target} {self.found}"
        return (f"{where}, index {self.index}{self.unit}: {baseline} {self.expected!r} != "
                f"{target} {self.found!r}")


@dataclass
class TargetResult:
    """Outcome for one target (or for the float ground truth)."""

    name: str
    status: str                    # "ok", "mismatch", "error" or "skipped"
    inputs: int = 0
    tensors: int = 0
    difference: Difference | None = None
    reason: str = ""
    label: str = ""
    baseline: str = "reference"
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("mismatch", "error")

    def line(self) -> str:
        name = self.label or self.name
        if self.status == "ok":
            if self.name == REAL_NETWORK:
                return f"{name}: OK, {self.inputs} inputs, hidden bits and labels as the {self.baseline}{self.note}"
            note = f" ({self.note})" if self.note else ""
            return f"{name}: OK, {self.inputs} inputs, {self.tensors} tensors equal to the {self.baseline}{note}"
        if self.status == "skipped":
            return f"{name}: skipped ({self.reason})"
        if self.status == "error":
            return f"{name}: ERROR after {self.inputs} inputs: {self.reason}"
        note = f" ({self.note})" if self.note and self.name != REAL_NETWORK else ""
        if isinstance(self.difference, str):
            return f"{name}: MISMATCH at {self.difference}{note}"
        return f"{name}: MISMATCH at {self.difference.describe(self.name, self.baseline)}{note}"


@dataclass
class VerifyReport:
    """What :func:`verify` found: one :class:`TargetResult` per target (and per ground truth).

    Attributes
    ----------
    model : str
        The verified file.
    results : list of TargetResult
        In order: the float ±1 ground truth, the real-valued batch norms (MLP/CNN), then each target; each has
        ``name``, ``status`` (``"ok"``, ``"mismatch"``, ``"skipped"``, ``"error"``), ``inputs``, ``tensors``,
        ``reason`` and the first ``difference``.
    inputs : str
        The inputs compared, in words.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from export import Dense, InputSpec, MLPNetwork, OutputAffine, Threshold, build_model, save_model
    >>> rng = np.random.default_rng(0)
    >>> w0 = rng.choice(np.array([-1, 1], np.int8), size=(8, 16))
    >>> w1 = rng.choice(np.array([-1, 1], np.int8), size=(3, 8))
    >>> net = MLPNetwork(InputSpec("threshold", 16), hidden=[(Dense(w0), Threshold(np.ones(8, int), np.zeros(8, int)))],
    ...                  output=(Dense(w1), OutputAffine.identity(3)))
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = save_model(build_model(net), os.path.join(tmp.name, "model.onnx"))
    >>> from targets import verify
    >>> report = verify(path, ["onnxruntime"], n_inputs=3, batch=3)
    >>> report.ok, [r.name for r in report.results], report.inputs
    (True, ['float', 'real', 'onnxruntime'], '3 random inputs in 1 batch')
    >>> tmp.cleanup()
    """

    model: str
    results: list[TargetResult] = field(default_factory=list)
    inputs: str = ""

    @property
    def ok(self) -> bool:
        """True when no target mismatched or failed (skipped targets do not count against it)."""
        return not any(r.failed for r in self.results)

    def lines(self) -> list[str]:
        """One summary line per result."""
        return [r.line() for r in self.results]

    def table(self) -> list[str]:
        """One row per target: name, result, inputs compared, tensors compared, and why it was skipped/failed."""
        rows = [("target", "result", "inputs", "tensors", "note")]
        for r in self.results:
            note = r.reason if r.status in ("skipped", "error") else (
                r.difference if isinstance(r.difference, str) else
                r.difference.describe(r.name, r.baseline) + (f"; {r.note}" if r.note else "") if r.difference
                else r.note.strip(" ();"))
            rows.append((r.label or r.name, r.status.upper(), str(r.inputs), str(r.tensors), note))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        fmt = lambda row: "  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]),
                                     row[2].rjust(widths[2]), row[3].rjust(widths[3]), row[4]]).rstrip()
        return [fmt(rows[0]), fmt(tuple("-" * w for w in widths) + ("",))] + [fmt(r) for r in rows[1:]]


# ---------------------------------------------------------------------------------------------------- compare
def _first_unit(expected: np.ndarray, found: np.ndarray, index: tuple) -> str:
    """For packed uint64 words: the first differing bit of the differing word, as a unit index."""
    if expected.dtype != np.uint64 or expected.ndim != 2:
        return ""
    x = int(expected[index]) ^ int(found[index])
    bit = (x & -x).bit_length() - 1
    unit = index[1] * 64 + bit
    sign = lambda w: "+1" if (int(w) >> bit) & 1 else "-1"  # noqa: E731
    return f" (unit {unit}: {sign(expected[index])} vs {sign(found[index])})"


def compare(expected: dict[str, np.ndarray], found: dict[str, np.ndarray], names: Sequence[str],
            batch: int = -1) -> Difference | None:
    """The first difference over ``names`` (in order), or None when every output is identical."""
    for name in names:
        if name not in found:
            return Difference(name, "missing", batch)
        e, f = np.asarray(expected[name]), np.asarray(found[name])
        rows = e.shape[0] if e.ndim else 0
        if e.dtype != f.dtype:
            return Difference(name, "dtype", batch, rows, expected=e.dtype.name, found=f.dtype.name)
        if e.shape != f.shape:
            return Difference(name, "shape", batch, rows, expected=e.shape, found=f.shape)
        if not np.array_equal(e, f):
            # NaN never occurs in these outputs (integers, bits and finite probabilities); array_equal
            # would treat NaN as different, which is what a bit-exact check wants anyway.
            idx = tuple(int(i) for i in np.argwhere(e != f)[0])
            return Difference(name, "value", batch, rows, idx, e[idx].item(), f[idx].item(),
                              _first_unit(e, f, idx))
    return None


# ----------------------------------------------------------------------------------------------------- inputs
def _input_threshold(network) -> float | None:
    spec = getattr(network, "input", None)
    return float(spec.threshold) if spec is not None and spec.kind == "threshold" else None


def _random_batch(program, network, b: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    feeds = {}
    thr = _input_threshold(network)
    for vi in program.inputs:
        if vi.dtype == np.uint32 and len(vi.shape) == 1:
            feeds[vi.name] = rng.integers(0, 2**32, b, dtype=np.uint64).astype(np.uint32)
            continue
        k = vi.shape[1]
        if not isinstance(k, int):
            raise ValueError(f"{program.source}: input {vi.name!r} has a symbolic feature size {k!r}")
        tie = rng.random((b, k)) < 0.1          # ~10% of entries exactly at the threshold (sign(0) = +1)
        if vi.dtype == np.int8:
            x = rng.choice(np.array([-1, 1], np.int8), (b, k))
        elif vi.dtype == np.uint8:
            x = rng.integers(0, 256, (b, k), dtype=np.uint8)
            if thr is not None:
                x[tie] = np.uint8(min(255, max(0, int(np.ceil(thr)))))
        elif vi.dtype == np.float32:
            centre = 0.0 if thr is None else thr
            scale = max(1.0, abs(centre)) / 2
            x = (centre + scale * rng.standard_normal((b, k))).astype(np.float32)
            x[tie] = np.float32(centre)
            if centre == 0.0:
                x[rng.random((b, k)) < 0.05] = np.float32(-0.0)
        else:
            raise ValueError(f"{program.source}: no random inputs for input {vi.name!r} of dtype {vi.dtype}")
        feeds[vi.name] = x
    return feeds


def data_feeds(program, network, images: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Feeds for real uint8 ``images`` (B, ...) in the dtype each graph input takes (seeds drawn from ``rng``)."""
    feeds = {}
    b = images.shape[0]
    flat = images.reshape(b, -1)
    for vi in program.inputs:
        if vi.dtype == np.uint32 and len(vi.shape) == 1:
            feeds[vi.name] = rng.integers(0, 2**32, b, dtype=np.uint64).astype(np.uint32)
            continue
        if flat.shape[1] != vi.shape[1]:
            raise ValueError(f"the model's input {vi.name!r} has {vi.shape[1]} features but the data images "
                             f"have {flat.shape[1]} pixels")
        if vi.dtype == np.uint8:
            feeds[vi.name] = flat
        elif vi.dtype == np.int8:  # ±1 visible units at half intensity (pixel / 255 >= 0.5 <=> pixel >= 128)
            feeds[vi.name] = np.where(flat >= 128, 1, -1).astype(np.int8)
        elif vi.dtype == np.float32:
            thr = _input_threshold(network)
            # A float input whose threshold is an intensity (<= 1) reads pixel / 255, else raw pixel values.
            feeds[vi.name] = (flat / np.float32(255.0) if thr is not None and thr <= 1.0 else flat).astype(np.float32)
        else:
            raise ValueError(f"no data mapping for input {vi.name!r} of dtype {vi.dtype}")
    return feeds


def _batch_sizes(n: int, rng: np.random.Generator, batch: int | None) -> list[int]:
    sizes = []
    while n > 0:
        s = min(n, int(batch) if batch else int(rng.integers(1, min(n, 64) + 1)))
        sizes.append(s)
        n -= s
    return sizes


def make_inputs(program, network, n_inputs: int, rng: np.random.Generator, data: np.ndarray | None = None,
                batch: int | None = None) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Batches of feeds: ``n_inputs`` random rows, plus ``n_inputs`` real rows when ``data`` (uint8 images) is given.

    Returns [(kind, feeds)] with kind ``"random"`` or ``"data"``.
    """
    if int(n_inputs) < 1:
        raise ValueError(f"n_inputs must be >= 1, got {n_inputs}")
    out = [("random", _random_batch(program, network, s, rng)) for s in _batch_sizes(int(n_inputs), rng, batch)]
    if data is not None:
        data = np.asarray(data)
        if data.dtype != np.uint8 or data.ndim < 2 or data.shape[0] < 1:
            raise ValueError(f"data must be uint8 images (M, ...), got {data.dtype} {data.shape}")
        rows = data[np.arange(int(n_inputs)) % data.shape[0]]
        start = 0
        for s in _batch_sizes(int(n_inputs), rng, batch):
            out.append(("data", data_feeds(program, network, rows[start:start + s], rng)))
            start += s
    return out


# ---------------------------------------------------------------------------------------------------- targets
def resolve_targets(names: Sequence[str]) -> list[tuple[str, Target | None, str]]:
    """Target names (``"all"`` = every registered one) -> [(name, target or None, reason it is skipped)]."""
    import targets.registry  # noqa: F401  (registers the built-ins and plugins)
    from targets.base import target_names

    builtin = ["reference", "onnxruntime", "onnx-reference"]
    # "all": the Python runtimes first, then every other registered target by name, whatever the import order.
    everything = [b for b in builtin if b in target_names()] + sorted(set(target_names()) - set(builtin))
    expanded: list[str] = []
    for n in names:
        n = n.strip()
        if not n:
            continue
        for m in (everything if n == "all" else [n]):
            if m not in expanded:
                expanded.append(m)
    if not expanded:
        raise ValueError("targets names no target: give at least one name (e.g. ['reference', 'onnxruntime']) "
                         "or 'all'")
    out = []
    for n in expanded:
        t = get_target(n)
        reason = t.availability()
        out.append((n, None if reason else t, reason or ""))
    return out


def _ground_truth_network(model_path, network):
    if network is not None:
        return network, ""
    from export.onnx import network_from_onnx
    from targets.reference.interpreter import read_model

    try:
        return network_from_onnx(read_model(model_path)), ""
    except (ValueError, TypeError, KeyError) as exc:
        return None, f"cannot recover the network from the file: {exc}"


# ----------------------------------------------------------------------------------------------------- verify
def verify(model_path: str | os.PathLike, targets: Sequence[str] = ("reference", "onnxruntime"),
           n_inputs: int = 16, seed: int = 0, word_bits: int = 64, data: np.ndarray | None = None,
           network=None, batch: int | None = None, ground_truth: bool = True) -> VerifyReport:
    """Run every target on the same inputs and compare every output exactly (see the module docstring).

    Parameters
    ----------
    model_path : path of an exported ONNX file
    targets : target names; ``"all"`` means every registered target (unavailable ones are skipped)
    n_inputs : random input rows (and as many real rows when ``data`` is given)
    seed : seeds the input generator (``numpy.random.default_rng(seed)``)
    word_bits : word width of the baseline simulator (8, 16, 32, 64)
    data : uint8 images (M, H, W) or (M, D), optional
    network : MLPNetwork or RBMNetwork, optional: the ground truth's network (default: the file's own)
    batch : rows per batch (default: random batch sizes in 1..64)
    ground_truth : compare the baseline with the float ±1 computation

    Returns
    -------
    VerifyReport
        ``.ok``, ``.lines()`` (one summary line per target), ``.table()``, ``.results``.

    Raises
    ------
    ValueError
        ``word_bits`` is not a word width, ``targets`` names no target or an unknown one, ``n_inputs < 1``,
        ``data`` is not uint8 images of the model's size; a file that is not a lowprec artifact.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from export import Dense, InputSpec, MLPNetwork, OutputAffine, Threshold, build_model, save_model
    >>> rng = np.random.default_rng(0)
    >>> w0 = rng.choice(np.array([-1, 1], np.int8), size=(8, 16))
    >>> w1 = rng.choice(np.array([-1, 1], np.int8), size=(3, 8))
    >>> net = MLPNetwork(InputSpec("threshold", 16), hidden=[(Dense(w0), Threshold(np.ones(8, int), np.zeros(8, int)))],
    ...                  output=(Dense(w1), OutputAffine.identity(3)))
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = save_model(build_model(net), os.path.join(tmp.name, "model.onnx"))
    >>> from targets import verify
    >>> report = verify(path, ["reference", "onnxruntime"], n_inputs=4, seed=0)
    >>> report.ok
    True
    >>> print(report.lines()[-1])
    onnxruntime: OK, 4 inputs, 6 tensors equal to the reference simulator (64-bit words)
    >>> tmp.cleanup()
    """
    from targets.ground_truth import float_forward

    if word_bits not in WORD_WIDTHS:
        raise ValueError(f"word_bits must be one of {WORD_WIDTHS}, got {word_bits}")
    path = os.fspath(model_path)
    baseline = ReferenceTarget(word_bits)
    program = baseline.program(path)           # parses and checks the file: a clear error if it is not ours
    resolved = resolve_targets(targets)
    gt_net, gt_reason = _ground_truth_network(path, network) if ground_truth else (None, "")
    rng = np.random.default_rng(seed)
    batches = make_inputs(program, gt_net, n_inputs, rng, data, batch)
    names = [o.name for o in program.outputs]
    base_label = f"reference simulator ({word_bits}-bit words)"

    gt = TargetResult(GROUND_TRUTH, "ok", label="float ±1 ground truth", baseline=base_label)
    real = TargetResult(REAL_NETWORK, "ok", label="real-valued batch norms", baseline=base_label)
    if not ground_truth:
        gt.status = real.status = "skipped"
    elif gt_net is None:
        gt.status, gt.reason = "skipped", gt_reason
        real.status, real.reason = "skipped", gt_reason
    elif getattr(gt_net, "real_bn", None) is None:
        real.status = "skipped"
        real.reason = ("an RBM has no batch norm to check" if not hasattr(gt_net, "real_bn") else
                       "the file carries no real-valued batch-norm statistics (re-export it with this version)")
    ties = 0
    runs: list[tuple[str, list[Target], TargetResult]] = []
    results = ([gt] + ([real] if real.reason != "an RBM has no batch norm to check" else [])) if ground_truth else []
    for name, t, reason in resolved:
        if t is None:
            results.append(TargetResult(name, "skipped", reason=reason))
            continue
        if name == "reference":
            others = [w for w in WORD_WIDTHS if w != word_bits]
            res = TargetResult(name, "ok", label=f"reference ({'/'.join(map(str, others))}-bit words)",
                               baseline=base_label)
            runs.append((name, [ReferenceTarget(w) for w in others], res))
        else:
            runs.append((name, [t], TargetResult(name, "ok", baseline=base_label)))
        results.append(runs[-1][2])

    for b, (kind, feeds) in enumerate(batches):
        rows = next(iter(feeds.values())).shape[0]
        expected = baseline.trace(path, feeds).outputs
        if gt.status == "ok":
            truth = float_forward(gt_net, feeds)
            d = compare(expected, truth, names, b)
            if d is not None:
                gt.status, gt.difference = "mismatch", d
            else:
                gt.inputs += rows
                gt.tensors += len(names)
        if real.status == "ok":
            from targets.ground_truth import real_check

            x = next(v for k, v in feeds.items() if k != "seeds")
            d, tied = real_check(gt_net, x, expected)
            if d is not None:
                real.status, real.difference = "mismatch", f"batch {b} ({rows} rows), {d}"
            else:
                real.inputs += rows
                # tensors real_check compared: each conv and hidden layer's bits, the label, the scores
                real.tensors += (len(getattr(gt_net, "features", ())) + len(gt_net.hidden) + 1
                                 + (gt_net.output[1].frac_bits is not None))
                ties += tied
        for name, tlist, res in runs:
            if res.status != "ok":
                continue
            for t in tlist:
                try:
                    found = t.run(path, feeds)
                except TargetUnavailable as exc:
                    res.status, res.reason = "skipped", str(exc)
                    break
                except Exception as exc:  # a runtime refusing the file is a failed check, reported as such
                    res.status, res.reason = "error", f"{type(exc).__name__}: {exc}"
                    break
                compared = names
                if isinstance(found, PartialOutputs):   # e.g. a device running only the deployed predict()
                    compared = [n for n in names if n in found]
                    res.note = found.note
                    if "label" in names and "label" not in compared:   # a partial run must reach the answer
                        res.status, res.reason = "error", f"returned no label ({found.note})"
                        break
                d = compare(expected, found, compared, b)
                if d is not None:
                    res.status, res.difference = "mismatch", d
                    break
                res.tensors += len(compared)
            if res.status == "ok":
                res.inputs += rows
    if real.status == "ok":
        from export.network import label_tie_bound

        delta = label_tie_bound(gt_net)
        real.note = (f" (label tie bound {delta:.2g}" if delta is not None else " (no recorded score scale")
        real.note += f"; {ties} label{'s' * (ties != 1)} at a tie)" if ties else ")"
    n_data = sum(next(iter(f.values())).shape[0] for k, f in batches if k == "data")
    n_rand = sum(next(iter(f.values())).shape[0] for k, f in batches if k == "random")
    n_b = len(batches)
    desc = f"{n_rand} random" + (f" + {n_data} real" if n_data else "") + f" inputs in {n_b} batch{'es' * (n_b != 1)}"
    return VerifyReport(path, results, desc)

