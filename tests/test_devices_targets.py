"""Every device profile runs the emitted C bit-exactly: each model kind, K not a multiple of the word width,
batches of 1 and > 1, every graph output compared exactly with the reference simulator.

Each device compiles each model once (the build cache lives for the test session); a missing toolchain or
emulator skips the device's tests with the Debian package named.
"""
from __future__ import annotations

import numpy as np
import pytest

from devices_models import device_feeds, device_models
from export.onnx import build_model, output_names, save_model
from targets.base import TargetUnavailable
from targets.devices import device_names, device_target
from targets.reference.interpreter import simulate

pytestmark = pytest.mark.device

MODELS = device_models()
DEVICES = device_names()


@pytest.fixture(scope="module", params=DEVICES)
def device(request):
    tgt = device_target(request.param)
    reason = tgt.availability()
    if reason is not None:
        pytest.skip(f"{request.param}: {reason}")
    return tgt


@pytest.fixture(scope="module")
def onnx_models():
    return {name: build_model(net) for name, net in MODELS.items()}


def _check_all(expected: dict, found: dict, names: list[str]) -> None:
    assert sorted(found) == sorted(names)
    for name in names:
        assert found[name].dtype == expected[name].dtype, name
        assert found[name].shape == expected[name].shape, name
        np.testing.assert_array_equal(found[name], expected[name], err_msg=name)


@pytest.mark.parametrize("model", list(MODELS))
def test_device_matches_reference(device, onnx_models, model):
    net = MODELS[model]
    names = output_names(net)
    for rows, seed in ((13, 1), (1, 2)):
        feeds = device_feeds(net, rows, seed)
        expected = simulate(onnx_models[model], feeds, device.profile.word_bits).outputs
        found = device.run_network(net, feeds)
        _check_all(expected, found, names)


def test_device_runs_onnx_file(device, onnx_models, tmp_path_factory):
    """Target.run on an exported file: the network comes back out of the ONNX file (same build)."""
    model = "rbm_pm1_gibbs2"
    path = tmp_path_factory.mktemp("onnx") / "rbm.onnx"
    save_model(onnx_models[model], path)
    feeds = device_feeds(MODELS[model], 5, 3)
    expected = simulate(str(path), feeds, 64).outputs
    _check_all(expected, device.run(str(path), feeds), output_names(MODELS[model]))


def test_outputs_are_not_trivial():
    """The test models exercise both bit values and several classes (so equality above means something)."""
    for name, net in MODELS.items():
        out = simulate(build_model(net), device_feeds(net, 13, 1), 64).outputs
        for k, v in out.items():
            if v.dtype == np.uint64:
                assert np.any(v != 0), (name, k)
        if "label" in out:
            assert len(np.unique(out["label"])) > 1, name


def test_bad_feeds_are_refused():
    tgt = device_target("host-c")
    net = MODELS["mlp_binary_u8"]
    with pytest.raises(TypeError, match="uint8"):
        tgt.run_network(net, {"x": np.zeros((2, 100), np.int8)})
    with pytest.raises(ValueError, match=r"\(B, 100\)"):
        tgt.run_network(net, {"x": np.zeros((2, 99), np.uint8)})
    with pytest.raises(ValueError, match="seeds"):
        tgt.run_network(MODELS["rbm_pm1_gibbs2"], {"v": np.ones((2, 75), np.int8)})


def test_unavailable_tool_names_the_package():
    from targets.devices.profiles import load_profile, parse_profile

    raw = dict(load_profile("aarch64-linux").raw)
    raw["compiler"] = dict(raw["compiler"], cc="no-such-cross-gcc-lowprec")
    tgt = device_target(parse_profile(raw, "test profile"))
    reason = tgt.availability()
    assert reason is not None and "gcc-aarch64-linux-gnu" in reason and "no-such-cross-gcc-lowprec" in reason
    with pytest.raises(TargetUnavailable, match="gcc-aarch64-linux-gnu"):
        tgt.run_network(MODELS["mlp_ternary_pm1"], device_feeds(MODELS["mlp_ternary_pm1"], 2, 0))


def test_one_flipped_weight_is_detected():
    """The comparison is sensitive: a device running a network with one weight flipped differs from the
    reference of the original network (in that layer's fields)."""
    from export.network import Dense, MLPNetwork

    tgt = device_target("host-c")
    if tgt.availability():
        pytest.skip(tgt.availability())
    net = MODELS["mlp_binary_u8"]
    w = net.hidden[0][0].weight.copy()
    w[3, 17] = -w[3, 17]
    bad = MLPNetwork(net.input, [(Dense(w), net.hidden[0][1])] + list(net.hidden[1:]), net.output)
    feeds = device_feeds(net, 13, 1)
    expected = simulate(build_model(net), feeds, 64).outputs
    found = tgt.run_network(bad, feeds)
    assert not np.array_equal(found["y0"], expected["y0"])
    np.testing.assert_array_equal(np.abs(found["y0"] - expected["y0"])[:, 3], 2)   # x_17 * (±2), other rows equal
    np.testing.assert_array_equal(np.delete(found["y0"], 3, axis=1), np.delete(expected["y0"], 3, axis=1))



@pytest.mark.parametrize("name", ["host-c", "cortex-m0", "armhf-linux"])
def test_edge_shapes(name):
    """Exact multiples of the word width, single units, zero Gibbs steps, a 1-wide MLP."""
    from export.network import Dense, InputSpec, MLPNetwork, OutputAffine, RBMNetwork, Threshold

    tgt = device_target(name)
    if tgt.availability():
        pytest.skip(tgt.availability())
    rng = np.random.default_rng(5)
    pm = lambda s: rng.choice(np.array([-1, 1], np.int8), s)  # noqa: E731
    nets = {
        "rbm_gibbs0_n1": RBMNetwork(pm((1, 64)), gibbs_steps=0),
        "rbm_p1_k32": RBMNetwork(pm((32, 1)), gibbs_steps=3),
        "mlp_k64_w1": MLPNetwork(InputSpec("pm1", 64, "int8"),
                                 [(Dense(pm((1, 64))), Threshold(np.ones(1, int), np.zeros(1, int)))],
                                 (Dense(pm((2, 1))), OutputAffine.identity(2))),
    }
    for net in nets.values():
        feeds = device_feeds(net, 4, 9)
        _check_all(simulate(build_model(net), feeds, 64).outputs, tgt.run_network(net, feeds), output_names(net))
