"""Device family ``cortex-m``: bare-metal Cortex-M, arm-none-eabi-gcc + newlib (rdimon semihosting), run
under qemu-system-arm with a timeout. Inputs and outputs travel as host files through semihosting
(``in.bin`` / ``out.bin`` in the run folder); qemu exits with the program's status."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from targets.devices.device import Build, DoesNotFit
from targets.devices.host import HostTarget
from targets.devices.linux_user import qemu_count
from targets.devices.toolchain import run_cmd, section_sizes, source_text

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

    def linker_script(self, flash_bytes: int | None = None, ram_bytes: int | None = None) -> str:
        """The profile's linker script (memory sizes overridable, to measure a program that does not fit)."""
        m = dict(self.profile.memory)
        m["flash_bytes"] = m["flash_bytes"] if flash_bytes is None else flash_bytes
        m["ram_bytes"] = m["ram_bytes"] if ram_bytes is None else ram_bytes
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
        proc = run_cmd(link, cwd=d, what=f"{self.name}: linking", timeout=300, check=False)
        if proc.returncode != 0:
            self._explain_link_failure(d, link, model_o, proc)
        return exe, model_o, cmds + [st, link]

    def _explain_link_failure(self, d: Path, link: list[str], model_o: Path, proc) -> None:
        """After a failed link: link again with 256 MiB of flash and RAM; when that works, the program is
        too large for the device and DoesNotFit gives the sizes it needs (``size`` of that image, plus the
        reserved stack) against the device's; otherwise RuntimeError with the linker's message."""
        from targets.devices.footprint import _group, api_scratch_bytes  # noqa: PLC0415

        p = self.profile
        err = proc.stderr.decode("utf-8", "replace").strip()
        roomy = 256 << 20
        (d / "measure.ld").write_text(self.linker_script(roomy, roomy))
        elf = d / "measure.elf"
        relink = [str(d / "measure.ld") if a == str(d / "device.ld") else a for a in link[:-1]] + [str(elf)]
        if run_cmd(relink, cwd=d, what=f"{self.name}: linking to measure", timeout=300, check=False).returncode:
            raise RuntimeError(f"{self.name}: linking failed with exit status {proc.returncode}\n{err[-3000:]}")
        image = section_sizes(p.compiler["size"], elf)
        grouped = _group(image)
        flash = grouped["code"] + grouped["const"] + grouped["data"] + sum(
            v for k, v in image.items() if k.startswith((".ARM", ".init_array", ".fini_array")))
        static_ram = grouped["data"] + grouped["bss"]
        stack = int(p.memory["stack_bytes"])
        ram = static_ram + stack
        dev_flash, dev_ram = int(p.memory["flash_bytes"]), int(p.memory["ram_bytes"])
        model = _group(section_sizes(p.compiler["size"], model_o))
        model_flash = model["code"] + model["const"] + model["data"]
        model_ram = model["data"] + model["bss"] + api_scratch_bytes(self._building, p.word_bits) + \
            max(self.stack_frames_in(d).values(), default=0)
        kb = lambda n: f"{n / 1024:,.1f} kB"  # noqa: E731
        what = ("the deployed predict() program" if self._predict_only
                else "the program that runs it (the verify harness)")
        static = "" if self._predict_only else ", mostly buffers for every layer's outputs"
        raise DoesNotFit(
            f"{self.name}: the model does not fit the device: {what} needs {kb(flash)} of "
            f"flash and {kb(ram)} of RAM ({kb(static_ram)} static{static}, "
            f"+ {kb(stack)} reserved stack); the device has {kb(dev_flash)} of flash and {kb(dev_ram)} of RAM "
            f"(the model alone: {kb(model_flash)} flash, {kb(model_ram)} RAM with the predict API's buffers)",
            need_flash_bytes=flash, need_ram_bytes=ram, model_flash_bytes=model_flash,
            model_ram_bytes=model_ram, device_flash_bytes=dev_flash, device_ram_bytes=dev_ram)

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
