"""An OCI registry as an update channel, read from a real registry on loopback.

The registry is Debian's ``docker-registry`` (the CNCF distribution server, 2.8), started
by the test over a temporary folder; images are pushed to it through its upload API
(layer blob, config blob, OCI image manifest), as ``docker push`` would with no daemon.
The bearer-token flow runs against that registry configured with ``auth: token``: it
answers 401 with a ``Bearer`` challenge and checks the ES256 tokens the test's token
service signs (:mod:`patchwarden.testing.registry`).

What the real registry cannot show is covered with ``httpx.MockTransport``, and only that:
distribution 2.8 ignores ``n`` on the tag list and answers every tag in one page, so the
``Link`` pagination that distribution 3 and hosted registries send is replayed; and a
registry asking for a password (``Basic``) is refused without a request to the realm.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from patchwarden.cli.main import main
from patchwarden.domain.campaign import Campaign
from patchwarden.domain.channels import OciChannel
from patchwarden.errors import DriverError
from patchwarden.service.apply import plan_from_files
from patchwarden.service.channels import ChannelReader, check_channels
from patchwarden.service.sources import read_inventory
from patchwarden.store import open_store
from patchwarden.store.audit import AuditFilter
from patchwarden.testing.channels import ChannelServer
from patchwarden.testing.registry import OciRegistry, push_image, registry_binary

AT = "2026-12-01T10:00Z"
TAGS = ("1.0.0", "1.2.0", "latest", "1.10.0", "nightly", "1.10.0-rc.1", "v2.0.0")

needs_registry = pytest.mark.skipif(
    registry_binary() is None, reason="needs Debian's docker-registry (scripts/lab-packages.txt)"
)


@pytest.fixture(scope="module")
def registry() -> Iterator[tuple[OciRegistry, dict[str, str]]]:
    """An anonymous registry holding acme/gateway under TAGS; each tag's digest."""
    with OciRegistry.started() as started:
        digests = {tag: push_image(started, "acme/gateway", tag) for tag in TAGS}
        yield started, digests


def _inventory(tmp: Path, registry_url: str, hook_url: str = "http://127.0.0.1:9") -> Path:
    text = f"""\
environments: [dev, qa, staging, prod]
assets:
  - {{id: gw-dev-01, kind: vm, env: dev, connection: {{transport: sim}}}}
  - {{id: gw-prod-01, kind: vm, env: prod, connection: {{transport: sim}}}}
  - id: gateway
    kind: application
    env: dev
    version: "1.2.0"
    update_channel: auto
    channel: {{type: oci, registry: "{registry_url}", repository: acme/gateway}}
    runs_on: [gw-dev-01]
  - id: gateway-prod
    kind: application
    env: prod
    version: "1.2.0"
    update_channel: notify
    channel: {{type: oci, registry: "{registry_url}", repository: acme/gateway}}
    notify: {{webhook: "{hook_url}/hooks/ops"}}
    runs_on: [gw-prod-01]
  - id: gateway-edge
    kind: application
    env: prod
    version: "1.10.0"
    update_channel: manual
    channel: {{type: oci, registry: "{registry_url}", repository: acme/gateway, tag_prefix: v}}
    runs_on: [gw-prod-01]
"""
    path = tmp / "inventory.yaml"
    path.write_text(text)
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.lab
@needs_registry
def test_registry_tags_are_read_in_semver_order_and_the_newest_pinned_by_digest(
    registry: tuple[OciRegistry, dict[str, str]], tmp_path: Path
) -> None:
    server, digests = registry
    inventory = read_inventory([_inventory(tmp_path, server.url)]).inventory
    with ChannelReader() as reader:
        checks = {c.app: c for c in check_channels(inventory, reader)}
    gateway = checks["gateway"]
    assert gateway.error == ""
    # SemVer: 1.10.0 > 1.10.0-rc.1 > 1.2.0 (a string sort would not say so).
    assert [r.version for r in gateway.newer] == ["1.10.0", "1.10.0-rc.1"]
    latest = gateway.newer[0]
    assert latest.digest == digests["1.10.0"]
    assert latest.url == f"{server.url.removeprefix('http://')}/acme/gateway@{digests['1.10.0']}"
    # Tags that are not versions are left out and named; `v2.0.0` needs `tag_prefix: v`.
    assert sorted(gateway.invalid) == ["latest", "nightly", "v2.0.0"]
    # With tag_prefix v only v2.0.0 is a version; it is newer than 1.10.0.
    edge = checks["gateway-edge"]
    assert [r.version for r in edge.newer] == ["2.0.0"]
    assert edge.newer[0].digest == digests["v2.0.0"]
    assert "latest" in edge.invalid and "1.10.0" in edge.invalid


@pytest.mark.lab
@needs_registry
def test_channels_check_acts_on_each_policy_and_the_campaign_pins_the_digest(
    registry: tuple[OciRegistry, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, digests = registry
    monkeypatch.chdir(tmp_path)
    with ChannelServer(tmp_path / "www") as hooks:
        inventory = _inventory(tmp_path, server.url, hooks.url)
        code, out, err = _run(capsys, "channels", "check", "-i", str(inventory), "--at", AT)
        assert code == 0, out + err
        # The table says what it left out, and the digest it pinned.
        assert "gateway: 1.10.0 is pinned by digest " + digests["1.10.0"] in out
        assert "left out 3 tags that are not semver versions: " in out
        posts = hooks.posts
    rows = {}
    with open_store(os.environ["PATCHWARDEN_DB"]) as store:
        for e in store.audit.entries(AuditFilter(action="channel.new_version")):
            rows[e.object_id] = e.details
    assert rows["gateway"]["action"] == "campaign"
    assert rows["gateway"]["digest"] == digests["1.10.0"]
    assert rows["gateway-prod"]["action"] == "notified"
    assert (rows["gateway-edge"]["action"], rows["gateway-edge"]["version"]) == (
        "recorded",
        "2.0.0",
    )
    [(path, posted)] = posts
    assert path == "/hooks/ops"
    assert json.loads(posted)["digest"] == digests["1.10.0"]

    # auto: the campaign names the version and pins the digest; it plans the normal way.
    written = tmp_path / "channel-campaigns" / "gateway-1.10.0.yaml"
    campaign = Campaign.model_validate(yaml.safe_load(written.read_text()))
    [target] = campaign.applications
    assert (target.app, target.version, target.digest) == ("gateway", "1.10.0", digests["1.10.0"])
    with open_store(os.environ["PATCHWARDEN_DB"]) as store:
        built, _ = plan_from_files(
            store, written, [inventory], [], datetime(2026, 12, 1, 10, tzinfo=UTC)
        )
    [unit] = built.plan.units()
    patch = next(s for s in unit.steps if s.params.action == "patch")
    assert patch.params.packages == (("app:gateway", "1.10.0"),)

    # Acted on once: a second check records nothing new.
    code, out, _ = _run(capsys, "channels", "check", "-i", str(inventory), "--at", AT,
                        "--format", "json")  # fmt: skip
    assert code == 0
    assert {r["app"]: r["action"] for r in json.loads(out)} == {
        "gateway": "already_recorded", "gateway-prod": "already_recorded",
        "gateway-edge": "already_recorded",
    }  # fmt: skip


@pytest.mark.lab
@needs_registry
def test_a_moved_tag_is_pinned_by_the_digest_it_points_at_now(
    registry: tuple[OciRegistry, dict[str, str]], tmp_path: Path
) -> None:
    server, _ = registry
    push_image(server, "acme/moving", "3.0.0", "first build")
    rebuilt = push_image(server, "acme/moving", "3.0.0", "second build")
    channel = OciChannel(type="oci", registry=server.url, repository="acme/moving")
    with ChannelReader() as reader:
        assert reader.oci_digest(channel, "acme/moving", "3.0.0") == rebuilt
        with pytest.raises(DriverError, match="registry has no repository 'acme/nothing'"):
            reader.oci_tags(channel, "acme/nothing")


@pytest.mark.lab
@needs_registry
def test_a_registry_that_wants_a_token_is_read_through_the_bearer_flow(tmp_path: Path) -> None:
    with OciRegistry.started(token_auth=True) as server:
        assert server.tokens is not None
        pushed = push_image(server, "acme/gateway", "1.3.0")
        push_image(server, "acme/gateway", "latest")
        # Without a token the registry refuses: the challenge is real.
        refused = httpx.get(f"{server.url}/v2/acme/gateway/tags/list")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer realm=")
        before = len(server.tokens.requests)
        inventory = read_inventory([_inventory(tmp_path, server.url)]).inventory
        with ChannelReader() as reader:
            checks = {c.app: c for c in check_channels(inventory, reader)}
        asked = server.tokens.requests[before:]
    gateway = checks["gateway"]
    assert gateway.error == ""
    assert [r.version for r in gateway.newer] == ["1.3.0"]
    assert gateway.newer[0].digest == pushed
    assert gateway.invalid == ("latest",)
    # One pull-only token per repository, reused for the list and the manifest.
    assert asked == [{"scope": "repository:acme/gateway:pull", "service": asked[0]["service"]}]


def _paged(request: httpx.Request) -> httpx.Response:
    """A registry that pages its tag list two at a time, as distribution 3 does."""
    tags = ["0.9.0", "1.0.0", "latest", "1.1.0", "1.0.1"]
    if request.url.path.endswith("/tags/list"):
        n = int(request.url.params["n"])
        last = request.url.params.get("last")
        start = tags.index(last) + 1 if last else 0
        page = tags[start : start + n]
        headers = {}
        if start + n < len(tags):
            headers["Link"] = f'</v2/acme/gw/tags/list?last={page[-1]}&n={n}>; rel="next"'
        return httpx.Response(200, json={"name": "acme/gw", "tags": page}, headers=headers)
    assert request.method == "HEAD" and request.url.path == "/v2/acme/gw/manifests/1.1.0"
    assert "application/vnd.oci.image.index.v1+json" in request.headers["accept"]
    return httpx.Response(200, headers={"Docker-Content-Digest": "sha256:" + "a" * 64})


def test_every_page_of_a_paginated_tag_list_is_read() -> None:
    channel = OciChannel(type="oci", registry="https://r.example", repository="acme/gw",
                         page_size=2)  # fmt: skip
    with ChannelReader(transport=httpx.MockTransport(_paged)) as reader:
        assert reader.oci_tags(channel, "acme/gw") == ("0.9.0", "1.0.0", "latest", "1.1.0", "1.0.1")
        assert reader.oci_digest(channel, "acme/gw", "1.1.0") == "sha256:" + "a" * 64


def test_a_registry_that_wants_a_password_is_refused_with_the_reason() -> None:
    seen: list[str] = []

    def basic(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="registry"'})

    channel = OciChannel(type="oci", registry="https://r.example", repository="acme/gw")
    with (
        ChannelReader(transport=httpx.MockTransport(basic)) as reader,
        pytest.raises(DriverError, match=r"wants a login \(basic\)"),
    ):
        reader.oci_tags(channel, "acme/gw")
    assert seen == ["https://r.example/v2/acme/gw/tags/list?n=100"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'registry: "http://127.0.0.1:9"',
            'registry: "file:/srv/registry"',
            ":10: assets[2].channel.registry: must be the registry's http:// or https:// URL",
        ),
        (
            "repository: acme/gateway}",
            "repository: Acme/Gateway}",
            ":10: assets[2].channel.repository: String should match pattern",
        ),
        ("tag_prefix: v}", "tag_prefix: v, page_size: 0}", ":25: assets[4].channel.page_size: "),
        (
            "tag_prefix: v}",
            "tag_prefix: v, tags: all}",
            ":25: assets[4].channel.tags: unknown field (hint: known fields: page_size, registry, repository, tag_prefix, type, versions)",
        ),
    ],
)
def test_bad_oci_channels_are_refused_with_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    inventory = _inventory(tmp_path, "http://127.0.0.1:9")
    text = inventory.read_text()
    assert old in text, (old, text)
    inventory.write_text(text.replace(old, new, 1))
    code, out, err = _run(capsys, "channels", "check", "-i", str(inventory), "--at", AT)
    assert code == 2, out + err
    assert f"{inventory}:" in err and message in err, err
    assert not (tmp_path / "channel-campaigns").exists()
