"""Conformance suites: one base class per driver protocol, subclassed for each implementation.

A subclass provides the fixtures named in each class docstring and nothing else; the tests
then hold the simulated estate and every real driver (against the lab) to one contract, as
Dagster's storage test suites do for its storage backends. A new real driver (a libvirt
hypervisor, an etcd cluster, a keepalived pair) is a subclass with fixtures.

Each test leaves the system as it found it where the protocol can undo (migrations, paths,
failovers, firmware), so real drivers can share one lab between tests.
"""

from conformance.appliance import (
    ApplianceCase,
    ApplianceConformance,
    FirmwareCase,
    FirmwareConformance,
    StorageCase,
    StorageConformance,
)
from conformance.clock import ClockConformance
from conformance.hosts import (
    Breakage,
    HealthCheckerConformance,
    PackageCase,
    PackageDriverConformance,
    PowerDriverConformance,
)
from conformance.image import ImageCase, ImageConformance
from conformance.journal import JournalConformance, OpenJournal
from conformance.lb import (
    LoadBalancerCase,
    LoadBalancerConformance,
    MetricsCase,
    TrafficMetricsConformance,
)
from conformance.platform import (
    ClusterCase,
    ClusterConformance,
    HypervisorCase,
    HypervisorConformance,
)
from conformance.run import Run
from conformance.snapshots import SnapshotCase, SnapshotConformance
from conformance.transport import TransportConformance

__all__ = [
    "ApplianceCase",
    "ApplianceConformance",
    "Breakage",
    "ClockConformance",
    "ClusterCase",
    "ClusterConformance",
    "FirmwareCase",
    "FirmwareConformance",
    "HealthCheckerConformance",
    "HypervisorCase",
    "HypervisorConformance",
    "ImageCase",
    "ImageConformance",
    "JournalConformance",
    "LoadBalancerCase",
    "LoadBalancerConformance",
    "MetricsCase",
    "OpenJournal",
    "PackageCase",
    "PackageDriverConformance",
    "PowerDriverConformance",
    "Run",
    "SnapshotCase",
    "SnapshotConformance",
    "StorageCase",
    "StorageConformance",
    "TrafficMetricsConformance",
    "TransportConformance",
]
