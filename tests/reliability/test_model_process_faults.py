"""Faults of the model process under the running app, as a table: the real demo model in its own process.

Every row does something to the process (freeze it with SIGSTOP, flood its standard error) at some
moment and then what a person would do; the app must stay alive (a key still types), no answer may
be left "streaming", and once the app has quit no model process may be left running or frozen. A
stop that the process never answers is the same deadline wherever it is (row 3 of issue 19 is
tests/tui/test_model_process.py). A new fault is one new row."""

from __future__ import annotations

import os
import shlex
import signal
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from opencoder_local import locations
from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import load_real_engine, make_app

from tui.helpers import ask, notices, ready, status_label, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.model]

LONG_PROMPT = "Summarise this log:\n" + "\n".join(f"line {i}: request served in {i % 97} ms" for i in range(300))
FLOOD_BYTES = 50_000_000


class Factory:
    """The app's real engine factory; `on_start` may act on each new model process."""

    def __init__(self, on_start: Callable[[int, object], None] | None = None):
        self.on_start = on_start
        self.engines: list = []

    def __call__(self, settings):
        engine = load_real_engine(settings)
        if self.on_start is not None:
            self.on_start(len(self.engines), engine)
        self.engines.append(engine)
        return engine


def _freeze_the_first(index: int, engine) -> None:
    if index == 0:
        os.kill(engine.pid, signal.SIGSTOP)


async def _type_then_quit_while_frozen_loading(pilot, factory: Factory) -> None:
    await wait_for(pilot, lambda: factory.engines)
    await pilot.press("k")  # the load that never ends is in a worker: the screen still takes keys
    assert pilot.app.screen.prompt_input.text == "k" and "loading" in status_label(pilot.app, "state")
    await pilot.press("ctrl+q")  # close() kills it: quitting does not wait for a frozen load


async def _esc_on_a_frozen_long_prompt(pilot, factory: Factory) -> None:
    await ready(pilot)
    screen = pilot.app.screen
    screen.prompt_input.text = LONG_PROMPT
    await pilot.press("enter")
    await wait_for(pilot, lambda: screen.generating)
    os.kill(factory.engines[0].pid, signal.SIGSTOP)
    await pilot.press("escape")
    await wait_for(pilot, lambda: not screen.generating)  # the deadline on the stop: it never ends without it
    await wait_for(pilot, lambda: "stopped responding while answering" in notices(pilot.app))
    assert factory.engines[0].exit_code == -signal.SIGKILL
    await pilot.press("ctrl+n")  # a short question: the long prompt takes minutes on a loaded machine
    await ask(pilot, "Say hello.")
    assert len(factory.engines) == 2 and screen.session.messages[-1].content


async def _answer_despite_the_flood(pilot, factory: Factory) -> None:
    await ready(pilot)
    await ask(pilot, "Say hello.")
    assert pilot.app.screen.session.messages[-1].content  # a pipe nobody drained would have frozen the load


def _flooding_interpreter(tmp_path: Path, monkeypatch) -> None:
    """The model process starts by writing 50 MB in one line to its standard error, then loads as usual
    (the supervisor keeps a bounded tail of it: tests/test_children.py)."""
    wrapper = tmp_path / "python3"
    flood = f"head -c {FLOOD_BYTES} /dev/zero | tr '\\0' x >&2"
    wrapper.write_text(f"#!/bin/sh\n{flood}\nexec {shlex.quote(sys.executable)} \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(wrapper))


def _as_it_is(tmp_path: Path, monkeypatch) -> None:
    pass


@dataclass(frozen=True)
class Fault:
    name: str
    act: Callable[..., Awaitable[None]]  # the fault's moment and what the person does then
    on_start: Callable[[int, object], None] | None = None  # done to each model process as it starts
    before: Callable[[Path, object], None] = _as_it_is  # done to the environment before the app starts


FAULTS = [
    Fault("SIGSTOP while loading, then typing and Ctrl+Q", _type_then_quit_while_frozen_loading, _freeze_the_first),
    Fault("SIGSTOP during a long prompt, then Esc", _esc_on_a_frozen_long_prompt),
    Fault("a 50 MB line on its stderr while loading", _answer_despite_the_flood, before=_flooding_interpreter),
]


def _statuses() -> list[str]:
    path = locations.database_path()
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return [status for (status,) in db.execute("SELECT status FROM messages")]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_a_model_process_fault_leaves_the_app_alive_and_no_process_behind(fault: Fault, tmp_path, monkeypatch):
    fault.before(tmp_path, monkeypatch)
    factory = Factory(fault.on_start)
    app = make_app(ChatSettings(model="demo", max_tokens=20), factory)
    async with app.run_test(size=(120, 40)) as pilot:
        await fault.act(pilot, factory)
        if app.is_running:
            await pilot.press("k")
            assert app.screen.prompt_input.text.endswith("k")
    assert "streaming" not in _statuses()
    assert all(engine.exit_code is not None for engine in factory.engines)  # none left running, none left frozen
