"""Target profiles: one TOML file per device in ``targets/profiles`` (adding a device = adding a profile).

Schema (every key required unless marked optional)::

    name = "cortex-m4"                  # target name (lower case, unique)
    description = "..."
    family = "cortex-m"                 # host | linux-user | cortex-m (the module in targets/devices that runs it)
    cpu = "..."                         # informative
    machine = "x86_64"                  # optional (host family): the build machine must be this architecture
    word_bits = 32                      # kernel word width: 32 or 64
    popcount_instruction = false        # does the core have a popcount instruction (as compiled)
    popcount_note = "..."
    popcount_asm = "cnt"                # the instruction or libgcc helper the popcount compiles to (tested)
    [compiler]  cc, packages (Debian packages, the first one provides cc), cflags, ldflags, size (binutils
                size tool; nm and objdump are its siblings), size_package, defines (optional, e.g.
                ["LOWPREC_POPCOUNT=2"] for the portable SWAR popcount)
    [emulator]  command (list; "{exe}" = the built program), packages, timeout_s, counter = "qemu-plugin" |
                "callgrind", counter_packages (optional)
    [memory]    flash_bytes, ram_bytes (0 = not a constraint), example; cortex-m also flash_origin,
                ram_origin, stack_bytes
    [energy]    pj_per_instruction, basis, source
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from targets.toml_compat import tomllib

__all__ = ["Profile", "load_profile", "load_profiles", "parse_profile", "FAMILIES"]

FAMILIES = ("host", "linux-user", "cortex-m")
COUNTERS = ("qemu-plugin", "callgrind")


@dataclass(frozen=True)
class Profile:
    """A validated target profile (see the module docstring for the TOML keys)."""

    name: str
    description: str
    family: str
    cpu: str
    word_bits: int
    popcount_instruction: bool
    popcount_note: str
    popcount_asm: str
    compiler: dict[str, Any]
    emulator: dict[str, Any]
    memory: dict[str, Any]
    energy: dict[str, Any]
    machine: str | None = None
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def cc(self) -> str:
        return self.compiler["cc"]

    @property
    def packages(self) -> list[str]:
        return list(self.compiler["packages"])

    def to_dict(self) -> dict[str, Any]:
        """Flat summary used by reports (``targets.measure.report.device_energy`` reads the energy keys)."""
        return {
            "name": self.name, "description": self.description, "family": self.family, "cpu": self.cpu,
            "word_bits": self.word_bits, "popcount_instruction": self.popcount_instruction,
            "popcount_note": self.popcount_note, "popcount_asm": self.popcount_asm, "compiler": self.cc,
            "cflags": list(self.compiler["cflags"]), "emulator": list(self.emulator["command"]),
            "flash_bytes": self.memory["flash_bytes"], "ram_bytes": self.memory["ram_bytes"],
            "memory_example": self.memory.get("example", ""),
            "energy_pj_per_instruction": float(self.energy["pj_per_instruction"]),
            "energy_basis": self.energy["basis"], "energy_source": self.energy["source"],
        }


def _need(d: dict, key: str, types, where: str):
    if key not in d:
        raise ValueError(f"{where}: missing key {key!r}")
    v = d[key]
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
        want = " or ".join(t.__name__ for t in types)
        raise ValueError(f"{where}: {key!r} must be {want}, got {type(v).__name__} {v!r}")
    return v


def _str_list(d: dict, key: str, where: str) -> list[str]:
    v = _need(d, key, list, where)
    if not all(isinstance(x, str) for x in v):
        raise ValueError(f"{where}: {key!r} must be a list of strings, got {v!r}")
    return v


def parse_profile(data: dict[str, Any], source: str = "profile") -> Profile:
    """Validate a profile dictionary (as read from TOML); ValueError names the file and the key."""
    name = _need(data, "name", str, source)
    if not name or name != name.lower() or " " in name:
        raise ValueError(f"{source}: name must be lower case without spaces, got {name!r}")
    family = _need(data, "family", str, source)
    if family not in FAMILIES:
        raise ValueError(f"{source}: family must be one of {', '.join(FAMILIES)}, got {family!r}")
    wb = _need(data, "word_bits", int, source)
    if wb not in (32, 64):
        raise ValueError(f"{source}: word_bits must be 32 or 64, got {wb}")
    comp = _need(data, "compiler", dict, source)
    for k in ("cc", "size", "size_package"):
        _need(comp, k, str, f"{source} [compiler]")
    for k in ("packages", "cflags", "ldflags"):
        _str_list(comp, k, f"{source} [compiler]")
    if "defines" in comp:
        for d in _str_list(comp, "defines", f"{source} [compiler]"):
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(=[A-Za-z0-9_.+-]*)?", d):
                raise ValueError(f"{source} [compiler]: define {d!r} is not NAME or NAME=VALUE")
    if not comp["packages"]:
        raise ValueError(f"{source} [compiler]: packages must name the Debian package that provides {comp['cc']}")
    emu = _need(data, "emulator", dict, source)
    cmd = _str_list(emu, "command", f"{source} [emulator]")
    if "{exe}" not in cmd:
        raise ValueError(f"{source} [emulator]: command must contain the placeholder '{{exe}}', got {cmd!r}")
    _str_list(emu, "packages", f"{source} [emulator]")
    t = _need(emu, "timeout_s", (int, float), f"{source} [emulator]")
    if t <= 0:
        raise ValueError(f"{source} [emulator]: timeout_s must be > 0, got {t}")
    if _need(emu, "counter", str, f"{source} [emulator]") not in COUNTERS:
        raise ValueError(f"{source} [emulator]: counter must be one of {', '.join(COUNTERS)}, got {emu['counter']!r}")
    mem = _need(data, "memory", dict, source)
    for k in ("flash_bytes", "ram_bytes"):
        if _need(mem, k, int, f"{source} [memory]") < 0:
            raise ValueError(f"{source} [memory]: {k} must be >= 0")
    if family == "cortex-m":
        for k in ("flash_origin", "ram_origin", "stack_bytes"):
            _need(mem, k, int, f"{source} [memory]")
        if mem["flash_bytes"] <= 0 or mem["ram_bytes"] <= 0:
            raise ValueError(f"{source} [memory]: a bare-metal profile needs flash_bytes and ram_bytes > 0")
    en = _need(data, "energy", dict, source)
    if _need(en, "pj_per_instruction", (int, float), f"{source} [energy]") <= 0:
        raise ValueError(f"{source} [energy]: pj_per_instruction must be > 0")
    for k in ("basis", "source"):
        if not _need(en, k, str, f"{source} [energy]").strip():
            raise ValueError(f"{source} [energy]: {k} must say where the figure comes from")
    return Profile(
        name=name, description=_need(data, "description", str, source), family=family,
        cpu=_need(data, "cpu", str, source), word_bits=wb,
        popcount_instruction=_need(data, "popcount_instruction", bool, source),
        popcount_note=_need(data, "popcount_note", str, source),
        popcount_asm=_need(data, "popcount_asm", str, source), compiler=comp, emulator=emu, memory=mem,
        energy=en, machine=data.get("machine"), source=source, raw=data)


def load_profiles() -> dict[str, Profile]:
    """Every profile shipped in ``targets/profiles/*.toml``, by name (sorted by file name)."""
    out: dict[str, Profile] = {}
    folder = resources.files("targets").joinpath("profiles")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        where = f"targets/profiles/{entry.name}"
        try:
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{where}: not valid TOML: {exc}") from None
        prof = parse_profile(data, where)
        if prof.name in out:
            raise ValueError(f"{where}: profile name {prof.name!r} is already used by {out[prof.name].source}")
        out[prof.name] = prof
    return out


def load_profile(name: str) -> Profile:
    """The profile called ``name``; ValueError lists the known names otherwise."""
    profiles = load_profiles()
    if name not in profiles:
        raise ValueError(f"unknown device profile {name!r}; known: {', '.join(sorted(profiles))}")
    return profiles[name]
