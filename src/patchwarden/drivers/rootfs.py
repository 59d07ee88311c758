"""Images as root trees, patched offline with apt in a chroot; instances replaced from them.

An image asset with ``driver: rootfs`` keeps its versions in ``store``: each version is
``store/<n>/root`` (a Debian root tree) with ``store/<n>/packages.json`` (its package list,
read from the tree's own dpkg database, as a scan of a host reads it); ``store/latest``
names the newest; ``store/instances/<instance>`` records the version each instance runs.

- **Build**: the newest version is copied to a new one, ``apt-get install name=version ...``
  runs inside it through ``chroot`` (argument vectors, never a shell), the package list is
  read back, and the new version becomes ``latest`` only when every package is at its
  wanted version. A build whose packages the newest version already has is that version
  (check, then act). Older versions stay: rollback replaces instances from them.
- **Test**: the ``test`` commands run inside the version's tree through ``chroot``; every
  one must exit 0 (for example ``dpkg --audit`` and the service's own self-check). With
  ``boot``, a test instance is then booted from the tree (``boot.launch``, ``{root}`` and
  ``{version}`` filled in; it exits 0 once the instance is started), its ``boot.health``
  checks (HTTP or TCP, from where patchwarden runs) must pass over the network, and
  ``boot.stop`` removes it, pass or fail. A version that fails stops the run before any
  instance is replaced.
- **Replace**: the ``launch`` command, run where patchwarden runs, re-creates the instance
  from a tree (``{instance}`` and ``{root}`` in its arguments are filled in); it exits 0 once
  the new instance serves. Then the instance is recorded on that version.

Example:
    >>> RootfsSettings.model_validate({
    ...     "store": "/srv/images/web",
    ...     "launch": ["/usr/local/bin/relaunch", "{instance}", "{root}"],
    ... }).launch[1]
    '{instance}'
    >>> fill(["relaunch", "{instance}", "--from={root}"], instance="web-1", root="/srv/x")
    ['relaunch', 'web-1', '--from=/srv/x']
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from patchwarden.domain.assets import HealthCheck, Image
from patchwarden.drivers.health import CheckRunner
from patchwarden.drivers.protocols import HealthResult
from patchwarden.drivers.registry import DriverContext, DriverKind, DriverSpec
from patchwarden.drivers.transport import CommandResult, LocalTransport, Transport
from patchwarden.errors import DriverError

__all__ = [
    "DRIVER",
    "RootfsBoot",
    "RootfsImage",
    "RootfsImages",
    "RootfsSettings",
    "build_rootfs",
    "fill",
    "parse_dpkg_list",
]

_PATH = r"^/[A-Za-z0-9_./-]*$"
_VERSION = re.compile(r"^[0-9]{1,9}$")
_APT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "DEBIAN_FRONTEND": "noninteractive",
}
# Where the image's commands run: the machine running the campaign.
_HERE = "controller"


class RootfsBoot(BaseModel):
    """``driver_config.boot``: a test instance booted from a new version, checked, removed.

    Attributes:
        launch: Boots a test instance from ``{root}`` (version ``{version}``); exits 0 once
            it is started.
        stop: Removes the test instance (run whether its checks passed or not).
        health: What the test instance must pass: HTTP or TCP checks from here.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    launch: tuple[str, ...] = Field(min_length=1)
    stop: tuple[str, ...] = Field(min_length=1)
    health: tuple[HealthCheck, ...] = Field(min_length=1)

    @field_validator("health")
    @classmethod
    def _over_the_network(cls, checks: tuple[HealthCheck, ...]) -> tuple[HealthCheck, ...]:
        if any(c.type == "command" for c in checks):
            raise ValueError("a test instance is checked over the network: use http or tcp")
        return checks


class RootfsSettings(BaseModel):
    """``driver_config`` of an image with ``driver: rootfs``.

    Attributes:
        store: Where the image's versions and its instances' records live.
        launch: Re-creates an instance from a tree: ``{instance}`` and ``{root}`` are filled in.
        test: Commands run inside a new version's tree; each must exit 0.
        build_timeout_s: How long apt may take inside the tree.
        launch_timeout_s: How long an instance may take to come back.
        boot: A test instance booted from each new version before any instance is replaced.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    store: Annotated[str, Field(pattern=_PATH)]
    launch: tuple[str, ...] = Field(min_length=1)
    test: tuple[tuple[str, ...], ...] = (("dpkg", "--audit"),)
    build_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 600.0
    launch_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 120.0
    boot: RootfsBoot | None = None


def fill(argv: Sequence[str], **values: str) -> list[str]:
    """``argv`` with ``{name}`` replaced in each argument (no shell, no splitting)."""
    out = []
    for arg in argv:
        for name, value in values.items():
            arg = arg.replace("{" + name + "}", value)
        out.append(arg)
    return out


def parse_dpkg_list(text: str) -> dict[str, str]:
    r"""``dpkg-query -W -f '${Package} ${Version} ${db:Status-Status}\n'`` → installed versions.

    Example:
        >>> parse_dpkg_list("pw-web 1.0-2 installed\npw-old 0.9 config-files\n")
        {'pw-web': '1.0-2'}
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and words[2] == "installed":
            out[words[0]] = words[1]
    return out


@dataclass(frozen=True)
class RootfsImage:
    """One image's store on the machine running patchwarden; commands through ``runner``."""

    id: str
    settings: RootfsSettings
    runner: Transport

    def _path(self, *parts: str) -> str:
        return "/".join((self.settings.store, *parts))

    async def _run(self, argv: Sequence[str], timeout_s: float = 60.0) -> CommandResult:
        return await self.runner.run(_HERE, list(argv), timeout_s=timeout_s)

    async def _read(self, *parts: str) -> str | None:
        try:
            return Path(self._path(*parts)).read_text().strip()
        except OSError:
            return None

    async def _write(self, text: str, *parts: str) -> None:
        path = Path(self._path(*parts))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".new")
        partial.write_text(text)
        partial.replace(path)  # atomic: a crash leaves the old record or the new one

    async def latest(self) -> str:
        """The newest version."""
        version = await self._read("latest")
        if version is None or not _VERSION.match(version):
            raise DriverError(f"image {self.id}: no versions in {self.settings.store}")
        return version

    async def packages(self, version: str) -> dict[str, str]:
        """The package list recorded for ``version`` (read from its tree if not recorded)."""
        recorded = await self._read(version, "packages.json")
        if recorded is not None:
            return {str(k): str(v) for k, v in json.loads(recorded).items()}
        return await self._scan(version)

    async def _scan(self, version: str) -> dict[str, str]:
        argv = ["dpkg-query", f"--admindir={self._path(version, 'root', 'var/lib/dpkg')}",
                "-W", "-f", "${Package} ${Version} ${db:Status-Status}\\n"]  # fmt: skip
        return parse_dpkg_list((await self._run(argv)).check().stdout)

    async def build(self, packages: Mapping[str, str]) -> str:
        """A version with ``packages`` installed: the newest if it has them, else a new one."""
        base = await self.latest()
        has = await self.packages(base)
        if all(has.get(n) == v for n, v in packages.items()):
            return base
        version = str(int(base) + 1)
        partial = self._path(f"{version}.partial")
        await self._run(["rm", "-rf", partial])
        (await self._run(["mkdir", "-p", partial])).check()
        copy = ["cp", "-a", self._path(base, "root"), f"{partial}/root"]
        (await self._run(copy, self.settings.build_timeout_s)).check()
        root = f"{partial}/root"
        timeout = self.settings.build_timeout_s
        update = ["env", "-i", *(f"{k}={v}" for k, v in _APT_ENV.items()),
                  "chroot", root, "apt-get", "update", "-q"]  # fmt: skip
        (await self._run(update, timeout)).check()
        targets = [f"{name}={wanted}" for name, wanted in packages.items()]
        install = ["env", "-i", *(f"{k}={v}" for k, v in _APT_ENV.items()),
                   "chroot", root, "apt-get", "install", "-y", "-q",
                   "--allow-downgrades", *targets]  # fmt: skip
        done = await self._run(install, timeout)
        if not done.ok:
            await self._run(["rm", "-rf", partial])
            raise DriverError(f"image {self.id}: apt-get install in the new tree failed: "
                              f"{(done.stderr or done.stdout).strip()[-800:]}")  # fmt: skip
        await self._run(["env", "-i", *(f"{k}={v}" for k, v in _APT_ENV.items()),
                         "chroot", root, "apt-get", "clean"])  # fmt: skip
        argv = ["dpkg-query", f"--admindir={root}/var/lib/dpkg",
                "-W", "-f", "${Package} ${Version} ${db:Status-Status}\\n"]  # fmt: skip
        listed = parse_dpkg_list((await self._run(argv)).check().stdout)
        wrong = {n: listed.get(n, "(absent)") for n, v in packages.items() if listed.get(n) != v}
        if wrong:
            await self._run(["rm", "-rf", partial])
            raise DriverError(f"image {self.id}: after install, versions differ: {wrong}")
        await self._write(json.dumps(listed, sort_keys=True), f"{version}.partial", "packages.json")
        (await self._run(["mv", "-T", partial, self._path(version)])).check()
        await self._write(f"{version}\n", "latest")
        return version

    async def boot_test(self, version: str) -> HealthResult:
        """Run the ``test`` commands inside the version's tree, then boot and check it."""
        root = self._path(version, "root")
        for argv in self.settings.test:
            done = await self._run(["chroot", root, *argv], self.settings.launch_timeout_s)
            if not done.ok:
                why = (done.stderr or done.stdout).strip()[-400:]
                return HealthResult(False, f"{' '.join(argv)} exited {done.exit_status}: {why}")
        tested = f"{len(self.settings.test)} test(s) passed in version {version}"
        boot = self.settings.boot
        if boot is None:
            return HealthResult(True, tested)
        timeout = self.settings.launch_timeout_s
        launched = await self._run(fill(boot.launch, root=root, version=version), timeout)
        try:
            if not launched.ok:
                why = (launched.stderr or launched.stdout).strip()[-400:]
                status = launched.exit_status
                return HealthResult(
                    False,
                    f"the test instance of version {version} did not start (exit {status}): {why}",
                )
            checked = await CheckRunner({"boot": boot.health}, None).check("boot")
        finally:
            stopped = await self._run(fill(boot.stop, root=root, version=version), timeout)
        if not stopped.ok:
            why = (stopped.stderr or stopped.stdout).strip()[-400:]
            raise DriverError(f"image {self.id}: removing the test instance of version "
                              f"{version} failed: {why}")  # fmt: skip
        if not checked.ok:
            return HealthResult(False, f"the test instance of version {version}: {checked.detail}")
        return HealthResult(
            True, f"{tested}; its test instance booted and passed: {checked.detail}"
        )

    async def image_of(self, instance: str) -> str:
        """The version ``instance`` was last created from."""
        version = await self._read("instances", instance)
        if version is None:
            raise DriverError(
                f"image {self.id}: no record of instance {instance} in {self.settings.store}"
            )
        return version

    async def replace(self, instance: str, version: str) -> None:
        """Re-create ``instance`` from ``version`` with the ``launch`` command, then record it."""
        if not _VERSION.match(version) or await self._read(version, "packages.json") is None:
            raise DriverError(f"image {self.id}: no version {version!r} to launch from")
        argv = fill(self.settings.launch, instance=instance, root=self._path(version, "root"))
        done = await self._run(argv, self.settings.launch_timeout_s)
        if not done.ok:
            raise DriverError(f"image {self.id}: launching {instance} from version {version} "
                              f"failed: {(done.stderr or done.stdout).strip()[-400:]}")  # fmt: skip
        await self._write(f"{version}\n", "instances", instance)


class RootfsImages:
    """The engine's image driver over every ``rootfs`` image, and their instances."""

    def __init__(
        self,
        images: Mapping[str, RootfsImage],
        instances: Mapping[str, str],
        connections: Transport | None = None,
    ) -> None:
        self.images = dict(images)
        self.instances = dict(instances)
        """Instance id → its image id (the inventory's ``vm.image``)."""
        self.connections = connections
        """The instances' connections, dropped when an instance is replaced."""

    def _image(self, image: str) -> RootfsImage:
        try:
            return self.images[image]
        except KeyError:
            raise DriverError(f"{image} is not a rootfs image") from None

    def _of(self, instance: str) -> RootfsImage:
        image = self.instances.get(instance)
        if image is None:
            raise DriverError(f"{instance} is not an instance of a rootfs image")
        return self._image(image)

    @staticmethod
    def _split(image_version: str) -> tuple[str, str]:
        image, _, version = image_version.rpartition("@")
        if not image:
            raise DriverError(f"{image_version!r} is not IMAGE@VERSION")
        return image, version

    async def build(self, image: str, packages: Mapping[str, str]) -> str:
        """Patch the image offline; returns ``image@version``."""
        return f"{image}@{await self._image(image).build(packages)}"

    async def latest(self, image: str) -> str:
        """``image@version`` of the newest version."""
        return f"{image}@{await self._image(image).latest()}"

    async def image_of(self, instance: str) -> str:
        """``image@version`` the instance runs."""
        image = self._of(instance)
        return f"{image.id}@{await image.image_of(instance)}"

    async def boot_test(self, image_version: str) -> HealthResult:
        """Test the version's tree."""
        image, version = self._split(image_version)
        return await self._image(image).boot_test(version)

    async def replace(self, instance: str, image_version: str) -> None:
        """Re-create the instance from ``image@version``."""
        image, version = self._split(image_version)
        if self.instances.get(instance) != image:
            raise DriverError(f"{instance} is not an instance of image {image}")
        await self._image(image).replace(instance, version)
        if self.connections is not None:  # the old instance's pooled connection went with it
            with contextlib.suppress(DriverError):
                await self.connections.disconnect(instance)

    async def packages(self, image_version: str) -> dict[str, Any]:
        """The package list of ``image@version``."""
        image, version = self._split(image_version)
        return await self._image(image).packages(version)


def build_rootfs(settings: RootfsSettings, context: DriverContext) -> RootfsImage:
    """The driver of one image asset; :class:`RootfsImages` gathers them."""
    if not isinstance(context.asset, Image):
        raise DriverError("the rootfs driver drives image assets")
    return RootfsImage(context.asset.id, settings, LocalTransport())


DRIVER = DriverSpec(
    kind=DriverKind.IMAGE,
    name="rootfs",
    config=RootfsSettings,
    factory=build_rootfs,
    summary="Debian root trees patched offline with apt in a chroot; instances re-launched",
)
"""The entry point ``image.rootfs``."""
