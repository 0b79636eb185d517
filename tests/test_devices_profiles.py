"""Target profiles: schema checks, what the popcount compiles to on each device, and adding a device by
adding a profile (a new bare-metal board, and a host build with 32-bit words and the portable SWAR popcount)."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from targets.devices.device import DoesNotFit

from devices_models import device_feeds, device_models
from export.onnx import build_model
from targets.devices import device_names, device_target, load_profile, load_profiles
from targets.devices.profiles import parse_profile
from targets.devices.toolchain import sibling_tool
from targets.reference.interpreter import simulate

pytestmark = pytest.mark.device

EXPECTED = {"host-c", "aarch64-linux", "armhf-linux", "riscv64-linux", "riscv64-zbb-linux", "cortex-m0",
            "cortex-m4"}


def _available(tgt):
    reason = tgt.availability()
    if reason is not None:
        pytest.skip(f"{tgt.name}: {reason}")
    return tgt


def test_every_required_device_has_a_profile():
    assert EXPECTED <= set(device_names())
    for p in load_profiles().values():
        assert p.word_bits == (32 if p.name in ("armhf-linux", "cortex-m0", "cortex-m4") else 64)
        assert p.energy["pj_per_instruction"] > 0 and p.energy["source"] and p.energy["basis"]
        d = p.to_dict()
        assert d["energy_pj_per_instruction"] == p.energy["pj_per_instruction"]


def test_registry_lists_the_devices():
    import targets.registry  # noqa: F401  (imports targets.devices, which registers the profiles)
    from targets.base import get_target, target_names

    assert EXPECTED <= set(target_names())
    assert get_target("cortex-m4").profile.family == "cortex-m"


@pytest.mark.parametrize("key", ["name", "word_bits", "compiler", "emulator", "memory", "energy", "popcount_asm"])
def test_missing_key_is_named(key):
    raw = dict(load_profile("cortex-m4").raw)
    del raw[key]
    with pytest.raises(ValueError, match=re.escape(repr(key))):
        parse_profile(raw, "broken.toml")


def test_bad_values_are_refused():
    raw = dict(load_profile("cortex-m4").raw)
    with pytest.raises(ValueError, match="word_bits must be 32 or 64"):
        parse_profile(dict(raw, word_bits=16), "p")
    with pytest.raises(ValueError, match="family"):
        parse_profile(dict(raw, family="fpga"), "p")
    with pytest.raises(ValueError, match="exe"):
        parse_profile(dict(raw, emulator=dict(raw["emulator"], command=["qemu-system-arm"])), "p")
    with pytest.raises(ValueError, match="must say where"):
        parse_profile(dict(raw, energy=dict(raw["energy"], source=" ")), "p")
    with pytest.raises(ValueError, match="define"):
        parse_profile(dict(raw, compiler=dict(raw["compiler"], defines=["X; rm -rf"])), "p")
    with pytest.raises(ValueError, match="must be bool"):
        parse_profile(dict(raw, popcount_instruction=1), "p")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_popcount_compiles_as_the_profile_says(name):
    """The profile's popcount_instruction / popcount_asm claims hold for the emitted kernels."""
    tgt = _available(device_target(name))
    build = tgt.build(device_models()["mlp_ternary_pm1"])
    objdump = sibling_tool(tgt.profile.compiler["size"], "objdump")
    text = subprocess.run([objdump, "-dr", str(build.model_obj)], capture_output=True, text=True,
                          check=True).stdout
    asm = tgt.profile.popcount_asm
    assert re.search(rf"\b{re.escape(asm)}\b", text), f"{name}: no {asm} in the model's code"
    calls_helper = re.search(r"\b__popcount[sd]i2\b", text) is not None
    assert calls_helper == (not tgt.profile.popcount_instruction)


def _run_and_compare(tgt, model):
    net = device_models()[model]
    feeds = device_feeds(net, 9, 5)
    expected = simulate(build_model(net), feeds, tgt.profile.word_bits).outputs
    found = tgt.run_network(net, feeds)
    assert sorted(found) == sorted(expected)
    for k in expected:
        np.testing.assert_array_equal(found[k], expected[k], err_msg=k)


def test_new_bare_metal_board_is_a_profile():
    """A Cortex-M3 on lm3s6965evb (256 KiB flash, 64 KiB RAM): only a profile, no code."""
    raw = dict(load_profile("cortex-m4").raw)
    raw.update(name="cortex-m3-lm3s", description="Cortex-M3 on lm3s6965evb", cpu="Cortex-M3")
    raw["compiler"] = dict(raw["compiler"], cflags=["-mcpu=cortex-m3", "-mthumb", "-O2", "-ffunction-sections",
                                                    "-fdata-sections"])
    cmd = list(raw["emulator"]["command"])
    cmd[cmd.index("mps2-an386")] = "lm3s6965evb"
    raw["emulator"] = dict(raw["emulator"], command=cmd)
    raw["memory"] = dict(raw["memory"], flash_bytes=256 * 1024, ram_bytes=64 * 1024)
    tgt = _available(device_target(parse_profile(raw, "cortex-m3-lm3s.toml")))
    _run_and_compare(tgt, "rbm_pm1_gibbs2")
    _run_and_compare(tgt, "mlp_bitplane_ternary")


def test_portable_swar_popcount_with_32_bit_words_on_the_host():
    raw = dict(load_profile("host-c").raw)
    raw.update(name="host-c-swar32", word_bits=32, popcount_instruction=False, popcount_asm="(inline SWAR)")
    raw["compiler"] = dict(raw["compiler"], cflags=["-O2"], defines=["LOWPREC_POPCOUNT=2"])
    tgt = _available(device_target(parse_profile(raw, "host-c-swar32.toml")))
    _run_and_compare(tgt, "mlp_binary_u8")
    _run_and_compare(tgt, "rbm_float_gibbs1")
    objdump = sibling_tool(tgt.profile.compiler["size"], "objdump")
    build = tgt.build(device_models()["mlp_binary_u8"])
    text = subprocess.run([objdump, "-d", str(build.model_obj)], capture_output=True, text=True, check=True).stdout
    assert "popcnt" not in text and "__popcount" not in text


def test_model_too_big_for_the_device_fails_to_link():
    raw = dict(load_profile("cortex-m0").raw)
    raw.update(name="cortex-m0-tiny")
    raw["memory"] = dict(raw["memory"], flash_bytes=4096)
    tgt = _available(device_target(parse_profile(raw, "tiny.toml")))
    with pytest.raises(DoesNotFit, match=r"does not fit the device: .* the device has 4.0 kB of flash") as exc:
        tgt.build(device_models()["mlp_binary_u8"])
    sizes = exc.value.sizes
    assert sizes["device_flash_bytes"] == 4096 and sizes["need_flash_bytes"] > 4096
    assert sizes["model_flash_bytes"] < sizes["need_flash_bytes"]
