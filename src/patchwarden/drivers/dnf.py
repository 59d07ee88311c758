"""The dnf package driver for RHEL-family hosts: exact versions by NEVRA, rollback by history.

Installed versions come from rpm (:mod:`patchwarden.drivers.rpm`, OSV style
``epoch:version-release``). Installing runs one ``dnf install -y NEVRA ...`` transaction,
which dnf turns into an install, upgrade or downgrade per package; the transaction carries a
``--comment`` naming it, so its id is read back from ``dnf history info`` for sure and
:meth:`DnfDriver.rollback` can ``dnf history undo`` it. When the history cannot undo it (the
history database is gone, the old packages are no longer in a repository dnf can see), the
rollback installs the recorded previous versions explicitly instead.

Holds are respected: a ``dnf versionlock`` entry or an ``excludepkgs`` pattern that keeps a
target from its version raises :class:`~patchwarden.errors.HeldPackageError` naming the way
to release it.

``DnfConfig.installroot`` points dnf and rpm at a root other than ``/`` (an image, a lab
root); the reboot state of such a root is read from its own rpm database by dnf's
``needs-restarting`` plugin.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from patchwarden.drivers.apt import RebootState
from patchwarden.drivers.dnf_facts import (
    TransactionInfo,
    classify_install_failure,
    history_info_command,
    history_undo_command,
    install_command,
    needs_restarting_command,
    nevra_spec,
    normalize_evr,
    parse_history_info,
    remove_command,
)
from patchwarden.drivers.dnf_holds import (
    config_dump_command,
    held_by_excludes,
    held_by_locks,
    parse_config_excludes,
    parse_versionlock_list,
    versionlock_list_command,
)
from patchwarden.drivers.restarts import (
    NEEDS_RESTARTING_SERVICES,
    NEEDS_RESTARTING_SERVICES_DNF,
    parse_services,
    restart_command,
)
from patchwarden.drivers.rpm import (
    NEEDS_RESTARTING,
    RpmDriver,
    RpmRecord,
    installed_versions,
    parse_needs_restarting,
)
from patchwarden.drivers.transport import CommandResult, Transport
from patchwarden.errors import DriverError, HeldPackageError, TransientDriverError

__all__ = ["DnfConfig", "DnfDriver", "DnfTransaction"]

# "command not found" from a shell (SSH) or from exec (the local transport).
_NOT_FOUND = 127


def _held(host: str, packages: list[str], how: str) -> HeldPackageError:
    names = " ".join(packages)
    release = (
        f"`dnf versionlock delete {names}`"
        if how == "versionlock"
        else f"removing {names} from excludepkgs in dnf.conf or the repo file"
    )
    return HeldPackageError(host, packages, how, release)


@dataclass(frozen=True)
class DnfConfig:
    """How dnf is run on a host.

    Attributes:
        installroot: Install into this root instead of ``/`` (``--installroot``).
        repos: Repository id → base URL, used instead of the configured repositories
            (``--repofrompath`` with every other repository disabled).
        setopt: dnf options set for every command (``--setopt=name=value``).
        releasever: ``--releasever``, needed where the root has no release package.
        gpgcheck: Check package signatures (``--nogpgcheck`` when false).
        timeout_s: Longest an install or a rollback may take.
    """

    installroot: str | None = None
    repos: Mapping[str, str] = field(default_factory=dict)
    setopt: Mapping[str, str] = field(default_factory=dict)
    releasever: str | None = None
    gpgcheck: bool = True
    timeout_s: float = 1800.0

    def __post_init__(self) -> None:
        for name in (*self.repos, *self.setopt):
            if not name or not all(c.isalnum() or c in "_.-" for c in name) or name[0] == "-":
                raise DriverError(f"invalid dnf option or repository name {name!r}")

    def options(self) -> list[str]:
        """The options every dnf command of this config starts with.

        Example:
            >>> DnfConfig(installroot="/srv/r", repos={"lab": "file:///srv/repo"}).options()
            ['--installroot=/srv/r', '--disablerepo=*', '--repofrompath=lab,file:///srv/repo', \
'--enablerepo=lab']
        """
        argv = [f"--installroot={self.installroot}"] if self.installroot else []
        if self.repos:
            argv.append("--disablerepo=*")
            for repo, url in self.repos.items():
                argv += [f"--repofrompath={repo},{url}", f"--enablerepo={repo}"]
        argv += [f"--setopt={name}={value}" for name, value in self.setopt.items()]
        if self.releasever:
            argv.append(f"--releasever={self.releasever}")
        if not self.gpgcheck:
            argv.append("--nogpgcheck")
        return argv


@dataclass(frozen=True)
class DnfTransaction:
    """One install on one host: the versions before, the targets, and dnf's transaction id.

    ``before`` omits packages that were not installed; ``transaction_id`` is ``None`` when
    nothing changed or the history could not name the transaction.
    """

    host: str
    before: dict[str, str]
    targets: dict[str, str]
    transaction_id: int | None


@dataclass
class DnfDriver:
    """:class:`~patchwarden.drivers.protocols.PackageDriver` for dnf hosts over a transport.

    Attributes:
        transport: Where commands run.
        config: How dnf is run (root, repositories, options).
        history: Every install, with the versions it replaced and its transaction id.
    """

    transport: Transport
    config: DnfConfig = field(default_factory=DnfConfig)
    history: list[DnfTransaction] = field(default_factory=list)

    async def _run(self, host: str, argv: Sequence[str]) -> CommandResult:
        return await self.transport.run(host, argv, timeout_s=self.config.timeout_s)

    async def records(self, host: str) -> list[RpmRecord]:
        """Every package rpm knows on ``host`` (in the install root, when set)."""
        return await RpmDriver(self.transport, self.config.installroot).records(host)

    async def installed(self, host: str, names: list[str]) -> dict[str, str]:
        """Installed version of each named package (absent ones omitted)."""
        versions = installed_versions(await self.records(host))
        return {name: versions[name] for name in names if name in versions}

    async def reboot_required(self, host: str) -> RebootState | None:
        """Whether ``host`` (or the install root) needs a reboot; ``None`` when unknown.

        Asks dnf's ``needs-restarting -r`` plugin first, which reads the install root's own
        rpm database, then the stand-alone ``needs-restarting`` of older yum-utils hosts.
        """
        result = await self._run(host, needs_restarting_command(self.config.options()))
        if _no_such_command(result) and self.config.installroot is None:
            result = await self._run(host, NEEDS_RESTARTING)
        if _no_such_command(result):
            return None
        return parse_needs_restarting(result.exit_status, result.stdout)

    async def services_to_restart(self, host: str) -> tuple[str, ...] | None:
        """Units whose files were updated since they started; ``None`` if unknown.

        ``needs-restarting -s`` of dnf-utils first, then dnf's own plugin.
        """
        result = await self._run(host, NEEDS_RESTARTING_SERVICES)
        if _no_such_command(result):
            result = await self._run(host, NEEDS_RESTARTING_SERVICES_DNF)
        if _no_such_command(result):
            return None
        needs = parse_services(result.exit_status, result.stdout)
        return None if needs is None else needs.services

    async def restart_services(self, host: str, units: Sequence[str]) -> None:
        """Restart ``units`` with ``systemctl restart``; DriverError names a failure."""
        (await self._run(host, restart_command(units))).check()

    async def transaction(self, host: str, ident: int | str = "last") -> TransactionInfo:
        """A transaction of the host's dnf history (``last`` by default)."""
        command = history_info_command(self.config.options(), ident)
        result = (await self._run(host, command)).check()
        return parse_history_info(result.stdout)

    async def install(self, host: str, targets: Mapping[str, str]) -> None:
        """Install exactly these versions in one dnf transaction; refuse to change holds.

        Raises:
            HeldPackageError: a version lock or an exclude keeps a target where it is.
            DriverError: dnf failed, or the host does not show the targets afterwards.
        """
        wanted = {name: normalize_evr(evr) for name, evr in targets.items()}
        records = await self.records(host)
        current = installed_versions(records)
        before = {name: current[name] for name in wanted if name in current}
        changes = {name: evr for name, evr in wanted.items() if before.get(name) != evr}
        if not changes:
            return  # check, then act: already there, and no empty transaction in the history
        arches = _arches(records)
        specs = [nevra_spec(name, evr, arches.get(name)) for name, evr in changes.items()]
        await self._refuse_holds(host, changes, arches)
        comment = f"patchwarden {uuid.uuid4()}"
        result = await self._run(host, install_command(self.config.options(), comment, specs))
        if not result.ok:
            self._raise_install_failure(host, result, changes)
        transaction_id = await self._transaction_id(host, comment)
        self.history.append(DnfTransaction(host, before, wanted, transaction_id))
        await self._verify(host, wanted, "dnf install")

    async def rollback(self, host: str, record: DnfTransaction | None = None) -> str:
        """Put back the versions an install replaced; returns ``undo`` or ``downgrade``.

        ``dnf history undo`` first, which also reverts what the transaction pulled in; when
        the history cannot undo it, the recorded versions are installed explicitly and the
        packages the install added are removed.

        Raises:
            DriverError: neither way brought the previous versions back.
        """
        record = record or next((r for r in reversed(self.history) if r.host == host), None)
        if record is None:
            raise DriverError(f"{host}: no dnf install of patchwarden's to roll back")
        if record.transaction_id is not None:
            command = history_undo_command(self.config.options(), record.transaction_id)
            undo = await self._run(host, command)
            if undo.ok and await self._at(host, record):
                return "undo"
        added = sorted(set(record.targets) - set(record.before))
        if record.before:
            await self.install(host, record.before)
        if added:
            (await self._run(host, remove_command(self.config.options(), added))).check()
        if not await self._at(host, record):
            raise DriverError(f"{host}: rollback did not restore {record.before}")
        return "downgrade"

    async def _at(self, host: str, record: DnfTransaction) -> bool:
        return await self.installed(host, list(record.targets)) == record.before

    async def _refuse_holds(
        self, host: str, changes: Mapping[str, str], arches: Mapping[str, str]
    ) -> None:
        locks = await self._run(host, versionlock_list_command(self.config.options()))
        if locks.ok:  # the plugin may not be installed: then nothing is locked
            entries = parse_versionlock_list(locks.stdout)
            locked = [
                n
                for n, evr in changes.items()
                if held_by_locks(entries, n, evr, arches.get(n, "noarch"))
            ]
            if locked:
                raise _held(host, sorted(locked), "versionlock")
        # Main and repository sections alike: a repository's excludes hide its versions too.
        dump = await self._run(host, config_dump_command(self.config.options()))
        patterns = parse_config_excludes(dump.stdout) if dump.ok else ()
        excluded = [
            n
            for n, evr in changes.items()
            if held_by_excludes(patterns, n, evr, arches.get(n, "noarch"))
        ]
        if excluded:
            raise _held(host, sorted(excluded), "excludepkgs")

    def _raise_install_failure(
        self, host: str, result: CommandResult, changes: Mapping[str, str]
    ) -> None:
        text = f"{result.stdout}\n{result.stderr}"
        why, detail = classify_install_failure(text)
        if why == "excluded":
            # Excludes the pre-check could not see (config-manager missing, say).
            held = sorted(n for n in changes if n in detail)
            raise _held(host, held or sorted(changes), "excludepkgs")
        if why == "busy":
            raise TransientDriverError(f"{host}: dnf is busy: {detail}")
        if why == "unavailable":
            raise DriverError(
                f"{host}: no repository offers {detail}; check the version and the host's "
                "repositories (`dnf --showduplicates list NAME`)"
            )
        raise DriverError(f"{host}: dnf install failed: {detail}")

    async def _transaction_id(self, host: str, comment: str) -> int | None:
        try:
            info = await self.transaction(host)
        except DriverError:
            return None  # no history to read: rollback falls back to explicit versions
        return info.id if info.comment == comment else None

    async def _verify(self, host: str, wanted: Mapping[str, str], what: str) -> None:
        got = await self.installed(host, list(wanted))
        if got != dict(wanted):
            raise DriverError(f"{host}: after {what}, installed {got}, wanted {dict(wanted)}")


def _arches(records: list[RpmRecord]) -> dict[str, str]:
    # Pin the arch only where one copy is installed; multilib names get dnf's best arch.
    seen: dict[str, set[str]] = {}
    for record in records:
        seen.setdefault(record.name, set()).add(record.arch)
    return {name: next(iter(a)) for name, a in seen.items() if len(a) == 1}


def _no_such_command(result: CommandResult) -> bool:
    text = f"{result.stdout}\n{result.stderr}"
    return result.exit_status == _NOT_FOUND or "No such command" in text
