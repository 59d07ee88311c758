"""Who may do what: roles, their order, and the environments a grant is limited to.

Roles are ordered; each holds every right of the ones below it::

    viewer < operator < approver < admin

* ``viewer`` reads everything it may see;
* ``operator`` also scans, plans, submits changes, applies approved ones, pauses and aborts;
* ``approver`` also approves or rejects changes (never one it requested: four eyes);
* ``admin`` also manages users and tokens.

A grant (a user's, or a token's) may be limited to some environments; an empty tuple means
all of them. A token never holds more than the user it was made for.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from patchwarden.domain.base import Value

__all__ = ["Grant", "Role", "parse_role"]


class Role(StrEnum):
    """A role; compare with :meth:`at_least` (the order is the one in the module docstring)."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Position in the order, ``viewer`` lowest.

        Example:
            >>> Role.ADMIN.rank > Role.VIEWER.rank
            True
        """
        return list(Role).index(self)

    def at_least(self, needed: Role) -> bool:
        """Whether this role holds the rights of ``needed``.

        Example:
            >>> Role.APPROVER.at_least(Role.OPERATOR), Role.OPERATOR.at_least(Role.APPROVER)
            (True, False)
        """
        return self.rank >= needed.rank


def parse_role(text: str) -> Role:
    """The role named ``text``.

    Raises:
        ValueError: no role has that name (the message lists them).

    Example:
        >>> parse_role("approver")
        <Role.APPROVER: 'approver'>
    """
    try:
        return Role(text.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"no role {text!r}; roles are {names}") from None


class Grant(Value):
    """What an authenticated identity may do: its role, limited to some environments.

    ``environments`` empty means every environment.
    """

    user: str
    role: Role
    environments: tuple[str, ...] = ()
    via: str = "session"
    """How the identity was proven: ``session``, ``token <id>`` or ``cli``."""
    expires_at: datetime | None = None

    def allows(self, needed: Role, env: str | None = None) -> bool:
        """Whether the grant covers ``needed`` (in ``env``, when an action is limited to one).

        Example:
            >>> g = Grant(user="olga", role=Role.OPERATOR, environments=("dev", "qa"))
            >>> g.allows(Role.OPERATOR, "dev"), g.allows(Role.OPERATOR, "prod")
            (True, False)
            >>> g.allows(Role.APPROVER)
            False
        """
        if not self.role.at_least(needed):
            return False
        return env is None or not self.environments or env in self.environments

    def allows_all(self, needed: Role, envs: Iterable[str]) -> bool:
        """Whether the grant covers ``needed`` in every one of ``envs``."""
        return all(self.allows(needed, env) for env in envs) and self.role.at_least(needed)
