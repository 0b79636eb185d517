"""Saving and loading exported models, and reading the network back out of a file.

``load_artifact`` refuses anything that is not exactly what ``build_model`` wrote, each with a specific
error (``export.errors``) naming the file and what was expected and found:

1. unreadable or truncated protobuf, foreign files (``ArtifactError``);
2. a content digest that is missing or does not match, or a network digest that is not the digest of the
   weights the file holds, i.e. a modified or corrupt file
   (``ArtifactIntegrityError``; ``check_digest=False`` accepts it with an ``ArtifactIntegrityWarning``), and,
   when a ``verify_key`` is given, a keyed signature that is missing or not made with that key
   (``SignatureError``) — see ``export.digest`` for what each protects against;
3. another bit layout (``LayoutError``), another ``lowprec`` domain version, IR version or export mode;
4. resource limits: more Gibbs steps than ``max_gibbs_steps`` (default ``DEFAULT_MAX_GIBBS_STEPS``;
   ``ArtifactLimitError``). Sizes need no separate limit: every unit costs a row of weights in the file and
   shapes are checked against the initializers before anything is allocated from them;
5. self-consistency (``ArtifactInconsistentError``): the network is read back from the config and the
   initializers (dtypes, shapes, zero pad bits, ``xi`` vs ``xi_T``), rebuilt with ``build_model`` and the
   rebuild compared with the file: graph inputs (names, dtypes, shapes), outputs, every node (op type,
   domain, wiring, every attribute: K, N, thresholds, streams ...), every initializer (dtype, shape, value:
   e.g. the RBM tables implied by β), function bodies, opsets, IR version and the metadata the builder
   writes (config, network digest). A re-digested edit of any of these is refused.

The three keyword arguments can also be set for a whole block with ``load_policy(...)`` — how ``lowprec
verify --allow-modified`` reaches the targets that open the file themselves.
"""
from __future__ import annotations

import contextvars
import json
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from export.digest import NETWORK_DIGEST_KEY, check_seal, network_digest
from export.errors import (ArtifactError, ArtifactInconsistentError, ArtifactIntegrityError, ArtifactIntegrityWarning,
                           ArtifactLimitError)
from export.fileio import atomic_write_bytes
from export.layout import LayoutError, check_metadata, n_words, unpack_pm1, unpack_ternary
from export.network import (CNNNetwork, Conv2d, Dense, InputSpec, MLPNetwork, OutputAffine, RBMNetwork, RealBatchNorm,
                            Threshold, rbm_compact_tables)

from . import ops
from .build import IR_VERSION, MODES, build_model
from .consistency import compare_with_rebuild
from .names import input_names, output_count, output_names

__all__ = ["ArtifactError", "save_model", "load_artifact", "validate", "network_from_onnx", "initializers",
           "metadata", "LoadPolicy", "load_policy", "current_policy", "DEFAULT_MAX_GIBBS_STEPS"]

DEFAULT_MAX_GIBBS_STEPS = 10_000
_INHERIT = object()   # keyword not given: take the value of the current load_policy


@dataclass(frozen=True)
class LoadPolicy:
    """What the loader accepts: digest checked, optional signature key, resource limits."""

    check_digest: bool = True
    verify_key: bytes | None = None
    max_gibbs_steps: int = DEFAULT_MAX_GIBBS_STEPS

    def __post_init__(self) -> None:
        if not isinstance(self.check_digest, bool):
            raise TypeError(f"check_digest must be True or False, got {type(self.check_digest).__name__}")
        if self.verify_key is not None and not isinstance(self.verify_key, (bytes, bytearray)):
            raise TypeError(f"verify_key must be bytes or None, got {type(self.verify_key).__name__}")
        if isinstance(self.max_gibbs_steps, bool) or not isinstance(self.max_gibbs_steps, int):
            raise TypeError(f"max_gibbs_steps must be an int, got {type(self.max_gibbs_steps).__name__}")
        if self.max_gibbs_steps < 0:
            raise ValueError(f"max_gibbs_steps must be >= 0, got {self.max_gibbs_steps}")


_POLICY: contextvars.ContextVar[LoadPolicy] = contextvars.ContextVar("lowprec_load_policy", default=LoadPolicy())


def current_policy() -> LoadPolicy:
    """The policy loader calls use when a keyword argument is not given."""
    return _POLICY.get()


def _policy(check_digest=_INHERIT, verify_key=_INHERIT, max_gibbs_steps=_INHERIT) -> LoadPolicy:
    given = {k: v for k, v in (("check_digest", check_digest), ("verify_key", verify_key),
                               ("max_gibbs_steps", max_gibbs_steps)) if v is not _INHERIT}
    return replace(_POLICY.get(), **given) if given else _POLICY.get()


@contextmanager
def load_policy(*, check_digest=_INHERIT, verify_key=_INHERIT, max_gibbs_steps=_INHERIT):
    """Within the ``with`` block, loader calls that do not pass these keyword arguments use these values.

    Scoped to the current thread / async context (``contextvars``); the previous policy is restored on exit.
    Used where the file is opened by code the caller does not call directly (targets inside ``verify``).
    """
    token = _POLICY.set(_policy(check_digest, verify_key, max_gibbs_steps))
    try:
        yield _POLICY.get()
    finally:
        _POLICY.reset(token)


def save_model(model: onnx.ModelProto, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` atomically (temporary file + rename).

    Parameters
    ----------
    model : onnx.ModelProto
        Usually from :func:`export.build_model`.
    path : path-like

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import numpy as np
    >>> from export import Dense, InputSpec, MLPNetwork, OutputAffine
    >>> w = np.where(np.arange(48).reshape(3, 16) % 5 < 2, 1, -1)      # 3 classes x 16 inputs, ±1
    >>> net = MLPNetwork(InputSpec("threshold", 16), hidden=(), output=(Dense(w), OutputAffine.identity(3)))
    >>> import os, tempfile
    >>> from export import build_model, save_model
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save_model(build_model(net), os.path.join(tmp, "model.onnx"))
    ...     print(path.name, path.stat().st_size > 0)
    model.onnx True
    """
    if not isinstance(model, onnx.ModelProto):
        raise TypeError(f"expected an onnx.ModelProto, got {type(model).__name__}")
    return atomic_write_bytes(path, model.SerializeToString())


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    """``metadata_props`` as a dict of str (undecodable bytes, which older protobuf releases return as bytes,
    are shown with replacement characters: such a value then fails every check that reads it)."""
    return {(p.key.decode("utf-8", "replace") if isinstance(p.key, bytes) else p.key):
            (p.value.decode("utf-8", "replace") if isinstance(p.value, bytes) else p.value)
            for p in model.metadata_props}


def initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Every initializer of the main graph as a numpy array (packed words stay uint64)."""
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def load_artifact(path: str | os.PathLike, *, check_digest: bool = _INHERIT, verify_key: bytes | None = _INHERIT,
                  max_gibbs_steps: int = _INHERIT) -> onnx.ModelProto:
    """Read and validate an exported model; returns the ModelProto or raises a specific error.

    Parameters
    ----------
    path : path of an ``.onnx`` file written by ``lowprec export`` / ``build_model`` + ``save_model``
    check_digest : bool, default True
        False accepts a file whose content digest is missing or does not match (older exports, deliberate
        edits), with an ``ArtifactIntegrityWarning``. Every other check still runs.
    verify_key : bytes, optional
        Require a keyed signature (``lowprec.hmac``) made with this key (``export.digest.read_key_file``).
    max_gibbs_steps : int, default ``DEFAULT_MAX_GIBBS_STEPS`` (10,000)
        Refuse RBM files with more Gibbs steps (each step costs memory and time in every consumer).

    The defaults of the three keywords come from the current :func:`load_policy`.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ArtifactError
        Not parseable (truncated/corrupt), not a lowprec artifact, unsupported domain version or IR,
        missing initializer, wrong dtype or shape; subclasses: ``ArtifactIntegrityError`` (digest),
        ``SignatureError`` (keyed signature), ``ArtifactLimitError`` (limits), ``ArtifactInconsistentError``
        (graph, initializers and config disagree).
    export.layout.LayoutError
        The bit layout metadata differs from bit layout v1.

    Examples
    --------
    >>> import numpy as np
    >>> from export import Dense, InputSpec, MLPNetwork, OutputAffine
    >>> w = np.where(np.arange(48).reshape(3, 16) % 5 < 2, 1, -1)      # 3 classes x 16 inputs, ±1
    >>> net = MLPNetwork(InputSpec("threshold", 16), hidden=(), output=(Dense(w), OutputAffine.identity(3)))
    >>> import os, tempfile
    >>> from export import build_model, load_artifact, save_model
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save_model(build_model(net), os.path.join(tmp, "model.onnx"))
    ...     model = load_artifact(path)               # digest, bit layout and consistency checked
    >>> model.graph.output[-1].name
    'label'
    """
    policy = _policy(check_digest, verify_key, max_gibbs_steps)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model {str(path)!r} does not exist")
    data = path.read_bytes()
    src = f"{path}"
    if not data:
        raise ArtifactError(f"{src}: file is empty")
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ArtifactError(f"{src}: not a readable ONNX protobuf (truncated or corrupt file?): {exc}") from None
    validate(model, src, check_digest=policy.check_digest, verify_key=policy.verify_key,
             max_gibbs_steps=policy.max_gibbs_steps)
    return model


def validate(model: onnx.ModelProto, source: str = "model", *, check_digest: bool = _INHERIT,
             verify_key: bytes | None = _INHERIT, max_gibbs_steps: int = _INHERIT) -> None:
    """All checks of :func:`load_artifact` on an in-memory model (same keyword arguments)."""
    policy = _policy(check_digest, verify_key, max_gibbs_steps)
    if not isinstance(model, onnx.ModelProto):
        raise TypeError(f"expected an onnx.ModelProto, got {type(model).__name__}")
    props = metadata(model)
    if not any(k.startswith("lowprec.") for k in props):
        raise ArtifactError(f"{source}: no lowprec.* metadata_props: not a lowprec artifact (a foreign ONNX file, "
                            f"or one truncated before its metadata)")
    for problem in check_seal(model, source, check_digest=policy.check_digest, verify_key=policy.verify_key):
        warnings.warn(f"{problem} (accepted: check_digest=False)", ArtifactIntegrityWarning, stacklevel=3)
    check_metadata(props, source)
    mode = props.get("lowprec.export_mode")
    if mode not in MODES:
        raise ArtifactError(f"{source}: lowprec.export_mode is {mode!r}; expected one of {MODES}")
    if props.get("lowprec.domain_version") != str(ops.DOMAIN_VERSION):
        raise ArtifactError(f"{source}: lowprec.domain_version is {props.get('lowprec.domain_version')!r}; "
                            f"this toolkit implements lowprec domain version {ops.DOMAIN_VERSION}")
    domains = {o.domain: o.version for o in model.opset_import}
    if mode == "custom" and domains.get(ops.DOMAIN) != ops.DOMAIN_VERSION:
        raise ArtifactError(f"{source}: imports lowprec domain version {domains.get(ops.DOMAIN)}; this toolkit "
                            f"implements version {ops.DOMAIN_VERSION}")
    if mode == "standard" and ops.DOMAIN in domains:
        raise ArtifactError(f"{source}: a 'standard' export must not import the lowprec domain")
    if not 7 <= model.ir_version <= 13:
        raise ArtifactError(f"{source}: IR version {model.ir_version}; expected {IR_VERSION} (onnxruntime reads <= 13)")
    # initializers present, with the dtypes and shapes of the config; Gibbs steps within the limit
    net = network_from_onnx(model, source, max_gibbs_steps=policy.max_gibbs_steps)
    # The number of outputs first: the name list of a file claiming many Gibbs steps is not built for nothing.
    want_count = output_count(net)
    if len(model.graph.output) != want_count:
        raise ArtifactInconsistentError(f"{source}: the graph has {len(model.graph.output)} outputs; the config "
                                        f"implies {want_count:,}")
    for what, got_names, want_names in (("inputs", [i.name for i in model.graph.input], input_names(net)),
                                        ("outputs", [o.name for o in model.graph.output], output_names(net))):
        if got_names != want_names:
            raise ArtifactInconsistentError(f"{source}: graph {what} are {got_names}; the config implies {want_names}")
    # The rebuild passed onnx.checker (build_model runs it); a file equal to it in every field passes too.
    compare_with_rebuild(model, build_model(net, mode), source)
    want, got = props.get(NETWORK_DIGEST_KEY), network_digest(net)
    if want != got:
        problem = (f"{source}: the recorded network digest ({str(want)[:23]}...) is not the digest of the weights "
                   f"the file holds ({got[:23]}...): modified weights")
        if policy.check_digest:
            raise ArtifactIntegrityError(problem)
        warnings.warn(f"{problem} (accepted: check_digest=False)", ArtifactIntegrityWarning, stacklevel=2)


# ---- reading the network back --------------------------------------------------------------------------

def _config(model: onnx.ModelProto, source: str) -> tuple[str, dict]:
    props = metadata(model)
    kind = props.get("lowprec.model_kind")
    if kind not in ("mlp", "rbm", "cnn"):
        raise ArtifactError(f"{source}: lowprec.model_kind is {kind!r}; expected 'mlp', 'cnn' or 'rbm'")
    try:
        config = json.loads(props.get("lowprec.config", ""))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{source}: lowprec.config is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ArtifactError(f"{source}: lowprec.config is a JSON {type(config).__name__}; expected an object")
    return kind, config


class _Inits:
    """Typed access to initializers: a missing name or a wrong dtype/shape raises ArtifactError."""

    def __init__(self, model: onnx.ModelProto, source: str) -> None:
        self.tensors = {t.name: t for t in model.graph.initializer}
        self.source = source

    def get(self, name: str, dtype, shape: tuple[int, ...]) -> np.ndarray:
        t = self.tensors.get(name)
        if t is None:
            raise ArtifactError(f"{self.source}: initializer {name!r} is missing")
        try:
            a = numpy_helper.to_array(t)
        except Exception as exc:  # raw data length not matching dims, unknown dtype ...
            raise ArtifactError(f"{self.source}: initializer {name!r} is unreadable: {exc}") from None
        if a.dtype != np.dtype(dtype):
            raise ArtifactError(f"{self.source}: initializer {name!r} has dtype {a.dtype}; expected {np.dtype(dtype)}")
        if a.shape != tuple(shape):
            raise ArtifactError(f"{self.source}: initializer {name!r} has shape {a.shape}; expected {tuple(shape)}")
        return a

    def dense(self, name: str, n: int, k: int, ternary: bool) -> Dense:
        if ternary:
            s = self.get(f"{name}_sign", np.uint64, (n, n_words(k)))
            m = self.get(f"{name}_mask", np.uint64, (n, n_words(k)))
            _check_pad(s, k, f"{name}_sign", self.source)
            _check_pad(m, k, f"{name}_mask", self.source)
            return Dense(unpack_ternary(s, m, k))
        w = self.get(name, np.uint64, (n, n_words(k)))
        _check_pad(w, k, name, self.source)
        return Dense(unpack_pm1(w, k))


def _check_pad(words: np.ndarray, k: int, name: str, source: str) -> None:
    """Bit layout v1 requires zero pad bits beyond K."""
    if k % 64:
        if np.any(words[..., -1] >> np.uint64(k % 64)):
            raise ArtifactError(f"{source}: initializer {name!r} has nonzero pad bits beyond K={k} (layout v1 needs 0)")


def _input_spec(config: dict, source: str) -> InputSpec:
    try:
        return InputSpec(**config["input"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{source}: lowprec.config has no valid 'input' entry: {exc}") from None


def _gibbs_steps(config: dict, source: str, limit: int) -> int:
    steps = config["gibbs_steps"]
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise ArtifactError(f"{source}: lowprec.config gibbs_steps is {steps!r}; expected an integer >= 0")
    if steps < 0:
        raise ArtifactError(f"{source}: lowprec.config gibbs_steps is {steps}; expected an integer >= 0")
    if steps > limit:
        raise ArtifactLimitError(f"{source}: the RBM runs {steps:,} Gibbs steps, above the limit of {limit:,} "
                                 f"(max_gibbs_steps): each step costs memory and time in every consumer; raise "
                                 f"the limit to load this file")
    return steps


def network_from_onnx(model: onnx.ModelProto, source: str = "model", *,
                      max_gibbs_steps: int = _INHERIT) -> MLPNetwork | CNNNetwork | RBMNetwork:
    """Reconstruct the MLPNetwork / CNNNetwork / RBMNetwork (weights, thresholds, config) a model was built from.

    Checks the initializers against the config (presence, dtype, shape, zero pad bits, ``xi`` vs ``xi_T``)
    and the Gibbs steps against ``max_gibbs_steps`` (default from :func:`load_policy`). It does not check
    the digest nor the graph: :func:`validate` does, and calls this.
    """
    limit = _policy(max_gibbs_steps=max_gibbs_steps).max_gibbs_steps
    kind, config = _config(model, source)
    inits = _Inits(model, source)
    spec = _input_spec(config, source)
    meta = config.get("meta", {})
    if not isinstance(meta, dict):
        raise ArtifactError(f"{source}: lowprec.config 'meta' is a JSON {type(meta).__name__}; expected an object")
    if kind == "cnn":
        return _cnn_from_config(config, inits, spec, meta, source)
    try:
        if kind == "mlp":
            layers = config["layers"]
            hidden = []
            for i, layer in enumerate(layers[:-1]):
                n = int(layer["out"])
                d = inits.dense(f"w{i}", n, int(layer["in"]), bool(layer["ternary"]))
                hidden.append((d, Threshold(inits.get(f"s{i}", np.int8, (n,)), inits.get(f"t{i}", np.int32, (n,)))))
            last = layers[-1]
            c = int(last["out"])
            d = inits.dense(f"w{len(layers) - 1}", c, int(last["in"]), bool(last["ternary"]))
            frac = config.get("output_frac_bits")
            if frac is not None and (isinstance(frac, bool) or not isinstance(frac, int)):
                raise ArtifactError(f"{source}: lowprec.config 'output_frac_bits' must be an integer or null, "
                                    f"got {frac!r}")
            aff = OutputAffine(inits.get("out_scale", np.int64, (c,)), inits.get("out_offset", np.int64, (c,)),
                               frac_bits=frac)
            real = config.get("real_bn")
            if real is not None:
                if not isinstance(real, list):
                    raise ArtifactError(f"{source}: lowprec.config 'real_bn' must be a list, got {type(real).__name__}")
                real = tuple(RealBatchNorm.from_json(r) for r in real)
            return MLPNetwork(spec, tuple(hidden), (d, aff), meta=meta, real_bn=real)
        steps = _gibbs_steps(config, source, limit)   # before anything else is sized from the config
        n, p = int(config["n_visible"]), int(config["n_hidden"])
        xi = inits.get("xi", np.uint64, (n, n_words(p)))
        xi_t = inits.get("xi_T", np.uint64, (p, n_words(n)))
        _check_pad(xi, p, "xi", source)
        _check_pad(xi_t, n, "xi_T", source)
        w = unpack_pm1(xi, p)
        if not np.array_equal(unpack_pm1(xi_t, n), w.T):
            raise ArtifactError(f"{source}: initializers 'xi' and 'xi_T' are not transposes of each other")
        fields = {}
        for key, size in (("visible_field", n), ("hidden_field", p)):
            value = config.get(key)
            if value is not None:
                if not isinstance(value, list) or len(value) != size or not all(
                        isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
                    raise ArtifactError(f"{source}: lowprec.config '{key}' must be a list of {size} numbers")
                fields[key] = np.array(value, dtype=np.float64)
        # A side with fields has one table row per unit (export.network.rbm_tables), stored compactly when the
        # config says so (export.network.rbm_compact_tables), whole in files from before compact tables.
        layout = config.get("unit_tables", "full") if fields else "compact"
        if fields and layout != "compact" and "unit_tables" in config:
            raise ArtifactError(f"{source}: lowprec.config 'unit_tables' is {layout!r}; expected \"compact\" or no "
                                f"entry (full per-unit tables)")
        net = RBMNetwork(w, beta=float(config["beta"]), input=spec, gibbs_steps=steps, meta=meta, unit_tables=layout,
                         **fields)
        inits.get("map_s", np.int8, (p,))
        inits.get("map_t", np.int32, (p,))
        small = rbm_compact_tables(net) if fields and layout == "compact" else {}
        for name, dtype, rows, k, used in (("p_hidden", np.float32, p, n, True), ("t_hidden", np.uint32, p, n, steps),
                                           ("t_visible", np.uint32, n, p, steps)):
            if not used:
                continue
            if name in small:   # values (S,) and the spans; their contents are compared with the rebuild's
                inits.get(name, dtype, small[name].values.shape)
                for part in ("lo", "hi", "off"):
                    inits.get(f"{name}_{part}", np.int32, (rows,))
            else:
                per_unit = (name == "t_visible" and "visible_field" in fields) or (
                    name != "t_visible" and "hidden_field" in fields)
                inits.get(name, dtype, (rows, k + 1) if per_unit else (k + 1,))
        return net
    except KeyError as exc:
        raise ArtifactError(f"{source}: lowprec.config lacks the entry {exc}") from None
    except OverflowError as exc:  # int(inf) from a JSON number
        raise ArtifactError(f"{source}: inconsistent network description: {exc}") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, (ArtifactError, LayoutError)):
            raise
        raise ArtifactError(f"{source}: inconsistent network description: {exc}") from None


def _output_affine(config: dict, inits: _Inits, c: int, source: str) -> OutputAffine:
    frac = config.get("output_frac_bits")
    if frac is not None and (isinstance(frac, bool) or not isinstance(frac, int)):
        raise ArtifactError(f"{source}: lowprec.config 'output_frac_bits' must be an integer or null, got {frac!r}")
    return OutputAffine(inits.get("out_scale", np.int64, (c,)), inits.get("out_offset", np.int64, (c,)),
                        frac_bits=frac)


def _real_bn(config: dict, source: str):
    real = config.get("real_bn")
    if real is None:
        return None
    if not isinstance(real, list):
        raise ArtifactError(f"{source}: lowprec.config 'real_bn' must be a list, got {type(real).__name__}")
    return tuple(RealBatchNorm.from_json(r) for r in real)


def _conv_layer(inits: _Inits, name: str, o: int, k: int, c: int, ternary: bool, pad: int) -> Conv2d:
    shape = (o, k, k, n_words(c))
    if ternary:
        s = inits.get(f"{name}_sign", np.uint64, shape)
        m = inits.get(f"{name}_mask", np.uint64, shape)
        _check_pad(s, c, f"{name}_sign", inits.source)
        _check_pad(m, c, f"{name}_mask", inits.source)
        return Conv2d(unpack_ternary(s, m, c), pad)
    w = inits.get(name, np.uint64, shape)
    _check_pad(w, c, name, inits.source)
    return Conv2d(unpack_pm1(w, c), pad)


def _cnn_from_config(config: dict, inits: _Inits, spec: InputSpec, meta: dict, source: str) -> CNNNetwork:
    """The CNNNetwork of a ``cnn`` file: conv weights ``w{i}`` (O, k, k, ceil(C/64)) per the config's
    ``features``, then the dense layers numbered on, as for an MLP."""
    try:
        shape = config["image_shape"]
        if not isinstance(shape, list) or len(shape) != 3:
            raise ArtifactError(f"{source}: lowprec.config 'image_shape' must be [H, W, C], got {shape!r}")
        features = []
        for i, f in enumerate(config["features"]):
            o, c, k = int(f["out"]), int(f["in"]), int(f["k"])
            if (not (isinstance(f["pool"], bool) or f["pool"] == "fields") or isinstance(f["pad"], bool)
                    or not isinstance(f["pad"], int)):
                raise ArtifactError(f"{source}: lowprec.config features[{i}] needs a 'pool' of true, false or "
                                    f"\"fields\" and an integer 'pad', got {f['pool']!r} and {f['pad']!r}")
            conv = _conv_layer(inits, f"w{i}", o, k, c, bool(f["ternary"]), f["pad"])
            features.append((conv, Threshold(inits.get(f"s{i}", np.int8, (o,)), inits.get(f"t{i}", np.int32, (o,))),
                             f["pool"]))
        n_conv = len(features)
        layers = config["layers"]
        hidden = []
        for j, layer in enumerate(layers[:-1], start=n_conv):
            n = int(layer["out"])
            d = inits.dense(f"w{j}", n, int(layer["in"]), bool(layer["ternary"]))
            hidden.append((d, Threshold(inits.get(f"s{j}", np.int8, (n,)), inits.get(f"t{j}", np.int32, (n,)))))
        last = layers[-1]
        c = int(last["out"])
        d = inits.dense(f"w{n_conv + len(layers) - 1}", c, int(last["in"]), bool(last["ternary"]))
        aff = _output_affine(config, inits, c, source)
        return CNNNetwork(spec, tuple(shape), tuple(features), tuple(hidden), (d, aff), meta=meta,
                          real_bn=_real_bn(config, source))
    except KeyError as exc:
        raise ArtifactError(f"{source}: lowprec.config lacks the entry {exc}") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, (ArtifactError, LayoutError)):
            raise
        raise ArtifactError(f"{source}: inconsistent network description: {exc}") from None
