"""Run the app headless, ask one question, and stream a long answer until killed.

Each piece the engine hands to the app is reported on stdout as "<unix time> <chars so far>",
so the parent can tell how much of the answer existed at any moment before its SIGKILL.
"""

from __future__ import annotations

import asyncio
import sys
import time

from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app
from tui.scripted import ScriptedEngine

ANSWER = "".join(f"Line {i}: some streamed words for the answer.\n\n" for i in range(2000))


class ReportingEngine(ScriptedEngine):
    def stream(self, messages, params):
        sent = 0
        for delta in super().stream(messages, params):
            yield delta
            sent += len(delta.text)
            print(f"{time.time():.4f} {sent}", flush=True)


async def main() -> None:
    app = make_app(ChatSettings(model="demo"), lambda _s: ReportingEngine(ANSWER, delay=0.005))
    async with app.run_test(size=(100, 30)) as pilot:
        while app.screen.session.engine is None:
            await pilot.pause(0.01)
        app.screen.prompt_input.text = "Stream for a long time."
        await pilot.press("enter")
        await asyncio.sleep(3600)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
