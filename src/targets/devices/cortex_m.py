"""Device family ``cortex-m``: bare-metal Cortex-M, arm-none-eabi-gcc + newlib (rdimon semihosting), run
under qemu-system-arm with a timeout. Inputs and outputs travel as host files through semihosting
(``in.bin`` / ``out.bin`` in the run folder); qemu exits with the program's status."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from targets.devices.device import Build
from targets.devices.host import HostTarget
from targets.devices.linux_user import qemu_count
from targets.devices.toolchain import run_cmd, source_text

__all__ = ["CortexMTarget"]

STARTUP = "cortexm_startup.c"
LINKER_TEMPLATE = "cortexm.ld.in"


class CortexMTarget(HostTarget):
    """A bare-metal Cortex-M program under qemu-system-arm (profile family ``cortex-m``)."""

    family = "cortex-m"

    def _extra_availability(self) -> str | None:
        return None

    def _family_sources(self) -> str:
        return source_text(STARTUP) + source_text(LINKER_TEMPLATE)

    def linker_script(self) -> str:
        m = self.profile.memory
        text = source_text(LINKER_TEMPLATE)
        for key, val in (("FLASH_ORIGIN", m["flash_origin"]), ("FLASH_BYTES", m["flash_bytes"]),
                         ("RAM_ORIGIN", m["ram_origin"]), ("RAM_BYTES", m["ram_bytes"]),
                         ("STACK_BYTES", m["stack_bytes"])):
            text = text.replace(f"@{key}@", hex(val) if key.endswith("ORIGIN") else str(val))
        return text

    def _compile(self, d: Path):
        p = self.profile
        model_o, harness_o, cmds = self._compile_objects(
            d, ['-DLP_IN_PATH="in.bin"', '-DLP_OUT_PATH="out.bin"'])
        (d / STARTUP).write_text(source_text(STARTUP))
        (d / "device.ld").write_text(self.linker_script())
        st = [p.cc, *p.compiler["cflags"], "-Wall", "-Wextra", "-Werror", "-c", str(d / STARTUP),
              "-o", str(d / "startup.o")]
        run_cmd(st, cwd=d, what=f"{self.name}: compiling the startup code", timeout=300)
        exe = d / "prog.elf"
        link = [p.cc, *p.compiler["cflags"], *p.compiler["ldflags"], "-T", str(d / "device.ld"),
                str(d / "startup.o"), str(harness_o), str(model_o), "-o", str(exe)]
        run_cmd(link, cwd=d, what=f"{self.name}: linking (does the model fit {p.memory['flash_bytes']} B of "
                                  f"flash and {p.memory['ram_bytes']} B of RAM?)", timeout=300)
        return exe, model_o, cmds + [st, link]

    def _run_dir(self, build: Build, data: bytes) -> Path:
        rd = Path(tempfile.mkdtemp(prefix="run-", dir=build.dir))
        (rd / "in.bin").write_bytes(data)
        return rd

    def _execute(self, build: Build, data: bytes, rows: int) -> bytes:
        rd = self._run_dir(build, data)
        try:
            run_cmd(self._command(build.exe), what=f"{self.name}: running the model under qemu-system-arm",
                    cwd=rd, timeout=self._timeout(rows))
            out = rd / "out.bin"
            if not out.exists():
                raise RuntimeError(f"{self.name}: the program wrote no out.bin through semihosting")
            return out.read_bytes()
        finally:
            shutil.rmtree(rd, ignore_errors=True)

    def count_instructions(self, build: Build, data: bytes, rows: int) -> dict:
        rd = self._run_dir(build, data)
        try:
            return qemu_count(self, build, None, rows, in_cwd=rd)
        finally:
            shutil.rmtree(rd, ignore_errors=True)
