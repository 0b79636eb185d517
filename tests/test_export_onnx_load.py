"""load_artifact: good files load; corrupted, truncated, modified or foreign files raise specific errors."""
import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from export.layout import LayoutError
from export.network import Dense, InputSpec, MLPNetwork, OutputAffine, RBMNetwork, Threshold
from export.onnx import ArtifactError, build_model, load_artifact, network_from_onnx, save_model
from targets_nets import resign


@pytest.fixture(scope="module")
def mlp():
    rng = np.random.default_rng(0)
    return MLPNetwork(InputSpec("threshold", 70, "uint8"),
                      ((Dense(rng.choice([-1, 1], (20, 70))), Threshold(np.ones(20, np.int8), np.zeros(20, np.int32))),),
                      (Dense(rng.integers(-1, 2, (4, 20))), OutputAffine.identity(4)))


def _restamp(model):
    """Re-seal a deliberately edited model so the check under test (not the digest) is what fires."""
    return resign(model)


def _write(tmp_path, model, name="m.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("mode", ["custom", "standard"])
def test_roundtrip(tmp_path, mlp, mode):
    path = save_model(build_model(mlp, mode), tmp_path / "m.onnx")
    net = network_from_onnx(load_artifact(path))
    np.testing.assert_array_equal(net.output[0].weight, mlp.output[0].weight)
    rbm = RBMNetwork(np.random.default_rng(1).choice([-1, 1], (9, 5)), gibbs_steps=1)
    path = save_model(build_model(rbm, mode), tmp_path / "r.onnx")
    np.testing.assert_array_equal(network_from_onnx(load_artifact(path)).weight, rbm.weight)


def test_truncated_files_are_refused(tmp_path, mlp):
    data = build_model(mlp).SerializeToString()
    for cut in np.linspace(1, len(data) - 1, 25).astype(int):
        path = tmp_path / "cut.onnx"
        path.write_bytes(data[:cut])
        with pytest.raises((ArtifactError, LayoutError)):
            load_artifact(path)


def test_flipped_byte_is_refused(tmp_path, mlp):
    model = build_model(mlp)
    data = bytearray(model.SerializeToString())
    raw = model.graph.initializer[0].raw_data
    pos = bytes(data).find(raw) + len(raw) // 2
    data[pos] ^= 0x10
    path = tmp_path / "flip.onnx"
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="digest mismatch"):
        load_artifact(path)


def test_wrong_layout_version(tmp_path, mlp):
    model = build_model(mlp)
    for p in model.metadata_props:
        if p.key == "lowprec.layout_version":
            p.value = "2"
    with pytest.raises(LayoutError, match="layout_version"):
        load_artifact(_write(tmp_path, _restamp(model)))


def test_missing_initializer(tmp_path, mlp):
    model = build_model(mlp)
    keep = [t for t in model.graph.initializer if t.name != "w1_sign"]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    with pytest.raises(ArtifactError, match="w1_sign"):
        load_artifact(_write(tmp_path, _restamp(model)))


def test_wrong_dtype_and_shape(tmp_path, mlp):
    model = build_model(mlp)
    for i, t in enumerate(model.graph.initializer):
        if t.name == "t0":
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.int64), "t0"))
    with pytest.raises(ArtifactError, match="'t0'.*int64"):
        load_artifact(_write(tmp_path, _restamp(model)))
    model = build_model(mlp)
    for i, t in enumerate(model.graph.initializer):
        if t.name == "s0":
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(np.ones(19, np.int8), "s0"))
    with pytest.raises(ArtifactError, match="'s0'.*shape"):
        load_artifact(_write(tmp_path, _restamp(model)))


def test_nonzero_pad_bits_refused(tmp_path, mlp):
    model = build_model(mlp)
    for i, t in enumerate(model.graph.initializer):
        if t.name == "w0":
            a = numpy_helper.to_array(t).copy()
            a[0, -1] |= np.uint64(1) << np.uint64(63)   # K = 70: bit 127 of row 0 is a pad bit
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(a, "w0"))
    with pytest.raises(ArtifactError, match="pad bits"):
        load_artifact(_write(tmp_path, _restamp(model)))


def test_domain_version(tmp_path, mlp):
    model = build_model(mlp)
    for o in model.opset_import:
        if o.domain == "lowprec":
            o.version = 2
    with pytest.raises(ArtifactError, match="lowprec domain version 2"):
        load_artifact(_write(tmp_path, _restamp(model)))


def test_foreign_and_garbage_files(tmp_path):
    g = helper.make_graph([helper.make_node("Identity", ["a"], ["b"])], "g",
                          [helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, [1])])
    foreign = helper.make_model(g)
    with pytest.raises(ArtifactError, match="not a lowprec artifact"):
        load_artifact(_write(tmp_path, foreign))
    (tmp_path / "junk.onnx").write_bytes(b"\xff\xfe not a protobuf \x00" * 8)
    with pytest.raises(ArtifactError, match="not a readable ONNX protobuf|not a lowprec artifact"):
        load_artifact(tmp_path / "junk.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ArtifactError, match="empty"):
        load_artifact(tmp_path / "empty.onnx")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_artifact(tmp_path / "missing.onnx")


def test_save_model_type_check(tmp_path):
    with pytest.raises(TypeError, match="ModelProto"):
        save_model(b"bytes", tmp_path / "x.onnx")


def test_outputs_must_match_config(tmp_path, mlp):
    model = build_model(mlp)
    model.graph.output[1].name = "renamed"
    with pytest.raises(ArtifactError, match="graph outputs"):
        load_artifact(_write(tmp_path, _restamp(model)))
