from __future__ import annotations

from patchwarden.assess.diff import diff_findings
from patchwarden.domain.advisories import Finding


def _f(asset: str, adv: str, installed: str = "1") -> Finding:
    return Finding(
        asset_id=asset,
        advisory_id=adv,
        package="p",
        ecosystem="PyPI",
        installed=installed,
        fixed="9",
        severity="high",
    )


def test_new_resolved_still_open_and_moved() -> None:
    before = [_f("a", "X"), _f("a", "Y"), _f("b", "X")]
    after = [_f("a", "Y", installed="2"), _f("b", "X"), _f("c", "Z")]
    d = diff_findings(before, after)
    assert [f.asset_id + f.advisory_id for f in d.new] == ["cZ"]
    assert [f.asset_id + f.advisory_id for f in d.resolved] == ["aX"]
    assert [f.asset_id + f.advisory_id for f in d.still_open] == ["aY", "bX"]
    assert [(o.installed, n.installed) for o, n in d.moved] == [("1", "2")]
    assert d.counts() == {"new": 1, "resolved": 1, "still_open": 2}
