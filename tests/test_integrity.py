"""Integrity of exported artifacts: content digests, keyed signatures, self-consistency, resource limits."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from export.c import emit_c
from export.digest import (DIGEST_KEY, HMAC_KEY, MIN_KEY_BYTES, NETWORK_DIGEST_KEY, check_c_sources, check_c_text,
                           model_digest, network_digest, read_key_file, seal)
from export.errors import (ArtifactInconsistentError, ArtifactIntegrityError, ArtifactIntegrityWarning,
                           ArtifactLimitError, KeyFileError, SignatureError)
from export.onnx import (DEFAULT_MAX_GIBBS_STEPS, build_model, current_policy, load_artifact, load_policy,
                         network_from_onnx, save_model)
from lowprec_rbm.cli.main import main
from targets.verify import verify
from targets_nets import random_mlp, random_rbm, resign


@pytest.fixture(scope="module")
def mlp():
    return random_mlp(np.random.default_rng(3), 70, (20,), 4, input_kind="threshold", ternary=False)


@pytest.fixture(scope="module")
def rbm():
    return random_rbm(np.random.default_rng(4), 30, 9, gibbs_steps=2, pixels=True)


@pytest.fixture
def key(tmp_path):
    path = tmp_path / "lowprec.key"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 32, dtype=np.uint8).tobytes())
    return path


def _props(model) -> dict:
    return {p.key: p.value for p in model.metadata_props}


def _set_prop(model, key, value):
    for p in model.metadata_props:
        if p.key == key:
            p.value = value
            return model
    raise KeyError(key)


def _drop_prop(model, key):
    keep = [p for p in model.metadata_props if p.key != key]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    return model


def _tampered_weight_byte(tmp_path, net):
    """A file with one byte of the first weight initializer changed, as a disk or a transfer would."""
    model = build_model(net)
    data = bytearray(model.SerializeToString())
    raw = model.graph.initializer[0].raw_data
    pos = bytes(data).find(raw) + len(raw) // 2
    data[pos] ^= 0x01
    path = tmp_path / "tampered.onnx"
    path.write_bytes(bytes(data))
    return path


# ---- content digest -------------------------------------------------------------------------------------

def test_digest_is_recorded_in_the_documented_format(mlp):
    model = build_model(mlp)
    props = _props(model)
    assert props[DIGEST_KEY] == model_digest(model)
    assert props[DIGEST_KEY].startswith("sha256:") and len(props[DIGEST_KEY]) == 7 + 64
    assert props[NETWORK_DIGEST_KEY] == network_digest(mlp)
    assert HMAC_KEY not in props
    # the digest covers everything but itself: rebuilding gives the same value, any change another one
    assert model_digest(build_model(mlp)) == props[DIGEST_KEY]
    assert model_digest(_set_prop(build_model(mlp), "lowprec.export_mode", "standard")) != props[DIGEST_KEY]


def test_tampered_weight_byte_is_refused(tmp_path, mlp):
    path = _tampered_weight_byte(tmp_path, mlp)
    with pytest.raises(ArtifactIntegrityError, match="content digest mismatch.*modified or is corrupt"):
        load_artifact(path)


def test_override_loads_with_a_warning(tmp_path, mlp):
    path = _tampered_weight_byte(tmp_path, mlp)
    with pytest.warns(ArtifactIntegrityWarning) as caught:
        model = load_artifact(path, check_digest=False)
    assert ["content digest mismatch" in str(w.message) for w in caught] == [True, False]
    assert "network digest" in str(caught[1].message)      # the weights are not those the exporter hashed
    changed = network_from_onnx(model).layers[0].weight
    assert np.count_nonzero(changed != mlp.layers[0].weight) == 1   # the tampered bit is what was loaded
    with load_policy(check_digest=False), pytest.warns(ArtifactIntegrityWarning):
        load_artifact(path)
    assert current_policy().check_digest is True                       # the block's policy ended with it


def test_file_without_digest_is_refused_with_how_to_reexport(tmp_path, mlp):
    path = save_model(_drop_prop(build_model(mlp), DIGEST_KEY), tmp_path / "old.onnx")
    with pytest.raises(ArtifactIntegrityError, match="no content digest.*re-export it with 'lowprec export'"):
        load_artifact(path)
    with pytest.warns(ArtifactIntegrityWarning, match="no content digest"):
        load_artifact(path, check_digest=False)
    legacy = build_model(mlp)
    digest = _props(legacy)[DIGEST_KEY]
    _drop_prop(legacy, DIGEST_KEY).metadata_props.add(key="lowprec.content_sha256", value=digest[7:])
    with pytest.raises(ArtifactIntegrityError, match="older digest entry 'lowprec.content_sha256'.*re-export"):
        load_artifact(save_model(legacy, tmp_path / "legacy.onnx"))


def test_cli_refuses_a_tampered_file_and_accepts_it_with_allow_modified(tmp_path, mlp, capsys):
    path = _tampered_weight_byte(tmp_path, mlp)
    for cmd in (["verify", str(path), "--inputs", "4"], ["report", str(path)]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert err.startswith("lowprec: error: ") and "content digest mismatch" in err and "--allow-modified" in err
        assert "check_digest" not in err                                   # the CLI talks about its flags
    assert main(["verify", str(path), "--inputs", "4", "--allow-modified"]) == 0
    err = capsys.readouterr().err
    assert "lowprec: WARNING: --allow-modified" in err
    # one line per problem and file, although the baseline and every target open the file
    assert err.count("content digest mismatch") == 1 and err.count("network digest") == 1
    assert main(["report", str(path), "--allow-modified"]) == 0
    assert "content digest mismatch" in capsys.readouterr().err


# ---- keyed signatures -----------------------------------------------------------------------------------

def test_hmac_sign_and_verify_round_trip(tmp_path, mlp, key):
    k = read_key_file(key)
    path = save_model(build_model(mlp, sign_key=k), tmp_path / "signed.onnx")
    assert _props(onnx.load(path))[HMAC_KEY].startswith("hmac-sha256:")
    load_artifact(path, verify_key=k)
    load_artifact(path)                      # a signed file also loads where no key is asked for
    other = bytes(b ^ 0xFF for b in k)
    with pytest.raises(SignatureError, match="does not match the given key"):
        load_artifact(path, verify_key=other)
    unsigned = save_model(build_model(mlp), tmp_path / "unsigned.onnx")
    with pytest.raises(SignatureError, match="no keyed signature.*sign it when exporting"):
        load_artifact(unsigned, verify_key=k)


def test_signature_catches_an_edit_whose_digest_was_recomputed(tmp_path, mlp, key):
    k = read_key_file(key)
    model = build_model(mlp, sign_key=k)
    sig = _props(model)[HMAC_KEY]
    w = next(t for t in model.graph.initializer if t.name == "w1")
    a = numpy_helper.to_array(w).copy()
    a[0, 0] ^= np.uint64(1)
    w.CopyFrom(numpy_helper.from_array(a, "w1"))
    resign(model)                               # a consistent edit with a valid unkeyed digest ...
    model.metadata_props.add(key=HMAC_KEY, value=sig)   # ... keeping the old signature
    path = save_model(model, tmp_path / "edited.onnx")
    load_artifact(path)                         # the unkeyed digest cannot tell (documented)
    with pytest.raises(SignatureError, match="modified after signing, or signed with another key"):
        load_artifact(path, verify_key=k)


def test_key_files_are_checked_and_never_printed(tmp_path, mlp):
    short = tmp_path / "short.key"
    secret = b"s3cret-passphrase"
    short.write_bytes(secret)
    with pytest.raises(KeyFileError, match=f"holds {len(secret)} bytes; a key needs at least {MIN_KEY_BYTES}") as e:
        read_key_file(short)
    assert "s3cret" not in str(e.value)
    with pytest.raises(KeyFileError, match="does not exist"):
        read_key_file(tmp_path / "missing.key")
    with pytest.raises(KeyFileError, match="not a regular file"):
        read_key_file(tmp_path)
    with pytest.raises(TypeError, match="bytes"):
        build_model(mlp, sign_key="a string key of more than thirty-two characters")


@pytest.fixture(scope="module")
def posterior(tmp_path_factory):
    from test_cli_export_verify import _mlp_posterior

    return _mlp_posterior(tmp_path_factory.mktemp("post") / "mlp.npz", np.random.default_rng(0))


def test_cli_export_sign_key_verify_key(tmp_path, posterior, key, monkeypatch, capsys):
    signed, unsigned = tmp_path / "s.onnx", tmp_path / "u.onnx"
    assert main(["export", str(posterior), "-o", str(signed), "--sign-key", str(key), "-q"]) == 0
    assert main(["export", str(posterior), "-o", str(unsigned), "-q"]) == 0
    assert main(["verify", str(signed), "--inputs", "4", "--verify-key", str(key)]) == 0
    assert main(["predict", str(signed), "--data", "sample", "--limit", "50", "--verify-key", str(key), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["verify", str(unsigned), "--inputs", "4", "--verify-key", str(key)]) == 2
    assert "no keyed signature" in capsys.readouterr().err
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(bytes(32))
    assert main(["report", str(signed), "--verify-key", str(wrong)]) == 2
    err = capsys.readouterr().err
    assert "does not match the given key" in err and err.count("\n") == 1
    assert main(["verify", str(signed), "--verify-key", str(key), "--allow-modified"]) == 2
    assert "contradict" in capsys.readouterr().err
    # the environment variable signs too
    monkeypatch.setenv("LOWPREC_SIGN_KEY_FILE", str(key))
    env_signed = tmp_path / "e.onnx"
    assert main(["export", str(posterior), "-o", str(env_signed), "-q"]) == 0
    load_artifact(env_signed, verify_key=read_key_file(key))
    monkeypatch.setenv("LOWPREC_SIGN_KEY_FILE", str(tmp_path / "nope.key"))
    assert main(["export", str(posterior), "-o", str(tmp_path / "n.onnx"), "-q"]) == 2
    assert "$LOWPREC_SIGN_KEY_FILE file" in capsys.readouterr().err and not (tmp_path / "n.onnx").exists()


# ---- self-consistency: edits whose digest was recomputed ---------------------------------------------------

def _edit_attr(model, node_pred, name, value):
    for n in model.graph.node:
        if node_pred(n):
            for a in n.attribute:
                if a.name == name:
                    a.CopyFrom(helper.make_attribute(name, value))
                    return model
    raise KeyError(name)


def _edit_config(model, fn):
    config = json.loads(_props(model)["lowprec.config"])
    fn(config)
    return _set_prop(model, "lowprec.config", json.dumps(config, sort_keys=True))


def _load_resigned(tmp_path, model):
    return load_artifact(save_model(resign(model), tmp_path / "edited.onnx"))


def test_redigested_attribute_k_is_refused(tmp_path, mlp):
    model = _edit_attr(build_model(mlp), lambda n: n.op_type == "XnorPopcountGemm", "K", 71)
    with pytest.raises(ArtifactInconsistentError, match="'y0'.*attribute K is 71; the config and weights imply 70"):
        _load_resigned(tmp_path, model)


def test_redigested_input_dtype_is_refused(tmp_path, mlp):
    model = build_model(mlp)
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT
    with pytest.raises(ArtifactInconsistentError, match="graph input 'x' is float \\['batch', 70\\].*uint8"):
        _load_resigned(tmp_path, model)


def test_redigested_threshold_edits_are_refused(tmp_path, mlp):
    # the config's input threshold (what the C emitter and the reference read) against the graph's attribute
    model = _edit_config(build_model(mlp), lambda c: c["input"].update(threshold=100.0))
    with pytest.raises(ArtifactInconsistentError, match="'xp'.*attribute threshold is 128.0.*imply 100.0"):
        _load_resigned(tmp_path, model)
    # the graph's attribute alone
    model = _edit_attr(build_model(mlp), lambda n: n.op_type == "BinarizePack", "threshold", 100.0)
    with pytest.raises(ArtifactInconsistentError, match="attribute threshold is 100.0.*imply 128.0"):
        _load_resigned(tmp_path, model)


def test_redigested_gibbs_steps_are_refused(tmp_path, rbm):
    model = _edit_config(build_model(rbm), lambda c: c.update(gibbs_steps=3))
    with pytest.raises(ArtifactInconsistentError, match="the graph has 16 outputs; the config implies 22"):
        _load_resigned(tmp_path, model)
    model = _edit_config(build_model(rbm), lambda c: c.update(gibbs_steps=1))
    with pytest.raises(ArtifactInconsistentError, match="the graph has 16 outputs; the config implies 10"):
        _load_resigned(tmp_path, model)
    model = _edit_attr(build_model(rbm), lambda n: n.op_type == "BernoulliSample", "stream", 5)
    with pytest.raises(ArtifactInconsistentError, match="attribute stream is 5.*imply 0"):
        _load_resigned(tmp_path, model)


def test_redigested_beta_is_refused(tmp_path, rbm):
    # β only shapes the probability tables: an edited β no longer matches the file's tables
    model = _edit_config(build_model(rbm), lambda c: c.update(beta=c["beta"] * 2))
    with pytest.raises(ArtifactInconsistentError, match="initializer 'p_hidden' at index"):
        _load_resigned(tmp_path, model)


def test_redigested_weight_shape_is_refused(tmp_path, mlp):
    model = build_model(mlp)
    w = next(t for t in model.graph.initializer if t.name == "w0")
    a = numpy_helper.to_array(w)
    w.CopyFrom(numpy_helper.from_array(a[:-1], "w0"))               # one output row fewer
    with pytest.raises(Exception, match="'w0' has shape \\(19, 2\\); expected \\(20, 2\\)"):
        _load_resigned(tmp_path, model)
    model = _edit_config(build_model(mlp), lambda c: c["layers"][0].update(out=19))  # config follows the edit
    w = next(t for t in model.graph.initializer if t.name == "w0")
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w)[:-1], "w0"))
    with pytest.raises(Exception, match="'s0' has shape \\(20,\\); expected \\(19,\\)"):
        _load_resigned(tmp_path, model)


def test_redigested_op_type_is_refused(tmp_path, mlp):
    model = build_model(mlp)
    for n in model.graph.node:
        if n.op_type == "ThresholdSign":
            n.op_type = "BinarizePack"
    with pytest.raises(ArtifactInconsistentError, match="'h0'.*op is lowprec:BinarizePack.*lowprec:ThresholdSign"):
        _load_resigned(tmp_path, model)


def test_redigested_function_body_is_refused(tmp_path, mlp):
    model = build_model(mlp)
    body = next(f for f in model.functions if f.name == "ThresholdSign")
    body.node[0].op_type = "Sub" if body.node[0].op_type != "Sub" else "Add"
    with pytest.raises(ArtifactInconsistentError, match="function body of lowprec:ThresholdSign"):
        _load_resigned(tmp_path, model)


@pytest.mark.parametrize("mode", ["custom", "standard"])
def test_unedited_files_of_both_modes_load(tmp_path, mlp, rbm, mode):
    for net in (mlp, rbm):
        model = load_artifact(save_model(build_model(net, mode), tmp_path / "m.onnx"))
        assert _props(model)[NETWORK_DIGEST_KEY] == network_digest(net)


# ---- resource limits ------------------------------------------------------------------------------------

def test_huge_gibbs_steps_are_refused_before_any_work(tmp_path, rbm, capsys):
    model = _edit_config(build_model(rbm), lambda c: c.update(gibbs_steps=2**31))
    path = save_model(resign(model), tmp_path / "huge.onnx")
    with pytest.raises(ArtifactLimitError, match="2,147,483,648 Gibbs steps, above the limit of 10,000"):
        load_artifact(path)
    # raising the limit lets the loader reach the consistency check (the graph has 2 steps), which counts
    # the outputs before building anything per step
    with pytest.raises(ArtifactInconsistentError, match="the graph has 16 outputs; the config implies 12,884,901,892"):
        load_artifact(path, max_gibbs_steps=2**31)
    for cmd in (["verify", str(path)], ["report", str(path)]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert "above the limit of 100 " in err and "lowprec --max gibbs-steps=N" in err
    small = save_model(build_model(rbm), tmp_path / "two.onnx")
    with pytest.raises(ArtifactLimitError, match="2 Gibbs steps, above the limit of 1"):
        load_artifact(small, max_gibbs_steps=1)
    # the command line uses one mechanism for every limit: lowprec --max gibbs-steps=N (default 100)
    assert main(["--max", "gibbs-steps=1", "verify", str(small), "--inputs", "3"]) == 2
    assert main(["--max", "gibbs-steps=2", "verify", str(small), "--inputs", "3"]) == 0


def test_library_limit_default():
    assert DEFAULT_MAX_GIBBS_STEPS == current_policy().max_gibbs_steps == 10_000


# ---- RBM without Gibbs steps ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["custom", "standard"])
def test_rbm_without_gibbs_steps_has_no_seeds_and_verifies_everywhere(tmp_path, mode):
    net = random_rbm(np.random.default_rng(8), 40, 12, gibbs_steps=0, pixels=True)
    model = build_model(net, mode)
    assert [i.name for i in model.graph.input] == ["v"]
    path = save_model(model, tmp_path / "rbm0.onnx")
    rep = verify(path, ["all"], n_inputs=12, seed=2)
    assert rep.ok, rep.lines()
    ran = {r.name for r in rep.results if r.status == "ok"}
    assert {"float", "reference", "onnxruntime", "onnx-reference"} <= ran
    assert all(r.status in ("ok", "skipped") for r in rep.results)


# ---- C sources ------------------------------------------------------------------------------------------

def test_c_sources_record_their_digest_and_the_onnx_digest(tmp_path, mlp):
    model = build_model(mlp)
    digest = _props(model)[DIGEST_KEY]
    mod = emit_c(save_model(model, tmp_path / "m.onnx"), tmp_path / "c")
    assert check_c_sources(tmp_path / "c") == {"network_digest": network_digest(mlp), "onnx_digest": digest}
    header = (tmp_path / "c" / mod.header).read_text()
    assert f"lowprec.onnx_digest = {digest}" in header
    bad = header.replace("#define", "#define ", 1)
    with pytest.raises(ArtifactIntegrityError, match="content digest mismatch"):
        check_c_text(bad, "h")
    (tmp_path / "c" / mod.header).write_text(bad)
    with pytest.raises(ArtifactIntegrityError, match="modified or is corrupt"):
        check_c_sources(tmp_path / "c")
    # in memory: no ONNX file; the caller may name the one built from the same network
    mod = emit_c(mlp, tmp_path / "c2", onnx_digest=digest)
    assert check_c_sources(tmp_path / "c2")["onnx_digest"] == digest
    emit_c(mlp, tmp_path / "c3")
    assert check_c_sources(tmp_path / "c3")["onnx_digest"] == "none"
    with pytest.raises(ValueError, match="onnx_digest must be"):
        emit_c(mlp, tmp_path / "c4", onnx_digest="sha256:xyz")


def test_cli_export_c_records_the_onnx_digest(tmp_path, posterior):
    out = tmp_path / "m.onnx"
    assert main(["export", str(posterior), "-o", str(out), "--c", str(tmp_path / "c"), "-q"]) == 0
    model = load_artifact(out)
    got = check_c_sources(tmp_path / "c")
    assert got == {"onnx_digest": _props(model)[DIGEST_KEY], "network_digest": _props(model)[NETWORK_DIGEST_KEY]}


def test_seal_replaces_previous_seal_entries(mlp, key):
    model = build_model(mlp, sign_key=read_key_file(key))
    seal(model)
    assert HMAC_KEY not in _props(model) and [p.key for p in model.metadata_props].count(DIGEST_KEY) == 1


def test_cli_refuses_the_redigested_edits_of_the_findings(tmp_path, posterior, capsys):
    good = tmp_path / "good.onnx"
    assert main(["export", str(posterior), "-o", str(good), "-q"]) == 0
    # attribute K of the first gemm (predict used to run it and report a wrong accuracy with exit 0)
    k_edit = _edit_attr(onnx.load(good), lambda n: n.op_type == "XnorPopcountGemm", "K", 700)
    save_model(resign(k_edit), tmp_path / "k.onnx")
    assert main(["predict", str(tmp_path / "k.onnx"), "--data", "sample", "--limit", "20", "--quiet"]) == 2
    assert "attribute K is 700; the config and weights imply 784" in capsys.readouterr().err
    # the config's input threshold (the C emitter binarises with it) checked against the original's ground truth
    t_edit = _edit_config(onnx.load(good), lambda c: c["input"].update(threshold=100.0))
    save_model(resign(t_edit), tmp_path / "t.onnx")
    assert main(["verify", str(tmp_path / "t.onnx"), "--ground-truth", str(good), "--inputs", "4"]) == 2
    assert "attribute threshold is 128.0; the config and weights imply 100.0" in capsys.readouterr().err
