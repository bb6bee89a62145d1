"""The wire between the app and its model process: typed messages, and one error for anything else."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from opencoder_local.engine.protocol import EngineOptions, EngineStoppedError, GenParams, Message, TurnStats
from opencoder_local.engine.wire import (EVENTS, LOAD, REQUESTS, Cancel, Channel, Done, Error, Failed, Load, Piece,
                                         Ready, Stopping, Turn, WireError, decode, encode)
from opencoder_local.errors import UserError
from opencoder_local.models.registry import model_file, open_model

STATS = TurnStats(12, 4, 3, 0.25, 31.5, "stop", drafted_tokens=2, accepted_tokens=1)
REQUEST_EXAMPLES = [
    Turn(1, (1, 2, 3), 100, GenParams(temperature=0.7, max_tokens=None, seed=7)),
    Cancel(4),
]
EVENT_EXAMPLES = [
    Ready("CPU", 4096, 2),
    Failed("--threads must be between 1 and 64"),
    Piece(1, "caf\u00e9 \ud83d"),  # a lone surrogate: a token can end inside a character
    Stopping(1),
    Done(1, "", STATS),
    Error(2, "RuntimeError: llama_decode returned -3"),
]


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    yield Channel(ours, EVENTS), Channel(theirs, REQUESTS)  # the app's end, the model's
    ours.close()
    theirs.close()


def test_every_message_goes_over_a_socket_and_back_unchanged(pair):
    app, model = pair
    for event in EVENT_EXAMPLES:
        model.send(event)
    for request in REQUEST_EXAMPLES:
        app.send(request)
    model.shutdown()
    app.shutdown()
    assert [event for batch in app.batches() for event in batch] == EVENT_EXAMPLES
    assert [request for batch in model.batches() for request in batch] == REQUEST_EXAMPLES


def test_the_load_line_round_trips_and_is_ascii():
    load = Load("/models/\u00fcber.gguf", EngineOptions(n_ctx=2048, lookup=True))
    line = encode(load)
    assert line.isascii() and line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode(line.decode(), LOAD) == load


def test_messages_waiting_together_arrive_as_one_batch_and_a_split_line_waits_for_its_end(pair):
    app, model = pair
    for i in range(5):
        model.send(Piece(1, f"t{i}"))
    line = encode(Done(1, "!", STATS))
    model.sock.sendall(line[:10])
    batches = app.batches()
    assert next(batches) == [Piece(1, f"t{i}") for i in range(5)]
    model.sock.sendall(line[10:])
    assert next(batches) == [Done(1, "!", STATS)]


@pytest.mark.parametrize(("line", "says"), [
    (b"not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[" * 100_000, "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"turn": 1}', "without a tag"),
    (b'{"tag": "launch", "turn": 1}', "unknown kind 'launch'"),
    (b'{"tag": "turn", "turn": 1}', "unknown kind 'turn'"),  # a request is no event
    (b'{"tag": ["piece"], "turn": 1, "text": ""}', "unknown kind"),
    (b'{"tag": "piece", "turn": 1}', "without piece.text"),
    (b'{"tag": "piece", "turn": "1", "text": ""}', "piece.turn is not int"),
    (b'{"tag": "piece", "turn": true, "text": ""}', "piece.turn is not int"),
    (b'{"tag": "piece", "turn": 1, "text": "", "extra": 0}', "unknown field piece.extra"),
    (b'{"tag": "done", "turn": 1, "text": "", "stats": [1, 2]}', "done.stats is not TurnStats"),
    (b'{"tag": "done", "turn": 1, "text": "", "stats": {"prompt_tokens": 1}}', "without done.stats.gen_tok_s"),
    (b'{"tag": "ready", "backend": "CPU", "n_ctx": 4096.5, "n_threads": 2}', "ready.n_ctx is not int"),
])
def test_a_malformed_or_unknown_event_is_one_wire_error(line, says):
    with pytest.raises(WireError, match=says) as caught:
        decode(line, EVENTS)
    assert isinstance(caught.value, UserError) and "\n" not in str(caught.value)


@pytest.mark.parametrize("line", [
    b'{"tag": "turn", "turn": 1, "ids": [1, "2"], "max_new": 5, "params": {}}',
    b'{"tag": "turn", "turn": 1, "ids": [1, 2], "max_new": 5, "params": {"seed": "7"}}',
    b'{"tag": "turn", "turn": 1, "ids": {"0": 1}, "max_new": 5, "params": {}}',
    b'{"tag": "cancel", "turn": null}',
    b'{"tag": "ready", "backend": "CPU", "n_ctx": 1, "n_threads": 1}',  # an event is no request
])
def test_a_malformed_or_unknown_request_is_one_wire_error(line):
    with pytest.raises(WireError):
        decode(line, REQUESTS)


def test_a_bad_line_ends_the_batches_with_the_error(pair):
    app, model = pair
    model.send(Piece(1, "fine"))
    model.sock.sendall(b'{"tag": "piece"}\n')
    with pytest.raises(WireError, match="without piece.text"):
        list(app.batches())


def fake_child(tmp_path, script: str) -> str:
    """An "interpreter" for the model process that runs `script` with `model`, its socket, and a
    `say(line)` that sends a line on it."""
    path = tmp_path / "python3"
    path.write_text(f"#!{sys.executable}\n"
                    "import socket, sys, time\n"
                    "model = socket.socket(fileno=int(sys.argv[3]))\n"
                    "def say(line): model.sendall(line.encode() + b'\\n')\n" + textwrap.dedent(script))
    path.chmod(0o755)
    return str(path)


def test_a_model_process_that_sends_garbage_while_loading_is_stopped_as_if_it_had_died(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", fake_child(tmp_path, """
        say("Segmentation fault")
        time.sleep(60)
    """))
    engine = open_model("demo")
    with pytest.raises(EngineStoppedError, match=r"^the model process sent a message that is not JSON while "
                                                 r"loading the model and was stopped$"):
        engine.wait_ready()
    assert engine.exit_code == -signal.SIGKILL
    engine.close()


def test_a_model_process_that_sends_an_unknown_event_mid_answer_is_stopped(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", fake_child(tmp_path, """
        say('{"tag": "ready", "backend": "CPU", "n_ctx": 4096, "n_threads": 1}')
        model.recv(1)  # the turn has begun
        say('{"tag": "piece", "turn": 1, "text": "Hel"}')
        time.sleep(0.2)
        say('{"tag": "delta", "turn": 1, "text": "lo"}')  # a tag this app does not know
        time.sleep(60)
    """))
    engine = open_model("demo")
    engine.wait_ready()
    deltas = engine.stream([Message("user", "Hi")], GenParams(max_tokens=5))
    assert next(iter(deltas)).text == "Hel"
    with pytest.raises(EngineStoppedError, match="sent a message of unknown kind 'delta' while answering"):
        next(iter(deltas))
    assert engine.exit_code == -signal.SIGKILL
    with pytest.raises(EngineStoppedError):
        engine.stream([Message("user", "Hi")], GenParams())
    engine.close()


def run_child(load: str, sent: bytes) -> subprocess.CompletedProcess:
    """The real model process, with `sent` waiting on its socket before it starts."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.sendall(sent)
        return subprocess.run([sys.executable, "-m", "opencoder_local.engine.child", str(theirs.fileno()), load],
                              pass_fds=(theirs.fileno(),), capture_output=True, text=True, timeout=120)


def test_the_model_process_given_an_unknown_request_exits_with_one_line():
    load = encode(Load(str(model_file("demo").path), EngineOptions())).decode()
    child = run_child(load, b'{"tag": "launch"}\n')  # read at once, long before the model has loaded
    assert child.returncode == 2
    assert child.stderr == "opencoder: the model process got a message of unknown kind 'launch'\n"


def test_the_model_process_given_a_bad_load_line_exits_with_one_line():
    child = run_child('{"tag": "load", "options": {}}', b"")
    assert child.returncode == 2
    assert child.stderr == "opencoder: the model process got a message without load.model\n"
