"""``patchwarden serve``: the HTTP API on one address, over the same store as the CLI.

It lives beside the server rather than in ``cli/`` (a sibling layer that may not import
the server); the command line loads it by name, like every command.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the serve command to the app."""
    app.command("serve")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    db: str | None = typer.Option(
        None, "--db", help="Database URL (default: PATCHWARDEN_DB, then user data dir)."
    ),
    inventory: list[str] = typer.Option(
        None,
        "--inventory",
        "-i",
        help="Inventory files real runs reach their hosts by (SSH settings from "
        "PATCHWARDEN_SSH_KEY and PATCHWARDEN_SSH_KNOWN_HOSTS); without it only simulated runs.",
    ),
    schedule: Path | None = typer.Option(
        None, "--schedule", help="Jobs to run on a schedule (feed sync, audit head, change start)."
    ),
    notify: Path | None = typer.Option(
        None, "--notify", help="Notification channels (webhooks signed with HMAC, e-mail)."
    ),
    feeds_config: Path | None = typer.Option(
        None,
        "--feeds-config",
        help='TOML whose sources table holds name = "url" lines: what POST /feeds/sync '
        "fetches (default: the official feeds).",
    ),
    feeds_state: Path | None = typer.Option(
        None,
        "--feeds-state",
        help="Where syncs keep ETag/Last-Modified (default: user cache, one file per database).",
    ),
    tick: float = typer.Option(
        5.0, "--tick", min=0.1, help="Seconds between looks at due jobs and new audit entries."
    ),
    secure_cookies: bool = typer.Option(
        False,
        "--secure-cookies",
        help="Mark session cookies Secure on plain HTTP too (behind a TLS proxy).",
    ),
) -> None:
    """Serve the API (OpenAPI at /api/openapi.json, routes under /api/v1).

    Create the first admin beforehand on this machine: `patchwarden user add alice --role
    admin`. Listen beyond loopback only behind a TLS-terminating proxy.

    Jobs (--schedule) and notifications (--notify) are validated before anything starts;
    a bad file is refused naming file, line and field.

    Example: patchwarden serve --host 127.0.0.1 --port 8080
    Example: patchwarden serve --schedule jobs.yaml --notify channels.yaml
    """
    import uvicorn  # imported here: `patchwarden --version` must stay fast

    from patchwarden.server.app import create_app
    from patchwarden.service.feeds import load_sources
    from patchwarden.service.lease import holder_name
    from patchwarden.service.notify import Notifier, notify_pending, read_notify_config
    from patchwarden.service.scheduler import ScheduleConfig, Scheduler, read_schedule
    from patchwarden.store import open_store, resolve_url

    jobs = read_schedule(schedule) if schedule is not None else ScheduleConfig()
    channels = read_notify_config(notify) if notify is not None else None
    sources = load_sources(feeds_config, []) if feeds_config is not None else None
    store = open_store(resolve_url(db, os.environ))
    background = None
    try:
        if not store.accounts.users():
            typer.echo(
                "warning: no users yet; add one with `patchwarden user add NAME --role admin`",
                err=True,
            )
        api = create_app(
            store, secure_cookies=secure_cookies, real_inventory=inventory or (),
            feed_sources=sources, feeds_state=feeds_state,
        )  # fmt: skip
        if jobs.jobs or channels is not None:
            notifier = Notifier(channels, os.environ) if channels is not None else None

            def tell() -> None:
                if notifier is not None:
                    notify_pending(store, notifier)

            background = Scheduler(
                store, jobs, holder_name("serve"), api.state.workers.start,
                lambda: datetime.now(UTC), inventory=tuple(inventory or ()), also=tell,
            )  # fmt: skip
            background.start(tick)
        typer.echo(f"patchwarden serving on http://{host}:{port}/api/v1", err=True)
        uvicorn.run(
            api, host=host, port=port, log_level="info", server_header=False, proxy_headers=False,
            # Live event streams never end on their own: give them a few seconds, then go.
            timeout_graceful_shutdown=5,
        )  # fmt: skip
    finally:
        if background is not None:
            background.stop()
        store.close()
