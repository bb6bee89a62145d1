"""The model's life in the app: loaded in a worker, ended at once on quit, started again after a
failed load or a stopped model process; a question asked meanwhile waits for it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

from opencoder_local.engine.protocol import Engine
from opencoder_local.errors import UserError

if TYPE_CHECKING:
    from opencoder_local.tui.screens.chat import ChatScreen


class EngineLoaded(Message):
    def __init__(self, engine: Engine):
        super().__init__()
        self.engine = engine


class EngineFailed(Message):
    def __init__(self, error: str):
        super().__init__()
        self.error = error


class ModelFlow:
    def __init__(self, screen: ChatScreen):
        self.screen = screen
        self.loading = False
        self.queued_for: int | None = None  # the conversation whose question waits for the model
        self._loading_engine: Engine | None = None
        self._closing = False

    def load(self) -> None:
        self.loading = True
        self.screen.status.set_state(f"loading {self.screen.settings.model}…", "-busy")
        self.screen.run_worker(self._load, thread=True, exclusive=True, group="load")

    def _load(self) -> None:
        screen = self.screen
        try:
            engine = screen.engine_factory(screen.settings)
            self._loading_engine = engine  # quitting from now on ends its load at once
            if self._closing:
                engine.close()
            engine.wait_ready()
        except UserError as exc:
            screen.post_message(EngineFailed(str(exc)))
        except Exception as exc:  # a broken install must still be a notice, not a dead app
            screen.post_message(EngineFailed(f"{type(exc).__name__}: {exc}"))
        else:
            screen.post_message(EngineLoaded(engine))

    def close(self) -> None:
        """End the model (and a model still loading) at once: quitting never waits for llama.cpp."""
        self._closing = True
        for engine in (self._loading_engine, self.screen.session.engine):
            if engine is not None:
                engine.close()

    def loaded(self, engine: Engine) -> None:
        screen = self.screen
        self.loading = False
        self._loading_engine = None
        screen.session.engine = engine
        screen.sync_files()  # counted with the model's own vocabulary from now on
        screen.status.set_model(engine.model_name, engine.quantization, engine.backend)
        if not engine.chat_mode:
            screen.notify("This model has no chat template: it continues your text instead of answering it.",
                          title="Completion model", timeout=10)
        screen.status.set_state("ready", "-ready")
        screen.schedule_count()
        queued, self.queued_for = self.queued_for, None
        if queued is not None and self._unanswered(queued):
            screen.call_later(screen.start_answer)

    def failed(self, error: str) -> None:
        self.loading = False
        self._loading_engine = None
        self.screen.status.set_state("no model", "-error")
        self.screen.notify(f"{error}\nChoose another model with --model, or fix the file, then restart.",
                           title="The model could not be loaded", severity="error", timeout=30, markup=False)

    def stopped(self, error: str) -> None:
        """The model process died: keep everything, start a fresh one with the next question."""
        screen = self.screen
        engine, screen.session.engine = screen.session.engine, None
        if engine is not None:
            engine.close()
        screen.status.set_state("model stopped", "-error")
        screen.notify(f"{error}.\nYour conversation is saved; the next question starts the model again.",
                      title="The model stopped", severity="error", timeout=30, markup=False)

    def wait_for_it(self) -> None:
        """A question with no model yet: it is answered once the model has loaded (a new load if needed)."""
        conversation = self.screen.session.conversation
        self.queued_for = conversation.id if conversation else None
        self.screen.notify("Your message will be sent as soon as the model has loaded.")
        if not self.loading:
            self.load()  # after a failed load or a stopped model process: try again

    def forget_queued(self) -> None:
        """Before the conversation changes: a question waiting for the model stays where it is."""
        if self.queued_for is not None:
            self.screen.notify("Your question was not sent: the model is still loading. "
                               "Open that conversation again and press Ctrl+R to have it answered.", timeout=10)
        self.queued_for = None

    def _unanswered(self, conversation_id: int) -> bool:
        """Is that conversation the current one, ending with a question that has no answer yet?"""
        conversation, messages = self.screen.session.conversation, self.screen.session.messages
        return (conversation is not None and conversation.id == conversation_id
                and bool(messages) and messages[-1].role == "user")
