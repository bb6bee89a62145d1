"""Pilot helpers shared by the TUI tests."""

from __future__ import annotations

import time

from opencoder_local.tui.widgets.status_bar import StatusBar


async def wait_for(pilot, condition, timeout: float = 300.0) -> None:
    """Let the app run until `condition()` holds; fail with a clear message if it never does.

    The timeout only ends a test that is already failing: a loaded 2-core machine runs the demo
    model ten times slower (2–5 tok/s seen with other work running), so it is generous."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {getattr(condition, '__name__', condition)}")
        await pilot.pause(0.02)


async def ready(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.screen.session.engine is not None)


async def ask(pilot, text: str) -> None:
    """Type a question, send it, and wait for the whole answer."""
    screen = pilot.app.screen
    before = len(screen.session.messages)
    screen.prompt_input.text = text
    await pilot.press("enter")
    await answered(pilot, before + 2)


async def answered(pilot, count: int) -> None:
    """Wait until the conversation has `count` messages and the answer is shown as finished."""
    screen = pilot.app.screen

    def done() -> bool:
        return len(screen.session.messages) >= count and not screen.generating

    await wait_for(pilot, done)
    await pilot.pause(0.05)


def status_label(app, name: str) -> str:
    """What the status bar's label `name` (model, backend, rate, context, ...) shows."""
    return str(app.screen.query_one(StatusBar).query_one(f"#{name}").render())


def notices(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


class SharedEngine:
    """The session's demo engine as each app sees it: quitting an app does not end the shared model."""

    def __init__(self, engine):
        self._engine = engine

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def close(self) -> None:
        self._engine.cancel()
