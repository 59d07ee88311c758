"""Conformance of VM snapshots: taken before a patch, reverted to as its rollback, deleted.

A subclass provides ``run``, ``snapshot_driver`` and ``snapshot_case``. Each test deletes
the snapshots it took, so a real driver can share its lab between tests.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import pytest

from conformance.run import Run
from patchwarden.drivers.protocols import SnapshotDriver
from patchwarden.errors import DriverError

NAME = "pw-conformance"


@dataclass(frozen=True)
class SnapshotCase:
    """A VM that can be snapshotted, how to change it and read it back, and one that cannot.

    ``state`` reads what a patch changes and a revert must bring back (packages, boot id);
    ``change`` changes it as a patch would, from inside the VM.
    """

    vm: str
    state: Callable[[], Hashable]
    change: Callable[[], None]
    unsupported: str


class SnapshotConformance:
    """Fixtures: ``run``, ``snapshot_driver``, ``snapshot_case``."""

    def test_support_says_why_a_vm_cannot_be_snapshotted(
        self, run: Run, snapshot_driver: SnapshotDriver, snapshot_case: SnapshotCase
    ) -> None:
        assert run(snapshot_driver.snapshot_support(snapshot_case.vm)) is None
        reason = run(snapshot_driver.snapshot_support(snapshot_case.unsupported))
        assert isinstance(reason, str) and snapshot_case.unsupported in reason

    def test_create_and_delete_are_idempotent(
        self, run: Run, snapshot_driver: SnapshotDriver, snapshot_case: SnapshotCase
    ) -> None:
        vm = snapshot_case.vm
        assert NAME not in run(snapshot_driver.snapshots(vm))
        run(snapshot_driver.create_snapshot(vm, NAME))
        try:
            run(snapshot_driver.create_snapshot(vm, NAME))  # a resumed run repeats it
            assert run(snapshot_driver.snapshots(vm)).count(NAME) == 1
        finally:
            run(snapshot_driver.delete_snapshot(vm, NAME))
        run(snapshot_driver.delete_snapshot(vm, NAME))  # gone already: no error
        assert NAME not in run(snapshot_driver.snapshots(vm))

    def test_revert_brings_back_what_the_vm_had_when_the_snapshot_was_taken(
        self, run: Run, snapshot_driver: SnapshotDriver, snapshot_case: SnapshotCase
    ) -> None:
        c = snapshot_case
        before = c.state()
        run(snapshot_driver.create_snapshot(c.vm, NAME))
        try:
            c.change()
            assert c.state() != before, "the change is visible"
            run(snapshot_driver.revert_snapshot(c.vm, NAME))
            assert c.state() == before
            assert NAME in run(snapshot_driver.snapshots(c.vm)), "a revert keeps the snapshot"
        finally:
            run(snapshot_driver.delete_snapshot(c.vm, NAME))
        assert c.state() == before, "deleting a snapshot leaves the VM as it is"

    def test_reverting_to_a_missing_snapshot_is_refused(
        self, run: Run, snapshot_driver: SnapshotDriver, snapshot_case: SnapshotCase
    ) -> None:
        before = snapshot_case.state()
        with pytest.raises(DriverError):
            run(snapshot_driver.revert_snapshot(snapshot_case.vm, "pw-never-taken"))
        assert snapshot_case.state() == before
