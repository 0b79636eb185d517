"""Self-consistency of an artifact: the file against the model ``build_model`` makes from the network it encodes.

The builder is the one definition of what a config implies (node attributes K / N / threshold / stream,
input dtypes and shapes, initializer dtypes, shapes and values, function bodies, metadata). Instead of a
second list of rules that could drift from it, the loader reads the network back from the config and the
initializers, rebuilds the model and requires the file to equal the rebuild in every field but the producer
version, the seal and the network digest (integrity values, ``export.digest``). The first difference found is reported field by field, so an edit
reads as e.g. "node 'y0' (lowprec:XnorPopcountGemm): attribute K is 71; the config implies 70".
"""
from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import helper, numpy_helper

from export.digest import LEGACY_DIGEST_KEYS, NETWORK_DIGEST_KEY, recorded
from export.errors import ArtifactInconsistentError

__all__ = ["compare_with_rebuild"]

# lowprec.producer carries the producer's version, which may differ; the network digest is an integrity value
# (a hash of the weights), checked with the content digest by the loader (and waived with it).
_UNCOMPARED_PROPS = ("lowprec.producer", NETWORK_DIGEST_KEY)


def _fail(source: str, what: str, found, implied, found_model, expected_model) -> None:
    hint = ""
    if found_model.producer_version != expected_model.producer_version:
        hint = (f" (the file was written by {found_model.producer_name} {found_model.producer_version}, this is "
                f"{expected_model.producer_version}: if it was not edited, re-export it with this version)")
    raise ArtifactInconsistentError(f"{source}: {what} is {found}; the config and weights imply {implied}: the "
                                    f"graph and its config disagree{hint}")


def _value_info(vi) -> str:
    t = vi.type.tensor_type
    dims = [d.dim_param or d.dim_value for d in t.shape.dim]
    return f"{onnx.TensorProto.DataType.Name(t.elem_type).lower()} {dims}"


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _op(node) -> str:
    return f"{node.domain}:{node.op_type}" if node.domain else node.op_type


def _node_label(node) -> str:
    return f"node {node.name!r} ({_op(node)})"


def _compare_graph_io(found, expected, source) -> None:
    for what, fl, el in (("input", found.graph.input, expected.graph.input),
                         ("output", found.graph.output, expected.graph.output)):
        if len(fl) != len(el):
            _fail(source, f"the number of graph {what}s", len(fl), len(el), found, expected)
        for f, e in zip(fl, el):
            if f.SerializeToString(deterministic=True) != e.SerializeToString(deterministic=True):
                _fail(source, f"graph {what} {f.name!r}", _value_info(f), f"{e.name!r} {_value_info(e)}",
                      found, expected)


def _compare_initializers(found, expected, source) -> None:
    fi = {t.name: t for t in found.graph.initializer}
    ei = {t.name: t for t in expected.graph.initializer}
    if sorted(fi) != sorted(ei):
        _fail(source, "the set of initializers", sorted(fi), sorted(ei), found, expected)
    for name, et in ei.items():
        f, e = numpy_helper.to_array(fi[name]), numpy_helper.to_array(et)
        if f.dtype != e.dtype or f.shape != e.shape:
            _fail(source, f"initializer {name!r}", f"{f.dtype} {f.shape}", f"{e.dtype} {e.shape}", found, expected)
        if not np.array_equal(f, e):
            idx = tuple(int(i) for i in np.argwhere(f != e)[0]) if f.ndim else ()
            _fail(source, f"initializer {name!r} at index {idx}", f[idx].item(), e[idx].item(), found, expected)


def _compare_nodes(found, expected, source) -> None:
    fn, en = found.graph.node, expected.graph.node
    for i, (f, e) in enumerate(zip(fn, en)):
        if (f.domain, f.op_type) != (e.domain, e.op_type):
            _fail(source, f"node {i} ({f.name!r}) op", _op(f), _op(e), found, expected)
        for what in ("input", "output"):
            if list(getattr(f, what)) != list(getattr(e, what)):
                _fail(source, f"{_node_label(f)}: {what}s", list(getattr(f, what)), list(getattr(e, what)),
                      found, expected)
        fa, ea = _attrs(f), _attrs(e)
        for name in sorted(set(fa) | set(ea)):
            if name not in fa or name not in ea or fa[name] != ea[name] or type(fa[name]) is not type(ea[name]):
                _fail(source, f"{_node_label(f)}: attribute {name}", fa.get(name, "absent"),
                      ea.get(name, "absent"), found, expected)
        if f.SerializeToString(deterministic=True) != e.SerializeToString(deterministic=True):
            _fail(source, f"{_node_label(f)}", "different (name or doc string)", f"node {e.name!r}", found, expected)
    if len(fn) != len(en):
        _fail(source, "the number of graph nodes", len(fn), len(en), found, expected)


def _compare_functions(found, expected, source) -> None:
    ff = {(f.domain, f.name): f for f in found.functions}
    ef = {(f.domain, f.name): f for f in expected.functions}
    if sorted(ff) != sorted(ef):
        _fail(source, "the set of function bodies", [f"{d}:{n}" for d, n in sorted(ff)],
              [f"{d}:{n}" for d, n in sorted(ef)], found, expected)
    for key, e in ef.items():
        if ff[key].SerializeToString(deterministic=True) != e.SerializeToString(deterministic=True):
            _fail(source, f"the function body of {key[0]}:{key[1]}", "edited", "the toolkit's body", found, expected)
    if [(f.domain, f.name) for f in found.functions] != [(f.domain, f.name) for f in expected.functions]:
        _fail(source, "the order of function bodies", [f.name for f in found.functions],
              [f.name for f in expected.functions], found, expected)


def _compare_metadata(found, expected, source) -> None:
    fp = {p.key: p.value for p in found.metadata_props}
    seals = set(recorded(expected)) | set(LEGACY_DIGEST_KEYS)
    for p in expected.metadata_props:
        if p.key in seals or p.key in _UNCOMPARED_PROPS:
            continue
        if p.key not in fp:
            _fail(source, f"metadata {p.key!r}", "absent", repr(p.value), found, expected)
        if p.key == "lowprec.config":
            got, want = json.loads(fp[p.key]), json.loads(p.value)
            if got != want:
                keys = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
                _fail(source, f"lowprec.config entry {keys[0]!r}", json.dumps(got.get(keys[0])),
                      json.dumps(want.get(keys[0])), found, expected)
        elif fp[p.key] != p.value:
            _fail(source, f"metadata {p.key!r}", repr(fp[p.key]), repr(p.value), found, expected)


def _stripped(model) -> bytes:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.metadata_props[:]
    m.producer_version = ""
    return m.SerializeToString(deterministic=True)


def compare_with_rebuild(found: onnx.ModelProto, expected: onnx.ModelProto, source: str = "model") -> None:
    """Raise ``ArtifactInconsistentError`` at the first field where ``found`` differs from ``expected``.

    ``expected`` is ``build_model(network_from_onnx(found), mode)``. Compared: graph inputs and outputs,
    initializers (dtype, shape, every value), nodes (op, wiring, attributes, names), function bodies, the
    metadata the builder writes (the config as parsed JSON), and finally every remaining field (opsets, IR
    version, graph name, doc strings) through the serialisation without metadata and producer version.
    Extra metadata entries of the file are allowed (the digest covers them; nothing reads them).
    """
    _compare_graph_io(found, expected, source)
    _compare_initializers(found, expected, source)
    _compare_nodes(found, expected, source)
    _compare_functions(found, expected, source)
    _compare_metadata(found, expected, source)
    if found.ir_version != expected.ir_version:
        _fail(source, "the IR version", found.ir_version, expected.ir_version, found, expected)
    fo = sorted((o.domain, o.version) for o in found.opset_import)
    eo = sorted((o.domain, o.version) for o in expected.opset_import)
    if fo != eo:
        _fail(source, "the opset imports", fo, eo, found, expected)
    # Initializers were compared by value above; compare the rest byte for byte.
    f, e = onnx.ModelProto(), onnx.ModelProto()
    f.CopyFrom(found)
    e.CopyFrom(expected)
    for m in (f, e):
        del m.graph.initializer[:]
    if _stripped(f) != _stripped(e):
        fields = [d.name for d in f.DESCRIPTOR.fields
                  if d.name not in ("metadata_props", "producer_version") and getattr(f, d.name) != getattr(e, d.name)]
        _fail(source, f"the model (field {', '.join(fields) or 'unknown'})", "different", "the rebuild's",
              found, expected)
