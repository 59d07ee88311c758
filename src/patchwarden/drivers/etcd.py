"""etcd clusters: members, health, leader, raft index and leader moves, through etcd's own API.

Each cluster asset names the client URL of each of its members::

    - id: etcd-main
      kind: cluster
      software: etcd
      members: [etcd-1, etcd-2, etcd-3]
      driver: etcd
      driver_config:
        endpoints:
          etcd-1: https://10.0.0.11:2379
          etcd-2: https://10.0.0.12:2379
          etcd-3: https://10.0.0.13:2379
        ca_file: /etc/patchwarden/etcd-ca.pem

The driver speaks etcd's v3 JSON gateway (the gRPC API over HTTP, served on the client
port by etcd 3.4 and later), the same calls ``etcdctl`` makes:

- **members** ``POST /v3/cluster/member/list``: each member's id and client URLs; a member
  is matched to its asset by the URL the inventory names;
- **status** ``POST /v3/maintenance/status`` on each endpoint: its member id, the leader's
  id and its raft index (``raftAppliedIndex`` where etcd reports it);
- **health** ``GET /health``: ``true`` only while the member serves with a quorum;
- **move leader** ``POST /v3/maintenance/transfer-leadership`` on the leader, naming the new
  leader's member id (``etcdctl move-leader``); the driver then waits until every answering
  member names the new leader.

etcd has no controller that distributes patches: ``upload`` and ``distribute`` are refused
(use the ``cluster_rolling`` strategy). Responses are parsed by pure functions
(:func:`parse_members`, :func:`parse_status`, :func:`parse_health`) golden-tested on
etcd's own output.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from patchwarden.domain.assets import Cluster
from patchwarden.drivers.protocols import ClusterStatus, MemberStatus
from patchwarden.drivers.registry import DriverContext, DriverKind, DriverSpec
from patchwarden.errors import DriverError

__all__ = [
    "DRIVER",
    "EndpointStatus",
    "EtcdCluster",
    "EtcdClusters",
    "EtcdMember",
    "EtcdSettings",
    "build_etcd",
    "check_answer",
    "cluster_status",
    "parse_health",
    "parse_members",
    "parse_status",
]

_URL = r"^https?://[^\s/]+(:\d+)?/?$"


class EtcdSettings(BaseModel):
    """The ``driver_config`` of an etcd cluster.

    Attributes:
        endpoints: Each member's client URL, by member asset id (every member, no other).
        ca_file: The CA that signed the members' certificates (``https`` endpoints);
            the system's CAs when absent. Certificates are always verified.
        timeout_s: Limit of one request to one member.
        handover_timeout_s: How long a leader move may take before it counts as failed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoints: dict[str, Annotated[str, Field(pattern=_URL)]] = Field(min_length=1)
    ca_file: str | None = None
    timeout_s: float = Field(default=3.0, gt=0, le=60)
    handover_timeout_s: float = Field(default=30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _every_member(self, info: ValidationInfo) -> Self:
        """Exactly the cluster's members have an endpoint."""
        asset = (info.context or {}).get("asset")
        if isinstance(asset, Cluster):
            missing = [m for m in asset.members if m not in self.endpoints]
            strangers = [m for m in self.endpoints if m not in asset.members]
            if missing or strangers:
                what = (f"no endpoint for {', '.join(missing)}" if missing else "") + (
                    ("; " if missing and strangers else "")
                    + (f"{', '.join(strangers)} not among the members" if strangers else "")
                )
                raise PydanticCustomError(
                    "driver_config",
                    f"endpoints: {what}",
                    {"hint": "one `member-id: http(s)://address:2379` line per member"},
                )
        return self


@dataclass(frozen=True)
class EtcdMember:
    """A member as ``member/list`` reports it."""

    id: int
    name: str
    client_urls: tuple[str, ...]


@dataclass(frozen=True)
class EndpointStatus:
    """What one member says of itself (``maintenance/status``)."""

    member_id: int
    leader_id: int
    raft_index: int
    version: str


def _int(value: Any, field: str) -> int:
    # The JSON gateway writes 64-bit integers as strings; etcdctl's JSON as numbers.
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DriverError(f"etcd: {field} is not an integer: {value!r}") from None


def check_answer(data: Any, call: str) -> Mapping[str, Any]:
    """The answer as a JSON object, or a DriverError carrying etcd's own error message.

    Example:
        >>> check_answer({"error": "etcdserver: not leader", "code": 9}, "move leader")
        Traceback (most recent call last):
        ...
        patchwarden.errors.DriverError: etcd move leader: etcdserver: not leader
    """
    if not isinstance(data, Mapping):
        raise DriverError(f"etcd {call}: expected a JSON object, got {type(data).__name__}")
    if "error" in data:
        raise DriverError(f"etcd {call}: {data.get('message') or data['error']}")
    return data


def _url(url: str) -> str:
    return url.rstrip("/")


def parse_members(data: Any) -> tuple[EtcdMember, ...]:
    """The members of a ``/v3/cluster/member/list`` answer, in the order etcd lists them.

    Example:
        >>> parse_members({"members": [
        ...     {"ID": "12", "name": "m1", "clientURLs": ["http://10.0.0.1:2379/"]}]})
        (EtcdMember(id=12, name='m1', client_urls=('http://10.0.0.1:2379',)),)
    """
    body = check_answer(data, "member list")
    return tuple(
        EtcdMember(
            _int(m.get("ID"), "member ID"),
            str(m.get("name", "")),
            tuple(_url(u) for u in m.get("clientURLs") or ()),
        )
        for m in body.get("members") or ()
    )


def parse_status(data: Any) -> EndpointStatus:
    """One member's ``/v3/maintenance/status`` answer; the applied index where reported.

    Example:
        >>> parse_status({"header": {"member_id": "7"}, "leader": "9", "raftIndex": "41",
        ...               "raftAppliedIndex": "40", "version": "3.4.23"})
        EndpointStatus(member_id=7, leader_id=9, raft_index=40, version='3.4.23')
    """
    body = check_answer(data, "status")
    header = body.get("header") or {}
    index = body.get("raftAppliedIndex", body.get("raftIndex"))
    return EndpointStatus(
        _int(header.get("member_id"), "header.member_id"),
        _int(body.get("leader", 0), "leader"),
        _int(index if index is not None else 0, "raftIndex"),
        str(body.get("version", "")),
    )


def parse_health(data: Any) -> bool:
    """Whether a ``GET /health`` answer says the member serves (etcd writes a string).

    Example:
        >>> parse_health({"health": "true"}), parse_health({"health": "false"})
        (True, False)
    """
    if not isinstance(data, Mapping):
        return False
    return str(data.get("health", "")).lower() == "true"


def cluster_status(
    endpoints: Mapping[str, str],
    members: tuple[EtcdMember, ...],
    statuses: Mapping[str, EndpointStatus | None],
    health: Mapping[str, bool],
) -> ClusterStatus:
    """The cluster as patchwarden sees it, from what each member answered.

    Rules: a member is matched to its asset by the client URL the inventory names; it is
    healthy when it answered its status and ``/health`` says true; the leader is the member
    whose id the healthy members name (the one most of them name, if they disagree during
    an election), ``None`` when none names one; the quorum is a majority of etcd's own
    member list, so a member the inventory forgot still counts.

    Example:
        >>> ep = {"a": "http://a:2379", "b": "http://b:2379", "c": "http://c:2379"}
        >>> ms = tuple(EtcdMember(i, n, (ep[n],)) for i, n in ((1, "a"), (2, "b"), (3, "c")))
        >>> st = {"a": EndpointStatus(1, 2, 10, ""), "b": EndpointStatus(2, 2, 11, ""),
        ...       "c": None}
        >>> s = cluster_status(ep, ms, st, {"a": True, "b": True, "c": False})
        >>> s.leader, s.healthy, s.quorum, s.member("b").raft_index
        ('b', ('a', 'b'), 2, 11)
    """
    by_url = {_url(url): name for name, url in endpoints.items()}
    name_of: dict[int, str] = {}
    for member in members:
        for url in member.client_urls:
            if url in by_url:
                name_of[member.id] = by_url[url]
    for name, status in statuses.items():
        if status is not None:
            name_of.setdefault(status.member_id, name)
    out: list[MemberStatus] = []
    votes: dict[int, int] = {}
    for name in endpoints:
        status = statuses.get(name)
        healthy = status is not None and health.get(name, False)
        if status is not None and healthy and status.leader_id:
            votes[status.leader_id] = votes.get(status.leader_id, 0) + 1
        out.append(MemberStatus(name, healthy, status.raft_index if status else None))
    leader_id = max(votes, key=lambda k: (votes[k], -k)) if votes else None
    leader = name_of.get(leader_id) if leader_id is not None else None
    size = max(len(members), len(endpoints))
    return ClusterStatus(tuple(out), leader=leader, quorum_size=size // 2 + 1)


class EtcdCluster:
    """One etcd cluster through its members' JSON gateways.

    Args:
        cluster: The cluster's asset id.
        settings: Its endpoints and limits.
    """

    def __init__(self, cluster: str, settings: EtcdSettings) -> None:
        self.cluster = cluster
        self.settings = settings
        self.handovers: list[tuple[str, str]] = []
        """Leader moves this driver made: (from, to)."""
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """One pooled HTTP client per event loop (its connections belong to that loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            verify: Any = self.settings.ca_file or True
            self._client = httpx.AsyncClient(timeout=self.settings.timeout_s, verify=verify)
            self._loop = loop
        return self._client

    async def _call(self, member: str, path: str, body: Mapping[str, Any] | None) -> Any:
        url = _url(self.settings.endpoints[member]) + path
        try:
            if body is None:
                answer = await self.client.get(url)
            else:
                answer = await self.client.post(url, content=json.dumps(body))
            return answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise DriverError(f"{self.cluster}: {member} ({url}): {error!r}") from error

    async def _status_of(self, member: str) -> EndpointStatus | None:
        try:
            return parse_status(await self._call(member, "/v3/maintenance/status", {}))
        except DriverError:
            return None

    async def _health_of(self, member: str) -> bool:
        try:
            return parse_health(await self._call(member, "/health", None))
        except DriverError:
            return False

    async def _members(self, answering: list[str]) -> tuple[EtcdMember, ...]:
        for member in answering:
            try:
                return parse_members(await self._call(member, "/v3/cluster/member/list", {}))
            except DriverError:
                continue
        return ()

    async def status(self) -> ClusterStatus:
        """Every member asked at once; one that does not answer is unhealthy."""
        names = list(self.settings.endpoints)
        found = await asyncio.gather(*(self._status_of(n) for n in names))
        statuses = dict(zip(names, found, strict=True))
        healthy = await asyncio.gather(*(self._health_of(n) for n in names))
        health = dict(zip(names, healthy, strict=True))
        members = await self._members([n for n in names if statuses[n] is not None])
        if not members and not any(statuses.values()):
            raise DriverError(f"{self.cluster}: no member answers ({', '.join(names)})")
        return cluster_status(self.settings.endpoints, members, statuses, health)

    async def handover(self, to: str) -> None:
        """Make ``to`` the leader (``move-leader``) and wait until the members agree."""
        if to not in self.settings.endpoints:
            raise DriverError(f"{to!r} is not a member of {self.cluster!r}")
        status = await self.status()
        if status.leader == to:
            return
        if status.leader is None:
            raise DriverError(f"{self.cluster}: no leader to move leadership from")
        target = await self._status_of(to)
        if target is None or not (status.member(to) or MemberStatus(to, False)).healthy:
            raise DriverError(f"{self.cluster}: {to} is not healthy; leadership stays")
        answer = await self._call(
            status.leader,
            "/v3/maintenance/transfer-leadership",
            {"targetID": str(target.member_id)},
        )
        check_answer(answer, "move leader")
        waited, poll = 0.0, 0.1
        while (now := await self.status()).leader != to:
            if waited >= self.settings.handover_timeout_s:
                raise DriverError(
                    f"{self.cluster}: leader is {now.leader} {waited:.0f} s after moving it to {to}"
                )
            await asyncio.sleep(poll)
            waited += poll
        self.handovers.append((status.leader, to))

    async def close(self) -> None:
        """Close the pooled HTTP client (one of an ended loop is only dropped)."""
        client, loop = self._client, self._loop
        self._client = self._loop = None
        if client is not None and loop is asyncio.get_running_loop():
            await client.aclose()


@dataclass
class EtcdClusters:
    """The run's cluster driver over every etcd cluster of the inventory, by asset id."""

    clusters: dict[str, EtcdCluster]
    distributes: ClassVar[bool] = False
    """etcd has no controller that hands a patch set to its members (see ``upload``)."""

    def _one(self, cluster: str) -> EtcdCluster:
        try:
            return self.clusters[cluster]
        except KeyError:
            raise DriverError(f"no etcd cluster {cluster!r} in this inventory") from None

    async def status(self, cluster: str) -> ClusterStatus:
        """Members, health, raft indexes and leader of ``cluster``."""
        return await self._one(cluster).status()

    async def leader(self, cluster: str) -> str:
        """The member that leads now; an error while there is none (an election)."""
        leader = (await self.status(cluster)).leader
        if leader is None:
            raise DriverError(f"{cluster}: no leader (no quorum, or an election under way)")
        return leader

    async def handover(self, cluster: str, to: str) -> None:
        """Move leadership to member ``to``."""
        await self._one(cluster).handover(to)

    async def upload(self, cluster: str, packages: Mapping[str, str]) -> None:
        """Refused: etcd has no controller that distributes patches."""
        self._one(cluster)
        raise DriverError(f"{cluster}: etcd has no controller; use strategy cluster_rolling")

    async def distribute(self, cluster: str) -> dict[str, dict[str, str]]:
        """Refused: etcd has no controller that distributes patches."""
        self._one(cluster)
        raise DriverError(f"{cluster}: etcd has no controller; use strategy cluster_rolling")

    async def close(self) -> None:
        """Close every cluster's HTTP client."""
        for one in self.clusters.values():
            await one.close()

    @classmethod
    def of(cls, clusters: list[EtcdCluster]) -> EtcdClusters:
        """One driver over these clusters."""
        return cls({c.cluster: c for c in clusters})


def build_etcd(settings: EtcdSettings, context: DriverContext) -> EtcdCluster:
    """The driver of one cluster asset; :class:`EtcdClusters` gathers them."""
    if not isinstance(context.asset, Cluster):
        raise DriverError("the etcd driver drives cluster assets")
    return EtcdCluster(context.asset.id, settings)


DRIVER = DriverSpec(
    kind=DriverKind.CLUSTER,
    name="etcd",
    config=EtcdSettings,
    factory=build_etcd,
    summary="etcd v3 cluster: members, health, raft index, leader moves (JSON gateway)",
)
"""The entry point ``cluster.etcd``."""
