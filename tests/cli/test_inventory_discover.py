"""`patchwarden inventory discover`: bad input is refused before any hypervisor is asked.

Discovery from running libvirt hypervisors is proven in the lab tier
(tests/lab/test_evacuation_real.py); these need no hypervisor.
"""

from __future__ import annotations

import pytest

from patchwarden.cli.main import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["libvirt", "not a uri"], "'not a uri' is not a libvirt URI"),
        (["libvirt", "qemu:///nowhere"], "is not a libvirt URI"),
        (["vsphere", "https://vc/sdk"], "cannot discover from 'vsphere' (known: libvirt)"),
    ],
)
def test_bad_input_exits_2_with_a_hint(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["inventory", "discover", *argv])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert message in captured.err
    assert captured.out == ""
