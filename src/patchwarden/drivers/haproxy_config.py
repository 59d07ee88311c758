"""The HAProxy driver's settings, read from a load balancer's ``driver_config``.

Validated when the inventory is loaded (:meth:`HaproxyConfig.from_asset`), so a typo in a
backend name is an input error naming the field, not a failed step in the middle of a
rollout. Every name that later goes into a runtime-API command is checked here against
HAProxy's own name rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from patchwarden.domain.assets import LoadBalancer, Pool
from patchwarden.errors import Problem, ValidationFailed

__all__ = ["NAME", "BlueGreenBackends", "HaproxyConfig", "HaproxyPool"]

# HAProxy's rule for proxy and server names; nothing that could end or add a command.
NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(frozen=True)
class BlueGreenBackends:
    """A blue-green pool: the map entry ``key`` in ``map`` names the serving backend."""

    map: str
    key: str
    blue: str
    green: str

    def side_of(self, backend: str) -> str | None:
        """``blue``, ``green`` or ``None`` for a backend name."""
        return {self.blue: "blue", self.green: "green"}.get(backend)


@dataclass(frozen=True)
class HaproxyPool:
    """Where a pool's members live in HAProxy: ``members`` maps member id to backend."""

    name: str
    members: Mapping[str, str]
    blue_green: BlueGreenBackends | None = None


@dataclass(frozen=True)
class HaproxyConfig:
    """A load balancer's HAProxy settings, validated when the inventory is loaded.

    Attributes:
        lb_id: The load balancer's inventory id.
        socket: The admin-level stats socket (``stats socket ... level admin``).
        pools: Each pool's backends.
        timeout_s: Limit of one runtime-API command.
        up_wait_s: How long enabling a server or switching sides waits for HAProxy's health
            checks to see the servers up.
    """

    lb_id: str
    socket: str
    pools: Mapping[str, HaproxyPool] = field(default_factory=dict)
    timeout_s: float = 5.0
    up_wait_s: float = 60.0

    @classmethod
    def from_asset(cls, lb: LoadBalancer, file: str = "inventory") -> HaproxyConfig:
        """Read and check ``driver_config`` against the asset's pools.

        Raises:
            ValidationFailed: Naming each bad field, with a hint.
        """
        where = f"assets[{lb.id}].driver_config"
        problems: list[Problem] = []
        raw: dict[str, Any] = dict(lb.driver_config)
        socket = raw.pop("socket", None)
        if not isinstance(socket, str) or not PurePosixPath(socket).is_absolute():
            problems.append(
                Problem(file, 0, f"{where}.socket", "missing or not an absolute path",
                        "the path of `stats socket ... level admin` in haproxy.cfg")
            )  # fmt: skip
        timeout = raw.pop("timeout_s", 5.0)
        up_wait = raw.pop("up_wait_s", 60.0)
        for key, value in (("timeout_s", timeout), ("up_wait_s", up_wait)):
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                problems.append(Problem(file, 0, f"{where}.{key}", "must be a positive number"))
        pool_settings = raw.pop("pools", {}) or {}
        if not isinstance(pool_settings, dict):
            problems.append(Problem(file, 0, f"{where}.pools", "must be a mapping by pool name"))
            pool_settings = {}
        problems += [
            Problem(
                file,
                0,
                f"{where}.{key}",
                "unknown setting",
                "known: socket, timeout_s, up_wait_s, pools",
            )
            for key in raw
        ]
        known = {p.name for p in lb.pools}
        problems += [
            Problem(file, 0, f"{where}.pools.{name}", "no such pool on this load balancer",
                    f"pools: {', '.join(sorted(known))}")
            for name in pool_settings if name not in known
        ]  # fmt: skip
        pools = {}
        for pool in lb.pools:
            settings = pool_settings.get(pool.name) or {}
            pools[pool.name] = _pool(pool, settings, f"{where}.pools.{pool.name}", file, problems)
        if problems:
            raise ValidationFailed(problems)
        return cls(lb.id, str(socket), pools, float(timeout), float(up_wait))


def _pool(pool: Pool, settings: Any, where: str, file: str, problems: list[Problem]) -> HaproxyPool:
    if not isinstance(settings, dict):
        problems.append(Problem(file, 0, where, "must be a mapping"))
        settings = {}
    allowed = {"map", "key", "blue", "green"} if pool.blue_green else {"backend"}
    problems += [
        Problem(file, 0, f"{where}.{k}", "unknown setting", f"known: {', '.join(sorted(allowed))}")
        for k in settings if k not in allowed
    ]  # fmt: skip

    def name(key: str, default: str) -> str:
        value = settings.get(key, default)
        if not isinstance(value, str) or not NAME.match(value):
            problems.append(
                Problem(file, 0, f"{where}.{key}", f"{value!r} is not a HAProxy name",
                        "letters, digits, '_', '.', ':' and '-'")
            )  # fmt: skip
            return default
        return value

    bad_members = [m for m in pool.all_members() if not NAME.match(m)]
    problems += [
        Problem(file, 0, where, f"member {m!r} cannot be a HAProxy server name")
        for m in bad_members
    ]
    if pool.blue_green is None:
        backend = name("backend", pool.name)
        return HaproxyPool(pool.name, dict.fromkeys(pool.members, backend))
    map_path = settings.get("map")
    if not isinstance(map_path, str) or not PurePosixPath(map_path).is_absolute():
        problems.append(
            Problem(file, 0, f"{where}.map", "a blue-green pool needs its map file (absolute)",
                    "the file of `use_backend %[str(KEY),map(FILE)]` in haproxy.cfg")
        )  # fmt: skip
        map_path = "/"
    elif not re.match(r"^[A-Za-z0-9_./-]+$", map_path):
        problems.append(Problem(file, 0, f"{where}.map", "unusual characters in the map path"))
    bg = BlueGreenBackends(
        map_path,
        name("key", pool.name),
        name("blue", f"{pool.name}_blue"),
        name("green", f"{pool.name}_green"),
    )
    members = dict.fromkeys(pool.members, bg.blue)
    members |= dict.fromkeys(pool.blue_green.blue, bg.blue)
    members |= dict.fromkeys(pool.blue_green.green, bg.green)
    return HaproxyPool(pool.name, members, bg)
