"""Device family ``linux-user``: Linux boards, cross-compiled with Debian's gcc-<triple> and run under
qemu-user (``qemu-<arch> -L /usr/<triple>``). Instructions are counted with the ``lp_icount`` qemu plugin
between the harness's markers."""
from __future__ import annotations

import os
from pathlib import Path

from targets.devices.device import Build
from targets.devices.host import HostTarget
from targets.devices.toolchain import (build_root, icount_plugin, parse_icount, run_cmd, sibling_tool,
                                       symbol_address)

__all__ = ["LinuxUserTarget"]


class LinuxUserTarget(HostTarget):
    """A cross-compiled Linux program run under qemu-user (profile family ``linux-user``)."""

    family = "linux-user"

    def _extra_availability(self) -> str | None:
        cmd = self.profile.emulator["command"]
        if "-L" in cmd:
            sysroot = cmd[cmd.index("-L") + 1]
            if not os.path.isdir(sysroot):
                libc = [p for p in self.profile.packages if p.startswith("libc")] or self.profile.packages
                return (f"the target's C library {sysroot} is missing: install the Debian package "
                        f"{' '.join(libc)} (apt-get install {' '.join(libc)})")
        return None

    def count_instructions(self, build: Build, data: bytes, rows: int) -> dict:
        return qemu_count(self, build, data, rows, in_cwd=None)


def qemu_count(target: HostTarget, build: Build, data: bytes | None, rows: int, in_cwd: Path | None) -> dict:
    """Run the harness under qemu with the counting plugin; ``data`` goes to stdin (user mode) or is
    already in ``in_cwd`` (system mode, semihosting files)."""
    nm = sibling_tool(target.profile.compiler["size"], "nm")
    begin = symbol_address(nm, build.exe, "lp_mark_begin")
    end = symbol_address(nm, build.exe, "lp_mark_end")
    log = Path(build_root()) / f"icount-{target.name}-{build.dir.name}-{os.getpid()}.log"
    plugin = f"{icount_plugin()},begin={begin:#x},end={end:#x}"
    cmd = target._command(build.exe, ["-plugin", plugin, "-d", "plugin", "-D", str(log)])
    run_cmd(cmd, what=f"{target.name}: counting instructions", data=data, cwd=in_cwd or build.dir,
            timeout=max(600.0, target._timeout(rows)))
    c = parse_icount(log.read_text())
    log.unlink(missing_ok=True)
    if c["regions"] != rows + 1:
        raise RuntimeError(f"{target.name}: the plugin saw {c['regions']} marker regions, expected {rows + 1}")
    return {"instructions_per_inference": c["sum"] / rows, "instructions_min": c["min"],
            "instructions_max": c["max"], "instructions_total": c["sum"], "rows": rows,
            "instruction_source": "qemu TCG plugin lp_icount: guest instructions executed between the harness "
                                  "markers around the model calls for one row (call glue calibrated out); "
                                  "exact count from the emulator, not cycles"}
