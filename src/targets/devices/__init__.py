"""Edge devices: every profile in ``targets/profiles/*.toml`` becomes a registered :class:`Target`.

Families (one module each): ``host`` (native C), ``linux-user`` (cross-compiled, qemu-user),
``cortex-m`` (bare metal, qemu-system-arm + semihosting). Importing this package registers the targets
(``targets.registry`` imports it); ``register_devices()`` does it again explicitly.
"""
from __future__ import annotations

from targets.base import register
from targets.devices.cortex_m import CortexMTarget
from targets.devices.device import Build, DeviceTarget
from targets.devices.host import HostTarget
from targets.devices.linux_user import LinuxUserTarget
from targets.devices.profiles import Profile, load_profile, load_profiles

__all__ = ["DeviceTarget", "Build", "HostTarget", "LinuxUserTarget", "CortexMTarget", "FAMILIES",
           "device_target", "device_names", "register_devices", "Profile", "load_profile", "load_profiles",
           "measure"]

FAMILIES: dict[str, type[DeviceTarget]] = {
    "host": HostTarget, "linux-user": LinuxUserTarget, "cortex-m": CortexMTarget}


def device_target(name_or_profile: str | Profile) -> DeviceTarget:
    """The device target of a profile (or of the shipped profile with that name)."""
    prof = load_profile(name_or_profile) if isinstance(name_or_profile, str) else name_or_profile
    return FAMILIES[prof.family](prof)


def device_names() -> list[str]:
    """Names of every shipped device profile."""
    return list(load_profiles())


def register_devices() -> list[str]:
    """Register every profile with ``targets.base.register``; returns the names."""
    names = []
    for name, prof in load_profiles().items():
        register(name, lambda p=prof: FAMILIES[p.family](p))
        names.append(name)
    return names


from targets.devices.footprint import measure  # noqa: E402  (needs device_target)

register_devices()
