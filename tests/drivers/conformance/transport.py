"""Conformance of transports: how every fact and action reaches a host.

The contract every fact parser relies on: an argument vector reaches the program verbatim
(no shell sees it), a failing command is a result and not an exception, a program that is
not there exits 127, and only an unreachable host or a timeout raises.
"""

from __future__ import annotations

import time

import pytest

from conformance.run import Run
from patchwarden.drivers.transport import CommandResult, Transport
from patchwarden.errors import DriverError, TransientDriverError


class TransportConformance:
    """Fixtures: ``run``, ``transport``, ``transport_host`` (a host it reaches)."""

    timeout_slack_s = 10.0
    """How much longer than its limit a timed-out command may take to be given up."""

    def test_a_command_returns_its_output_status_host_and_argv(
        self, run: Run, transport: Transport, transport_host: str
    ) -> None:
        result = run(transport.run(transport_host, ["echo", "hello"]))
        assert isinstance(result, CommandResult)
        assert (result.host, result.argv) == (transport_host, ("echo", "hello"))
        assert (result.exit_status, result.stdout, result.ok) == (0, "hello\n", True)

    def test_arguments_reach_the_program_verbatim(
        self, run: Run, transport: Transport, transport_host: str
    ) -> None:
        tricky = ["$HOME", "a;b", "x y", "'q'", '"d"', "`id`", "*", "\\n", ""]
        result = run(transport.run(transport_host, ["printf", "%s|", *tricky]))
        assert result.stdout == "|".join(tricky) + "|", "no shell may interpret data"

    def test_a_failing_command_is_a_result_not_an_exception(
        self, run: Run, transport: Transport, transport_host: str
    ) -> None:
        result = run(transport.run(transport_host, ["sh", "-c", "echo oops >&2; exit 3"]))
        assert (result.exit_status, result.ok) == (3, False)
        assert result.stderr.strip() == "oops"
        with pytest.raises(DriverError, match="exited 3: oops"):
            result.check()

    def test_a_missing_program_exits_127(
        self, run: Run, transport: Transport, transport_host: str
    ) -> None:
        result = run(transport.run(transport_host, ["/no/such/program", "--version"]))
        assert result.exit_status == 127  # what dnf's and rpm's fallbacks look for

    def test_environment_variables_reach_the_program(
        self, run: Run, transport: Transport, transport_host: str
    ) -> None:
        env = {"PW_CONFORMANCE": "two words; $HOME"}
        result = run(transport.run(transport_host, ["printenv", "PW_CONFORMANCE"], env=env))
        assert result.stdout == "two words; $HOME\n"

    def test_bad_input_is_refused_before_anything_runs(
        self, run: Run, transport: Transport, transport_host: str
    ) -> None:
        with pytest.raises(DriverError):
            run(transport.run(transport_host, []))
        with pytest.raises(DriverError):
            run(transport.run(transport_host, ["true"], env={"A=B; rm -rf /": "x"}))

    def test_a_command_never_waits_for_input(
        self, run: Run, transport: Transport, transport_host: str
    ) -> None:
        result = run(transport.run(transport_host, ["cat"], timeout_s=10))
        assert (result.exit_status, result.stdout) == (0, "")

    def test_a_command_past_its_limit_is_a_transient_error(
        self, run: Run, transport: Transport, transport_host: str
    ) -> None:
        started = time.monotonic()
        with pytest.raises(TransientDriverError, match="timed out"):
            run(transport.run(transport_host, ["sleep", "30"], timeout_s=0.5))
        assert time.monotonic() - started < 0.5 + self.timeout_slack_s

    def test_a_disconnected_host_is_reached_again(
        self, run: Run, transport: Transport, transport_host: str
    ) -> None:
        run(transport.run(transport_host, ["true"]))
        run(transport.disconnect(transport_host))
        run(transport.disconnect(transport_host))  # forgetting twice is harmless
        assert run(transport.run(transport_host, ["echo", "again"])).stdout == "again\n"
