"""The address a stack was brought up at is recorded: a later `up` without `--advertise` (a
fault test restarting one stopped service) keeps it, the env file names it, and a running stack
refuses another one. Stand-in services (`sleep` processes) play the servers, at 127.0.3.7, an
address of every Linux machine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from testenv.advertising import Advertised
from testenv.errors import StackError
from testenv.layout import Layout
from testenv.processes import is_alive, spawn
from testenv.services.base import Context
from testenv.stack import Stack, StackState

ALIAS = "127.0.3.7"


class StandIn:
    """A service that records the address it was started at."""

    version = "1"
    port_names: dict[str, int | None] = {"port": None}
    stop_timeout = 5.0

    def __init__(self, name: str) -> None:
        self.name = name
        self.started_at: list[str] = []

    def install(self, layout: Layout) -> None:
        """Nothing to install."""

    def start(self, ctx: Context) -> int:
        self.started_at.append(ctx.host)
        return spawn(["sleep", "60"], log_file=ctx.layout.log_file(self.name), cwd=Path("/"))

    def env(self, ctx: Context) -> dict[str, str]:
        return {f"DQ_{self.name.upper()}": f"{ctx.host}:{ctx.ports['port']}"}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(
        Layout(cache=tmp_path / "cache", state=tmp_path / "state"),
        [StandIn("kafka"), StandIn("postgres")],
    )
    yield stack
    stack.down()


def started_at(stack: Stack, name: str) -> list[str]:
    (service,) = [s for s in stack.services if s.name == name]
    assert isinstance(service, StandIn)
    return service.started_at


def test_without_advertise_the_stack_stays_on_loopback(stack: Stack) -> None:
    stack.up()

    assert stack.advertised() is None
    assert started_at(stack, "kafka") == ["127.0.0.1"]
    assert stack.env()["DQ_KAFKA"].startswith("127.0.0.1:")


def test_the_advertised_address_is_recorded_and_named_in_the_env_file(stack: Stack) -> None:
    stack.up(advertise=ALIAS)

    assert stack.advertised() == Advertised(address=ALIAS, network="127.0.0.0/8")
    assert started_at(stack, "kafka") == [ALIAS]
    assert stack.env()["DQ_POSTGRES"].startswith(f"{ALIAS}:")
    recorded = json.loads(stack.layout.state_file.read_text())["advertised"]
    assert recorded == {"address": ALIAS, "network": "127.0.0.0/8"}


def test_a_stopped_service_started_again_without_advertise_keeps_the_address(
    stack: Stack,
) -> None:
    stack.up(advertise=ALIAS)
    ports = {row.name: row.ports for row in stack.status()}
    stack.stop_service("kafka")

    stack.start_service("kafka")

    assert started_at(stack, "kafka") == [ALIAS, ALIAS]
    assert {row.name: row.ports for row in stack.status()} == ports
    assert stack.env()["DQ_KAFKA"] == f"{ALIAS}:{ports['kafka']['port']}"


def test_the_rest_of_a_stack_joins_it_at_its_address(stack: Stack) -> None:
    stack.up(["kafka"], advertise=ALIAS)

    stack.up(["postgres"])

    assert started_at(stack, "postgres") == [ALIAS]


def test_a_running_stack_refuses_another_address_and_keeps_running(stack: Stack) -> None:
    stack.up(["kafka"])

    with pytest.raises(StackError, match=r"\(kafka\) are reachable at 127\.0\.0\.1; stop them"):
        stack.up(advertise=ALIAS)

    assert all(row.alive for row in stack.status() if row.name == "kafka")
    assert started_at(stack, "postgres") == []
    assert stack.advertised() is None


def test_after_down_the_next_stack_starts_on_loopback_again(stack: Stack) -> None:
    stack.up(advertise=ALIAS)
    pids = [row.pid for row in stack.status()]

    stack.down()
    stack.up()

    assert not any(pid is not None and is_alive(pid) for pid in pids)
    assert stack.advertised() is None
    assert started_at(stack, "kafka") == [ALIAS, "127.0.0.1"]


def test_a_state_file_written_before_advertise_existed_reads_as_loopback() -> None:
    state = StackState.from_json(
        json.dumps(
            {
                "services": {"kafka": {"pid": 1, "ports": {"port": 9092}}},
                "secrets": {"s3_access_key": "a", "s3_secret_key": "s", "kube_admin_token": "t"},
            }
        )
    )

    assert state.advertised is None
    assert StackState.from_json(state.to_json()) == state
