"""A release directory with an atomic symlink switch: ``releases/X`` and ``current`` → it.

Configuration (an application's ``driver: release_dir``)::

    driver: release_dir
    driver_config:
      root: /opt/gateway                 # holds releases/<version>/ and the `current` link
      feed: https://vendor.example/gateway/releases.json   # its release_feed channel if omitted
      restart: [systemctl, restart, gateway]
      keep: 3                            # releases kept on each host (null: keep them all)

Installing version X on a host:

1. the release feed gives X's URL and SHA-256; patchwarden downloads the tarball and
   checks the SHA-256 before anything reaches a host (a mismatch stops here);
2. unless ``releases/X`` is already complete on the host, the tarball is written there
   over the host's connection, unpacked into a temporary directory, marked complete and
   renamed to ``releases/X`` (a half-unpacked release is never ``releases/X``);
3. ``current`` is switched with ``ln -sfn releases/X .current-new`` then
   ``mv -T .current-new current``: :manpage:`rename(2)` replaces the link in one step,
   so every reader sees the old release or the new one, never none;
4. ``restart`` runs; the plan's health step then checks the service.

After a switch, old releases are pruned (:func:`releases_to_prune`): the ``keep`` most
recently unpacked stay, and never the one ``current`` points at nor the one it pointed at
before the switch (the rollback target). Pruning is cleanup: if removing a release fails,
the install stands and :attr:`ReleaseDirInstaller.prune_errors` says what was left.

Rollback is the same switch back to the version read before (its release directory is
kept), so it needs no download. Every command is an argument vector; the version is
checked to be a plain file name before it becomes part of a path.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Annotated, Self

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from patchwarden import __version__
from patchwarden.domain.assets import Application
from patchwarden.domain.channels import ChannelUrl, FeedRelease, ReleaseFeedChannel
from patchwarden.drivers.registry import DriverContext, DriverKind, DriverSpec
from patchwarden.drivers.transport import CommandResult, FileWriter, Transport
from patchwarden.errors import DriverError, TransientDriverError

__all__ = [
    "DRIVER",
    "MARKER",
    "ReleaseDirInstaller",
    "ReleaseDirSettings",
    "release_of_link",
    "releases_on_host",
    "releases_to_prune",
]

MARKER = ".patchwarden-release"
"""Written last into an unpacked release (its SHA-256): the release is complete."""

_SAFE_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+~_-]{0,127}$")
_FEED = TypeAdapter(tuple[FeedRelease, ...])


class ReleaseDirSettings(BaseModel):
    """An application's ``driver_config`` for ``driver: release_dir``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: Annotated[str, Field(pattern=r"^/.")]
    feed: ChannelUrl | None = None
    restart: tuple[str, ...] = ()
    timeout_s: Annotated[float, Field(gt=0)] = 600.0
    keep: Annotated[int, Field(ge=1)] | None = 3
    """Releases kept on each host after a switch (``current`` and the rollback target always
    are, even beyond it); ``None`` keeps every release."""

    @model_validator(mode="after")
    def _feed_known(self, info: ValidationInfo) -> Self:
        asset = (info.context or {}).get("asset")
        if self.feed is None and not isinstance(
            getattr(asset, "channel", None), ReleaseFeedChannel
        ):
            raise PydanticCustomError(
                "driver_config",
                "release_dir: needs `feed:` (a release feed URL), or a release_feed `channel:`",
                {"hint": "e.g. feed: https://vendor.example/app/releases.json"},
            )
        return self


def release_of_link(result: CommandResult) -> str | None:
    r"""The version ``current`` points at (``releases/X``); ``None`` when there is no link.

    Example:
        >>> release_of_link(CommandResult("h", ("readlink",), 0, "releases/1.4.2\n", ""))
        '1.4.2'
        >>> release_of_link(CommandResult("h", ("readlink",), 1, "", ""))
    """
    if result.exit_status != 0:
        return None
    target = result.stdout.strip().rstrip("/")
    head, _, version = target.rpartition("/")
    if head.rsplit("/", 1)[-1] != "releases" or not version:
        raise DriverError(f"{result.host}: `current` points at {target!r}, not releases/<version>")
    return version


def releases_on_host(result: CommandResult) -> list[tuple[str, float]]:
    r"""``(version, unpacked at)`` of every complete release a ``find`` listing shows.

    The listing is ``find <root>/releases -mindepth 2 -maxdepth 2 -name <MARKER>
    -printf '%h %T@\n'``: a release's marker is written last, so its time is when the
    release was unpacked, and a directory without one (an unpacking cut short) is no
    release. Entries that are not plain version names are left out (never pruned).

    Example:
        >>> out = "/o/releases/3.9.0 1700000000.5\n/o/releases/3.10.0 1700000100.0\n"
        >>> releases_on_host(CommandResult("h", ("find",), 0, out, ""))
        [('3.9.0', 1700000000.5), ('3.10.0', 1700000100.0)]
    """
    result.check()
    found = []
    for line in result.stdout.splitlines():
        path, _, stamp = line.rpartition(" ")
        version = path.rstrip("/").rpartition("/")[2]
        try:
            when = float(stamp)
        except ValueError:
            continue
        if _SAFE_VERSION.match(version):
            found.append((version, when))
    return found


def releases_to_prune(
    releases: list[tuple[str, float]], keep: int, protected: set[str]
) -> list[str]:
    """The releases to remove: all but the ``keep`` most recently unpacked, never ``protected``.

    Protected releases (``current`` and the rollback target) count toward ``keep``; ties in
    time go by name. Returned oldest first.

    Example:
        >>> rel = [("1.0", 1.0), ("1.1", 2.0), ("1.2", 3.0), ("1.3", 4.0), ("2.0", 5.0)]
        >>> releases_to_prune(rel, 3, {"2.0", "1.0"})
        ['1.1', '1.2']
        >>> releases_to_prune(rel, 1, {"1.3", "2.0"})
        ['1.0', '1.1', '1.2']
    """
    newest = sorted(releases, key=lambda r: (r[1], r[0]), reverse=True)
    kept = {v for v, _ in newest if v in protected}
    for version, _ in newest:
        if len(kept) >= keep:
            break
        kept.add(version)
    return [v for v, _ in reversed(newest) if v not in kept]


def _safe(version: str) -> str:
    if not _SAFE_VERSION.match(version):
        raise DriverError(f"version {version!r} is not a plain file name; refusing it as a path")
    return version


class ReleaseDirInstaller:
    """Installs releases of one application under ``root`` on each of its hosts."""

    def __init__(
        self,
        transport: Transport,
        settings: ReleaseDirSettings,
        feed: str,
        http: httpx.BaseTransport | None = None,
    ) -> None:
        self.transport = transport
        self.settings = settings
        self.feed = feed
        self._http = http
        self._downloads: dict[str, bytes] = {}
        self._lock = asyncio.Lock()
        self.prune_errors: dict[str, str] = {}
        """Host -> why its last pruning left releases behind (the install itself stood)."""

    @property
    def _root(self) -> str:
        return self.settings.root.rstrip("/")

    async def _run(self, host: str, argv: list[str]) -> CommandResult:
        return await self.transport.run(host, argv, timeout_s=self.settings.timeout_s)

    async def installed(self, host: str) -> str | None:
        """The release ``current`` points at."""
        return release_of_link(await self._run(host, ["readlink", f"{self._root}/current"]))

    async def install(self, host: str, version: str) -> None:
        """Put release ``version`` in place if needed, switch ``current`` to it, restart."""
        version = _safe(version)
        root, final = self._root, f"{self._root}/releases/{version}"
        before = await self.installed(host)
        present = await self._run(host, ["test", "-f", f"{final}/{MARKER}"])
        if not present.ok:
            await self._unpack(host, version, await self._download(version))
        link = f"{root}/.current-new"
        (await self._run(host, ["ln", "-sfn", f"releases/{version}", link])).check()
        (await self._run(host, ["mv", "-T", link, f"{root}/current"])).check()
        if self.settings.restart:
            (await self._run(host, list(self.settings.restart))).check()
        now = await self.installed(host)
        if now != version:
            raise DriverError(f"{host}: `current` is {now}, not {version}, after the switch")
        if self.settings.keep is not None:
            await self._prune(host, self.settings.keep, {version, *([before] if before else [])})

    async def _prune(self, host: str, keep: int, protected: set[str]) -> list[str]:
        """Remove old releases; failures are kept in :attr:`prune_errors`, not raised."""
        releases = f"{self._root}/releases"
        self.prune_errors.pop(host, None)
        try:
            listing = await self._run(host, [
                "find", releases, "-mindepth", "2", "-maxdepth", "2", "-name", MARKER,
                "-printf", "%h %T@\\n",
            ])  # fmt: skip
            gone = releases_to_prune(releases_on_host(listing), keep, protected)
            for old in gone:
                (await self._run(host, ["rm", "-rf", "--", f"{releases}/{_safe(old)}"])).check()
        except DriverError as error:
            self.prune_errors[host] = f"pruning {releases} stopped: {error}"
            return []
        return gone

    async def _unpack(self, host: str, version: str, data: bytes) -> None:
        writer = self.transport
        if not isinstance(writer, FileWriter):
            raise DriverError(f"{host}: its transport cannot write files")
        releases = f"{self._root}/releases"
        tarball, scratch = f"{releases}/.{version}.tar.gz", f"{releases}/.{version}.unpacking"
        (await self._run(host, ["mkdir", "-p", releases])).check()
        (await self._run(host, ["rm", "-rf", scratch])).check()
        (await self._run(host, ["mkdir", scratch])).check()
        await writer.write_file(host, tarball, data, timeout_s=self.settings.timeout_s)
        (await self._run(host, ["tar", "-xzf", tarball, "-C", scratch, "--no-same-owner"])).check()
        digest = hashlib.sha256(data).hexdigest()
        await writer.write_file(host, f"{scratch}/{MARKER}", f"{digest}\n".encode())
        (await self._run(host, ["rm", "-rf", f"{releases}/{version}"])).check()
        (await self._run(host, ["mv", "-T", scratch, f"{releases}/{version}"])).check()
        (await self._run(host, ["rm", "-f", tarball])).check()

    async def _download(self, version: str) -> bytes:
        """The release's tarball, its SHA-256 checked; fetched once for every host."""
        async with self._lock:
            if version not in self._downloads:
                self._downloads[version] = await asyncio.to_thread(self._fetch, version)
            return self._downloads[version]

    def _fetch(self, version: str) -> bytes:
        with httpx.Client(
            timeout=self.settings.timeout_s,
            follow_redirects=True,
            transport=self._http,
            headers={"User-Agent": f"patchwarden/{__version__}"},
        ) as client:
            feed = _get(client, self.feed)
            release = _find(feed, self.feed, version)
            url = str(httpx.URL(self.feed).join(release.url))
            data = _get(client, url)
        actual = hashlib.sha256(data).hexdigest()
        if actual != release.sha256.lower():
            raise DriverError(
                f"{url}: SHA-256 {actual} differs from the feed's {release.sha256.lower()}; "
                "nothing was installed"
            )
        return data


def _get(client: httpx.Client, url: str) -> bytes:
    try:
        response = client.get(url)
    except httpx.HTTPError as error:
        raise TransientDriverError(f"cannot download {url}: {error}") from None
    if response.status_code >= 500:
        raise TransientDriverError(f"{url} answered {response.status_code}")
    if response.status_code >= 400:
        raise DriverError(f"{url} answered {response.status_code}")
    return response.content


def _find(feed: bytes, where: str, version: str) -> FeedRelease:
    import json  # noqa: PLC0415 - only when a release is fetched

    try:
        data = json.loads(feed)
        entries = _FEED.validate_python(data.get("releases") if isinstance(data, dict) else data)
    except (ValueError, ValidationError) as error:
        raise DriverError(f"{where}: not a release feed: {str(error)[:300]}") from None
    for entry in entries:
        if entry.version == version:
            return entry
    raise DriverError(f"{where}: no release {version}")


def build_release_dir(settings: ReleaseDirSettings, context: DriverContext) -> ReleaseDirInstaller:
    """The installer of one application asset."""
    app = context.asset
    if not isinstance(app, Application):
        raise DriverError("the release_dir driver installs application assets")
    channel = app.channel
    feed = settings.feed or (channel.url if isinstance(channel, ReleaseFeedChannel) else "")
    return ReleaseDirInstaller(context.transport, settings, feed)


DRIVER = DriverSpec(
    kind=DriverKind.APP_INSTALLER,
    name="release_dir",
    config=ReleaseDirSettings,
    factory=build_release_dir,
    summary="releases/<version> directories, SHA-256 checked, `current` switched atomically",
)
"""The entry point ``app_installer.release_dir``."""
