"""Content digests and keyed signatures of exported artifacts: the one module that computes and checks them.

ONNX models
    ``lowprec.digest = sha256:<hex>`` in ``metadata_props``: sha256 of the model serialised with protobuf's
    deterministic serialisation after removing the seal entries (``lowprec.digest``, ``lowprec.hmac``).
    ONNX messages have no map fields, so that serialisation is the fields in field-number order: any change
    of a byte that matters (a weight, an attribute, the config, a metadata entry, an unknown field a corrupt
    file grew) changes it. Optionally ``lowprec.hmac = hmac-sha256:<hex>``: HMAC-SHA256 of the same bytes
    under a user key.
C sources
    Each generated file's banner carries ``lowprec.digest = sha256:<hex>`` (sha256 of the file's text with
    that value replaced by the placeholder ``sha256:000...0``), ``lowprec.network_digest`` (see below) and
    ``lowprec.onnx_digest``, the digest of the ONNX file the sources were emitted from.
Networks
    ``network_digest``: sha256 over the deployable network itself (kind, input spec, β, Gibbs steps, user
    metadata, every weight/threshold/score array with its dtype and shape), independent of the file format:
    the ONNX (custom or standard mode) and the C sources of one network record the same value.

What a digest protects against, and what it does not: an unkeyed digest detects corruption (a flipped bit,
a truncated copy, an editor that forgot to update it) — anyone can recompute it after a deliberate edit, so it
is no protection against a malicious editor. A keyed signature (``seal(model, key)``, checked with
``check_seal(..., verify_key=key)``) can only be produced by someone who holds the key; its strength is the
key's secrecy (keys are read from files of at least ``MIN_KEY_BYTES`` bytes, e.g.
``head -c 32 /dev/urandom > lowprec.key``). No message of this module ever contains key bytes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import re
from pathlib import Path

import numpy as np

from export.errors import ArtifactIntegrityError, KeyFileError, SignatureError

__all__ = [
    "DIGEST_KEY", "HMAC_KEY", "NETWORK_DIGEST_KEY", "LEGACY_DIGEST_KEYS", "MIN_KEY_BYTES", "SIGN_KEY_ENV",
    "canonical_bytes", "model_digest", "model_hmac", "recorded", "seal", "check_seal", "read_key_file",
    "network_digest", "seal_c_text", "check_c_text", "check_c_sources", "C_PLACEHOLDER",
]

DIGEST_KEY = "lowprec.digest"
HMAC_KEY = "lowprec.hmac"
NETWORK_DIGEST_KEY = "lowprec.network_digest"
LEGACY_DIGEST_KEYS = ("lowprec.content_sha256",)   # written by exports before the "sha256:" format
_SEAL_KEYS = (DIGEST_KEY, HMAC_KEY) + LEGACY_DIGEST_KEYS
MIN_KEY_BYTES = 32            # = the HMAC-SHA256 output length (RFC 2104: keys shorter than L are discouraged)
MAX_KEY_BYTES = 1 << 16       # a key file larger than this is a wrong path, not a key
SIGN_KEY_ENV = "LOWPREC_SIGN_KEY_FILE"
_HEX = re.compile(r"[0-9a-f]{64}")
# Library messages name arguments, never command-line flags: the CLI maps ``check_digest=False`` and
# ``SIGN_HINT`` to its own flags (lowprec_rbm.cli.common.artifact_trust).
REEXPORT = "re-export it with 'lowprec export' (or pass check_digest=False to load it anyway)"
SIGN_HINT = "sign it when exporting (build_model(..., sign_key=KEY))"


def _is_model(model) -> bool:
    return type(model).__name__ == "ModelProto" and hasattr(model, "metadata_props")


def canonical_bytes(model) -> bytes:
    """The bytes a digest and a signature cover: ``model`` without its seal entries, serialised deterministically."""
    if not _is_model(model):
        raise TypeError(f"expected an onnx.ModelProto, got {type(model).__name__}")
    m = type(model)()
    m.CopyFrom(model)
    keep = [p for p in m.metadata_props if p.key not in _SEAL_KEYS]
    del m.metadata_props[:]
    m.metadata_props.extend(keep)
    return m.SerializeToString(deterministic=True)


def model_digest(model) -> str:
    """``"sha256:<hex>"`` of :func:`canonical_bytes`."""
    return "sha256:" + hashlib.sha256(canonical_bytes(model)).hexdigest()


def model_hmac(model, key: bytes) -> str:
    """``"hmac-sha256:<hex>"``: HMAC-SHA256 of :func:`canonical_bytes` under ``key``."""
    _check_key(key, "key")
    return "hmac-sha256:" + hmac.new(key, canonical_bytes(model), hashlib.sha256).hexdigest()


def _same(a: str, b: str) -> bool:
    """Constant-time equality of two recorded/computed seal strings. A damaged file can hold any text there
    (non-ASCII included, which ``hmac.compare_digest`` refuses for str), so both are compared as UTF-8 bytes."""
    def raw(x) -> bytes:
        # older protobuf releases hand back undecodable string fields as bytes
        return x if isinstance(x, bytes) else str(x).encode("utf-8", "surrogatepass")

    return hmac.compare_digest(raw(a), raw(b))


def recorded(model) -> dict[str, str]:
    """The seal entries a model carries (``lowprec.digest``, ``lowprec.hmac``, legacy digests)."""
    # A damaged file can hold undecodable bytes here (older protobuf releases return them as bytes): shown
    # with replacement characters, they can never equal a computed digest.
    return {p.key: (p.value.decode("utf-8", "replace") if isinstance(p.value, bytes) else p.value)
            for p in model.metadata_props if p.key in _SEAL_KEYS}


def seal(model, key: bytes | None = None):
    """Record the digest (and, with ``key``, the HMAC signature) in ``model`` in place; returns ``model``.

    Any previous seal entries are replaced, so sealing is also how a deliberately edited model is re-stamped.
    """
    digest = model_digest(model)
    signature = model_hmac(model, key) if key is not None else None
    keep = [p for p in model.metadata_props if p.key not in _SEAL_KEYS]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    model.metadata_props.add(key=DIGEST_KEY, value=digest)
    if signature is not None:
        model.metadata_props.add(key=HMAC_KEY, value=signature)
    return model


def check_seal(model, source: str = "model", *, check_digest: bool = True, verify_key: bytes | None = None) -> list[str]:
    """Check the recorded digest (unless ``check_digest`` is False) and, with ``verify_key``, the signature.

    Returns the problems that were *not* raised because ``check_digest`` is False (for the caller to warn
    about); raises :class:`ArtifactIntegrityError` / :class:`SignatureError` otherwise. A signature is always
    checked when ``verify_key`` is given, whatever ``check_digest`` says.
    """
    seals = recorded(model)
    problems = []
    want = seals.get(DIGEST_KEY)
    if want is None:
        legacy = [k for k in LEGACY_DIGEST_KEYS if k in seals]
        what = (f"carries only the older digest entry {legacy[0]!r}" if legacy else
                f"carries no content digest ({DIGEST_KEY!r} missing: exported by an older lowprec-rbm, or not by lowprec)")
        problems.append(f"{source}: {what}; its integrity cannot be checked: {REEXPORT}")
    else:
        got = model_digest(model)
        if not _same(got, want):
            problems.append(f"{source}: content digest mismatch (recorded {want[:23]}..., computed {got[:23]}...): "
                            f"the file was modified or is corrupt; {REEXPORT}")
    if problems and check_digest:
        raise ArtifactIntegrityError(problems[0])
    if verify_key is not None:
        _check_key(verify_key, "verify_key")
        sig = seals.get(HMAC_KEY)
        if sig is None:
            raise SignatureError(f"{source}: no keyed signature ({HMAC_KEY!r} missing), but a verification key was "
                                 f"given: {SIGN_HINT}")
        if not _same(sig, model_hmac(model, verify_key)):
            raise SignatureError(f"{source}: the keyed signature does not match the given key: the file was "
                                 f"modified after signing, or signed with another key")
    return problems


def _check_key(key, what: str) -> None:
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError(f"{what} must be bytes, got {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        raise KeyFileError(f"{what} has {len(key)} bytes; a signing key needs at least {MIN_KEY_BYTES} "
                           f"(e.g. head -c 32 /dev/urandom > lowprec.key)")


def read_key_file(path: str | os.PathLike, what: str = "key file") -> bytes:
    """The bytes of a key file (every byte counts, a trailing newline included); at least ``MIN_KEY_BYTES``.

    Raises ``KeyFileError`` naming the file (never its content) when it is missing, unreadable, a folder,
    too short or implausibly large.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a path, got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise KeyFileError(f"{what} {str(p)!r} does not exist")
    if not p.is_file():
        raise KeyFileError(f"{what} {str(p)!r} is not a regular file")
    try:
        with open(p, "rb") as fh:
            key = fh.read(MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise KeyFileError(f"{what} {str(p)!r} cannot be read: {exc.strerror}") from None
    if len(key) > MAX_KEY_BYTES:
        raise KeyFileError(f"{what} {str(p)!r} is larger than {MAX_KEY_BYTES} bytes; expected a key of "
                           f"{MIN_KEY_BYTES} or more bytes")
    if len(key) < MIN_KEY_BYTES:
        raise KeyFileError(f"{what} {str(p)!r} holds {len(key)} bytes; a key needs at least {MIN_KEY_BYTES} "
                           f"(e.g. head -c 32 /dev/urandom > {p.name})")
    return key


# ---- networks ------------------------------------------------------------------------------------------

def _arrays(network) -> tuple[dict, list[tuple[str, np.ndarray]]]:
    from export.network import CNNNetwork, MLPNetwork, RBMNetwork

    if isinstance(network, MLPNetwork):
        real_bn = getattr(network, "real_bn", None)
        head = {"kind": "mlp", "input": dataclasses.asdict(network.input), "meta": network.meta,
                "output_frac_bits": getattr(network.output[1], "frac_bits", None),
                "real_bn": None if real_bn is None else [r.to_json() for r in real_bn]}
        arrays = []
        for i, (dense, thr) in enumerate(network.hidden):
            arrays += [(f"w{i}", dense.weight), (f"s{i}", thr.s), (f"t{i}", thr.t)]
        dense, aff = network.output
        arrays += [(f"w{len(network.hidden)}", dense.weight), ("out_scale", aff.scale), ("out_offset", aff.offset)]
        return head, arrays
    if isinstance(network, CNNNetwork):
        return _cnn_arrays(network)
    if isinstance(network, RBMNetwork):
        head = {"kind": "rbm", "input": dataclasses.asdict(network.input), "meta": network.meta,
                "beta": float(network.beta).hex(), "gibbs_steps": int(network.gibbs_steps)}
        # Real fields (float64) only when present: a fieldless RBM's digest is what it was before fields existed.
        return head, [("xi", network.weight)] + [(k, getattr(network, k)) for k in ("visible_field", "hidden_field")
                                                 if getattr(network, k) is not None]
    raise TypeError(f"expected MLPNetwork, CNNNetwork or RBMNetwork, got {type(network).__name__}")


def _cnn_arrays(network) -> tuple[dict, list[tuple[str, np.ndarray]]]:
    """CNN: the header adds the image shape and each conv layer's pad value and pooling; arrays are the conv
    weights (O, k, k, C) and thresholds, then the dense layers numbered on."""
    from export.network import pool_to_json

    real_bn = network.real_bn
    head = {"kind": "cnn", "input": dataclasses.asdict(network.input), "meta": network.meta,
            "image_shape": list(network.image_shape),
            "features": [{"pad": c.pad, "pool": pool_to_json(p)} for c, _, p in network.features],
            "output_frac_bits": network.output[1].frac_bits,
            "real_bn": None if real_bn is None else [r.to_json() for r in real_bn]}
    arrays = []
    layers = [(c, t) for c, t, _ in network.features] + list(network.hidden)
    for i, (layer, thr) in enumerate(layers):
        arrays += [(f"w{i}", layer.weight), (f"s{i}", thr.s), (f"t{i}", thr.t)]
    dense, aff = network.output
    arrays += [(f"w{len(layers)}", dense.weight), ("out_scale", aff.scale), ("out_offset", aff.offset)]
    return head, arrays


def network_digest(network) -> str:
    """``"sha256:<hex>"`` of the network's content, the same for every file format it is exported to.

    Covered, length-prefixed: a JSON header (kind, input spec, user metadata; MLP output fraction bits and
    real-valued batch norms; RBM β as exact hex float and Gibbs steps), then each array's name, dtype (little-endian), shape and bytes, in layer order (an RBM's fields, float64, after its weights).
    """
    head, arrays = _arrays(network)
    h = hashlib.sha256()

    def put(b: bytes) -> None:
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)

    put(json.dumps(head, sort_keys=True, default=str).encode())
    for name, a in arrays:
        a = np.ascontiguousarray(a, dtype=np.asarray(a).dtype.newbyteorder("<"))
        put(f"{name}:{a.dtype.str}:{list(a.shape)}".encode())
        put(a.tobytes())
    return "sha256:" + h.hexdigest()


# ---- C sources -----------------------------------------------------------------------------------------

C_PLACEHOLDER = "sha256:" + "0" * 64
_C_LINE = re.compile(r"^ \* lowprec\.digest = (sha256:[0-9a-f]{64})$", re.M)


def seal_c_text(text: str) -> str:
    """Replace the single ``lowprec.digest = <placeholder>`` banner line of ``text`` with the file's digest."""
    lines = _C_LINE.findall(text)
    if lines != [C_PLACEHOLDER]:
        raise ValueError(f"expected exactly one ' * lowprec.digest = {C_PLACEHOLDER}' line, found {len(lines)}")
    digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return text.replace(f"lowprec.digest = {C_PLACEHOLDER}", f"lowprec.digest = {digest}", 1)


def check_c_text(text: str, source: str = "C source") -> str:
    """Check a sealed C file's digest; returns it. ``ArtifactIntegrityError`` when missing or different."""
    found = _C_LINE.findall(text)
    if len(found) != 1:
        raise ArtifactIntegrityError(f"{source}: expected one 'lowprec.digest = sha256:...' banner line, found "
                                     f"{len(found)}: not a sealed lowprec C file, or its banner was edited")
    want = found[0]
    blank = _C_LINE.sub(f" * lowprec.digest = {C_PLACEHOLDER}", text, count=1)
    got = "sha256:" + hashlib.sha256(blank.encode("utf-8")).hexdigest()
    if not _same(got, want):
        raise ArtifactIntegrityError(f"{source}: content digest mismatch (recorded {want[:23]}..., computed "
                                     f"{got[:23]}...): the file was modified or is corrupt")
    return want


_C_FIELD = re.compile(r"^ \* (lowprec\.(?:network_digest|onnx_digest)) = (\S+)", re.M)


def check_c_sources(folder: str | os.PathLike) -> dict[str, str]:
    """Check every sealed ``.c``/``.h`` file in ``folder`` and that they describe one network.

    Returns ``{"network_digest": ..., "onnx_digest": ...}`` shared by the files. Files without a digest line
    (the static ``lowprec_kernels.h``) are not model content and are skipped.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"C source folder {str(folder)!r} does not exist")
    fields: dict[str, set[str]] = {}
    sealed = 0
    for p in sorted(folder.iterdir()):
        if p.suffix not in (".c", ".h") or not p.is_file():
            continue
        text = p.read_text(encoding="utf-8")
        if "lowprec.digest = " not in text:
            continue
        check_c_text(text, str(p))
        sealed += 1
        for key, value in _C_FIELD.findall(text):
            fields.setdefault(key.split(".", 1)[1], set()).add(value)
    if not sealed:
        raise ArtifactIntegrityError(f"{folder}: no sealed lowprec C sources (no 'lowprec.digest' banner line)")
    for key, values in fields.items():
        if len(values) != 1:
            raise ArtifactIntegrityError(f"{folder}: the files record different {key} values {sorted(values)}: "
                                         f"sources of different exports are mixed")
    return {k: next(iter(v)) for k, v in fields.items()}
