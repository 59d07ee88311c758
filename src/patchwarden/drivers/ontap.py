"""NetApp ONTAP storage systems: HA takeover and giveback, and node software, over ONTAP's REST API.

A storage system asset is one ONTAP cluster; its parts are the cluster's nodes (``type:
controller``), each part's ``redundancy_group`` its HA pair::

    - id: san-01
      kind: storage_system
      vendor: netapp
      hosts: [db-01, db-02]          # reach its LUNs through multipath
      parts:
        - {id: san-01-a, type: controller, firmware: 9.13.1P4, redundancy_group: ha1}
        - {id: san-01-b, type: controller, firmware: 9.13.1P4, redundancy_group: ha1}
      driver: ontap
      driver_config:
        address: cluster1.example.com          # the cluster management interface
        username: patchwarden
        password_env: PATCHWARDEN_ONTAP_PASSWORD   # or password_file: /etc/patchwarden/ontap
        nodes: {san-01-a: cluster1-01, san-01-b: cluster1-02}   # part -> node name
        package_url: https://repo.example.com/ontap/{version}_q_image.tgz

The inventory names where the password is (an environment variable or a file), never the
password; it is read when the first request is sent and never logged. TLS certificates are
verified (``ca_file`` names a private CA); ``verify_tls: false`` exists for lab arrays with
self-signed certificates and says so in every error.

What the driver calls, as ONTAP's REST API documents it:

- ``GET /api/cluster``: the cluster's name and ONTAP release (``version.full``);
- ``GET /api/cluster/nodes?fields=name,uuid,state,version,ha``: every node's state
  (``up``, ``booting``, ``down``, ``taken_over``, ``waiting_for_giveback``, ``degraded``,
  ``unknown``), its HA partner, its takeover and giveback states and its release;
- **taking a node's path out** is a storage failover takeover *of* that node by its HA
  partner. ``/api/cluster/nodes`` has no takeover action (it has ``giveback``, and
  ``reboot``/``shutdown``, which take over only as a side effect), so the driver runs
  ``storage failover takeover -ofnode NODE`` through ONTAP's documented CLI passthrough
  ``POST /api/private/cli/storage/failover/takeover``; refused unless both nodes are ``up``
  and the partner reports takeover possible (``not_attempted``);
- **bringing it back** is ``PATCH /api/cluster/nodes/{partner}?action=giveback`` on the
  partner holding its storage, once the node waits for giveback; the answer is a job,
  polled on ``GET /api/cluster/jobs/{uuid}`` until ``success`` or ``failure``;
- **software** of a node is its ONTAP release; a node is updated only while taken over
  (never one that serves I/O), with ``system node image update -node NODE -package URL
  -setdefault true`` through ``POST /api/private/cli/system/node/image/update``.

Errors come back as ONTAP's ``{"error": {"message", "code"}}``, raised as a DriverError
carrying ONTAP's own message. Responses are read by pure functions (:func:`parse_cluster`,
:func:`parse_nodes`, :func:`parse_job`, :func:`release_of`) golden-tested on the JSON
ONTAP's documentation shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from patchwarden.domain.assets import StorageSystem
from patchwarden.drivers.registry import DriverContext, DriverKind, DriverSpec
from patchwarden.errors import DriverError

__all__ = [
    "DRIVER",
    "OntapCluster",
    "OntapClusterInfo",
    "OntapJob",
    "OntapNode",
    "OntapSettings",
    "OntapSystems",
    "build_ontap",
    "check_answer",
    "parse_cluster",
    "parse_job",
    "parse_nodes",
    "release_of",
]

_ADDRESS = r"^(https://)?[A-Za-z0-9.\-]+(:\d{1,5})?/?$|^(https://)?\[[0-9A-Fa-f:.]+\](:\d{1,5})?/?$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"
_NODE_FIELDS = "name,uuid,state,version,ha"
_SERVING = "up"
_OUT = frozenset({"taken_over", "waiting_for_giveback"})


class OntapSettings(BaseModel):
    """The ``driver_config`` of an ONTAP storage system.

    Attributes:
        address: The cluster management interface (``host``, ``host:port``, ``https://host``).
        username: The ONTAP account (a role allowed ``storage failover`` and ``system node
            image``).
        password_env: The environment variable holding its password.
        password_file: Or a file holding it (its first line).
        ca_file: The CA that signed the cluster's certificate; the system's when absent.
        verify_tls: Verify the certificate (the default); ``false`` only for lab arrays.
        nodes: Part id → ONTAP node name, for parts not named as their node.
        package_url: Where a node's software image is, ``{version}`` standing for the
            release (``https://repo/ontap/{version}_q_image.tgz``); needed to update one.
        timeout_s: Limit of one request.
        failover_timeout_s: How long a takeover or a giveback may take.
        poll_s: Pause between two reads while one runs.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str = Field(pattern=_ADDRESS)
    username: str = Field(min_length=1)
    password_env: str | None = Field(default=None, pattern=_ENV)
    password_file: str | None = None
    ca_file: str | None = None
    verify_tls: bool = True
    nodes: dict[str, str] = Field(default_factory=dict)
    package_url: str | None = Field(default=None, pattern=r"^https?://\S*\{version\}\S*$")
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    failover_timeout_s: float = Field(default=1200.0, gt=0, le=7200)
    poll_s: float = Field(default=5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _credentials_and_parts(self, info: ValidationInfo) -> Self:
        """One place for the password; nodes name the system's controller parts."""
        if (self.password_env is None) == (self.password_file is None):
            raise PydanticCustomError(
                "driver_config",
                "name exactly one of password_env, password_file",
                {"hint": "password_env: VARIABLE (or password_file: PATH); never the password"},
            )
        asset = (info.context or {}).get("asset")
        if isinstance(asset, StorageSystem):
            others = [p.id for p in asset.parts if p.type != "controller"]
            if others:
                raise PydanticCustomError(
                    "driver_config",
                    f"an ONTAP cluster's parts are its nodes; {', '.join(others)} "
                    "are not controllers",
                    {"hint": "describe switches and HBAs as a storage system of their own"},
                )
            strangers = sorted(set(self.nodes) - {p.id for p in asset.parts})
            if strangers:
                raise PydanticCustomError(
                    "driver_config",
                    f"nodes: {', '.join(strangers)} not among the parts",
                    {"hint": "one `part-id: node-name` line per part named differently"},
                )
        return self

    def base_url(self) -> str:
        """``https://address`` (the API is served over HTTPS only)."""
        address = self.address.rstrip("/")
        return address if address.startswith("https://") else f"https://{address}"


@dataclass(frozen=True)
class OntapClusterInfo:
    """``GET /api/cluster``: its name, uuid and ONTAP release."""

    name: str
    uuid: str
    release: str


@dataclass(frozen=True)
class OntapNode:
    """One node of ``GET /api/cluster/nodes?fields=name,uuid,state,version,ha``.

    Attributes:
        name: The node's name.
        uuid: What the API addresses it by.
        state: ``up``, ``booting``, ``down``, ``taken_over``, ``waiting_for_giveback``,
            ``degraded`` or ``unknown``.
        partners: Its HA partners' names.
        ha_enabled: Storage failover is enabled.
        takeover: Its takeover state: ``not_attempted`` (possible), ``not_possible``,
            ``in_progress``, ``in_takeover`` (it holds its partner's storage), ``failed``.
        giveback: Its giveback state: ``nothing_to_giveback``, ``not_attempted``,
            ``in_progress``, ``failed``.
        failure: ONTAP's message when a takeover or giveback is not possible or failed.
        release: Its ONTAP release (``9.13.1P4``).
    """

    name: str
    uuid: str
    state: str
    partners: tuple[str, ...]
    ha_enabled: bool
    takeover: str
    giveback: str
    failure: str
    release: str

    @property
    def serving(self) -> bool:
        """Whether it serves its own storage (its paths carry I/O)."""
        return self.state == _SERVING


@dataclass(frozen=True)
class OntapJob:
    """``GET /api/cluster/jobs/{uuid}``: its state, ONTAP's message and code.

    States: ``queued``, ``running``, ``paused``, ``success``, ``failure``.
    """

    uuid: str
    state: str
    message: str
    code: int

    @property
    def done(self) -> bool:
        """Whether the job ended (``success`` or ``failure``)."""
        return self.state in ("success", "failure")


def check_answer(status: int, data: Any, call: str) -> Mapping[str, Any]:
    """The answer as a JSON object, or a DriverError carrying ONTAP's own error.

    Example:
        >>> check_answer(200, {"name": "cluster1"}, "GET /api/cluster")["name"]
        'cluster1'
        >>> check_answer(400, {"error": {"message": "entry doesn't exist", "code": "4"}}, "x")
        Traceback (most recent call last):
        ...
        patchwarden.errors.DriverError: ontap: x: entry doesn't exist (code 4)
    """
    body = data if isinstance(data, Mapping) else {}
    error = body.get("error")
    if isinstance(error, Mapping) or status >= 400:
        error = error if isinstance(error, Mapping) else {}
        message = str(error.get("message") or f"HTTP {status}")
        code = error.get("code")
        raise DriverError(f"ontap: {call}: {message}" + (f" (code {code})" if code else ""))
    if not isinstance(data, Mapping):
        raise DriverError(f"ontap: {call}: the answer is not a JSON object")
    return data


def release_of(version: Any) -> str:
    """The ONTAP release a ``version`` object names (``9.13.1P4``).

    ``full`` reads ``NetApp Release 9.13.1P4: Tue Oct 31 ...``; without it, the release is
    ``generation.major.minor``.

    Example:
        >>> release_of({"full": "NetApp Release 9.8P1: Fri Aug 19 06:39:33 UTC 2020",
        ...             "generation": 9, "major": 8, "minor": 0})
        '9.8P1'
        >>> release_of({"generation": 9, "major": 13, "minor": 1})
        '9.13.1'
        >>> release_of(None)
        ''
    """
    if not isinstance(version, Mapping):
        return ""
    full = str(version.get("full") or "")
    found = re.match(r"^NetApp Release ([^\s:]+)", full)
    if found:
        return found.group(1)
    parts = [version.get(k) for k in ("generation", "major", "minor")]
    if all(isinstance(p, int) for p in parts):
        return ".".join(str(p) for p in parts)
    return ""


def parse_cluster(data: Mapping[str, Any]) -> OntapClusterInfo:
    """``GET /api/cluster``'s name, uuid and release.

    Example:
        >>> parse_cluster({"name": "cluster1", "uuid": "4ea7a442",
        ...                "version": {"full": "NetApp Release 9.7.0: Sat Jul 20 2019"}})
        OntapClusterInfo(name='cluster1', uuid='4ea7a442', release='9.7.0')
    """
    return OntapClusterInfo(
        str(data.get("name") or ""), str(data.get("uuid") or ""), release_of(data.get("version"))
    )


def _object(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def parse_nodes(data: Mapping[str, Any]) -> tuple[OntapNode, ...]:
    """The nodes of a ``GET /api/cluster/nodes`` answer, in its order.

    Raises:
        DriverError: The answer has no ``records``, or a record no name or uuid.
    """
    records = data.get("records")
    if not isinstance(records, list):
        raise DriverError("ontap: GET /api/cluster/nodes: no records in the answer")
    nodes = []
    for record in records:
        if not isinstance(record, Mapping) or not record.get("name") or not record.get("uuid"):
            raise DriverError(f"ontap: a node record without name or uuid: {record!r}")
        ha = _object(record.get("ha"))
        takeover, giveback = _object(ha.get("takeover")), _object(ha.get("giveback"))
        failures = [
            str(f.get("message"))
            for f in (takeover.get("failure"), giveback.get("failure"))
            if isinstance(f, Mapping) and f.get("message")
        ]
        partners = tuple(
            str(p["name"])
            for p in ha.get("partners") or ()
            if isinstance(p, Mapping) and "name" in p
        )
        nodes.append(
            OntapNode(
                name=str(record["name"]),
                uuid=str(record["uuid"]),
                state=str(record.get("state") or "unknown"),
                partners=partners,
                ha_enabled=bool(ha.get("enabled", False)),
                takeover=str(takeover.get("state") or "unknown"),
                giveback=str(giveback.get("state") or "unknown"),
                failure="; ".join(failures),
                release=release_of(record.get("version")),
            )
        )
    return tuple(nodes)


def parse_job(data: Mapping[str, Any]) -> OntapJob:
    """A job's state, message and code; a 202 answer's ``{"job": {...}}`` is read too.

    Example:
        >>> parse_job({"uuid": "b5145e1d", "state": "running", "code": 0,
        ...            "message": "creating_node_backups"})
        OntapJob(uuid='b5145e1d', state='running', message='creating_node_backups', code=0)
    """
    inner = data.get("job")
    job: Mapping[str, Any] = inner if isinstance(inner, Mapping) else data
    try:
        code = int(job.get("code") or 0)
    except (TypeError, ValueError):
        code = 0
    return OntapJob(
        uuid=str(job.get("uuid") or ""),
        state=str(job.get("state") or "queued"),
        message=str(job.get("message") or ""),
        code=code,
    )


def _password(settings: OntapSettings) -> str:
    """The password from where the inventory says it is (never from the inventory)."""
    if settings.password_env is not None:
        value = os.environ.get(settings.password_env)
        if not value:
            raise DriverError(
                f"ontap {settings.address}: the environment variable {settings.password_env} "
                "holding the password is not set"
            )
        return value
    assert settings.password_file is not None
    try:
        lines = Path(settings.password_file).read_text().splitlines()
    except OSError as error:
        raise DriverError(
            f"ontap {settings.address}: cannot read the password file "
            f"{settings.password_file}: {error.strerror}"
        ) from None
    if not lines or not lines[0]:
        raise DriverError(f"ontap {settings.address}: the password file is empty")
    return lines[0]


class OntapCluster:
    """One ONTAP cluster (a storage system asset) behind the storage and firmware protocols.

    Args:
        system: The storage system's asset id.
        settings: Its ``driver_config``.
        parts: Part id → (node name, redundancy group).
        transport: An httpx transport to use instead of the network (tests).
        sleep: How to wait between two reads (the run's clock).
    """

    def __init__(
        self,
        system: str,
        settings: OntapSettings,
        parts: Mapping[str, tuple[str, str]],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Any = None,
    ) -> None:
        self.system = system
        self.settings = settings
        self.parts = dict(parts)
        self._transport = transport
        self._sleep = sleep or asyncio.sleep
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- HTTP ---------------------------------------------------------------------------

    def _verify(self) -> ssl.SSLContext | bool:
        if not self.settings.verify_tls:
            return False
        if self.settings.ca_file:
            return ssl.create_default_context(cafile=self.settings.ca_file)
        return True

    async def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is not loop:
            self._client = None  # made by an earlier event loop (a resumed run)
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.settings.base_url(),
                auth=(self.settings.username, _password(self.settings)),
                verify=self._verify(),
                timeout=self.settings.timeout_s,
                transport=self._transport,
                headers={"Accept": "application/json"},
            )
            self._loop = loop
        return self._client

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> tuple[int, Mapping[str, Any]]:
        call = f"{method} {path}"
        client = await self._http()
        try:
            response = await client.request(method, path, params=params, json=body)
        except httpx.HTTPError as error:
            where = "" if self.settings.verify_tls else " (TLS not verified: verify_tls false)"
            raise DriverError(
                f"ontap {self.settings.address}{where}: {call}: {error.__class__.__name__}: {error}"
            ) from None
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = None
        return response.status_code, check_answer(response.status_code, data, call)

    async def close(self) -> None:
        """Close the HTTP connections (a later call opens new ones)."""
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(RuntimeError):  # its loop ended: nothing left open
                await client.aclose()

    # -- reading ------------------------------------------------------------------------

    async def cluster(self) -> OntapClusterInfo:
        """The cluster's name and release."""
        _, data = await self._call("GET", "/api/cluster")
        return parse_cluster(data)

    async def nodes(self) -> dict[str, OntapNode]:
        """Every node, by name."""
        _, data = await self._call("GET", "/api/cluster/nodes", params={"fields": _NODE_FIELDS})
        return {n.name: n for n in parse_nodes(data)}

    def _node_name(self, part: str) -> str:
        if part not in self.parts:
            raise DriverError(f"{part!r} is not a part of {self.system!r}")
        return self.parts[part][0]

    async def _node(self, part: str) -> tuple[OntapNode, dict[str, OntapNode]]:
        name = self._node_name(part)
        nodes = await self.nodes()
        if name not in nodes:
            raise DriverError(f"{self.system}: the cluster has no node {name!r} (part {part})")
        return nodes[name], nodes

    def _partner(self, node: OntapNode, nodes: Mapping[str, OntapNode]) -> OntapNode:
        if not node.partners or node.partners[0] not in nodes:
            raise DriverError(f"{self.system}: node {node.name} has no HA partner to take over")
        return nodes[node.partners[0]]

    # -- StorageDriver ------------------------------------------------------------------

    async def redundancy(self, system: str, group: str) -> tuple[int, int]:
        """Parts of the HA pair ``group`` serving their own storage, and all of them."""
        self._own(system)
        members = [p for p, (_, g) in self.parts.items() if g == group]
        if not members:
            raise DriverError(f"{system} has no redundancy group {group!r}")
        nodes = await self.nodes()
        up = sum(1 for p in members if (n := nodes.get(self.parts[p][0])) and n.serving)
        return up, len(members)

    async def set_path(self, system: str, part: str, online: bool) -> None:
        """Take a node over by its partner (path out), or give its storage back (path in).

        A takeover is refused unless the node and its partner are both up and the partner
        reports takeover possible: the partner must carry the I/O. A giveback waits until
        the node is ready for it, then runs as a job and waits until the node is up.
        """
        self._own(system)
        node, nodes = await self._node(part)
        partner = self._partner(node, nodes)
        if not online:
            if node.state in _OUT:
                return
            if not node.serving or not partner.serving:
                raise DriverError(
                    f"{system}: taking {part} ({node.name}) out would leave its HA pair "
                    f"without a serving node ({node.name} {node.state}, {partner.name} "
                    f"{partner.state}): it carries the last online path"
                )
            if not partner.ha_enabled or partner.takeover != "not_attempted":
                why = partner.failure or f"takeover state {partner.takeover}"
                raise DriverError(f"{system}: {partner.name} cannot take over {node.name}: {why}")
            await self._call(
                "POST", "/api/private/cli/storage/failover/takeover", body={"ofnode": node.name}
            )
            await self._wait(part, lambda n: n.state in _OUT, "taken over")
            return
        if node.serving:
            return
        ready = await self._wait(part, lambda n: n.state in ("waiting_for_giveback", _SERVING),
                                 "ready for giveback")  # fmt: skip
        if ready.serving:
            return
        status, answer = await self._call(
            "PATCH", f"/api/cluster/nodes/{partner.uuid}", params={"action": "giveback"}
        )
        if status == 202:
            await self._job(parse_job(answer), f"giveback of {node.name}")
        await self._wait(part, lambda n: n.serving, "up after giveback")

    # -- FirmwareDriver -----------------------------------------------------------------

    async def firmware(self, target: str) -> str:
        """The ONTAP release the node of part ``target`` runs."""
        node, _ = await self._node(target)
        return node.release

    async def flash(self, target: str, version: str) -> None:
        """Install release ``version`` on the node of part ``target``, taken over only."""
        node, _ = await self._node(target)
        if node.release == version:
            return
        if node.state not in _OUT:
            raise DriverError(
                f"{self.system}: {target} ({node.name}) still carries I/O ({node.state}); "
                "take its path offline (a takeover) first"
            )
        if not self.settings.package_url:
            raise DriverError(
                f"{self.system}: no package_url in driver_config to update {node.name} from"
            )
        package = self.settings.package_url.replace("{version}", version)
        status, answer = await self._call(
            "POST",
            "/api/private/cli/system/node/image/update",
            body={"node": node.name, "package": package, "setdefault": "true"},
        )
        if status == 202:
            await self._job(parse_job(answer), f"image update of {node.name}")
        now, _ = await self._node(target)
        if now.release != version:
            raise DriverError(
                f"{self.system}: {node.name} runs {now.release} after installing {version}"
            )

    # -- waiting ------------------------------------------------------------------------

    def _own(self, system: str) -> None:
        if system != self.system:
            raise DriverError(f"{system!r} is not the ONTAP cluster {self.system!r}")

    async def _wait(self, part: str, done: Any, what: str) -> OntapNode:
        deadline = time.monotonic() + self.settings.failover_timeout_s
        while True:
            node, _ = await self._node(part)
            if done(node):
                return node
            if time.monotonic() >= deadline:
                raise DriverError(
                    f"{self.system}: {node.name} not {what} after "
                    f"{self.settings.failover_timeout_s:g}s (state {node.state})"
                )
            await self._sleep(self.settings.poll_s)

    async def _job(self, job: OntapJob, what: str) -> OntapJob:
        deadline = time.monotonic() + self.settings.failover_timeout_s
        while not job.done:
            if not job.uuid:
                raise DriverError(f"{self.system}: {what}: the answer names no job")
            if time.monotonic() >= deadline:
                raise DriverError(f"{self.system}: {what}: job {job.uuid} still {job.state}")
            await self._sleep(self.settings.poll_s)
            _, data = await self._call("GET", f"/api/cluster/jobs/{job.uuid}")
            job = parse_job(data)
        if job.state == "failure":
            raise DriverError(f"{self.system}: {what} failed: {job.message} (code {job.code})")
        return job


class OntapSystems:
    """Every ONTAP storage system of a run: the storage and firmware drivers the engine uses.

    Calls are routed by system id (storage) or part id (firmware).
    """

    def __init__(self, systems: Mapping[str, OntapCluster]) -> None:
        self.systems = dict(systems)
        self._by_part = {p: c for c in self.systems.values() for p in c.parts}

    def _system(self, system: str) -> OntapCluster:
        if system not in self.systems:
            raise DriverError(f"no ONTAP storage system {system!r} in this run")
        return self.systems[system]

    def _part(self, part: str) -> OntapCluster:
        if part not in self._by_part:
            raise DriverError(f"{part!r} is no part of an ONTAP storage system of this run")
        return self._by_part[part]

    def owns(self, target: str) -> bool:
        """Whether ``target`` is a part of one of these systems."""
        return target in self._by_part

    async def set_path(self, system: str, part: str, online: bool) -> None:
        """See :meth:`OntapCluster.set_path`."""
        await self._system(system).set_path(system, part, online)

    async def redundancy(self, system: str, group: str) -> tuple[int, int]:
        """See :meth:`OntapCluster.redundancy`."""
        return await self._system(system).redundancy(system, group)

    async def firmware(self, target: str) -> str:
        """See :meth:`OntapCluster.firmware`."""
        return await self._part(target).firmware(target)

    async def flash(self, target: str, version: str) -> None:
        """See :meth:`OntapCluster.flash`."""
        await self._part(target).flash(target, version)

    async def close(self) -> None:
        """Close every cluster's connections."""
        for cluster in self.systems.values():
            await cluster.close()


def build_ontap(settings: OntapSettings, context: DriverContext) -> OntapCluster:
    """The driver of the storage system asset the context names."""
    asset = context.asset
    if not isinstance(asset, StorageSystem):
        raise DriverError("the ontap driver drives storage systems only")
    parts = {p.id: (settings.nodes.get(p.id, p.id), p.redundancy_group) for p in asset.parts}
    return OntapCluster(asset.id, settings, parts, sleep=context.clock.sleep)


DRIVER = DriverSpec(
    DriverKind.STORAGE,
    "ontap",
    OntapSettings,
    build_ontap,
    "a NetApp ONTAP cluster through its REST API (HA takeover/giveback, node software)",
)
