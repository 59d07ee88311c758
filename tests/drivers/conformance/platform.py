"""Conformance of hypervisors (placement, live migration, maintenance) and clusters.

The next real drivers (libvirt hypervisors, etcd clusters) subclass these with fixtures
only. Every test leaves the system as it found it, so a real one can share its lab.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from conformance.run import Run
from patchwarden.drivers.protocols import ClusterDriver, HypervisorDriver
from patchwarden.errors import DriverError


@dataclass(frozen=True)
class HypervisorCase:
    """A VM, and another hypervisor with room for it (not the one it runs on)."""

    vm: str
    destination: str


class HypervisorConformance:
    """Fixtures: ``run``, ``hypervisor_driver``, ``hypervisor_case``."""

    def test_placement_names_the_vms_hypervisor(
        self, run: Run, hypervisor_driver: HypervisorDriver, hypervisor_case: HypervisorCase
    ) -> None:
        c = hypervisor_case
        source = run(hypervisor_driver.placement(c.vm))
        assert source and source != c.destination
        assert run(hypervisor_driver.placement(c.vm)) == source, "placement only reads"

    def test_migrate_moves_the_vm_and_back(
        self, run: Run, hypervisor_driver: HypervisorDriver, hypervisor_case: HypervisorCase
    ) -> None:
        c = hypervisor_case
        source = run(hypervisor_driver.placement(c.vm))
        run(hypervisor_driver.migrate(c.vm, c.destination))
        try:
            assert run(hypervisor_driver.placement(c.vm)) == c.destination
        finally:
            run(hypervisor_driver.migrate(c.vm, source))
        assert run(hypervisor_driver.placement(c.vm)) == source

    def test_migrating_to_where_it_runs_changes_nothing(
        self, run: Run, hypervisor_driver: HypervisorDriver, hypervisor_case: HypervisorCase
    ) -> None:
        c = hypervisor_case
        source = run(hypervisor_driver.placement(c.vm))
        run(hypervisor_driver.migrate(c.vm, source))
        assert run(hypervisor_driver.placement(c.vm)) == source

    def test_a_host_in_maintenance_takes_no_new_vms(
        self, run: Run, hypervisor_driver: HypervisorDriver, hypervisor_case: HypervisorCase
    ) -> None:
        c = hypervisor_case
        source = run(hypervisor_driver.placement(c.vm))
        run(hypervisor_driver.set_maintenance(c.destination, True))
        run(hypervisor_driver.set_maintenance(c.destination, True))  # idempotent
        try:
            with pytest.raises(DriverError):
                run(hypervisor_driver.migrate(c.vm, c.destination))
            assert run(hypervisor_driver.placement(c.vm)) == source, "a refused move moves nothing"
        finally:
            run(hypervisor_driver.set_maintenance(c.destination, False))
        run(hypervisor_driver.set_maintenance(c.destination, False))  # idempotent
        run(hypervisor_driver.migrate(c.vm, c.destination))  # back in service: it takes VMs
        try:
            assert run(hypervisor_driver.placement(c.vm)) == c.destination
        finally:
            run(hypervisor_driver.migrate(c.vm, source))

    def test_unknown_vm_and_destination_are_driver_errors(
        self, run: Run, hypervisor_driver: HypervisorDriver, hypervisor_case: HypervisorCase
    ) -> None:
        c = hypervisor_case
        with pytest.raises(DriverError):
            run(hypervisor_driver.placement("no-such-vm"))
        source = run(hypervisor_driver.placement(c.vm))
        with pytest.raises(DriverError):
            run(hypervisor_driver.migrate(c.vm, "no-such-hypervisor"))
        assert run(hypervisor_driver.placement(c.vm)) == source


@dataclass(frozen=True)
class ClusterCase:
    """A cluster and its members; ``packages`` is a patch set its controller can roll out.

    ``packages`` is ``None`` for a cluster without a controller (etcd, say): the suite then
    skips the controller's tests.
    """

    cluster: str
    members: tuple[str, ...]
    packages: Mapping[str, str] | None = field(default=None)


class ClusterConformance:
    """Fixtures: ``run``, ``cluster_driver``, ``cluster_case``."""

    def test_the_leader_is_a_member(
        self, run: Run, cluster_driver: ClusterDriver, cluster_case: ClusterCase
    ) -> None:
        assert run(cluster_driver.leader(cluster_case.cluster)) in cluster_case.members

    def test_status_names_every_member_healthy_and_the_leader(
        self, run: Run, cluster_driver: ClusterDriver, cluster_case: ClusterCase
    ) -> None:
        c = cluster_case
        status = run(cluster_driver.status(c.cluster))
        assert [m.name for m in status.members] == list(c.members)
        assert status.healthy == c.members, "the case's cluster starts healthy"
        assert status.leader == run(cluster_driver.leader(c.cluster))
        assert 1 <= status.quorum <= len(c.members)

    def test_a_healthy_cluster_keeps_quorum_without_any_one_member(
        self, run: Run, cluster_driver: ClusterDriver, cluster_case: ClusterCase
    ) -> None:
        status = run(cluster_driver.status(cluster_case.cluster))
        assert len(status.members) >= 3, "the case needs a cluster that can lose one member"
        for member in cluster_case.members:
            assert status.survives_without(member), member

    def test_status_follows_a_handover(
        self, run: Run, cluster_driver: ClusterDriver, cluster_case: ClusterCase
    ) -> None:
        c = cluster_case
        first = run(cluster_driver.leader(c.cluster))
        to = next(m for m in reversed(c.members) if m != first)
        run(cluster_driver.handover(c.cluster, to))
        try:
            status = run(cluster_driver.status(c.cluster))
            assert status.leader == to
            assert status.healthy == c.members, "a leader move keeps every member serving"
        finally:
            run(cluster_driver.handover(c.cluster, first))

    def test_status_of_an_unknown_cluster_is_a_driver_error(
        self, run: Run, cluster_driver: ClusterDriver, cluster_case: ClusterCase
    ) -> None:
        with pytest.raises(DriverError):
            run(cluster_driver.status("no-such-cluster"))

    def test_handover_moves_leadership_and_back(
        self, run: Run, cluster_driver: ClusterDriver, cluster_case: ClusterCase
    ) -> None:
        c = cluster_case
        first = run(cluster_driver.leader(c.cluster))
        to = next(m for m in c.members if m != first)
        run(cluster_driver.handover(c.cluster, to))
        try:
            assert run(cluster_driver.leader(c.cluster)) == to
            run(cluster_driver.handover(c.cluster, to))  # to the leader: nothing changes
            assert run(cluster_driver.leader(c.cluster)) == to
        finally:
            run(cluster_driver.handover(c.cluster, first))
        assert run(cluster_driver.leader(c.cluster)) == first

    def test_handover_to_a_stranger_is_refused(
        self, run: Run, cluster_driver: ClusterDriver, cluster_case: ClusterCase
    ) -> None:
        c = cluster_case
        first = run(cluster_driver.leader(c.cluster))
        with pytest.raises(DriverError):
            run(cluster_driver.handover(c.cluster, "no-such-member"))
        assert run(cluster_driver.leader(c.cluster)) == first

    def test_unknown_cluster_is_a_driver_error(
        self, run: Run, cluster_driver: ClusterDriver, cluster_case: ClusterCase
    ) -> None:
        with pytest.raises(DriverError):
            run(cluster_driver.leader("no-such-cluster"))
        with pytest.raises(DriverError):
            run(cluster_driver.handover("no-such-cluster", cluster_case.members[0]))

    def _packages(self, case: ClusterCase) -> Mapping[str, str]:
        if case.packages is None:
            pytest.skip(f"{case.cluster} has no controller to distribute patches")
        return case.packages

    def test_the_controller_refuses_to_distribute_nothing(
        self, run: Run, cluster_driver: ClusterDriver, cluster_case: ClusterCase
    ) -> None:
        self._packages(cluster_case)
        with pytest.raises(DriverError):
            run(cluster_driver.distribute(cluster_case.cluster))

    def test_the_controller_rolls_the_uploaded_set_out_to_every_member(
        self, run: Run, cluster_driver: ClusterDriver, cluster_case: ClusterCase
    ) -> None:
        c = cluster_case
        packages = dict(self._packages(c))
        run(cluster_driver.upload(c.cluster, packages))
        progress = run(cluster_driver.distribute(c.cluster))
        assert set(progress) == set(c.members), "progress is read back for every member"
        for member, versions in progress.items():
            assert versions == packages, f"{member} runs {versions}, wanted {packages}"
