"""The one error hierarchy of patchwarden.

Each class is defined next to the code that raises it; the module is named where it is not
this one. A test keeps this tree and the classes in step.

::

    PatchwardenError              anything patchwarden raises on purpose
    ├── InputError                bad input from a person: exit code 2, nothing changed
    │   ├── ValidationFailed      one or more problems in input files (file, line, field)
    │   ├── UsageError            a bad command-line argument or option
    │   ├── PlanSchemaMismatch    domain.plan: a plan of another schema_version
    │   ├── InvalidVersion        a version string its ecosystem's tool would reject
    │   ├── UnknownEcosystem      an ecosystem name patchwarden cannot order versions of
    │   ├── InvalidRecord         feeds.osv: an OSV record that cannot be used
    │   ├── InvalidCsaf           feeds.csaf: a CSAF document that cannot be used (file, JSON path)
    │   ├── PatchOrderError       planning.order: prerequisites or patch_after cannot hold
    │   ├── NoSpareCapacity       planning.context: a pool or cluster cannot lose a member
    │   ├── NoWindowFits          planning.windows: a batch fits no maintenance window
    │   ├── EvacuationImpossible  planning.strategies.evacuate: no hypervisor takes a VM
    │   ├── ChangeNotApproved     service.change: no approved change pins the plan's hash
    │   ├── ChangeRefused         service.change: a move the change process does not allow
    │   ├── ServerRefused         service.remote: the server refused the request (a 4xx)
    │   └── AccessDenied          service.identity: unknown or wrong credentials, or a role too low
    │       ├── OutsideGrant      service.identity: acting beyond the caller's environments
    │       └── LoginThrottled    service.identity: too many failed logins; wait, then retry
    ├── StoreError                the database could not be opened or migrated
    ├── DriverError               a driver could not carry out an action
    │   ├── TransientDriverError  ... and trying again may help (timeouts, busy)
    │   ├── NeedsPerson           ... the evidence is not clear: a person decides
    │   ├── HeldPackageError      ... a target is held (apt-mark hold, dnf versionlock)
    │   └── SignatureInvalid      drivers.openpgp: a signature the given keys do not verify
    ├── CampaignFailed            the work ran and failed (exit code 1)
    ├── RunBusy                   another process drives that run (exit code 3)
    ├── AuditChainBroken          service.audit: the audit trail was tampered with (exit code 1)
    ├── ServerUnreachable         service.remote: the server could not be reached, or failed
    └── LabError                  testing.lab_image: the lab could not be built or run

Two refusals of the change process are plain ``ValueError`` subclasses, raised by layers
beneath ``service`` that know nothing of exit codes; ``service.change`` catches both and
raises :class:`ChangeRefused` instead, so a person never sees them::

    ValueError
    ├── IllegalTransition         domain.change: a move the change process forbids
    └── StaleChange               store.changes: the record moved on since it was read

Input errors are for people: each problem names where it is (file, line, field), what is
wrong, and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CampaignFailed",
    "DriverError",
    "HeldPackageError",
    "InputError",
    "InvalidVersion",
    "NeedsPerson",
    "PatchwardenError",
    "Problem",
    "RunBusy",
    "StoreError",
    "TransientDriverError",
    "UnknownEcosystem",
    "UsageError",
    "ValidationFailed",
    "read_input",
]


class PatchwardenError(Exception):
    """Base of every error patchwarden raises on purpose."""

    exit_code = 1


class InputError(PatchwardenError):
    """Bad input from a person; the command changed nothing."""

    exit_code = 2


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in an input file, located for a person to fix.

    Example:
        >>> str(Problem("inv.yaml", 12, "assets[3].memory_gb", "not a number", "write 64"))
        'inv.yaml:12: assets[3].memory_gb: not a number (hint: write 64)'
    """

    file: str
    line: int
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )
        return f"{text} (hint: {self.hint})" if self.hint else text


class ValidationFailed(InputError):
    """One or more problems found in input files."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def read_input(path: Path | str, hint: str = "check the path") -> str:
    """The text of a person's input file; an unreadable one is a problem naming the file.

    Raises:
        ValidationFailed: the file cannot be read (missing, a directory, no permission).
    """
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        reason = error.strerror or str(error)
        problem = Problem(str(path), 0, "", f"cannot read: {reason}", hint)
        raise ValidationFailed([problem]) from error


class UsageError(InputError):
    """A bad command-line argument or option."""


class InvalidVersion(InputError):
    """A version string that its ecosystem's own tool would reject.

    Example:
        >>> str(InvalidVersion("epoch must be a number", "a:1.0"))
        "epoch must be a number: 'a:1.0'"
    """

    def __init__(self, reason: str, version: str) -> None:
        self.reason = reason
        self.version = version
        super().__init__(f"{reason}: {version!r}")


class UnknownEcosystem(InputError):
    """An ecosystem name that patchwarden cannot order versions of."""

    def __init__(self, name: str, known: list[str], detail: str = "") -> None:
        self.name = name
        self.known = known
        why = f" ({detail})" if detail else ""
        super().__init__(f"unknown ecosystem {name!r}{why}; known: {', '.join(known)}")


class StoreError(PatchwardenError):
    """The database could not be opened, migrated or written."""


class DriverError(PatchwardenError):
    """A driver could not carry out an action on the outside world."""


class TransientDriverError(DriverError):
    """A driver action failed in a way that trying again may fix."""


class NeedsPerson(DriverError):
    """A step cannot decide on its own (a marginal canary): the run holds for a person."""


class HeldPackageError(DriverError):
    """A target names a package the host holds at its version; nothing was changed.

    Example:
        >>> print(HeldPackageError("web-1", ["curl"], "apt-mark hold", "`apt-mark unhold curl`"))
        web-1: refusing to change package(s) held by apt-mark hold: curl; release them with \
`apt-mark unhold curl` if the change is intended
    """

    def __init__(self, host: str, packages: list[str], how: str, release: str) -> None:
        self.host = host
        self.packages = packages
        self.how = how
        super().__init__(
            f"{host}: refusing to change package(s) held by {how}: {', '.join(packages)}; "
            f"release them with {release} if the change is intended"
        )


class CampaignFailed(PatchwardenError):
    """A campaign ran and failed (a step failed past the error budget)."""


class RunBusy(PatchwardenError):
    """Another process holds the run's lease: one runner per run (exit code 3, try later)."""

    exit_code = 3
