"""Device family ``host``: the build machine itself. Native compile with the system C compiler, run directly,
instructions counted with valgrind's callgrind (``--toggle-collect`` on the harness's per-row function)."""
from __future__ import annotations

import platform
import re
from pathlib import Path

from targets.devices.device import Build, DeviceTarget
from targets.devices.toolchain import build_root, find_tool, missing, run_cmd

__all__ = ["HostTarget"]

_ALIASES = {"x86_64": {"x86_64", "amd64"}, "aarch64": {"aarch64", "arm64"}}


class HostTarget(DeviceTarget):
    """Native C on the build machine (profile family ``host``)."""

    family = "host"

    def _extra_availability(self) -> str | None:
        want = self.profile.machine
        have = platform.machine().lower()
        if want and have not in _ALIASES.get(want, {want}):
            return f"profile {self.name} needs a {want} build machine; this one is {have or 'unknown'}"
        if "-mpopcnt" in self.profile.compiler["cflags"]:
            try:
                flags = Path("/proc/cpuinfo").read_text()
            except OSError:
                flags = ""
            if flags and not re.search(r"^flags\s*:.*\bpopcnt\b", flags, re.M):
                return f"profile {self.name} is compiled with -mpopcnt but this CPU has no POPCNT"
        return None

    def _link(self, d: Path, objs: list[Path]) -> tuple[Path, list[str]]:
        p = self.profile
        exe = d / "prog"
        cmd = [p.cc, *p.compiler["cflags"], *p.compiler["ldflags"], *map(str, objs), "-o", str(exe)]
        run_cmd(cmd, cwd=d, what=f"{self.name}: linking", timeout=300)
        return exe, cmd

    def _compile(self, d: Path):
        model_o, harness_o, cmds = self._compile_objects(d)
        exe, link = self._link(d, [harness_o, model_o])
        return exe, model_o, cmds + [link]

    def _command(self, exe: Path, extra: list[str] | None = None) -> list[str]:
        """The profile's run command with ``{exe}`` substituted; ``extra`` options (e.g. the counting plugin)
        go right after the emulator's name (or before the program when it runs without an emulator)."""
        cmd = [str(exe) if a == "{exe}" else a for a in self.profile.emulator["command"]]
        if self.profile.emulator["command"][0] == "{exe}":
            return (extra or []) + cmd
        return cmd[:1] + (extra or []) + cmd[1:]

    def _execute(self, build: Build, data: bytes, rows: int) -> bytes:
        proc = run_cmd(self._command(build.exe), what=f"{self.name}: running the model", data=data,
                       cwd=build.dir, timeout=self._timeout(rows))
        return proc.stdout

    def count_instructions(self, build: Build, data: bytes, rows: int) -> dict:
        vg = find_tool("valgrind")
        if vg is None:
            raise RuntimeError(missing("valgrind", self.profile.emulator.get("counter_packages", ["valgrind"])))
        out = Path(build_root()) / f"callgrind-{self.name}-{build.dir.name}.out"
        cmd = [vg, "--tool=callgrind", f"--callgrind-out-file={out}", "--collect-atstart=no",
               "--toggle-collect=lp_run_row", str(build.exe)]
        run_cmd(cmd, what=f"{self.name}: callgrind", data=data, cwd=build.dir, timeout=600)
        text = out.read_text()
        m = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
        if not m:
            raise RuntimeError(f"{self.name}: no instruction total in the callgrind output {out}")
        total = int(m.group(1))
        return {"instructions_per_inference": total / rows, "instructions_min": None, "instructions_max": None,
                "instructions_total": total, "rows": rows,
                "instruction_source": "valgrind callgrind: instructions executed inside lp_run_row (the model "
                                      "calls for one row), averaged over the rows; exact count, not cycles"}
