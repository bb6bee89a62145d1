"""The model's life in the app: loaded in a worker, ended at once on quit, started again after a
failed load or a stopped model process; a question asked meanwhile waits for it (this flow holds it)."""

from __future__ import annotations

from typing import Callable

from opencoder_local.engine.protocol import Engine
from opencoder_local.errors import UserError
from opencoder_local.tui.flows.host import ChatHost, in_thread
from opencoder_local.tui.phase import Phase


class ModelFlow:
    def __init__(self, host: ChatHost, open_engine: Callable[[], Engine]):
        self.host = host
        self._open_engine = open_engine
        self._queued_for: int | None = None  # the conversation whose question waits for the model
        self._loading_engine: Engine | None = None
        self._closing = False

    @property
    def loading(self) -> bool:
        return self.host.phase.loading

    def load(self) -> None:
        """Load the model in the background; the chat can be used meanwhile."""
        self.host.phase = Phase.LOADING if self._queued_for is None else Phase.WAITING
        self.host.run_worker(self._load(), exclusive=True, group="load")

    async def _load(self) -> None:
        try:
            engine = await in_thread(self.host, self._open, group="open")
        except Exception as exc:  # a broken install must still be a notice, not a dead app
            if not self._closing:  # (closing ends a load with an error)
                self._failed(str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}")
            return
        if not self._closing:
            self._loaded(engine)

    def _open(self) -> Engine:
        """On a worker thread: the engine, ready to answer."""
        engine = self._open_engine()
        self._loading_engine = engine  # quitting from now on ends its load at once
        if self._closing:
            engine.close()
        engine.wait_ready()
        return engine

    def close(self) -> None:
        """End the model (and a model still loading) at once: quitting never waits for llama.cpp."""
        self._closing = True
        for engine in (self._loading_engine, self.host.session.engine):
            if engine is not None:
                engine.close()

    def _loaded(self, engine: Engine) -> None:
        host = self.host
        self._loading_engine = None  # (kept while a cancelled load may still be running: quitting ends it)
        host.session.engine = engine
        host.sync_files()  # counted with the model's own vocabulary from now on
        host.status.set_model(engine.model_name, engine.quantization, engine.backend)
        if not engine.chat_mode:
            host.notify("This model has no chat template: it continues your text instead of answering it.",
                        title="Completion model", timeout=10)
        host.phase = Phase.IDLE
        host.schedule_count()
        queued, self._queued_for = self._queued_for, None
        if queued is not None and self._unanswered(queued):
            host.call_later(host.start_answer)  # on the screen's queue, like a key: one turn at a time

    def _failed(self, error: str) -> None:
        self._loading_engine = None
        self.host.phase = Phase.NO_MODEL
        self.host.notify(f"{error}\nChoose another model with --model, or fix the file, then restart.",
                         title="The model could not be loaded", severity="error", timeout=30, markup=False)

    def stopped(self, error: str | None) -> None:
        """The model process died: keep everything, start a fresh one with the next question."""
        session = self.host.session
        engine, session.engine = session.engine, None
        if engine is not None:
            engine.close()
        self.host.phase = Phase.MODEL_STOPPED
        self.host.notify(f"{error}.\nYour conversation is saved; the next question starts the model again.",
                         title="The model stopped", severity="error", timeout=30, markup=False)

    def wait_for_it(self) -> None:
        """A question with no model yet: it is answered once the model has loaded (a new load if needed)."""
        conversation = self.host.session.conversation
        self._queued_for = conversation.id if conversation else None
        self.host.notify("Your message will be sent as soon as the model has loaded.")
        if not self.loading:
            self.load()  # after a failed load or a stopped model process: try again
        elif self._queued_for is not None:
            self.host.phase = Phase.WAITING

    def leave(self, conversation_id: int | None = None) -> None:
        """Before the screen moves to another conversation (None: a new one): a question waiting for
        the model stays unanswered where it was asked, unless it is that conversation's."""
        if self._queued_for is None or self._queued_for == conversation_id:
            return
        self.host.notify("Your question was not sent: the model is still loading. "
                         "Open that conversation again and press Ctrl+R to have it answered.", timeout=10)
        self._forget()

    def question_gone(self, conversation_id: int) -> None:
        """That conversation's messages were removed: a question of it waiting for the model is gone too."""
        if self._queued_for == conversation_id:
            self._forget()

    def _forget(self) -> None:
        self._queued_for = None
        if self.host.phase is Phase.WAITING:
            self.host.phase = Phase.LOADING

    def _unanswered(self, conversation_id: int) -> bool:
        """Is that conversation the current one, ending with a question that has no answer yet?"""
        conversation, messages = self.host.session.conversation, self.host.session.messages
        return (conversation is not None and conversation.id == conversation_id
                and bool(messages) and messages[-1].role == "user")
