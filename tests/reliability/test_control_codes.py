"""Class A of issue 19: terminal control codes from a model, a file, a server or a child process never
reach the terminal. One row a surface; each shows hostile text and checks that no raw control
character (ESC, BEL, the 8-bit CSI and OSC) is in what is drawn or printed, and that the text is
still there, escaped (`\\x1b`). What is stored or sent to the model is left as it came."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from fixtures.fake_llama_server import FakeLlamaServer, _Handler
from opencoder_local.engine.protocol import Delta, EngineStoppedError
from opencoder_local.errors import UserError, run_guarded
from opencoder_local.settings import ChatSettings
from opencoder_local.terminal_text import printable, printable_lines
from opencoder_local.tui.app import make_app
from opencoder_local.tui.screens.review import HunkView, ReviewScreen
from opencoder_local.tui.widgets.chat_log import MessageView

from tui.helpers import ask, notices, ready, wait_for
from tui.scripted import ScriptedEngine

BIN = Path(sys.executable).parent
TITLE = "\x1b]0;pwned title\x07"  # renames the window (a space inside: the scripted engine splits it)
CLIPBOARD = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # writes the clipboard
CLEAR = "\x1b[2J\x1b[H"  # clears the screen
EIGHT_BIT = "\x9b2J\x9d0;eight\x9c"  # the C1 forms of CSI, OSC and ST
HOSTILE = TITLE + CLIPBOARD + CLEAR + EIGHT_BIT
RAW = ("\x1b", "\x07", "\x9b", "\x9d", "\x9c", "\x7f", "\x00")


def assert_clean(text: str, where: str) -> None:
    found = sorted({repr(c) for c in text if c in RAW})
    assert not found, f"raw control characters {found} in {where}"
    assert "\\x1b" in text, f"the escaped text is not shown in {where}"


# --- the helper --------------------------------------------------------------------------------

def test_printable_escapes_controls_and_keeps_newline_and_tab():
    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("a\r\nb\rc") == "a\nbc"  # CR removed: no line written over
    assert printable(TITLE) == "\\x1b]0;pwned title\\x07"
    assert printable("\x00\x7f\x85\x9b\x9f") == "\\x00\\x7f\\x85\\x9b\\x9f"
    assert printable("é ✓ \u00a0 日本") == "é ✓ \u00a0 日本"  # printable text beyond ASCII is kept
    assert printable_lines("a\x1b\r\nb\n") == "a\\x1b\r\nb\n"  # a diff's CRLF lines stay CRLF


@pytest.mark.parametrize("cut", range(len(HOSTILE) + 1))
def test_printable_is_safe_on_fragments_split_anywhere(cut):
    fragments = printable(HOSTILE[:cut]) + printable(HOSTILE[cut:])
    assert fragments == printable(HOSTILE)
    assert not any(c in fragments for c in RAW)


# --- the TUI -----------------------------------------------------------------------------------

def drawn(app) -> str:
    """Every character the screen would draw now (its strips, notices included)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


class StoppingEngine(ScriptedEngine):
    """Dies mid-answer as the model process does, quoting its stderr's last words."""

    def _turn(self, prompt, answer):
        yield Delta("Partial ")
        raise EngineStoppedError(f"the model process exited with status 1 while answering ({HOSTILE})")


@dataclass
class Row:
    engine: Callable[[], ScriptedEngine]
    act: Callable[..., Awaitable[str]]  # does what shows the text; returns what the check reads


async def answer_shown(pilot) -> str:
    await ask(pilot, "hi")
    return drawn(pilot.app)


async def answer_reopened(pilot) -> str:
    await ask(pilot, "hi")
    screen = pilot.app.screen
    await screen.conversations.open(screen.session.store.last_conversation().id)
    await pilot.pause(0.1)
    assert len(screen.query(MessageView)) == 2
    return drawn(pilot.app)


async def model_stopped(pilot) -> str:
    screen = pilot.app.screen
    screen.prompt_input.text = "hi"
    await pilot.press("enter")
    await wait_for(pilot, lambda: "exited with status 1" in notices(pilot.app))
    await pilot.pause(0.1)
    return drawn(pilot.app) + "\n" + notices(pilot.app)


async def status_bar(pilot) -> str:
    await pilot.pause(0.1)
    return drawn(pilot.app)


def named(name: str) -> Callable[[], ScriptedEngine]:
    def make() -> ScriptedEngine:
        engine = ScriptedEngine("Hello.")
        engine.model_name = name
        return engine
    return make


TUI_ROWS = {
    "model prose": Row(lambda: ScriptedEngine(f"Here it is: {HOSTILE} done."), answer_shown),
    "model code fence": Row(lambda: ScriptedEngine(f"```python\nprint('{HOSTILE}')\n```\n"), answer_shown),
    "a stored answer opened again": Row(lambda: ScriptedEngine(f"Stored {HOSTILE} answer."), answer_reopened),
    "model id in the status bar": Row(named(f"evil{TITLE}model"), status_bar),
    "model stopped notice quoting stderr": Row(lambda: StoppingEngine("x"), model_stopped),
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", TUI_ROWS)
async def test_the_tui_draws_no_control_codes(name):
    row = TUI_ROWS[name]
    engine = row.engine()
    app = make_app(ChatSettings(model="demo"), lambda _s: engine)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await ready(pilot)
        assert_clean(await row.act(pilot), name)
        stored = [m.content for m in app.screen.session.messages if m.role == "assistant"]
        assert all("\\x1b" not in m for m in stored)  # the conversation keeps what the model said


@pytest.mark.anyio
async def test_the_review_diff_of_a_file_that_holds_control_codes(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    source = f"x = '{HOSTILE}'\ny = 1\n"
    (project / "evil.py").write_text(source)
    changed = source.replace("y = 1", f"y = '{CLEAR}'")
    engine = ScriptedEngine(f"`evil.py`\n```python\n{changed}```\n")
    app = make_app(ChatSettings(model="demo", project=str(project)), lambda _s: engine)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        pilot.app.screen.prompt_input.text = "/add evil.py"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.screen.files) == 1)
        await ask(pilot, "change y")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.pause(0.1)
        assert_clean(drawn(app) + "\n".join(str(v.render()) for v in app.screen.query(HunkView)), "the review")
        await pilot.press("y")
        await wait_for(pilot, lambda: (project / "evil.py").read_text() == changed)  # written as it came


# --- standard output and error -----------------------------------------------------------------

class _HostileHandler(_Handler):
    """A server whose model id, answer and error message hold control codes."""

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            return self._json({"object": "list", "data": [{"id": f"m{TITLE}", "meta": {"n_ctx_train": 2048}}]})
        return super().do_GET()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.server.fake.completion == "refuse":
            body = json.dumps({"error": {"code": 500, "message": f"boom {HOSTILE}"}}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self._start("text/event-stream")
        chat = self.path.startswith("/v1/chat/")
        for piece in ("Hi ", HOSTILE[:3], HOSTILE[3:], " bye"):  # an escape sequence split across events
            data = ({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]} if chat
                    else {"content": piece, "stop": False})
            self._write(b"data: " + json.dumps(data).encode() + b"\n\n")
        end = ({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]} if chat
               else {"content": "", "stop": True, "stop_type": "eos"})
        self._write(b"data: " + json.dumps(end).encode() + b"\n\n")


class HostileServer(FakeLlamaServer):
    def __init__(self, completion: str):
        super().__init__(completion=completion)
        self._httpd.RequestHandlerClass = _HostileHandler


def one_shot(url: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "opencoder-chat"), "--model", url, "-p", "hi", "--max-tokens", "20"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_one_shot_prints_a_hostile_answer_escaped_on_stdout():
    with HostileServer("answer") as server:
        done = one_shot(server.url)
    assert done.returncode == 0, done.stderr
    assert_clean(done.stdout, "-p's standard output")
    assert done.stdout.startswith("Hi \\x1b]0;pwned title\\x07")


def test_one_shot_prints_a_servers_hostile_error_escaped_on_stderr():
    with HostileServer("refuse") as server:
        done = one_shot(server.url)
    assert done.returncode == 1
    assert_clean(done.stderr, "-p's standard error")
    assert "boom" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_every_one_line_error_is_escaped(capsys):
    def fail() -> int:
        raise UserError(f"the model process said {HOSTILE}")

    assert run_guarded(fail, "opencoder") == 1
    err = capsys.readouterr().err
    assert_clean(err, "run_guarded's line")
    assert err.count("\n") == 1
