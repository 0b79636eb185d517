"""The reference simulator: a numpy interpreter of exported ONNX files (no onnxruntime).

It parses the file with the ``onnx`` package (protobuf only), checks the bit-layout metadata, reads the
packed initializers, and executes the main graph node by node with the kernels of
``targets.reference.ops`` at a chosen word width (8, 16, 32 or 64 bits). Every value the graph computes is
kept, in execution order: that is the layer-by-layer trace.

What it runs:

- ``custom`` export mode (``lowprec.export_mode = custom``): the ``lowprec`` v1 nodes (docs/ops.md) plus
  the standard ops a main graph uses around them (Add, Sub, Mul, ArgMax, Identity, Cast, CastLike,
  Constant). The model-local FunctionProtos are *not* executed: the kernels implement the op contract independently of
  those bodies (that independence is what the differential tests rely on).
- ``standard`` export mode (everything inlined into standard ops): the simulator does not interpret the
  generic standard-op graph (that is onnxruntime's and ``onnx.reference``'s job). It recovers the network
  from the file's initializers and metadata (``export.onnx.network_from_onnx``), rebuilds the equivalent
  custom-mode graph (``export.onnx.build_model``) and interprets that; the two graphs declare the same
  outputs, which is checked. A standard-mode file is therefore verified as "runtime on the inlined graph vs
  our kernels on the same weights".

Before running, a file goes through every artifact check of ``export.onnx.load_artifact`` (readable
protobuf, content digest and optional signature, bit layout v1 metadata, limits, initializer names, dtypes,
shapes and zero pad bits, and equality with the model its config rebuilds to), under the current
``export.onnx.load_policy``; then any op outside the contract, an unresolved input or a wrong operand dtype is a clear error
naming the node, never a wrong answer.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from export.layout import check_metadata
from targets.reference.ops import KERNELS, LOWPREC_DOMAIN
from targets.reference.words import WORD_WIDTHS

__all__ = ["Program", "Step", "Trace", "load_program", "read_model", "simulate"]


@dataclass(frozen=True)
class Step:
    """One node of the main graph, bound to its kernel."""

    name: str
    domain: str
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict

    @property
    def label(self) -> str:
        dom = f"{self.domain}:" if self.domain else ""
        return f"node {self.name!r} ({dom}{self.op_type})"


@dataclass(frozen=True)
class ValueInfo:
    name: str
    dtype: np.dtype
    shape: tuple  # ints, or str/None for symbolic dims


@dataclass
class Trace:
    """Every value of one run: ``values`` (name -> array, execution order), ``steps`` and graph ``outputs``."""

    values: dict[str, np.ndarray]
    steps: list[Step]
    output_names: list[str]
    word_bits: int

    @property
    def outputs(self) -> dict[str, np.ndarray]:
        """The graph outputs (what every target returns)."""
        return {n: self.values[n] for n in self.output_names}

    def layers(self) -> list[tuple[str, dict[str, np.ndarray]]]:
        """[(node label, {output name: array})] in execution order: the layer-by-layer trace."""
        return [(s.label, {o: self.values[o] for o in s.outputs}) for s in self.steps]


@dataclass
class Program:
    """A parsed, checked main graph ready to run."""

    source: str
    inputs: list[ValueInfo]
    outputs: list[ValueInfo]
    initializers: dict[str, np.ndarray]
    steps: list[Step]
    metadata: dict[str, str]
    mode: str = "custom"
    rebuilt_from_standard: bool = False
    extra: dict = field(default_factory=dict)

    def run(self, feeds: dict[str, np.ndarray], word_bits: int = 64) -> Trace:
        """Execute on ``feeds`` (graph input name -> array) at ``word_bits``; return the full trace."""
        if word_bits not in WORD_WIDTHS:
            raise ValueError(f"word width must be one of {WORD_WIDTHS}, got {word_bits}")
        values: dict[str, np.ndarray] = {}
        self._check_feeds(feeds)
        for vi in self.inputs:
            values[vi.name] = np.asarray(feeds[vi.name])
        env = dict(self.initializers)
        env.update(values)
        for step in self.steps:
            fn, _ = KERNELS[(step.domain, step.op_type)]
            args = [env[n] for n in step.inputs if n != ""]
            try:
                out = fn(*args, **step.attrs, word_bits=word_bits)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{self.source}: {step.label}: {exc}") from None
            env[step.outputs[0]] = out
            values[step.outputs[0]] = out
        for vi in self.outputs:
            got = env[vi.name]
            if got.dtype != vi.dtype:
                raise TypeError(f"{self.source}: graph output {vi.name!r} is declared {vi.dtype} but its node "
                                f"produces {got.dtype}")
        return Trace(values, self.steps, [o.name for o in self.outputs], word_bits)

    def _check_feeds(self, feeds: dict[str, np.ndarray]) -> None:
        want = {vi.name for vi in self.inputs}
        if set(feeds) != want:
            raise ValueError(f"{self.source}: feeds must be exactly the graph inputs {sorted(want)}, "
                             f"got {sorted(feeds)}")
        for vi in self.inputs:
            a = np.asarray(feeds[vi.name])
            if a.dtype != vi.dtype:
                raise TypeError(f"{self.source}: input {vi.name!r} must have dtype {vi.dtype}, got {a.dtype}")
            if a.ndim != len(vi.shape) or any(isinstance(d, int) and d != s for d, s in zip(vi.shape, a.shape)):
                raise ValueError(f"{self.source}: input {vi.name!r} must have shape {vi.shape}, got {a.shape}")


def read_model(source: Any):
    """A path or a ModelProto -> ModelProto; an unreadable or truncated file is a ValueError naming it."""
    import onnx
    from google.protobuf.message import DecodeError

    if isinstance(source, onnx.ModelProto):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"expected an ONNX file path or an onnx.ModelProto, got {type(source).__name__}")
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX file not found: {path!r}")
    try:
        model = onnx.load(path)
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise ValueError(f"{path}: not a readable ONNX file (truncated or corrupt?): {exc}") from None
    if not model.graph.node and not model.graph.output:
        raise ValueError(f"{path}: empty or non-ONNX file (no graph nodes or outputs)")
    return model


def _np_dtype(elem_type: int, where: str) -> np.dtype:
    from onnx.helper import tensor_dtype_to_np_dtype

    try:
        return np.dtype(tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{where}: unsupported ONNX element type {elem_type}") from None


def _value_info(vi, where: str) -> ValueInfo:
    t = vi.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)
    return ValueInfo(vi.name, _np_dtype(t.elem_type, f"{where} {vi.name!r}"), dims)


def _attrs(node, source: str) -> dict:
    from onnx import AttributeProto, helper, numpy_helper

    out = {}
    for a in node.attribute:
        if a.type == AttributeProto.TENSOR:
            out[a.name] = numpy_helper.to_array(a.t)
        elif a.type in (AttributeProto.INT, AttributeProto.FLOAT, AttributeProto.INTS, AttributeProto.FLOATS,
                        AttributeProto.STRING):
            v = helper.get_attribute_value(a)
            out[a.name] = v.decode() if isinstance(v, bytes) else v
        else:
            raise ValueError(f"{source}: node {node.name!r} has attribute {a.name!r} of a type the reference "
                             "simulator does not read")
    return out


def load_program(source: Any) -> Program:
    """Parse and check an exported ONNX file (path or ModelProto) into a runnable :class:`Program`."""
    from export.onnx import load_artifact, validate

    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        model = load_artifact(name)  # parse + every artifact check (digest, layout, limits, consistency)
    else:
        model = read_model(source)
        name = model.graph.name or "model"
        validate(model, name)
    return _program(model, name)


def _program(model, name: str) -> Program:
    """A validated model -> :class:`Program` (standard mode: through the rebuilt custom-mode model)."""
    from onnx import numpy_helper

    props = {p.key: p.value for p in model.metadata_props}
    check_metadata(props, source=name)
    mode = props.get("lowprec.export_mode", "custom")
    if mode == "standard":
        return _rebuild_standard(model, name, props)
    if mode != "custom":
        raise ValueError(f"{name}: unknown lowprec.export_mode {mode!r}; expected 'custom' or 'standard'")
    g = model.graph
    inits = {}
    for t in g.initializer:
        if t.data_location == 1:  # EXTERNAL
            raise ValueError(f"{name}: initializer {t.name!r} uses external data; exported files embed them")
        try:
            inits[t.name] = numpy_helper.to_array(t)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name}: initializer {t.name!r} cannot be read ({exc})") from None
    inputs = [_value_info(vi, f"{name}: graph input") for vi in g.input if vi.name not in inits]
    outputs = [_value_info(vi, f"{name}: graph output") for vi in g.output]
    known = set(inits) | {vi.name for vi in inputs}
    steps = []
    for i, node in enumerate(g.node):
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        step = Step(node.name or f"#{i}", domain, node.op_type, tuple(node.input), tuple(node.output),
                    _attrs(node, name))
        if (domain, node.op_type) not in KERNELS:
            supported = sorted(f"{d}:{o}" if d else o for d, o in KERNELS)
            raise ValueError(f"{name}: {step.label} is not part of the lowprec v1 contract the reference "
                             f"simulator runs (supported: {', '.join(supported)})")
        if domain == LOWPREC_DOMAIN and not _has_function(model, node.op_type):
            # Not needed by the simulator, but a file without the body would not run on stock runtimes.
            raise ValueError(f"{name}: {step.label} has no model-local function body (lowprec v1 requires one)")
        for inp in node.input:
            if inp and inp not in known:
                raise ValueError(f"{name}: {step.label} reads {inp!r}, which is neither a graph input, an "
                                 "initializer nor an earlier node's output (missing initializer?)")
        if len(node.output) != 1:
            raise ValueError(f"{name}: {step.label} must have exactly one output, has {len(node.output)}")
        known.update(node.output)
        steps.append(step)
    for vi in outputs:
        if vi.name not in known:
            raise ValueError(f"{name}: graph output {vi.name!r} is produced by no node")
    return Program(name, inputs, outputs, inits, steps, props, mode)


def _has_function(model, op_type: str) -> bool:
    return any(f.domain == LOWPREC_DOMAIN and f.name == op_type for f in model.functions)


def _rebuild_standard(model, name: str, props: dict) -> Program:
    """Standard-mode file -> network (from its initializers) -> equivalent custom-mode program."""
    from export.onnx import build_model, network_from_onnx

    try:
        net = network_from_onnx(model)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{name}: cannot recover the network from this standard-mode file: {exc}") from None
    rebuilt = build_model(net, mode="custom")
    prog = _program(rebuilt, name)   # made here by the builder: no file checks to repeat
    want = [(o.name, o.type.tensor_type.elem_type) for o in model.graph.output]
    have = [(o.name, o.type.tensor_type.elem_type) for o in rebuilt.graph.output]
    if want != have:
        raise ValueError(f"{name}: the standard-mode graph declares outputs {[w[0] for w in want]} but its "
                         f"network rebuilds to {[h[0] for h in have]}; cannot simulate it")
    want_in = [(i.name, i.type.tensor_type.elem_type) for i in model.graph.input]
    have_in = [(i.name, i.type.tensor_type.elem_type) for i in rebuilt.graph.input]
    if want_in != have_in:
        raise ValueError(f"{name}: the standard-mode graph declares inputs {want_in} but its network "
                         f"rebuilds to {have_in}; cannot simulate it")
    prog.source, prog.mode, prog.rebuilt_from_standard, prog.metadata = name, "standard", True, props
    return prog


def simulate(source: Any, feeds: dict[str, np.ndarray], word_bits: int = 64) -> Trace:
    """Load and run in one call: the full :class:`Trace` of ``source`` on ``feeds``."""
    return load_program(source).run(feeds, word_bits)
