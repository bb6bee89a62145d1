"""The Textual chat app: a thin skin over the engine, the context and the store."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading

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
    return run_app(app)


def run_app(app, **options) -> int:
    """Run the app, and end the process at once when it ends, whatever a worker thread is doing.

    A thread worker stuck in a read that never returns (a pipe, a kernel file, a server that never
    answers) would hold the exit forever: asyncio.run joins the default executor's threads, and so
    does the interpreter at exit. So the loop is ours (its executor shut down without waiting), and
    when such a thread is still alive the process leaves by os._exit once the app has closed the
    store and restored the terminal."""
    loop = asyncio.new_event_loop()
    try:
        app.run(loop=loop, **options)
    finally:
        _close_loop(loop)
    code = app.return_code or 0
    if _stuck_threads():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """asyncio.run's clean-up without its wait for the default executor's threads."""
    try:
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()  # shuts the executor down with wait=False


def _stuck_threads() -> list[threading.Thread]:
    main = threading.main_thread()
    return [thread for thread in threading.enumerate()
            if thread is not main and not thread.daemon and thread.is_alive()]
