"""The Textual chat app: a thin skin over the engine, the context and the store."""

from __future__ import annotations

from opencoder_local.settings import ChatSettings


def run_tui(settings: ChatSettings) -> int:
    """Run the chat app until the user quits; the exit code for `opencoder-chat`."""
    from opencoder_local.tui.app import make_app

    app = make_app(settings)
    app.run()
    return app.return_code or 0
