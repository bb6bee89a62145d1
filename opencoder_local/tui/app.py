"""The Textual app: opens the store, applies the theme, shows the chat screen (or, with no model
installed or configured, the first-run screen that pulls one and then opens the chat on it)."""

from __future__ import annotations

import asyncio
from typing import Callable

from textual.app import App

from opencoder_local import locations
from opencoder_local.context.session import ChatSession
from opencoder_local.engine.protocol import Engine
from opencoder_local.errors import UserError
from opencoder_local.models.pull_process import PullArgv, pull_argv
from opencoder_local.settings import ChatSettings, gen_params, open_chat_engine, project_folder
from opencoder_local.store import Store, StoreError
from opencoder_local.terminal_text import printable
from opencoder_local.tui.screens.chat import ChatScreen

EngineFactory = Callable[[ChatSettings], Engine]
QUIT_WAIT = 0.5  # seconds the quit waits for workers; one stuck in a read that never ends is left behind


def load_real_engine(settings: ChatSettings) -> Engine:
    """The llama.cpp engine for these settings, loading in its own process, or the model on a server
    that --model names."""
    return open_chat_engine(settings, isolated=True)


class OpenCoderApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "opencoder"

    def __init__(self, settings: ChatSettings, engine_factory: EngineFactory, pull_argv: PullArgv):
        super().__init__()
        self.settings = settings
        self.engine_factory = engine_factory
        self.pull_argv = pull_argv
        self.store: Store | None = None

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every notice (a screen's or a widget's come here too) shows control characters escaped: it may
        quote a server, a model process's stderr or a file name, whose ESC must not drive the terminal."""
        super().notify(printable(message), title=printable(title), severity=severity, timeout=timeout,
                       markup=markup)

    def on_mount(self) -> None:
        self._apply_theme()
        try:
            self.store = Store.open(locations.database_path(), self._store_notice)
        except StoreError as exc:
            self.store = Store.open(":memory:")
            self.notify(f"{exc}\nThis session's conversations will not be saved.",
                        title="Conversations are not saved", severity="error", timeout=30, markup=False)
        if self.settings.model is None:  # nothing installed or configured: choose and pull one first
            from opencoder_local.tui.screens.first_run import FirstRunScreen  # its table and the catalog: only then

            self.push_screen(FirstRunScreen(self.pull_argv), self.open_chat)
        else:
            self.open_chat(self.settings.model)

    def open_chat(self, model: str) -> None:
        """The chat screen on `model` (the first-run screen has gone by now: it is replaced, not stacked)."""
        self.settings = self.settings.with_overrides(model=model)
        session = ChatSession(self.store, gen_params(self.settings), self.settings.system, self.settings.model,
                              project_folder(self.settings), self.settings.map_tokens, map_scanned_apart=True)
        self.push_screen(ChatScreen(session, self.settings, self.engine_factory))

    def _store_notice(self, text: str) -> None:
        """What the store did to keep the user's conversations (it may call from a worker thread)."""
        self.notify(text, title="Conversations", severity="warning", timeout=30, markup=False)

    def _apply_theme(self) -> None:
        theme = self.settings.theme
        if not theme:
            return
        if theme in self.available_themes:
            self.theme = theme
        else:
            known = ", ".join(sorted(self.available_themes))
            self.notify(f"Unknown theme {theme!r}; using the default. Known themes: {known}.",
                        title="Theme", severity="warning", timeout=15, markup=False)

    def _handle_exception(self, error: Exception) -> None:
        """A UserError escaping any handler (a disk failing while renaming, say) is a notice, not a crash."""
        if isinstance(error, UserError):
            self.notify(str(error), title="That did not work", severity="error", timeout=15, markup=False)
            return
        super()._handle_exception(error)

    async def on_unmount(self) -> None:
        # The screens are closed by now (ChatScreen.shut_down stopped the answer and the model):
        # the workers end before the database closes, or are left behind (a read of a pipe, a server
        # that never answers: quitting never waits on them; run_app ends the process around them).
        try:
            await asyncio.wait_for(self.workers.wait_for_complete(), QUIT_WAIT)
        except asyncio.TimeoutError:
            pass
        if self.store is not None:
            self.store.close()


def make_app(settings: ChatSettings, engine_factory: EngineFactory | None = None,
             pull: PullArgv = pull_argv) -> OpenCoderApp:
    """The app as `opencoder-chat` runs it; tests pass a scripted engine factory, and a pull command
    that brings a tiny model in from a folder (or fails)."""
    return OpenCoderApp(settings, engine_factory or load_real_engine, pull)
