"""``patchwarden worker``: carry out campaign steps from Temporal, next to the hosts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import typer

from patchwarden.service.temporal import TemporalSettings, serve
from patchwarden.store import open_store, resolve_url

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the worker command to the app."""
    app.command("worker")(worker)


def worker(
    site: str = typer.Option(
        "", "--site", help="Serve the steps of assets tagged with this site (default: untagged)."
    ),
    address: str | None = typer.Option(
        None,
        "--temporal-address",
        help="Temporal frontend host:port "
        "(default: PATCHWARDEN_TEMPORAL_ADDRESS, then 127.0.0.1:7233).",
    ),
    namespace: str | None = typer.Option(
        None,
        "--namespace",
        help="Temporal namespace (default: PATCHWARDEN_TEMPORAL_NAMESPACE, then default).",
    ),
    speed: float = typer.Option(3000.0, help="Simulated clock speed-up, for simulated runs."),
    max_concurrent: int = typer.Option(100, help="Steps this process runs at once, at most."),
    db: str | None = typer.Option(
        None, "--db", help="Database URL (default: PATCHWARDEN_DB, then the user data dir)."
    ),
) -> None:
    """Carry out campaign steps from Temporal until stopped (SIGTERM or Ctrl-C).

    Run one or more per site, on machines that reach that site's hosts; the store (its
    database URL) must be the one `apply --engine temporal` used.

    Example: patchwarden worker --site eu-1 --temporal-address temporal.example.net:7233
    """
    settings = TemporalSettings.from_env(os.environ, address, namespace)
    with open_store(resolve_url(db, os.environ)) as store:

        def ready(queues: list[str]) -> None:
            typer.echo(f"worker ready on {settings.address}: task queues {', '.join(queues)}")

        async def main() -> None:
            task = asyncio.ensure_future(
                serve(
                    store, settings, site=site, speed=speed, max_concurrent=max_concurrent,
                    ready=ready,
                )
            )  # fmt: skip
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, task.cancel)
            with contextlib.suppress(asyncio.CancelledError):
                await task

        asyncio.run(main())
    typer.echo("worker stopped")
