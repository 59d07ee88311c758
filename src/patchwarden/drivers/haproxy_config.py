"""The HAProxy driver's settings: what a load balancer's ``driver_config`` may say.

:class:`HaproxySettings` is the typed configuration the driver registers (unknown keys
forbidden); it is validated when the inventory is read, against the load balancer's own
pools and the inventory's hosts, so a typo in a backend name is an input error naming the
field, not a failed step in the middle of a rollout. :class:`HaproxyConfig` is what the
driver runs with: the settings resolved against the asset (each member's backend). Every
name that later goes into a runtime-API command is checked against HAProxy's own name rules.

How to reach the runtime API, exactly one of:

- ``socket: /run/haproxy/admin.sock``: the admin socket on this machine;
- ``address: 10.0.0.5:9999``: a TCP ``stats socket ipv4@10.0.0.5:9999 level admin``;
- ``via_ssh: lb-01`` with ``socket: ...``: the socket on another host of the inventory,
  reached through that host's SSH connection (OpenSSH's stream-local forwarding).

Example:
    >>> HaproxySettings.model_validate({"address": "10.0.0.5:9999"}).address
    '10.0.0.5:9999'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from patchwarden.domain.assets import AssetBase, LoadBalancer, Pool
from patchwarden.errors import Problem, ValidationFailed

__all__ = [
    "NAME",
    "BlueGreenBackends",
    "HaproxyConfig",
    "HaproxyMetricsSettings",
    "HaproxyPool",
    "HaproxyPoolSettings",
    "HaproxySettings",
]

# HAProxy's rule for proxy and server names; nothing that could end or add a command.
NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_NAME = r"^[A-Za-z0-9_.:-]{1,64}$"
_PATH = r"^/[A-Za-z0-9_./-]*$"
_ADDRESS = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$"

HaproxyName = Annotated[str, Field(pattern=_NAME)]
AbsolutePath = Annotated[str, Field(pattern=_PATH)]


class HaproxyMetricsSettings(BaseModel):
    """Where a pool's request samples come from: HAProxy's request log, over syslog.

    ``log`` is the UDP ``host:port`` of this machine (the controller running the campaign)
    that haproxy.cfg sends its log to: ``log <host:port> local0 info`` in ``global`` and
    ``option httplog`` in the pool's frontend.

    Example:
        >>> HaproxyMetricsSettings.model_validate({"log": "127.0.0.1:5514"}).log
        '127.0.0.1:5514'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    log: Annotated[str, Field(pattern=_ADDRESS)]


class HaproxyPoolSettings(BaseModel):
    """Where one pool lives in HAProxy.

    A plain pool names its ``backend`` (default: the pool's name). A blue-green pool names
    the ``map`` file whose entry ``key`` (default: the pool's name) selects the serving
    backend, and the two backends ``blue`` / ``green`` (default: ``<pool>_blue``, ...).
    ``metrics`` says where its request samples come from (canary analysis, blue-green
    bake); without it, real runs refuse the steps that judge its traffic.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: HaproxyName | None = None
    map: AbsolutePath | None = None
    key: HaproxyName | None = None
    blue: HaproxyName | None = None
    green: HaproxyName | None = None
    metrics: HaproxyMetricsSettings | None = None


class HaproxySettings(BaseModel):
    """A load balancer's ``driver_config`` for ``driver: haproxy``.

    Attributes:
        socket: The admin-level stats socket (``stats socket ... level admin``).
        address: ``host:port`` of a TCP admin socket, instead of ``socket``.
        via_ssh: An inventory host whose SSH connection reaches ``socket``.
        pools: Each pool's backends, by pool name (only where the defaults do not fit).
        timeout_s: Limit of one runtime-API command.
        up_wait_s: How long enabling a server or switching sides waits for HAProxy's health
            checks to see the servers up.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    socket: AbsolutePath | None = None
    address: Annotated[str, Field(pattern=_ADDRESS)] | None = None
    via_ssh: str | None = None
    pools: dict[str, HaproxyPoolSettings] = Field(default_factory=dict)
    timeout_s: Annotated[float, Field(gt=0)] = 5.0
    up_wait_s: Annotated[float, Field(gt=0)] = 60.0

    @model_validator(mode="after")
    def _fits(self, info: ValidationInfo) -> Self:
        """One way to the runtime API; pools and hosts that exist in the inventory."""
        if self.via_ssh is not None and self.socket is None:
            raise PydanticCustomError(
                "driver_config",
                "via_ssh: needs `socket:`, the socket's path on that host",
                {"hint": "e.g. socket: /run/haproxy/admin.sock"},
            )
        if self.socket is None and self.address is None:
            raise PydanticCustomError(
                "driver_config",
                "missing `socket:` or `address:`: how to reach HAProxy's runtime API",
                {"hint": "socket: /run/haproxy/admin.sock (the `stats socket` of haproxy.cfg)"},
            )
        if self.socket is not None and self.address is not None:
            raise PydanticCustomError(
                "driver_config",
                "`socket:` and `address:` both given",
                {"hint": "keep the one HAProxy's `stats socket` line names"},
            )
        context = info.context or {}
        issues = self._host_issues(context.get("assets") or {})
        asset = context.get("asset")
        if isinstance(asset, LoadBalancer):
            issues += _pool_issues(asset, self.pools)
        if issues:
            message, hint = issues[0]
            more = "; ".join(m for m, _ in issues[1:])
            raise PydanticCustomError(
                "driver_config", message + (f"; {more}" if more else ""), {"hint": hint}
            )
        return self

    def _host_issues(self, assets: Mapping[str, AssetBase]) -> list[tuple[str, str]]:
        if self.via_ssh is None:
            return []
        host = assets.get(self.via_ssh)
        if assets and host is None:
            return [(f"via_ssh: no asset {self.via_ssh!r} in the inventory", "name the LB host")]
        if host is not None and (host.connection is None or host.connection.transport != "ssh"):
            return [(f"via_ssh: {self.via_ssh!r} has no SSH connection", "add `connection:`")]
        return []


def _pool_issues(
    lb: LoadBalancer, settings: Mapping[str, HaproxyPoolSettings]
) -> list[tuple[str, str]]:
    known = {p.name: p for p in lb.pools}
    issues = [
        (f"pools.{name}: no such pool on this load balancer", f"pools: {', '.join(sorted(known))}")
        for name in settings
        if name not in known
    ]
    logs = sorted({s.metrics.log for s in settings.values() if s.metrics is not None})
    if len(logs) > 1:
        issues.append(
            (
                f"pools: metrics.log differs between pools ({', '.join(logs)})",
                "one HAProxy sends one request log: name the same address for every pool",
            )
        )
    for pool in lb.pools:
        given = settings.get(pool.name, HaproxyPoolSettings())
        where = f"pools.{pool.name}"
        if pool.blue_green is None:
            extra = [k for k in ("map", "key", "blue", "green") if getattr(given, k) is not None]
            if extra:
                issues.append(
                    (
                        f"{where}: {', '.join(extra)} only apply to blue-green pools",
                        "a plain pool takes `backend:`",
                    )
                )
        else:
            if given.backend is not None:
                issues.append(
                    (
                        f"{where}.backend: a blue-green pool has `blue:` and `green:`",
                        "name its two backends with blue: and green:",
                    )
                )
            if given.map is None:
                issues.append(
                    (
                        f"{where}.map: a blue-green pool needs its map file (absolute)",
                        "the file of `use_backend %[str(KEY),map(FILE)]` in haproxy.cfg",
                    )
                )
        issues += [
            (
                f"{where}: member {m!r} cannot be a HAProxy server name",
                "letters, digits, '_', '.', ':' and '-'",
            )
            for m in pool.all_members()
            if not NAME.match(m)
        ]
    return issues


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
    log: str = ""
    """The UDP address its request log arrives on ("": no request samples)."""


@dataclass(frozen=True)
class HaproxyConfig:
    """A load balancer's HAProxy settings resolved against the asset: what the driver runs.

    Attributes:
        lb_id: The load balancer's inventory id.
        socket: The admin-level stats socket (``stats socket ... level admin``).
        pools: Each pool's backends.
        timeout_s: Limit of one runtime-API command.
        up_wait_s: How long enabling a server or switching sides waits for HAProxy's health
            checks to see the servers up.
        address: ``host:port`` of a TCP admin socket, when there is no ``socket``.
        via_ssh: The host whose SSH connection reaches ``socket``, if any.
    """

    lb_id: str
    socket: str
    pools: Mapping[str, HaproxyPool] = field(default_factory=dict)
    timeout_s: float = 5.0
    up_wait_s: float = 60.0
    address: str = ""
    via_ssh: str = ""

    def log_address(self) -> str:
        """Where this HAProxy's request log arrives ("" when no pool names one)."""
        return next((p.log for p in self.pools.values() if p.log), "")

    @classmethod
    def resolve(cls, lb: LoadBalancer, settings: HaproxySettings) -> HaproxyConfig:
        """Each member's backend, from validated settings and the asset's pools."""
        pools = {
            pool.name: _resolve_pool(pool, settings.pools.get(pool.name, HaproxyPoolSettings()))
            for pool in lb.pools
        }
        return cls(
            lb.id,
            settings.socket or "",
            pools,
            settings.timeout_s,
            settings.up_wait_s,
            settings.address or "",
            settings.via_ssh or "",
        )

    @classmethod
    def from_asset(cls, lb: LoadBalancer, file: str = "inventory") -> HaproxyConfig:
        """Validate ``driver_config`` against the asset's pools and resolve it.

        Raises:
            ValidationFailed: Naming each bad field, with a hint.
        """
        try:
            settings = HaproxySettings.model_validate(lb.driver_config, context={"asset": lb})
        except ValidationError as error:
            raise ValidationFailed([_problem(lb, file, e) for e in error.errors()]) from None
        return cls.resolve(lb, settings)


def _problem(lb: LoadBalancer, file: str, error: Any) -> Problem:
    where = ".".join(str(p) for p in ("driver_config", *error["loc"]))
    hint = str((error.get("ctx") or {}).get("hint", ""))
    return Problem(file, 0, f"assets[{lb.id}].{where}", error["msg"], hint)


def _resolve_pool(pool: Pool, given: HaproxyPoolSettings) -> HaproxyPool:
    log = given.metrics.log if given.metrics is not None else ""
    if pool.blue_green is None:
        members = dict.fromkeys(pool.members, given.backend or pool.name)
        return HaproxyPool(pool.name, members, log=log)
    bg = BlueGreenBackends(
        given.map or "/",
        given.key or pool.name,
        given.blue or f"{pool.name}_blue",
        given.green or f"{pool.name}_green",
    )
    members = dict.fromkeys(pool.members, bg.blue)
    members |= dict.fromkeys(pool.blue_green.blue, bg.blue)
    members |= dict.fromkeys(pool.blue_green.green, bg.green)
    return HaproxyPool(pool.name, members, bg, log)
