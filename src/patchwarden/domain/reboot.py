"""Which package updates take effect only after a reboot: one list for assessment and planning.

The risk of patching (``assess/risk.py``) counts a reboot, and the plan (``planning/plan.py``)
installs such packages last and reboots once after them. Both read these patterns, so a package
that costs reboot points is also the one the plan reboots for.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

__all__ = ["REBOOT_PACKAGES", "is_reboot_package"]

REBOOT_PACKAGES: tuple[str, ...] = (
    "linux-image-*",
    "linux-generic*",
    "kernel",
    "kernel-*",
    "libc6",
    "glibc",
    "systemd",
    "*firmware*",
    "*microcode*",
    "qemu-system-*",
    "qemu-kvm",
)
"""Shell-style name patterns (kernel, C library, init, firmware, hypervisor emulator)."""


def is_reboot_package(name: str, patterns: Iterable[str] = REBOOT_PACKAGES) -> bool:
    """Whether installing ``name`` needs a reboot to take effect.

    Patterns match the whole name, so ``libc6`` does and ``libc6-dev`` (headers) does not.

    >>> [is_reboot_package(n) for n in ("linux-image-6.1.0-18-amd64", "libc6", "libc6-dev")]
    [True, True, False]
    >>> [is_reboot_package(n) for n in ("intel-microcode", "linux-firmware", "openssh-server")]
    [True, True, False]
    >>> is_reboot_package("nginx", patterns=("nginx*",))
    True
    """
    return any(fnmatchcase(name, pattern) for pattern in patterns)
