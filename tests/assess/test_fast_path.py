"""The fleet-scale assessment gives exactly what the plain, one-at-a-time path gives."""

from __future__ import annotations

import pytest

from patchwarden.assess.assessment import assess
from patchwarden.assess.policy import Policy
from patchwarden.assess.reference import assess_reference
from patchwarden.testing.fleets import generated_fleet


@pytest.mark.parametrize("seed", [1, 20261126, 4242])
def test_findings_and_decisions_are_byte_identical_to_the_reference(seed: int) -> None:
    fleet = generated_fleet(seed)
    args = (fleet.inventory, fleet.advisories, fleet.now, Policy())
    history = {"failures": fleet.failures, "first_seen": fleet.first_seen}
    fast = assess(*args, **history)
    plain = assess_reference(*args, **history)
    # The fleet reaches every rule, so that an equal result says something.
    assert len(plain.findings) > 500
    assert {d.action for d in plain.decisions} == {"emergency", "next_window", "defer", "ignore"}
    reasons = " ".join(d.reason for d in plain.decisions)
    for words in ("failed in", "provider patches", "no fixed version", "KEV-listed", "EPSS"):
        assert words in reasons, words
    assert [f.model_dump_json() for f in fast.findings] == [
        f.model_dump_json() for f in plain.findings
    ]
    assert [d.model_dump_json() for d in fast.decisions] == [
        d.model_dump_json() for d in plain.decisions
    ]
    # Equal as values too: same field types (a list where a tuple belongs would differ).
    assert fast.findings == plain.findings
    assert fast.decisions == plain.decisions
