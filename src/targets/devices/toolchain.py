"""Shared build/run plumbing for device targets: tool lookup, subprocesses with timeouts, the build cache,
the size tool, symbol addresses and the instruction-counting plugin."""
from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from importlib import resources
from pathlib import Path

__all__ = ["STRICT_CFLAGS", "find_tool", "missing", "run_cmd", "build_root", "source_text", "digest",
           "sibling_tool", "symbol_address", "section_sizes", "icount_plugin", "parse_icount"]

# The emitted C and the harness must compile warning-free under these, on every target (issue 4).
STRICT_CFLAGS = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror"]

_lock = threading.Lock()
_root: Path | None = None


def find_tool(name: str) -> str | None:
    """Absolute path of an executable on PATH (or an absolute path that exists), else None."""
    if os.path.isabs(name):
        return name if os.access(name, os.X_OK) else None
    return shutil.which(name)


def missing(tool: str, packages: list[str] | str) -> str:
    """The availability message for a tool that is not installed, naming the Debian package(s)."""
    pk = [packages] if isinstance(packages, str) else list(packages)
    return (f"{tool} not found: install the Debian package{'s' if len(pk) > 1 else ''} {' '.join(pk)} "
            f"(apt-get install {' '.join(pk)})")


def run_cmd(cmd: list[str], *, what: str, cwd: str | os.PathLike | None = None, data: bytes | None = None,
            timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``cmd``; RuntimeError with the command, exit status and the end of stderr when it fails."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, input=data, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} timed out after {timeout:g} s: {' '.join(map(str, cmd))}") from None
    except FileNotFoundError as exc:
        raise RuntimeError(f"{what}: cannot execute {cmd[0]}: {exc}") from None
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()[-3000:]
        raise RuntimeError(f"{what} failed with exit status {proc.returncode}: {' '.join(map(str, cmd))}\n{err}")
    return proc


def build_root() -> Path:
    """A per-process temporary folder holding every build (removed at exit)."""
    global _root
    with _lock:
        if _root is None or not _root.is_dir():
            _root = Path(tempfile.mkdtemp(prefix="lowprec-devices-"))
            atexit.register(shutil.rmtree, str(_root), True)
        return _root


def source_text(name: str) -> str:
    """A file of ``targets/csrc`` (harness, startup, linker script template, qemu plugin)."""
    return resources.files("targets").joinpath("csrc", name).read_text(encoding="utf-8")


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        b = p.encode("utf-8") if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def sibling_tool(tool: str, name: str) -> str:
    """``arm-none-eabi-size`` -> ``arm-none-eabi-nm`` (same binutils prefix)."""
    return re.sub(r"size$", name, tool)


def symbol_address(nm_tool: str, elf: Path, symbol: str) -> int:
    """Address of ``symbol`` in ``elf`` (Thumb bit cleared)."""
    out = run_cmd([nm_tool, str(elf)], what=f"{nm_tool} {elf.name}").stdout.decode()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == symbol:
            return int(parts[0], 16) & ~1
    raise RuntimeError(f"symbol {symbol} not found in {elf}")


def section_sizes(size_tool: str, obj: Path) -> dict[str, int]:
    """``size -A`` of an object or ELF: section name -> bytes."""
    out = run_cmd([size_tool, "-A", str(obj)], what=f"{size_tool} -A {obj.name}").stdout.decode()
    sizes: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = sizes.get(parts[0], 0) + int(parts[1])
    return sizes


def icount_plugin() -> Path:
    """Build (once per process) the qemu TCG plugin that counts instructions between the harness markers."""
    cc = find_tool("gcc") or find_tool("cc")
    if cc is None:
        raise RuntimeError(missing("gcc", ["gcc"]) + " (the host compiler builds the qemu counting plugin)")
    src = source_text("lp_icount.c")
    root = build_root()
    lib = root / f"lp_icount-{digest(src)[:12]}.so"
    with _lock:
        if not lib.exists():
            (root / "lp_icount.c").write_text(src)
            run_cmd([cc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(root / "lp_icount.c")],
                    what="building the qemu instruction-count plugin")
    return lib


_ICOUNT = re.compile(r"lp_icount regions=(\d+) calib=(\d+) sum=(\d+) min=(\d+) max=(\d+) total=(\d+)")


def parse_icount(text: str) -> dict[str, int]:
    """The plugin's summary line -> dict (regions include the calibration region)."""
    m = _ICOUNT.search(text)
    if not m:
        raise RuntimeError(f"the qemu plugin printed no count (is QEMU built with plugin support?): {text[-500:]!r}")
    keys = ("regions", "calib", "sum", "min", "max", "total")
    return dict(zip(keys, map(int, m.groups())))
