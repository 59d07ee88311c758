"""Carry out one step through the drivers: check first, then act, so re-running is safe."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from patchwarden.domain.campaign import APP_PIN_PREFIX
from patchwarden.domain.steps import (
    AnalyzeParams,
    BakeParams,
    DrainParams,
    EnableParams,
    HealthParams,
    HookParams,
    MaintenanceOffParams,
    MaintenanceOnParams,
    MigrateParams,
    PatchParams,
    PoolParams,
    RebootParams,
    RestoreParams,
    SetWeightParams,
    SwitchParams,
    VerifyParams,
    WaitDrainedParams,
    WaitParams,
)
from patchwarden.drivers.protocols import LoadBalancerDriver, ServiceRestarter
from patchwarden.engine.canary import CanaryThresholds, judge
from patchwarden.engine.drivers import Drivers, Observe, required
from patchwarden.engine.machine import Work
from patchwarden.engine.platform_steps import run_platform_step
from patchwarden.errors import DriverError, NeedsPerson, TransientDriverError

__all__ = ["Drivers", "Observe", "StepExecutor"]

_HOOK_OUTPUT = 4000  # characters of a hook's stdout and stderr kept in the journal


class StepExecutor:
    """Maps each step action to driver calls.

    Hosts, load balancers, hypervisors, health and traffic are handled here; clusters,
    firmware, appliances, storage paths and images by :func:`run_platform_step`, which gets
    the same drivers passed in.
    """

    def __init__(self, drivers: Drivers, drain_poll_s: float = 2.0) -> None:
        self.d = drivers
        self.drain_poll_s = drain_poll_s

    def _lb(self, params: PoolParams) -> LoadBalancerDriver:
        try:
            return self.d.load_balancers[params.lb]
        except KeyError:
            raise DriverError(f"no driver for load balancer {params.lb!r}") from None

    async def run(self, work: Work, observe: Observe) -> dict[str, Any]:
        """Run a step; returns what to journal. Raises DriverError on failure."""
        step, target = work.step, work.step.target
        match step.params:
            case DrainParams() as p:
                await self._lb(p).drain(p.pool, target)
                return {"state": await self._lb(p).state(p.pool, target)}
            case WaitDrainedParams() as p:
                return await self._wait_drained(p, target, step.timeout_s)
            case EnableParams() as p:
                await self._lb(p).enable(p.pool, target)
                return {"state": await self._lb(p).state(p.pool, target)}
            case MaintenanceOnParams() | MaintenanceOffParams() as p:
                on = isinstance(p, MaintenanceOnParams)
                await required(self.d.hypervisors, "hypervisors").set_maintenance(target, on)
                return {"maintenance": on}
            case MigrateParams(vm=vm, destination=destination):
                hypervisors = required(self.d.hypervisors, "hypervisors")
                if await hypervisors.placement(vm) != destination:
                    await hypervisors.migrate(vm, destination)
                return {"vm": vm, "on": await hypervisors.placement(vm)}
            case PatchParams(packages=packages, restart=restart):
                done = await self._converge(target, dict(packages), work, observe)
                if packages and all(name.startswith(APP_PIN_PREFIX) for name, _ in packages):
                    # Only applications: each installer restarts its own service, and the
                    # host's package manager (if it has one) has nothing to say.
                    return done
                return {**done, **await self._restarts(target, restart)}
            case RestoreParams():
                return await self._converge(
                    target, dict(work.inputs.get("packages", {})), work, observe
                )
            case RebootParams():
                return await self._reboot(target, step.timeout_s, work, observe)
            case HealthParams() | VerifyParams():
                result = await self.d.health.check(target)
                if not result.ok:
                    raise TransientDriverError(f"health check failed: {result.detail}")
                return {"detail": result.detail}
            case SetWeightParams() as p:
                await self._lb(p).set_weight(p.pool, target, p.weight)
                return {"weight": p.weight}
            case SwitchParams() as p:
                return await self._switch(p, work, observe)
            case WaitParams(seconds=seconds):
                await self.d.clock.sleep(seconds)
                return {"waited_s": seconds}
            case AnalyzeParams() as p:
                return await self._analyze(p, observe)
            case BakeParams() as p:
                return await self._bake(p)
            case HookParams() as p:
                return await self._hook(p, target, observe)
        return await run_platform_step(self.d, work, observe)

    async def _converge(
        self, host: str, wanted: Mapping[str, str], work: Work, observe: Observe
    ) -> dict[str, Any]:
        """Install what differs from ``wanted``; record what was there first."""
        current = await self.d.packages.installed(host, list(wanted))
        first = work.inputs.get("observed") or {}
        previous = dict(first.get("previous", current))
        if not first:
            await observe({"previous": current})
        todo = {name: v for name, v in wanted.items() if current.get(name) != v}
        if todo:
            await self.d.packages.install(host, todo)
        after = await self.d.packages.installed(host, list(wanted))
        wrong = {n: after.get(n, "(absent)") for n, v in wanted.items() if after.get(n) != v}
        if wrong:
            raise DriverError(f"{host}: after install, versions differ from target: {wrong}")
        return {"previous": previous, "installed": after, "changed": sorted(todo)}

    async def _restarts(self, host: str, mode: str) -> dict[str, Any]:
        """Services still running replaced files: journaled, and restarted if ``mode`` says.

        Asked after every patch (a resumed step asks again, so nothing is missed); a
        package driver that cannot tell (the simulated estate, a host without the tool)
        journals nothing or ``unknown``.
        """
        packages = self.d.packages
        if not isinstance(packages, ServiceRestarter):
            return {}
        units = await packages.services_to_restart(host)
        if units is None:
            return {"services_to_restart": "unknown"}
        if mode != "restart" or not units:
            return {"services_to_restart": list(units)}
        await packages.restart_services(host, units)
        left = await packages.services_to_restart(host)
        return {"restarted": list(units), "services_to_restart": list(left or ())}

    async def _reboot(
        self, host: str, timeout_s: float, work: Work, observe: Observe
    ) -> dict[str, Any]:
        first = work.inputs.get("observed") or {}
        # Resumed after a crash mid-reboot, the host may still be away: wait for it to
        # answer (within the step's timeout) rather than fail a reboot that is under way.
        before = await self._boot_id(host, timeout_s if first else 0.0)
        if first.get("boot_id") and first["boot_id"] != before:
            return {"boot_id": before, "note": "already rebooted before the runner restarted"}
        if not first:
            await observe({"boot_id": before})
        after = await self.d.power.reboot(host, timeout_s)
        if after == before:
            raise DriverError(f"{host}: boot id unchanged after reboot")
        return {"boot_id": after}

    async def _boot_id(self, host: str, patience_s: float) -> str:
        waited = 0.0
        while True:
            try:
                return await self.d.power.boot_id(host)
            except TransientDriverError:
                if waited >= patience_s:
                    raise
                await self.d.clock.sleep(self.drain_poll_s)
                waited += self.drain_poll_s

    async def _switch(self, p: SwitchParams, work: Work, observe: Observe) -> dict[str, Any]:
        lb = self._lb(p)
        current = await lb.active_side(p.pool)
        first = work.inputs.get("observed") or {}
        if not first:
            await observe({"previous": current})
        side = p.side or (work.inputs.get("undo") or {}).get("previous") or current
        if current != side:
            await lb.switch(p.pool, side)
        return {"previous": first.get("previous", current), "active": side}

    async def _analyze(self, p: AnalyzeParams, observe: Observe) -> dict[str, Any]:
        """Let traffic flow, then compare canaries with the baseline; journal the analysis."""
        metrics = (self.d.metrics or {}).get(p.lb)
        if metrics is None:
            raise DriverError(f"no traffic metrics for load balancer {p.lb!r}")
        seconds = p.seconds
        await metrics.watch()  # only requests seen from now on are judged
        await self.d.clock.sleep(seconds)
        canary = [s for m in p.canaries for s in await metrics.samples(p.pool, m, seconds)]
        baseline = [s for m in p.baseline for s in await metrics.samples(p.pool, m, seconds)]
        verdict = judge(canary, baseline)
        analysis = verdict.to_json()
        await observe({"analysis": analysis})
        if verdict.verdict == "marginal":
            raise NeedsPerson(
                f"canary analysis marginal: {verdict.reason}; `patchwarden resume` looks "
                "again with fresh traffic, `patchwarden rollback` undoes the canaries"
            )
        if verdict.verdict != "pass":
            raise DriverError(f"canary analysis {verdict.verdict}: {verdict.reason}")
        return {"analysis": analysis}

    async def _hook(self, p: HookParams, target: str, observe: Observe) -> dict[str, Any]:
        """Run a hook's argv where it says; journal its output; apply its failure policy."""
        on_controller = p.on == "controller"
        runner = self.d.controller if on_controller else self.d.commands
        where = "controller" if on_controller else target
        runner = required(runner, "commands")
        status: int | None = None
        try:
            result = await runner.run(where, p.argv, timeout_s=p.timeout_s)
            status, out, err = result.exit_status, result.stdout, result.stderr
        except DriverError as error:  # timed out, or the host could not be reached
            out, err = "", str(error)
        record = {
            "when": p.when,
            "argv": list(p.argv),
            "on": where,
            "exit_status": status,
            "stdout": out[-_HOOK_OUTPUT:],
            "stderr": err[-_HOOK_OUTPUT:],
        }
        if status == 0:
            return record
        if p.on_failure == "ignore":
            return {**record, "ignored": True}
        await observe(record)  # the output stays in the journal beside the failure
        why = f"exit status {status}" if status is not None else err
        raise DriverError(
            f"{p.when} hook {shlex.join(p.argv)} on {where} failed ({why}); policy {p.on_failure}"
        )

    async def _bake(self, p: BakeParams) -> dict[str, Any]:
        """Watch the new side serve: health checks and error rate, until ``seconds`` pass.

        Looks about 30 times over the bake (at least a second apart). The error rate counts
        the requests the new side answered since the bake began, judged once there are
        enough of them to mean something; a quiet pool is judged on its health checks.
        """
        metrics = (self.d.metrics or {}).get(p.lb)
        if metrics is not None:
            await metrics.watch()
        interval = max(1.0, p.seconds / 30)
        waited, looks = 0.0, 0
        requests = failed = 0
        while True:
            for member in p.members:
                result = await self.d.health.check(member)
                if not result.ok:
                    raise DriverError(
                        f"bake of {p.lb}/{p.pool}: {member} failed its health check "
                        f"{waited:.0f} s after the switch: {result.detail}"
                    )
            looks += 1
            if metrics is not None and waited > 0:
                samples = [s for m in p.members for s in await metrics.samples(p.pool, m, waited)]
                requests, failed = len(samples), sum(1 for s in samples if not s.ok)
                rate = failed / requests if requests else 0.0
                if requests >= CanaryThresholds().min_samples and rate > p.max_error_rate:
                    raise DriverError(
                        f"bake of {p.lb}/{p.pool}: {failed} of {requests} requests to the new "
                        f"side failed in {waited:.0f} s ({rate:.1%} > {p.max_error_rate:.1%})"
                    )
            if waited >= p.seconds:
                break
            pause = min(interval, p.seconds - waited)
            await self.d.clock.sleep(pause)
            waited += pause
        return {
            "baked_s": waited,
            "health_looks": looks,
            "requests": requests,
            "failed": failed,
            "measured": metrics is not None,
        }

    async def _wait_drained(
        self, p: WaitDrainedParams, host: str, timeout_s: float
    ) -> dict[str, Any]:
        lb = self._lb(p)
        waited = 0.0
        while (open_sessions := await lb.sessions(p.pool, host)) > 0:
            if waited >= timeout_s:
                raise DriverError(
                    f"{host}: {open_sessions} sessions still open after {timeout_s:.0f} s"
                )
            await self.d.clock.sleep(self.drain_poll_s)
            waited += self.drain_poll_s
        return {"sessions": 0, "waited_s": waited}
