"""The chat screen: the log, the files in the conversation, the question box, the sidebar, the status bar."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from opencoder_local.context.session import ChatSession
from opencoder_local.context.window import Prompt
from opencoder_local.context.working_set import AddResult, FileEntry
from opencoder_local.engine.protocol import Engine, EngineStoppedError
from opencoder_local.errors import UserError
from opencoder_local.settings import ChatSettings
from opencoder_local.store import CUT_SHORT, STOPPED, StoredMessage
from opencoder_local.tui.commands import ChatCommands, as_message, file_mentions, key_hints, typed_command, \
    unknown_command
from opencoder_local.tui.screens.chat_actions import ChatActions
from opencoder_local.tui.widgets.chat_log import AssistantMessage, ChatLog, UserMessage
from opencoder_local.tui.widgets.file_chips import FileChips
from opencoder_local.tui.widgets.path_completion import PathCompletions
from opencoder_local.tui.widgets.prompt_input import PromptInput
from opencoder_local.tui.widgets.sidebar import Sidebar
from opencoder_local.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from opencoder_local.context.watcher import WorkingSetWatcher

RATE_INTERVAL_S = 0.5
COUNT_DELAY_S = 0.15


class _RateMeter:
    """Live tokens/s from the generation thread, posted to the status bar at a steady rate."""

    def __init__(self, status: StatusBar):
        self.status = status
        self.tokens, self.first, self.posted = 0, 0.0, 0.0

    def add(self, tokens: int) -> None:
        now = time.perf_counter()
        self.tokens += tokens
        self.first = self.first or now
        if now - self.posted >= RATE_INTERVAL_S and self.tokens > 1 and now > self.first:
            self.status.post_message(StatusBar.Rate((self.tokens - 1) / (now - self.first)))
            self.posted = now


class ChatScreen(ChatActions, Screen):
    COMMANDS = Screen.COMMANDS | {ChatCommands}
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+r", "regenerate", "Regenerate"),
        Binding("ctrl+t", "edit_last", "Edit last"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+o", "copy_code", "Copy code"),
        Binding("ctrl+s", "save_code", "Save code"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar"),
        Binding("ctrl+f", "search", "Search", show=False),
        Binding("ctrl+l", "clear", "Clear", show=False),
        Binding("f2", "rename", "Rename", show=False),
    ]

    files: reactive[tuple[FileEntry, ...]] = reactive((), init=False)  # the working set as shown

    class EngineLoaded(Message):
        def __init__(self, engine: Engine):
            super().__init__()
            self.engine = engine

    class EngineFailed(Message):
        def __init__(self, error: str):
            super().__init__()
            self.error = error

    class Counted(Message):
        """A fresh count of the prompt as it would be sent; `seq` orders the counts as they were asked for."""

        def __init__(self, prompt: Prompt, seq: int):
            super().__init__()
            self.prompt = prompt
            self.seq = seq

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ChatScreen.Counted) and message.seq <= self.seq

    class FilesAdded(Message):
        """`/add` or the @paths of a message were read; `then_send` is that message."""

        def __init__(self, result: AddResult, then_send: str | None):
            super().__init__()
            self.result = result
            self.then_send = then_send

    class FilesRead(Message):
        """Files of the working set changed on disk and were read again (on the watcher's thread)."""

    def __init__(self, session: ChatSession, settings: ChatSettings, engine_factory: Callable[[ChatSettings], Engine]):
        super().__init__()
        self.session = session
        self.settings = settings
        self.engine_factory = engine_factory
        self.generating = False
        self.loading = False
        self._loading_engine: Engine | None = None
        self._closing = False
        self.queued_for: int | None = None  # the conversation whose question waits for the model
        self.editing: StoredMessage | None = None
        self._count_timer: Timer | None = None
        self._count_seq = 0  # numbers the counts, so a slow old one cannot overwrite a newer one
        self._shown_seq = 0  # the newest count shown
        self._disk_watcher: WorkingSetWatcher | None = None  # one for the screen, from the first file on

    def compose(self) -> ComposeResult:
        newline = key_hints(PromptInput.BINDINGS)["newline"]
        with Horizontal(id="body"):
            yield Sidebar(id="sidebar")
            with Vertical(id="main"):
                yield ChatLog(id="log")
                yield FileChips(id="files")
                completions = PathCompletions(id="completions")
                yield completions
                yield PromptInput(completions, self.session.working_set.completions, id="prompt",
                                  placeholder=f"Ask about code…  (Enter sends, {newline} newline, @ adds a file, /help)")
        yield StatusBar(id="status")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one(PromptInput).focus()
        self._load_engine()  # first: if the conversations cannot be read, the model still loads
        if self.settings.continue_last:
            last = self.session.store.last_conversation()
            if last is not None:
                self.session.open(last.id)
                await self.log_view.show(self.session.messages)
        self.sync_files()
        self.refresh_sidebar()

    async def _dispatch_message(self, message: Message) -> None:
        # Textual (pinned 8.2.8) ends a widget's message loop on any exception from a handler, even
        # one the app shows as a notice: the screen would look alive and ignore every key. A
        # UserError (a database failing, say) stops here, as a notice, and the screen goes on.
        try:
            await super()._dispatch_message(message)
        except UserError as exc:
            self.app.notify(str(exc), title="That did not work", severity="error", timeout=15, markup=False)

    def on_unmount(self) -> None:
        # However the app ends (its own unmount may find the screens already gone), the answer
        # stops, the model process ends at once, and the files are no longer watched.
        self.session.stop()
        self.close_engines()
        if self._disk_watcher is not None:
            self._disk_watcher.stop()

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def log_view(self) -> ChatLog:
        return self.query_one(ChatLog)

    @property
    def prompt_input(self) -> PromptInput:
        return self.query_one(PromptInput)

    # the model

    def _load_engine(self) -> None:
        self.loading = True
        self.status.set_state(f"loading {self.settings.model}…", "-busy")
        self._load_worker()

    @work(thread=True, exclusive=True, group="load")
    def _load_worker(self) -> None:
        try:
            engine = self.engine_factory(self.settings)
            self._loading_engine = engine  # quitting from now on ends its load at once
            if self._closing:
                engine.close()
            engine.wait_ready()
        except UserError as exc:
            self.post_message(self.EngineFailed(str(exc)))
        except Exception as exc:  # a broken install must still be a notice, not a dead app
            self.post_message(self.EngineFailed(f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(self.EngineLoaded(engine))

    def close_engines(self) -> None:
        """End the model (and a model still loading) at once: quitting never waits for llama.cpp."""
        self._closing = True
        for engine in (self._loading_engine, self.session.engine):
            if engine is not None:
                engine.close()

    def on_chat_screen_engine_loaded(self, message: EngineLoaded) -> None:
        engine = message.engine
        self.loading = False
        self._loading_engine = None
        self.session.engine = engine
        self.sync_files()  # counted with the model's own vocabulary from now on
        self.status.set_model(engine.model_name, engine.quantization, engine.backend)
        if not engine.chat_mode:
            self.notify("This model has no chat template: it continues your text instead of answering it.",
                        title="Completion model", timeout=10)
        self.status.set_state("ready", "-ready")
        self.schedule_count()
        queued, self.queued_for = self.queued_for, None
        if queued is not None and self._unanswered(queued):
            self.call_later(self.start_answer)

    def _unanswered(self, conversation_id: int) -> bool:
        """Is that conversation the current one, ending with a question that has no answer yet?"""
        conversation, messages = self.session.conversation, self.session.messages
        return (conversation is not None and conversation.id == conversation_id
                and bool(messages) and messages[-1].role == "user")

    def forget_queued(self) -> None:
        """Before the conversation changes: a question waiting for the model stays where it is."""
        if self.queued_for is not None:
            self.notify("Your question was not sent: the model is still loading. "
                        "Open that conversation again and press Ctrl+R to have it answered.", timeout=10)
        self.queued_for = None

    def on_chat_screen_engine_failed(self, message: EngineFailed) -> None:
        self.loading = False
        self._loading_engine = None
        self.status.set_state("no model", "-error")
        self.notify(
            f"{message.error}\nChoose another model with --model, or fix the file, then restart.",
            title="The model could not be loaded",
            severity="error",
            timeout=30,
            markup=False,
        )

    # sending and answering

    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        """A slash command runs; a message is sent, after the files its @paths name are added."""
        try:
            typed = typed_command(event.text)
        except UserError as exc:
            self.notify(str(exc), title="Not run", severity="error", timeout=15, markup=False)
            return
        if typed is not None:
            if typed.command is None:
                self.notify(unknown_command(typed.name), title="Unknown command", severity="warning",
                            timeout=15, markup=False)
                return
            self.prompt_input.clear()
            await self.run_command(typed.command, typed.words)
            return
        text = as_message(event.text).strip()
        held = {entry.spec for entry in self.files}
        mentioned = [spec for spec in file_mentions(text, self.session.working_set.root) if spec not in held]
        if mentioned and not self.generating:
            self.prompt_input.clear()  # on its way: back in the box if a file is refused
            self.add_files(mentioned, then_send=text)
        elif text and await self.send_question(text):
            self.prompt_input.clear()

    async def send_question(self, text: str) -> bool:
        """Save the question, show it, and start the answer; False (with a notice) if it cannot be sent."""
        if self.generating:
            self.notify("Still answering: press Esc to stop, then Enter to send.", severity="warning")
            return False
        if self.editing is not None:
            await self.log_view.remove_from(self.editing.id)
            self.session.truncate_from(self.editing)
            self.editing = None
        try:
            message = self.session.add_user(text)
        except UserError as exc:
            self.notify(str(exc), title="Not sent", severity="error", timeout=15, markup=False)
            return False
        await self.log_view.add(UserMessage(message.content, message.id))
        self.log_view.follow()
        if len(self.session.messages) == 1:
            self.refresh_sidebar()
        await self.start_answer()
        return True

    async def start_answer(self) -> None:
        if self.session.engine is None:
            self.queued_for = self.session.conversation.id if self.session.conversation else None
            self.notify("Your message will be sent as soon as the model has loaded.")
            if not self.loading:
                self._load_engine()  # after a failed load or a stopped model process: try again
            return
        self.session.begin_turn()  # before the worker starts: an Esc from now on stops this answer
        self.query_one(PathCompletions).close()
        view = await self.log_view.add(AssistantMessage())
        view.start_stream()
        self.generating = True
        self.status.set_state("generating", "-busy")
        self._generate(view, self.status)
        self.schedule_count()

    @work(thread=True, exclusive=True, group="generate")
    def _generate(self, view: AssistantMessage, status: StatusBar) -> None:
        stats = None
        kept = len(self.session.messages)
        rate = _RateMeter(status)
        try:
            for delta in self.session.answer():
                if delta.text:
                    view.post_message(AssistantMessage.Chunk(delta.text))
                    rate.add(delta.tokens)
                stats = delta.stats or stats
        except Exception as exc:  # a full disk, a GPU out of memory, a dead model process: a notice
            error = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            saved = self.session.messages[-1] if len(self.session.messages) > kept else None
            view.post_message(AssistantMessage.Done(saved.status if saved else STOPPED, saved.id if saved else None,
                                                    error=error, engine_stopped=isinstance(exc, EngineStoppedError)))
            return
        answer = self.session.messages[-1]
        view.post_message(AssistantMessage.Done(answer.status, answer.id, stats))

    async def on_assistant_message_done(self, done: AssistantMessage.Done) -> None:
        self.generating = False
        if done.stats is not None:
            self.status.post_message(StatusBar.Rate(done.stats.gen_tok_s))
            if self.session.engine is not None:
                self.status.show_turn(self.session.engine.backend, done.stats)
        self.status.set_state("stopped" if done.status in (STOPPED, CUT_SHORT) else "ready", "-ready")
        if done.engine_stopped:
            self._engine_stopped(done.error)
        elif done.error:
            self.notify(done.error, title="The answer failed", severity="error", timeout=20, markup=False)
            last = self.log_view.last_answer()
            if last is not None and not last.content:
                await last.remove()
        self.sync_files()  # what the answer was given is "current" now
        self.schedule_count()

    def _engine_stopped(self, error: str) -> None:
        """The model process died: keep everything, start a fresh one with the next question."""
        engine, self.session.engine = self.session.engine, None
        if engine is not None:
            engine.close()
        self.status.set_state("model stopped", "-error")
        self.notify(f"{error}.\nYour conversation is saved; the next question starts the model again.",
                    title="The model stopped", severity="error", timeout=30, markup=False)

    # the context meter

    @on(PromptInput.Changed)
    def schedule_count(self) -> None:
        """Recount shortly after the draft stops changing (the count includes the draft)."""
        if self._count_timer is not None:
            self._count_timer.stop()
        self._count_timer = self.set_timer(COUNT_DELAY_S, self._count_now)

    def _count_now(self) -> None:
        if self.session.engine is not None:
            self._count_seq += 1
            self._count(self.prompt_input.text.strip(), self._count_seq)

    @work(thread=True, exclusive=True, group="count")
    def _count(self, draft: str, seq: int) -> None:
        try:
            prompt = self.session.prompt(draft)
        except Exception:  # the meter is advisory; a failed count must not disturb typing
            return
        self.post_message(self.Counted(prompt, seq))

    async def on_chat_screen_counted(self, message: Counted) -> None:
        if message.seq < self._shown_seq:
            return  # a slow count of an older draft
        self._shown_seq = message.seq
        prompt = message.prompt
        self.status.show_context(prompt.budget.n_ctx, prompt.parts, prompt.dropped)
        await self.log_view.mark_dropped(prompt.dropped)

    # the files in the conversation

    def sync_files(self) -> None:
        """Show the working set as it is now (after an add, a drop, a re-read, a new conversation)."""
        self.files = tuple(self.session.working_set.entries())

    def watch_files(self, before: tuple[FileEntry, ...], files: tuple[FileEntry, ...]) -> None:
        self.query_one(FileChips).show(files)
        if {entry.spec for entry in before} != {entry.spec for entry in files}:
            self._watch_disk()  # other files (an edit changes only their text: the same folders stay watched)
        self.schedule_count()

    def _watch_disk(self) -> None:
        """Point the one watcher at the working set's files (started with the first file)."""
        paths = self.session.working_set.watched_paths()
        if self._disk_watcher is None:
            if not paths:
                return
            from opencoder_local.context.watcher import WorkingSetWatcher  # watchdog loads with the first file

            self._disk_watcher = WorkingSetWatcher(self._reread)
        self._disk_watcher.watch(paths)

    def _reread(self, paths: set[Path]) -> None:
        """On the watcher's thread (debounced there): read the changed files, then show them."""
        if self.session.working_set.refresh(paths):
            self.post_message(self.FilesRead())

    @work(thread=True, group="add")
    def add_files(self, specs: list[str], then_send: str | None = None) -> None:
        """Add files, globs, folders, ranges within the window's room, in a worker (a folder of
        thousands never freezes the screen); `then_send` is the message that named them."""
        self.post_message(self.FilesAdded(self.session.add_files(specs, then_send or ""), then_send))

    async def on_chat_screen_files_added(self, message: FilesAdded) -> None:
        result = message.result
        for spec, reason in result.refused:
            self.notify(f"{spec}: {reason}", title="Not added", severity="error", timeout=20, markup=False)
        for notice in result.notices:
            self.notify(notice, title="Files", severity="warning", timeout=15, markup=False)
        if result.added and message.then_send is None:
            tokens = sum(entry.tokens for entry in result.added)
            count = len(result.added)
            self.notify(f"Added {count:,} file{'s' if count != 1 else ''} ({tokens:,} tokens).", markup=False)
        self.sync_files()
        if message.then_send is None:
            return
        if result.refused:
            self.notify("Not sent: fix or remove the @path, then press Enter.", severity="warning", timeout=15)
        if (result.refused or not await self.send_question(message.then_send)) and not self.prompt_input.text:
            self.prompt_input.text = message.then_send  # back in the box, to fix and send again

    def on_chat_screen_files_read(self) -> None:
        self.sync_files()

    # the conversation list (what opening one does is in ChatActions)

    @on(Sidebar.Search)
    def _search_changed(self) -> None:
        self.refresh_sidebar()

    @on(Sidebar.Selected)
    async def _switch(self, event: Sidebar.Selected) -> None:
        await self.open_conversation(event.conversation_id)

    @on(Sidebar.DeleteRequested)
    def _delete_from_sidebar(self, event: Sidebar.DeleteRequested) -> None:
        self.confirm_delete(event.conversation_id)
