"""The Textual chat app: a thin skin over the engine, the context and the store."""

from __future__ import annotations

import gc

from opencoder_local.settings import ChatSettings


def tune_gc() -> None:
    """Once per process, after the imports and before an app runs (bench/tui.py calls it too).

    Python's cyclic GC, at its default thresholds, walks every Markdown block and style object
    several times a second while an answer streams: measured 60-100 ms frame gaps at the model's
    pace. Freezing what start-up built and collecting less often: < 45 ms. Not in on_mount, which
    runs for every app a test builds."""
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


def run_tui(settings: ChatSettings) -> int:
    """Run the chat app until the user quits; the exit code for `opencoder-chat`."""
    from opencoder_local.tui.app import make_app

    app = make_app(settings)
    tune_gc()
    app.run()
    return app.return_code or 0
