"""``patchwarden lab up|down|status``: a real estate on this machine to try patchwarden on.

Needs root: the hosts are chroots served by their own sshd on loopback addresses, behind a
real HAProxy; the appliance pair runs keepalived in network namespaces of its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from patchwarden.cli.rows import check_format
from patchwarden.errors import UsageError
from patchwarden.testing.lab import DEFAULT_LAB_DIR, Lab, LabConfig
from patchwarden.testing.lab_estate import EstateConfig, LabEstate

__all__ = ["app"]

app = typer.Typer(
    help="A lab of real Debian hosts (chroots behind their own sshd) on this machine.",
    no_args_is_help=True,
)

_out = Console(highlight=False, soft_wrap=True)

_DIR = typer.Option(DEFAULT_LAB_DIR, "--dir", help="Where the lab lives (root-owned).")


def _lab(directory: Path, hosts: int = 4, first: str = "127.0.0.2", pause: float = 2.0) -> Lab:
    if os.geteuid() != 0:
        raise UsageError("`patchwarden lab` needs root (chroots, sshd); run it with sudo")
    if hosts < 1 or hosts > 200:
        raise UsageError(f"--hosts must be between 1 and 200, not {hosts}")
    return Lab(LabConfig(dir=directory, hosts=hosts, first_address=first, reboot_pause_s=pause))


@app.command("up")
def up(
    directory: Path = _DIR,
    hosts: int = typer.Option(4, "--hosts", help="How many hosts."),
    first_address: str = typer.Option("127.0.0.2", "--first-address", help="First host's IP."),
    reboot_pause: float = typer.Option(2.0, "--reboot-pause", help="Seconds a reboot takes."),
    pair_prefix: str = typer.Option(
        "pwlab", "--pair-prefix", help="Names of the appliance pair's bridge and namespaces."
    ),
    pair_subnet: str = typer.Option(
        "10.231.80", "--pair-subnet", help="The appliance pair's /24 (first three octets)."
    ),
) -> None:
    """Build and start the lab: hosts, HAProxy, an appliance HA pair and an image of the hosts.

    Writes the inventory of all of it, advisories to import and a campaign per strategy,
    and prints where. The first run downloads a Debian root (about 30 s); later runs take
    a few seconds.

    Example: sudo patchwarden lab up --hosts 4
    """
    lab = _lab(directory, hosts, first_address, reboot_pause)
    if len(pair_prefix) > 8 or not pair_prefix.isalnum():
        raise UsageError(f"--pair-prefix: at most 8 letters or digits, not {pair_prefix!r}")
    octets = pair_subnet.split(".")
    if len(octets) != 3 or not all(o.isdigit() and int(o) < 256 for o in octets):
        raise UsageError(f"--pair-subnet: three octets such as 10.231.80, not {pair_subnet!r}")
    estate = LabEstate(
        EstateConfig(lab=lab.config, pair_prefix=pair_prefix, pair_subnet=pair_subnet)
    )
    with _out.status("building the lab (debootstrap on first use, then overlays)..."):
        files = estate.up()
    specs = estate.lab.specs()
    table = Table("host", "ssh", "service", title=f"lab up in {lab.dir}")
    for spec in specs:
        table.add_row(
            spec.id,
            f"root@{spec.address}:{spec.ssh_port}",
            f"http://{spec.address}:{spec.http_port}/",
        )
    _out.print(table)
    proxy = estate.haproxy
    _out.print(f"haproxy:     http://{proxy.address}:{proxy.web_port}/ (admin {proxy.socket})")
    _out.print(f"appliances:  {' and '.join(estate.pair.config.ids)}, "
               f"virtual IP {estate.pair.config.vip}:{estate.pair.config.port}")  # fmt: skip
    _out.print(f"image:       {estate.image_store} (version 1 = the hosts' tree)")
    _out.print(f"inventory:   {files.inventory}")
    _out.print(f"bg-inventory: {files.blue_green_inventory}   (the pool as two sides)")
    _out.print(f"advisories:  {files.advisories}")
    for name, path in files.campaigns.items():
        on = "" if files.inventory_for(name) == files.inventory else ", on bg-inventory"
        _out.print(f"campaign:    {path}   ({name}{on})")
    _out.print(f"ssh:         ssh -i {lab.key_path} -o UserKnownHostsFile={lab.known_hosts} "
               f"-p {specs[0].ssh_port} root@{specs[0].address}")  # fmt: skip
    _out.print(f"environment: . {lab.dir / 'lab.env'}   (key and known_hosts for patchwarden)")


@app.command("down")
def down(directory: Path = _DIR) -> None:
    """Stop everything the lab started and remove it (the downloaded Debian root stays cached).

    Example: sudo patchwarden lab down
    """
    _lab(directory)
    estate = LabEstate.of(directory)
    estate.down()
    _out.print(f"lab in {estate.dir} is down")


@app.command("status")
def status(
    directory: Path = _DIR,
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Show whether the lab runs and the state of each host (up, rebooting, down).

    Example: patchwarden lab status --format json
    """
    check_format(fmt)
    state_file = directory / "lab.json"
    if not state_file.exists():
        raise UsageError(f"no lab in {directory} (start one with `sudo patchwarden lab up`)")
    hosts = json.loads(state_file.read_text())["hosts"]
    lab = Lab(LabConfig(dir=directory, hosts=len(hosts), first_address=hosts[0]["address"]))
    info = lab.status()
    if fmt == "json":
        typer.echo(json.dumps(info, indent=2))
        return
    running = f"controller pid {info['controller_pid']}" if info["controller_pid"] else "stopped"
    table = Table("host", "address", "state", title=f"lab in {info['dir']} ({running})")
    for host, row in info["hosts"].items():
        table.add_row(host, f"{row['address']}:{row['ssh_port']}", row["state"])
    _out.print(table)
