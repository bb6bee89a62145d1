"""The two deadlines of a stop, against model processes that misbehave on purpose.

A real model process cannot be frozen between reading a stop and ending its turn on demand (a SIGSTOP
lands some milliseconds after kill() returns, and its reader may acknowledge a stop in between: that
race once froze the app's stop for ever). These stand-ins speak the real wire and do exactly one
thing wrong, at exactly one moment; the app's side is the real ProcessEngine."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from opencoder_local.engine import process
from opencoder_local.engine.process import ProcessEngine
from opencoder_local.engine.protocol import EngineStoppedError, GenParams, Message
from opencoder_local.models.registry import model_file

from engine.test_process import read_in_a_thread

pytestmark = pytest.mark.model  # the demo model's vocabulary counts the prompt

# The stand-in: loads nothing, answers a turn with one piece, then does what argv[3] says on a cancel.
STAND_IN = '''
import socket, sys, time
from opencoder_local.engine.protocol import TurnStats
from opencoder_local.engine.wire import REQUESTS, Cancel, Channel, Done, Piece, Ready, Stopping, Turn

behaviour = sys.argv[1]
channel = Channel(socket.socket(fileno=int(sys.argv[2])), REQUESTS)
channel.send(Ready("stand-in", 4096, 1))
for batch in channel.batches():
    for request in batch:
        if isinstance(request, Turn):
            channel.send(Piece(request.turn, "x"))
        elif isinstance(request, Cancel):
            if behaviour == "never-acknowledges":
                continue
            channel.send(Stopping(request.turn))
            if behaviour == "acknowledges-then-freezes":
                time.sleep(3600)
            while behaviour == "acknowledges-then-goes-on":
                channel.send(Piece(request.turn, "y"))
                time.sleep(0.05)
            if behaviour == "acknowledges-then-ends-slowly":
                time.sleep(process.CANCEL_DEADLINE_S * 2)  # a slow last token: longer than the first deadline
                channel.send(Done(request.turn, "", TurnStats(1, 0, 1, 0.1, 1.0, "cancelled")))
'''.replace("process.CANCEL_DEADLINE_S", repr(process.CANCEL_DEADLINE_S))


def stand_in(tmp_path: Path, behaviour: str) -> ProcessEngine:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)

    class StandIn(ProcessEngine):
        child_command = (str(script), behaviour)

    engine = StandIn(model_file("demo"))
    engine.wait_ready()
    return engine


def stop_mid_answer(engine: ProcessEngine) -> tuple[dict, float]:
    """Read a turn in a thread, cancel it after its first piece; the reader's outcome and the cancel's time."""
    deltas = iter(engine.stream([Message("user", "hello")], GenParams(max_tokens=100)))
    next(deltas)  # the first piece: the answer is under way
    result = read_in_a_thread(deltas)
    started = time.monotonic()
    engine.cancel()
    return result, started


@pytest.fixture(autouse=True)
def short_stop_deadline(monkeypatch):
    monkeypatch.setattr(process, "STOP_DEADLINE_S", 3.0)


@pytest.mark.parametrize("behaviour, deadline", [("never-acknowledges", "CANCEL_DEADLINE_S"),
                                                 ("acknowledges-then-freezes", "STOP_DEADLINE_S"),
                                                 ("acknowledges-then-goes-on", "STOP_DEADLINE_S")])
def test_a_stop_that_is_not_honoured_kills_the_process_after_its_deadline(tmp_path, behaviour, deadline):
    engine = stand_in(tmp_path, behaviour)
    try:
        result, started = stop_mid_answer(engine)
        assert result["ended"].wait(30), "the stop waited on the process for ever"
        waited = time.monotonic() - started
        assert waited >= getattr(process, deadline) * 0.9  # not killed before its deadline
        assert "stopped responding while answering" in str(result.get("error"))
        assert engine.exit_code == -signal.SIGKILL
    finally:
        engine.close()


def test_an_acknowledged_stop_may_take_longer_than_the_first_deadline_to_end(tmp_path):
    engine = stand_in(tmp_path, "acknowledges-then-ends-slowly")
    try:
        result, _ = stop_mid_answer(engine)
        assert result["ended"].wait(30)
        assert "error" not in result, result.get("error")
        assert result["stats"].stop_reason == "cancelled"
        assert engine.exit_code is None  # alive: a slow last token is not a hung process
    finally:
        engine.close()
