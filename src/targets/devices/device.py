"""What every device family shares: build (emit C + harness, compile once per model and profile), run,
parse outputs, count instructions. The family modules (``host``, ``linux_user``, ``cortex_m``) supply the
compile and run commands.
"""
from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.c import CModule, c_module
from export.network import CNNNetwork, MLPNetwork, RBMNetwork
from targets.base import PartialOutputs, Target, TargetUnavailable
from targets.devices.harness_io import decode_outputs, encode_inputs
from targets.devices.profiles import Profile
from targets.devices.toolchain import (STRICT_CFLAGS, build_root, digest, find_tool, missing, run_cmd,
                                       source_text)

__all__ = ["Build", "DeviceTarget", "DoesNotFit", "HARNESS", "MODEL_PREFIX"]

HARNESS = "lowprec_harness.c"
MODEL_PREFIX = "model"   # the harness calls model_* / MODEL_*
PREDICT_ONLY = "MODEL_PREDICT_ONLY"   # the emitted C's macro that leaves forward() out (deployed build)

_builds: dict[str, "Build"] = {}
_misfits: dict[str, "DoesNotFit"] = {}   # builds that did not fit their device (not linked again)
_build_lock = threading.Lock()


class DoesNotFit(TargetUnavailable):
    """The model (with the test harness that runs it) needs more flash or RAM than the device profile has.

    A :class:`TargetUnavailable`: ``--target all`` reports the device as skipped with the sizes; a device the
    user named explicitly makes the command fail with them. Attributes hold the byte counts (``need_*``:
    what the linker had to place, a lower bound when the C library is not counted; ``model_*``: the model
    alone; ``device_*``: the profile's memory)."""

    def __init__(self, message: str, **sizes: int) -> None:
        super().__init__(message)
        self.sizes = dict(sizes)

    def shortfall(self) -> str:
        """What the program needs that the device lacks, in words (e.g. ``"109.2 kB of RAM, the device has
        16.0 kB"``), from the sizes; the whole message when they are absent."""
        s = self.sizes
        kb = lambda n: f"{n / 1024:,.1f} kB"  # noqa: E731
        parts = [f"{kb(s[f'need_{m}_bytes'])} of {word}, the device has {kb(s[f'device_{m}_bytes'])}"
                 for m, word in (("flash", "flash"), ("ram", "RAM"))
                 if f"need_{m}_bytes" in s and f"device_{m}_bytes" in s
                 and s[f"need_{m}_bytes"] > s[f"device_{m}_bytes"]]
        return "; ".join(parts) or str(self)


@dataclass(frozen=True)
class Build:
    """A compiled harness + model for one profile."""

    profile: Profile
    network: MLPNetwork | RBMNetwork
    module: CModule
    dir: Path
    exe: Path
    model_obj: Path
    commands: tuple[tuple[str, ...], ...]


class DeviceTarget(Target):
    """A device from a profile. Subclasses implement ``_compile``, ``_execute`` and ``_count``."""

    family = ""

    def __init__(self, profile: Profile) -> None:
        if profile.family != self.family:
            raise ValueError(f"profile {profile.name!r} is of family {profile.family!r}, not {self.family!r}")
        self.profile = profile
        self.name = profile.name
        self.description = profile.description
        self._net_cache: tuple[tuple, MLPNetwork | RBMNetwork] | None = None
        self._building: MLPNetwork | RBMNetwork | None = None
        self._predict_only = False        # the build in progress is the deployed predict-only program

    # ------------------------------------------------------------------ availability
    def _required_tools(self) -> list[tuple[str, list[str]]]:
        p = self.profile
        tools = [(p.cc, p.packages)]
        exe = p.emulator["command"][0]
        if exe != "{exe}":
            tools.append((exe, p.emulator["packages"]))
        return tools

    def _extra_availability(self) -> str | None:
        return None

    def availability(self) -> str | None:
        for tool, packages in self._required_tools():
            if find_tool(tool) is None:
                return missing(tool, packages)
        return self._extra_availability()

    def _require(self) -> None:
        reason = self.availability()
        if reason is not None:
            raise TargetUnavailable(f"{self.name}: {reason}")

    # ------------------------------------------------------------------ build
    def cflags(self) -> list[str]:
        """Compiler flags for the emitted C and the harness: the profile's, the strict set, defines."""
        p = self.profile
        defines = [f"-D{d}" for d in p.compiler.get("defines", [])]
        if self._predict_only:
            defines.append(f"-D{PREDICT_ONLY}")
        return list(p.compiler["cflags"]) + STRICT_CFLAGS + defines

    def _compile(self, d: Path) -> tuple[Path, Path, list[list[str]]]:
        """Compile the sources in ``d``; returns (program, model object, commands run)."""
        raise NotImplementedError

    def _compile_objects(self, d: Path, extra: list[str] | None = None) -> tuple[Path, Path, list[list[str]]]:
        """model.o (with -fstack-usage) and harness.o, with the strict flags."""
        cc = self.profile.cc
        flags = self.cflags() + (extra or [])
        cmds = [
            [cc, *flags, "-fstack-usage", "-I", str(d), "-c", str(d / f"{MODEL_PREFIX}.c"), "-o", str(d / "model.o")],
            [cc, *flags, "-I", str(d), "-c", str(d / HARNESS), "-o", str(d / "harness.o")],
        ]
        for c in cmds:
            run_cmd(c, cwd=d, what=f"{self.name}: compiling {Path(c[-3]).name}", timeout=300)
        return d / "model.o", d / "harness.o", cmds

    def build(self, network: MLPNetwork | RBMNetwork, predict_only: bool = False) -> Build:
        """Emit, compile and link ``network`` for this device (cached per model, profile and kind of build).

        ``predict_only`` (MLP and CNN): the deployed program, compiled with ``MODEL_PREDICT_ONLY``: the model
        object has only ``model_predict`` (no full forward pass) and the harness calls it with the predict
        scratch and writes each row's label only (``lowprec_harness.c``). It is what a deployment links, and
        what :func:`targets.devices.footprint.measure` sizes and counts; the default build keeps every
        intermediate for verification."""
        self._require()
        if not isinstance(network, (MLPNetwork, CNNNetwork, RBMNetwork)):
            raise TypeError(f"expected an MLPNetwork, CNNNetwork or RBMNetwork, got {type(network).__name__}")
        if not isinstance(predict_only, bool):
            raise TypeError(f"predict_only must be a bool, got {type(predict_only).__name__}")
        if predict_only and isinstance(network, RBMNetwork):
            raise ValueError("predict_only builds are for MLP and CNN networks (an RBM has no predict call)")
        module = c_module(network, self.profile.word_bits, MODEL_PREFIX)
        harness = source_text(HARNESS)
        key = digest(json.dumps(self.profile.raw, sort_keys=True), harness, self._family_sources(),
                     f"predict_only={predict_only}", *[f"{k}\n{v}" for k, v in sorted(module.files.items())])
        with _build_lock:
            if key in _builds and _builds[key].exe.exists():
                return _builds[key]
            if key in _misfits:     # linking it again would only find the same sizes
                raise DoesNotFit(str(_misfits[key]), **_misfits[key].sizes)
            d = build_root() / f"{self.name}-{key[:16]}"
            d.mkdir(parents=True, exist_ok=True)
            module = module.write(d)
            (d / HARNESS).write_text(harness)
            self._building = network          # for messages about the network being compiled
            self._predict_only = predict_only
            try:
                exe, model_obj, cmds = self._compile(d)
            except DoesNotFit as exc:
                _misfits[key] = exc
                raise
            finally:
                self._predict_only = False
            b = Build(self.profile, network, module, d, exe, model_obj, tuple(tuple(c) for c in cmds))
            _builds[key] = b
            return b

    def _family_sources(self) -> str:
        """Extra sources whose change must invalidate cached builds (startup, linker script)."""
        return ""

    # ------------------------------------------------------------------ run
    def _execute(self, build: Build, data: bytes, rows: int) -> bytes:
        """Run the harness on input bytes; returns the output bytes."""
        raise NotImplementedError

    def _timeout(self, rows: int) -> float:
        return float(self.profile.emulator["timeout_s"])

    def verify_build(self, network: MLPNetwork | RBMNetwork) -> tuple[Build, DoesNotFit | None]:
        """The build that verifies ``network`` here: the full harness (every intermediate), or, when that does
        not fit the device but the deployed ``predict()`` build does (MLP, CNN), that one. Returns (build,
        None) or (predict build, the full harness's DoesNotFit). Raises DoesNotFit when neither fits (the
        message gives both programs' sizes)."""
        try:
            return self.build(network), None
        except DoesNotFit as full:
            if isinstance(network, RBMNetwork):     # no predict() for an RBM: nothing smaller to run
                raise
            try:
                return self.build(network, predict_only=True), full
            except DoesNotFit as deployed:
                raise DoesNotFit(f"{full}; nor does the deployed predict() program: it needs "
                                 f"{deployed.shortfall()}", **full.sizes) from None

    def run_network(self, network: MLPNetwork | RBMNetwork, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``network`` (in memory) on ``feeds``; every graph output, named as in the ONNX file.

        When the verify harness does not fit the device but the deployed build does (:meth:`verify_build`),
        the result is a :class:`targets.base.PartialOutputs` with what ``predict()`` computes: the output
        layer's int32 fields and the label."""
        data, rows = encode_inputs(network, feeds)
        build, full = self.verify_build(network)
        out = self._execute(build, data, rows)
        found = decode_outputs(network, out, rows, where=self.name, predict_only=full is not None)
        if full is None:
            return found
        return PartialOutputs(found, f"outputs only: the deployed predict() build (output fields and labels); "
                                     f"the full harness needs {full.shortfall()}")

    def network(self, model_path) -> MLPNetwork | RBMNetwork:
        """The network an exported ONNX file encodes (cached per path, size and mtime)."""
        from export.onnx import load_artifact, network_from_onnx  # noqa: PLC0415

        if isinstance(model_path, (str, os.PathLike)):
            st = os.stat(model_path)
            key = (os.fspath(model_path), st.st_size, st.st_mtime_ns)
            if self._net_cache is None or self._net_cache[0] != key:
                self._net_cache = (key, network_from_onnx(load_artifact(model_path)))
            return self._net_cache[1]
        return network_from_onnx(model_path)

    def run(self, model_path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._require()
        return self.run_network(self.network(model_path), feeds)

    # ------------------------------------------------------------------ cost
    def count_instructions(self, build: Build, data: bytes, rows: int) -> dict:
        """Instructions of the deployment calls for each row (see ``lowprec_harness.c``); dict with
        ``instructions_per_inference`` (mean), ``min``, ``max``, ``instruction_source``."""
        raise NotImplementedError

    def stack_frames(self, build: Build) -> dict[str, int]:
        """Static stack frame (bytes) of each model function, from GCC's -fstack-usage file."""
        return self.stack_frames_in(build.dir)

    @staticmethod
    def stack_frames_in(folder: Path) -> dict[str, int]:
        """Static stack frames of the model object compiled in ``folder`` (its ``model.su``)."""
        su = folder / "model.su"
        if not su.exists():
            return {}
        frames = {}
        for line in su.read_text().splitlines():
            m = re.match(r".*:([A-Za-z_][A-Za-z0-9_.]*)\s+(\d+)\s+(\w+)", line)
            if m:
                frames[m.group(1)] = int(m.group(2))
        return frames
