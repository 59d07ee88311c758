"""``patchwarden apply | status | pause | resume | abort | rollback``."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from patchwarden.cli.options import SERVER_OPTION
from patchwarden.errors import UsageError
from patchwarden.service.audit import cli_actor
from patchwarden.service.execution import (
    RunSetup,
    begin_apply,
    begin_resume,
    carry_out,
    roll_back,
)
from patchwarden.service.remote import RemoteServer, connect
from patchwarden.service.runs import (
    RunState,
    RunStatus,
    UnitState,
    driven_by_temporal,
    request,
    run_status,
)
from patchwarden.store import Store, open_store, resolve_url

SPEED_HELP = (
    "Simulated clock speed-up. From 1000 up, a run's idle waits (windows, soak) are jumped"
    " over; below, they are replayed, to watch, pause or stop a run while it waits."
)

__all__ = ["register"]

_DB = typer.Option(
    None, "--db", help="Database URL (default: PATCHWARDEN_DB, then the user data dir)."
)


def register(app: typer.Typer) -> None:
    """Add the run commands to the app."""
    app.command("apply")(apply)
    app.command("status")(status)
    app.command("resume")(resume)
    for name in ("pause", "abort", "rollback"):
        app.command(name, help=_REQUEST_HELP[name])(_requester(name))


def apply(
    source: Path = typer.Argument(
        None, help="A campaign YAML, or a plan JSON from `patchwarden plan --format json`."
    ),
    inventory: list[Path] = typer.Option(
        None, "--inventory", "-i", help="Inventory files (default: the demo estate)."
    ),
    sim: bool = typer.Option(
        True, "--sim/--real", help="Run on the simulated estate (what-if) or on the real hosts."
    ),
    seed: int = typer.Option(0, help="Seed of the simulated estate."),
    speed: float = typer.Option(3000.0, help=SPEED_HELP),
    engine: str = typer.Option(
        "local", "--engine", help="local (this process) or temporal (workflow + workers)."
    ),
    address: str | None = typer.Option(
        None,
        "--temporal-address",
        help="With --engine temporal: host:port "
        "(default: PATCHWARDEN_TEMPORAL_ADDRESS, then 127.0.0.1:7233).",
    ),
    namespace: str | None = typer.Option(
        None,
        "--namespace",
        help="With --engine temporal: the namespace (default: "
        "PATCHWARDEN_TEMPORAL_NAMESPACE, then default).",
    ),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="With --engine temporal: wait for the run to end."
    ),
    db: str | None = _DB,
    change: int | None = typer.Option(
        None, "--change", min=1, help="With --server: the approved change (its id) to run."
    ),
    server: str | None = SERVER_OPTION,
) -> None:
    """Compile (or load) a plan and run it with the engine, journaling every step.

    With --real, hosts are reached as the inventory says (SSH settings from
    PATCHWARDEN_SSH_KEY and PATCHWARDEN_SSH_KNOWN_HOSTS); a run killed midway carries on
    with `patchwarden resume`. With --server, the server runs an approved change's plan
    (--change) on its simulated estate or, with --real, on the hosts of its inventory,
    and this command follows the run's events until it ends.

    Example: patchwarden apply campaign.yaml --inventory inventory.yaml --sim
    Example: patchwarden apply plan.json --inventory lab-inventory.yaml --real
    Example: patchwarden apply --server https://patch.example.org --change 12 --real
    Example: patchwarden apply campaign.yaml --engine temporal   # `patchwarden worker`s run it
    """
    if engine not in ("local", "temporal"):
        raise UsageError(f"--engine {engine!r}: use local or temporal")
    remote = connect(server, os.environ)
    if remote is not None:
        if source is not None or inventory or change is None:
            remote.close()
            raise UsageError(
                "with --server, name the approved change to run (--change ID); the server "
                "runs the plan it approved, on its own inventory"
            )
        with remote:
            state = _apply_remote(remote, change, sim, seed, speed)
        _exit_for(state)
        return
    if source is None:
        raise UsageError("name a campaign YAML or a plan JSON to apply")
    temporal = None
    if engine == "temporal":
        # Imported here: only a Temporal run needs the SDK (it is slow to import). Read
        # before the run is opened, so a bad setting changes nothing.
        from patchwarden.service.temporal import TemporalSettings  # noqa: PLC0415 - temporalio loads only for Temporal runs

        temporal = TemporalSettings.from_env(os.environ, address, namespace)
    console = Console()
    now = datetime.now(UTC).replace(microsecond=0)
    with open_store(resolve_url(db, os.environ)) as store:
        setup = begin_apply(
            store, source, inventory or [], sim=sim, seed=seed, speed=speed, now=now, user=_user()
        )
        if sim:
            console.print("simulated estate: nothing real is touched, no change approval needed")
        elif setup.approved is not None:
            approved = setup.approved
            console.print(f"{approved.label} approved by {', '.join(approved.approvers)}")
        plan = setup.plan
        console.print(
            f"run [bold]{setup.run.id}[/] of plan {plan.digest()[:12]} ({len(plan.units())} units)"
        )
        if temporal is not None:
            from patchwarden.service.temporal import (  # noqa: PLC0415 - temporalio loads only for Temporal runs
                carry_out_on_temporal,
                workflow_id,
            )

            run = carry_out_on_temporal(store, setup, temporal, speed, wait=wait)
            console.print(
                f"run {run.id} is the workflow {workflow_id(run.id)} on {temporal.address}"
            )
            if not wait:
                return
            _print_status(console, run_status(store, run.id))
            state = RunState(run.state)
        else:
            state = _carry_out(console, store, setup)
    _exit_for(state)


def _apply_remote(
    remote: RemoteServer, change: int, sim: bool, seed: int, speed: float
) -> RunState:
    """Start the change's run on the server and print its progress until it ends."""
    body = {"change": change, "mode": "sim" if sim else "real", "seed": seed, "speed": speed}
    run = remote.call("POST", "/runs", body=body)
    where = "simulated estate" if sim else "real hosts"
    typer.echo(f"run {run['id']} of CHG-{change} on the server's {where}")
    return _follow_remote(remote, run["id"], run["state"])


def _follow_remote(remote: RemoteServer, run_id: str, state: str) -> RunState:
    """Print a server's run's progress from its event stream until it ends."""
    shown = ""
    for event in remote.follow(run_id):
        if event.event == "status":
            state = event.data["state"]
            units = ", ".join(f"{n} {k}" for k, n in sorted(event.data["units"].items()))
            line = f"{state}: {units or 'starting'}"
            if line != shown:
                typer.echo(line)
                shown = line
        elif event.event == "journal" and event.data["event"] == "failed":
            error = event.data["payload"].get("error", "")
            typer.echo(f"failed {event.data['step']}: {error}")
        elif event.event == "end":
            state = event.data["state"] or state
    typer.echo(f"run {run_id}: {state}")
    return RunState(state)


def _user() -> str:
    """Who is acting, for change records and leases: $USER, as `patchwarden change` uses."""
    return os.environ.get("USER") or "unknown"


def _tell_workflow(store: Store, run_id: str) -> None:
    """Signal a Temporal run's workflow what the store now says of the run."""
    from patchwarden.service.temporal import tell_workflow, workflow_id  # noqa: PLC0415 - temporalio loads only for Temporal runs

    if tell_workflow(store, run_id):
        typer.echo(f"signalled its workflow {workflow_id(run_id)}")
    else:
        typer.echo(f"its workflow {workflow_id(run_id)} has ended; nothing to signal")


def _roll_back_on_temporal(store: Store, run_id: str) -> RunState | None:
    """Roll back a Temporal run on Temporal; its final state when this waited for it."""
    from patchwarden.service.temporal import roll_back_on_temporal, workflow_id  # noqa: PLC0415 - temporalio loads only for Temporal runs

    now = datetime.now(UTC)
    run, how = roll_back_on_temporal(store, run_id, user=_user(), now=now)
    if how == "signalled":
        typer.echo(f"run {run.id}: {run.state}; signalled its workflow {workflow_id(run.id)}")
        return None
    if how == "busy":
        typer.echo(f"run {run.id}: {run.state}; the process driving it rolls it back")
        return None
    typer.echo(f"run {run.id}: its workflow had ended; {workflow_id(run.id)} rolled it back")
    _print_status(Console(), run_status(store, run.id))
    return RunState(run.state)


def _exit_for(state: RunState) -> None:
    """Exit 1 when the run did not do what it was meant to."""
    if state.failed:
        raise typer.Exit(1)


def _carry_out(console: Console, store: Store, setup: RunSetup) -> RunState:
    """Drive a run with progress bars, then print its status; returns its final state."""
    from patchwarden.cli.progress import WaveBars  # noqa: PLC0415 - only a run draws bars

    bars = WaveBars(console)
    bars.track(setup.plan)
    with bars:
        state = carry_out(store, setup, _user(), bars.update)
    _print_status(console, run_status(store, setup.run.id))
    return state


def resume(
    run_id: str = typer.Argument(None, help="The run (default: the latest)."),
    speed: float = typer.Option(3000.0, help=SPEED_HELP),
    db: str | None = _DB,
    server: str | None = SERVER_OPTION,
) -> None:
    """Carry on a paused or interrupted run from its journal.

    A run that has already ended (the crash came after its last step) is left as it is:
    the command says so and exits as `apply` would have (0 when it completed). A run that
    another process drives is refused with exit code 3. With --server, the server carries
    it on (as the token's user) and the command follows it to its end.

    Example: patchwarden resume 3f2a...
    Example: patchwarden resume 3f2a... --server https://patch.example.org
    """
    remote = connect(server, os.environ)
    if remote is not None:
        with remote:
            state = _resume_remote(remote, run_id)
        _exit_for(state)
        return
    console = Console()
    with open_store(resolve_url(db, os.environ)) as store:
        run = run_status(store, run_id).run
        if driven_by_temporal(store, run.id) and not RunState(run.state).ended:
            # A workflow drives it: move it in the store and tell the workflow.
            moved = request(store, run.id, "resume", actor=cli_actor(_user()))
            typer.echo(f"run {run.id}: {moved.run.state}")
            _tell_workflow(store, run.id)
            return
        now = datetime.now(UTC)
        found = begin_resume(store, run, speed=speed, now=now, user=_user())
        if found.setup is None:
            console.print(f"run {run.id} has already ended ({run.state}); nothing to resume")
            state = RunState(run.state)
        else:
            state = _carry_out(console, store, found.setup)
    _exit_for(state)


def _resume_remote(remote: RemoteServer, run_id: str | None) -> RunState:
    run_id = run_id or _latest_remote(remote)
    run = remote.call("POST", f"/runs/{run_id}/resume")
    if not run.get("driving") and RunState(run["state"]).ended:
        typer.echo(f"run {run_id} has already ended ({run['state']}); nothing to resume")
        return RunState(run["state"])
    typer.echo(f"run {run_id}: resumed on the server")
    return _follow_remote(remote, run_id, run["state"])


def _latest_remote(remote: RemoteServer) -> str:
    runs = remote.call("GET", "/runs")
    if not runs:
        raise UsageError("the server has no run yet")
    return str(runs[-1]["id"])


def status(
    run_id: str = typer.Argument(None, help="The run (default: the latest)."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    db: str | None = _DB,
    server: str | None = SERVER_OPTION,
) -> None:
    """Where a run stands: waves, failures, canary verdicts.

    Example: patchwarden status --format json
    """
    remote = connect(server, os.environ)
    if remote is not None:
        with remote:
            _status_remote(remote, run_id, fmt)
        return
    with open_store(resolve_url(db, os.environ)) as store:
        st = run_status(store, run_id)
    if fmt == "json":
        typer.echo(json.dumps(_status_json(st), indent=2, default=str))
    else:
        _print_status(Console(), st)


def _status_remote(remote: RemoteServer, run_id: str | None, fmt: str) -> None:
    run_id = run_id or _latest_remote(remote)
    st = remote.call("GET", f"/runs/{run_id}")
    if fmt == "json":
        typer.echo(json.dumps(st, indent=2))
        return
    table = Table(title=f"run {st['id'][:12]} · {st['campaign']} · {st['state']}")
    for col in ("wave", "strategy", "units", "ok", "failed", "rolled back"):
        table.add_column(col)
    for w in st["waves"]:
        c = w["counts"]
        table.add_row(
            w["wave"], w["strategy"], str(w["units"]), str(c.get("succeeded", 0)),
            str(c.get("failed", 0)), str(c.get("rolled_back", 0)),
        )  # fmt: skip
    console = Console()
    console.print(table)
    for f in st["failures"]:
        console.print(f"failed {f['step']}: {f['error']}", markup=False, highlight=False)


_REQUEST_HELP = {
    "pause": "Start no new unit; running ones finish. Example: patchwarden pause RUN",
    "abort": "Skip everything not started; running units finish or roll back. "
    "Example: patchwarden abort RUN",
    "rollback": "Undo every unit that succeeded, last first. Example: patchwarden rollback RUN",
}


def _requester(what: str):  # type: ignore[no-untyped-def]  # typer reads the signature
    def command(
        run_id: str = typer.Argument(..., help="The run."),
        db: str | None = _DB,
        server: str | None = SERVER_OPTION,
    ) -> None:
        remote = connect(server, os.environ)
        if remote is not None:
            with remote:
                moved = remote.call("POST", f"/runs/{run_id}/{what}")
            typer.echo(f"run {run_id}: {moved['state']}")
            return
        with open_store(resolve_url(db, os.environ)) as store:
            if what == "rollback" and driven_by_temporal(store, run_id):
                state = _roll_back_on_temporal(store, run_id)
                if state is None:
                    return
            elif what != "rollback":
                moved = request(store, run_id, what, actor=cli_actor(_user()))
                typer.echo(f"run {run_id}: {moved.run.state}")
                if driven_by_temporal(store, run_id):
                    _tell_workflow(store, run_id)
                return
            else:
                now = datetime.now(UTC)
                run, setup = roll_back(store, run_id, speed=3000.0, now=now, user=_user())
                typer.echo(f"run {run.id}: {run.state}")
                if setup is None:
                    typer.echo("the process driving it rolls it back at its next step")
                    return
                # Nobody is driving it (paused or ended): roll it back here and now.
                state = _carry_out(Console(), store, setup)
        if state is not RunState.ROLLED_BACK:
            raise typer.Exit(1)

    command.__doc__ = _REQUEST_HELP[what]
    return command


def _status_json(st: RunStatus) -> dict[str, object]:
    return {
        "run": st.run.id,
        "state": st.run.state,
        "plan": st.run.plan_hash,
        "campaign": st.plan.campaign,
        "done": st.progress.done,
        "units": {s.value: st.progress.count(s) for s in UnitState},
        "waves": [w.__dict__ for w in st.waves],
        "failures": [{"step": s, "error": e} for s, e in st.failures],
        "waiting": [{"step": s, "reason": r} for s, r in st.waiting],
        "waiting_for": (
            None
            if st.waiting_for is None
            else {
                "kind": st.waiting_for.kind,
                "until": st.waiting_for.until.isoformat() if st.waiting_for.until else None,
                "reason": st.waiting_for.reason,
            }
        ),
        "gates": [g.__dict__ for g in st.gates],
        "canary_analyses": list(st.analyses),
        "service_restarts": [r.as_json() for r in st.restarts],
    }


def _print_status(console: Console, st: RunStatus) -> None:
    table = Table(title=f"run {st.run.id[:12]} · {st.plan.campaign} · {st.run.state}")
    for col in (
        "wave",
        "strategy",
        "units",
        "ok",
        "failed",
        "rolled back",
        "skipped/held",
        "in flight",
    ):
        table.add_column(col)
    for w in st.waves:
        c = w.counts
        table.add_row(
            w.wave,
            w.strategy,
            str(w.units),
            str(c.get("succeeded", 0)),
            str(c.get("failed", 0)),
            str(c.get("rolled_back", 0)),
            str(c.get("skipped", 0) + c.get("held", 0)),
            ", ".join(s.rsplit("/", 1)[-1] for s in w.in_flight),
        )
    console.print(table)
    if st.waiting_for is not None:
        console.print(f"[yellow]{escape(st.waiting_for.reason)}[/]", highlight=False)
    for gate in st.gates:
        colour = {"succeeded": "green", "failed": "red"}.get(gate.result, "yellow")
        line = f"[{colour}]gate {gate.env} {gate.result}[/] {escape(gate.detail)}".rstrip()
        console.print(line, highlight=False)
    for step_id, reason in st.waiting:
        console.print(f"[yellow]waiting for a person[/] {step_id}: {reason}", highlight=False)
    for r in st.restarts:
        if r.restarted:
            console.print(
                f"[green]restarted[/] on {r.target}: {escape(', '.join(r.restarted))}",
                highlight=False,
            )
        if r.pending is None:
            console.print(
                f"[yellow]services to restart[/] on {r.target}: unknown (no needrestart or "
                "needs-restarting there)",
                highlight=False,
            )
        elif r.pending:
            console.print(
                f"[yellow]still needs a restart[/] on {r.target}: {escape(', '.join(r.pending))}",
                highlight=False,
            )
    for step_id, error in st.failures:
        console.print(f"[red]failed[/] {step_id}: {error}", markup=True, highlight=False)
    for a in st.analyses:
        metrics = "; ".join(
            f"{m['name']} canary {m['canary_value']:.4g} vs baseline {m['baseline_value']:.4g}"
            f" (p={m['p_value']:.3g}) {m['outcome']}"
            if m["p_value"] is not None
            else f"{m['name']}: no data"
            for m in a["metrics"]
        )
        head = f"canary analysis {a['step']}: [bold]{a['verdict']}[/] (score {a['score']:.2f})"
        console.print(f"{head} — {a['reason']}; {metrics}")
