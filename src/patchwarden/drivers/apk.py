r"""The apk package facts of Alpine hosts: a command plus a pure parser each.

Facts (golden-tested in ``tests/golden/apk``):

- installed packages: :data:`APK_INFO` (``apk info -v``) → :func:`parse_apk_info`
- architecture: :data:`ARCH` (``apk --print-arch``)

``apk info -v`` prints ``name-version-rN`` per package. Names may hold dashes and digits
(``py3-six``, ``libcrypto3``), so the split is anchored at the end: the last two
dash-separated fields are the version and its ``-rN`` package release, the rest is the name.
Alpine has no reboot-required marker: its reboot state is unknown (``None``).

Example:
    >>> parse_apk_info("libcrypto3-3.1.4-r5\npy3-six-1.16.0-r9\n")
    {'libcrypto3': '3.1.4-r5', 'py3-six': '1.16.0-r9'}
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from patchwarden.drivers.transport import Transport
from patchwarden.errors import DriverError

__all__ = ["APK_INFO", "ARCH", "ApkDriver", "parse_apk_info", "split_apk_package"]

APK_INFO: tuple[str, ...] = ("apk", "info", "-v")
"""Every installed package as ``name-version-rN``, one per line."""

ARCH: tuple[str, ...] = ("apk", "--print-arch")

# version: starts with a digit (apk's own rule), then anything but a dash; then -rN.
_TAIL = re.compile(r"-(\d[^-]*)-r(\d+)$")


def split_apk_package(text: str) -> tuple[str, str] | None:
    """``"busybox-1.36.1-r15"`` → ``("busybox", "1.36.1-r15")``; ``None`` if not that shape.

    Example:
        >>> split_apk_package("musl-1.2.4_git20230717-r4")
        ('musl', '1.2.4_git20230717-r4')
    """
    match = _TAIL.search(text)
    if match is None or match.start() == 0:
        return None
    return text[: match.start()], f"{match.group(1)}-r{match.group(2)}"


def parse_apk_info(text: str) -> dict[str, str]:
    """Parse :data:`APK_INFO` output; warnings and unreadable lines are skipped.

    apk prints ``WARNING:`` lines (an unreachable repository cache, say) among its output
    on some versions; they are not packages.
    """
    versions: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("WARNING", "ERROR")) or " " in line:
            continue
        split = split_apk_package(line)
        if split is not None:
            versions[split[0]] = split[1]
    return versions


@dataclass
class ApkDriver:
    """Reads installed packages of Alpine hosts over a transport.

    Attributes:
        transport: Where commands run.
    """

    transport: Transport

    async def packages(self, host: str) -> dict[str, str]:
        """Every installed package of ``host``, name → version."""
        return parse_apk_info((await self.transport.run(host, APK_INFO)).check().stdout)

    async def installed(self, host: str, names: list[str]) -> dict[str, str]:
        """Installed version of each named package (absent ones omitted)."""
        versions = await self.packages(host)
        return {name: versions[name] for name in names if name in versions}

    async def arch(self, host: str) -> str:
        """The apk architecture (``x86_64``, ``aarch64``)."""
        result = await self.transport.run(host, ARCH)
        if not result.ok:
            raise DriverError(f"{host}: cannot read the architecture: {result.stderr.strip()}")
        return result.stdout.strip()
