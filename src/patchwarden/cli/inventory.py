"""``patchwarden inventory validate|upload|show|import|discover``."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
import yaml

from patchwarden.cli.options import SERVER_OPTION
from patchwarden.cli.rows import check_format, print_rows
from patchwarden.domain.responsibility import responsibility_of
from patchwarden.errors import InputError, UsageError
from patchwarden.service.ansible_import import import_ansible, parse_env_mapping
from patchwarden.service.discover import discover_libvirt
from patchwarden.service.remote import RemoteServer, connect
from patchwarden.service.sources import LoadedInventory, demo_inventory, read_inventory

__all__ = ["app"]

app = typer.Typer(help="Validate, show, import and discover inventories.", no_args_is_help=True)
import_app = typer.Typer(
    help="Make a patchwarden inventory from another tool's.", no_args_is_help=True
)
app.add_typer(import_app, name="import")


def _load(files: list[Path], demo: bool) -> LoadedInventory:
    return demo_inventory() if demo or not files else read_inventory(files)


@app.command("validate")
def validate(
    files: list[Path] = typer.Argument(..., help="Inventory YAML files, merged."),
) -> None:
    """Check inventory files; one line per problem with file:line: field, exit 2 on any.

    Example: patchwarden inventory validate inventory/*.yaml
    """
    loaded = read_inventory(files)
    inv = loaded.inventory
    kinds = Counter(str(a.kind) for a in inv.assets)
    parts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    typer.echo(
        f"ok: {len(inv.assets)} assets in {len(files)} file(s) "
        f"across {len(inv.environments)} environments ({parts})"
    )


@app.command("upload")
def upload(
    files: list[Path] = typer.Argument(..., help="Inventory YAML files, merged."),
    server: str | None = SERVER_OPTION,
) -> None:
    """Make these files the server's stored inventory (an operator's token).

    The server validates them as `inventory validate` does: any problem is printed as
    file:line: field, exit 2, and the stored inventory stays as it was.

    Example: PATCHWARDEN_TOKEN=pwt_... patchwarden inventory upload inventory/*.yaml --server https://patch.example.org
    """
    remote = connect(server, os.environ)
    if remote is None:
        raise UsageError(
            "inventory upload sends files to a server: give --server URL (or set "
            "PATCHWARDEN_SERVER); to check files here, run `patchwarden inventory validate`"
        )
    texts = []
    for path in files:
        try:
            texts.append((str(path), path.read_bytes()))
        except OSError as error:
            raise UsageError(f"{path}: cannot read: {error}") from error
    with remote:
        counts = remote.call("POST", "/inventory", files=texts)
        assets = remote.call("GET", "/inventory/assets")
    kinds = Counter(str(a["kind"]) for a in assets)
    parts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    typer.echo(
        f"ok: {len(assets)} assets in {len(files)} file(s) stored on {remote.url} ({parts}): "
        f"{counts['inserted']} inserted, {counts['updated']} updated, "
        f"{counts['deleted']} deleted, {counts['unchanged']} unchanged"
    )


@app.command("discover")
def discover(
    source: str = typer.Argument(..., help="What to ask; so far: libvirt."),
    uris: list[str] = typer.Argument(..., help="Its URIs, one per hypervisor."),
    env: str = typer.Option("prod", "--env", help="Environment of the assets written."),
) -> None:
    """Write the hypervisors at URIS and their running VMs as inventory YAML on stdout.

    Example: patchwarden inventory discover libvirt qemu+ssh://root@hv-01/system
    qemu+ssh://root@hv-02/system --env prod > hypervisors.yaml
    """
    if source != "libvirt":
        raise InputError(f"cannot discover from {source!r} (known: libvirt)")
    typer.echo(yaml.safe_dump(discover_libvirt(uris, env), sort_keys=False), nl=False)


@app.command("show")
def show(
    files: list[Path] = typer.Argument(
        None, help="Inventory YAML files (default: the demo estate)."
    ),
    owner: str | None = typer.Option(
        None, "--owner", help="Only assets patched by: provider or customer."
    ),
    env: str | None = typer.Option(None, "--env", help="Only this environment."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    demo: bool = typer.Option(False, "--demo", help="Show the built-in demo estate."),
    asset_id: str | None = typer.Option(None, "--asset", metavar="ID", help="Only this asset."),
    server: str | None = SERVER_OPTION,
) -> None:
    """List assets with who patches each and why (shared-responsibility model).

    With --server, the server's stored inventory (the assets of the token's environments).

    Example: patchwarden inventory show inventory.yaml --owner provider
    Example: PATCHWARDEN_TOKEN=pwt_... patchwarden inventory show --env prod --server https://patch.example.org
    """
    if owner not in (None, "provider", "customer"):
        raise typer.BadParameter("use provider or customer", param_hint="--owner")
    check_format(fmt)
    remote = connect(server, os.environ)
    if remote is not None:
        if files or demo:
            raise UsageError(
                "inventory files and --demo with --server: show lists the server's stored "
                "inventory (send files with `patchwarden inventory upload`)"
            )
        with remote:
            _show_remote(remote, owner, env, asset_id, fmt)
        return
    loaded = _load(files or [], demo)
    rows = []
    for asset in loaded.inventory.assets:
        resp = responsibility_of(asset)
        if owner and resp.owner.value != owner:
            continue
        if env and asset.env != env:
            continue
        if asset_id and asset.id != asset_id:
            continue
        rows.append(
            {
                "id": asset.id,
                "kind": str(asset.kind),
                "env": asset.env,
                "service_model": asset.service_model.value,
                "owner": resp.owner.value,
                "why": resp.reason,
                "criticality": asset.criticality.value,
                "internet_facing": asset.internet_facing,
                "source": loaded.source_of(asset.id),
            }
        )
    if asset_id and not rows:
        raise InputError(f"no asset {asset_id!r} (with these filters)")
    _render(rows, fmt)


_FIELDS = (
    "id",
    "kind",
    "env",
    "service_model",
    "owner",
    "why",
    "criticality",
    "internet_facing",
    "source",
)


def _show_remote(
    remote: RemoteServer, owner: str | None, env: str | None, asset_id: str | None, fmt: str
) -> None:
    if asset_id is not None:
        found = [remote.call("GET", f"/inventory/assets/{quote(asset_id, safe='')}")]
    else:
        found = remote.call("GET", "/inventory/assets", params={"env": env} if env else None)
    rows: list[dict[str, Any]] = [
        {k: a[k] for k in _FIELDS}
        for a in found
        if (not owner or a["owner"] == owner) and (not env or a["env"] == env)
    ]
    if asset_id and not rows:
        raise InputError(f"no asset {asset_id!r} (with these filters)")
    _render(rows, fmt)


def _render(rows: list[dict[str, str | bool]], fmt: str) -> None:
    print_rows(rows, ("id", "kind", "env", "service_model", "owner", "why"), fmt)
    if fmt != "json":
        typer.echo(f"{len(rows)} asset(s)")


@import_app.command(
    "ansible",
    epilog=(
        "Example:\n\n"
        "  patchwarden inventory import ansible hosts.ini --env-from-group staging=staging"
        " --env-from-group prod=prod > inventory.yaml"
    ),
)
def import_ansible_inventory(
    file: Path = typer.Argument(..., help="An Ansible inventory file, INI or YAML."),
    env_from_group: list[str] = typer.Option(
        [],
        "--env-from-group",
        metavar="GROUP=ENV",
        help="Hosts in Ansible group GROUP are in environment ENV; repeat for each.",
    ),
    default_env: str | None = typer.Option(
        None, "--default-env", metavar="ENV", help="The environment of hosts in no mapped group."
    ),
    environments: str | None = typer.Option(
        None,
        "--environments",
        metavar="ENV,ENV,...",
        help="The promotion order, earliest first (default: dev,qa,staging,prod when it fits).",
    ),
) -> None:
    """Print a patchwarden inventory (YAML) of an Ansible inventory's hosts.

    Groups become roles, except those mapped to an environment; ansible_host, ansible_port,
    ansible_user and ansible_become become each host's SSH connection. Bad input is
    reported with file:line, exit 2, and nothing is printed.
    """
    order = [e.strip() for e in environments.split(",")] if environments else None
    if order is not None and not all(order):
        raise UsageError("--environments: write names separated by commas, e.g. dev,qa,prod")
    imported = import_ansible(
        file, parse_env_mapping(env_from_group), default_env, environments=order
    )
    typer.echo(imported.text, nl=False)
    for note in imported.notes:
        typer.echo(f"note: {note}", err=True)
    inv = imported.loaded.inventory
    typer.echo(
        f"imported {len(inv.assets)} host(s) from {file} into {len(inv.environments)}"
        " environment(s)",
        err=True,
    )
