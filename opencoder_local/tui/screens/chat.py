"""The chat screen: the log, the files in the conversation, the question box, the sidebar, the status bar."""

from __future__ import annotations

import asyncio

from typing import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen

from opencoder_local.context.session import ChatSession
from opencoder_local.context.working_set import FileEntry
from opencoder_local.engine.protocol import Engine, EngineStoppedError
from opencoder_local.errors import UserError
from opencoder_local.settings import ChatSettings
from opencoder_local.store import CUT_SHORT, STOPPED, StoredMessage
from opencoder_local.tui.commands import SLASH_COMMANDS, ChatCommands, as_message, file_mentions, key_hints, key_table
from opencoder_local.tui.flows.commands import CommandFlow
from opencoder_local.tui.flows.conversations import ConversationFlow
from opencoder_local.tui.flows.edits import EditFlow
from opencoder_local.tui.flows.files import FilesFlow
from opencoder_local.tui.flows.git import GitFlow
from opencoder_local.tui.flows.map import MapFlow
from opencoder_local.tui.flows.meter import ContextMeter
from opencoder_local.tui.flows.model import ModelFlow
from opencoder_local.tui.flows.saving import CodeFlow
from opencoder_local.tui.flows.slash import SlashCommands
from opencoder_local.tui.pacer import IncomingText
from opencoder_local.tui.phase import Phase
from opencoder_local.tui.screens.help import HelpScreen
from opencoder_local.tui.widgets.chat_log import AssistantMessage, ChatLog, UserMessage
from opencoder_local.tui.widgets.command_block import CommandCard
from opencoder_local.tui.widgets.edit_card import EditCard
from opencoder_local.tui.widgets.file_chips import FileChips
from opencoder_local.tui.widgets.footer import Footer
from opencoder_local.tui.widgets.path_completion import PathCompletions
from opencoder_local.tui.widgets.prompt_input import PromptInput
from opencoder_local.tui.widgets.sidebar import Sidebar
from opencoder_local.tui.widgets.status_bar import RateMeter, StatusBar
from opencoder_local.tui.widgets.suggestion_chips import SuggestionChips


class ChatScreen(Screen):
    """The chat; what its keys and commands do beyond a turn lives in tui/flows, one object per job,
    each seeing this screen as a ChatHost (tui/flows/host.py)."""

    COMMANDS = Screen.COMMANDS | {ChatCommands}
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+r", "regenerate", "Regenerate"),
        Binding("ctrl+t", "edit_last", "Edit last"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+o", "copy_code", "Copy code"),
        Binding("ctrl+s", "save_code", "Save code"),
        Binding("ctrl+g", "review_edits", "Review edits"),  # in the footer while an edit waits
        Binding("f4", "undo_edit", "Undo edit"),  # in the footer while an applied edit stands
        Binding("f5", "add_output", "Add output"),  # in the footer once a command has ended
        Binding("f8", "fix_tests", "Fix tests"),  # in the footer after a failed /test
        Binding("ctrl+b", "toggle_sidebar", "Sidebar"),
        Binding("ctrl+f", "search", "Search", show=False),
        Binding("ctrl+l", "clear", "Clear", show=False),
        Binding("f2", "rename", "Rename", show=False),
        Binding("f3", "add_suggested", "Add suggested files", show=False),
    ]

    phase: reactive[Phase] = reactive(Phase.NO_MODEL, init=False)  # what the chat is doing: one owner
    files: reactive[tuple[FileEntry, ...]] = reactive((), init=False)  # the working set as shown

    def __init__(self, session: ChatSession, settings: ChatSettings, engine_factory: Callable[[ChatSettings], Engine]):
        super().__init__()
        self.session = session
        self.settings = settings
        self.editing: StoredMessage | None = None
        self.meter = ContextMeter(self, lambda draft: self.map_flow and self.map_flow.suggest(draft))
        self.model = ModelFlow(self, lambda: engine_factory(self.settings))
        self.files_flow = FilesFlow(self)
        self.code = CodeFlow(self)
        self.edits = EditFlow(self, self.files_flow)
        self.conversations = ConversationFlow(self, self.model, self.code)
        self.commands = CommandFlow(self, settings, self.edits, key_hints(self.BINDINGS))
        self.git = GitFlow(self)
        self.slash = SlashCommands(self, self.files_flow, self.edits, self.commands, self.git, self.action_help,
                                   lambda: self.map_flow)
        self.map_flow: MapFlow | None = None  # started on mount: it needs the suggestion chips

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
                yield SuggestionChips(key=key_hints(self.BINDINGS)["add_suggested"], id="suggested")
        yield StatusBar(id="status")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one(PromptInput).focus()
        # The model's load and the project's scan start once the first frame is drawn: their imports
        # (gguf and numpy, watchdog, tree-sitter) would otherwise take the interpreter from it.
        self.call_after_refresh(self._start_background)  # first: if the conversations cannot be read, it still runs
        if self.settings.continue_last:
            last = self.session.store.last_conversation()
            if last is not None:
                self.session.open(last.id)
        await self.show_conversation()
        self.conversations.refresh_sidebar()

    def _start_background(self) -> None:
        self.model.load()
        self.map_flow = MapFlow(self, self.query_one(SuggestionChips))
        self.map_flow.start()

    async def _dispatch_message(self, message: Message) -> None:
        # Textual (pinned 8.2.8) ends a widget's message loop on any exception from a handler, even
        # one the app shows as a notice: the screen would look alive and ignore every key. A
        # UserError (a database failing, say) stops here, as a notice, and the screen goes on.
        try:
            await super()._dispatch_message(message)
        except UserError as exc:
            self.app.notify(str(exc), title="That did not work", severity="error", timeout=15, markup=False)

    async def on_unmount(self) -> None:
        await self.shut_down()

    async def shut_down(self) -> None:
        """However the app ends (it closes its screens first): the answer stops and is saved as
        stopped, the model process ends at once (even mid-load), commands stop, and the files are no longer watched."""
        self.meter.stop()
        self.session.stop()
        await self.commands.shut_down()
        self.model.close()
        await self.files_flow.stop()
        if self.map_flow is not None:
            await asyncio.to_thread(self.map_flow.stop)  # like the files' watcher: its callback may wait for this loop

    @property
    def generating(self) -> bool:
        return self.phase.answering

    def watch_phase(self, phase: Phase) -> None:
        self.status.show_phase(phase, self.settings.model)
        self.refresh_bindings()

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one(Sidebar)

    @property
    def log_view(self) -> ChatLog:
        return self.query_one(ChatLog)

    @property
    def prompt_input(self) -> PromptInput:
        return self.query_one(PromptInput)

    # sending and answering

    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        """A slash command or !COMMAND runs; a message is sent, after the files its @paths name are added."""
        if await self.slash.typed(event.text):
            return
        text = as_message(event.text).strip()
        held = {entry.spec for entry in self.files}
        mentioned = [spec for spec in file_mentions(text, self.session.working_set.root) if spec not in held]
        if mentioned and not self.generating:
            self.prompt_input.clear()  # on its way: back in the box if a file is refused
            self.files_flow.add(mentioned, then_send=text)
        elif text and await self.send_question(text):
            self.prompt_input.clear()

    async def send_question(self, text: str) -> bool:
        """Save the question, show it, and start the answer; False (with a notice) if it cannot be sent."""
        if not self.idle("sending"):
            return False
        if self.editing is not None:
            await self.log_view.remove_from(self.editing.id)
            self.session.truncate_from(self.editing)
            self.editing = None
        try:
            message = self.session.add_user(self.commands.with_output(text))
        except UserError as exc:
            self.notify(str(exc), title="Not sent", severity="error", timeout=15, markup=False)
            return False
        await self.log_view.add(UserMessage(message.content, message.id))
        self.log_view.follow()
        if len(self.session.messages) == 1:
            self.conversations.refresh_sidebar()
        await self.start_answer()
        return True

    async def start_answer(self) -> None:
        if self.session.engine is None:
            self.model.wait_for_it()
            return
        self.session.begin_turn()  # before the worker starts: an Esc from now on stops this answer
        self.query_one(PathCompletions).close()
        view = await self.log_view.add(AssistantMessage())
        incoming = view.start_stream()
        self.phase = Phase.GENERATING
        self._generate(view, incoming, self.status)
        self.schedule_count()

    @work(thread=True, exclusive=True, group="generate")
    def _generate(self, view: AssistantMessage, incoming: IncomingText, status: StatusBar) -> None:
        stats = None
        kept = len(self.session.messages)
        rate = RateMeter(status)
        try:
            for delta in self.session.answer():
                if delta.text:
                    incoming.add(delta.text)
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
        if done.engine_stopped:
            self.model.stopped(done.error)
        else:
            self.phase = Phase.STOPPED if done.status in (STOPPED, CUT_SHORT) else Phase.IDLE
        if done.stats is not None:
            self.status.post_message(StatusBar.Rate(done.stats.gen_tok_s))
            if self.session.engine is not None:
                self.status.show_turn(self.session.engine.backend, done.stats)
            if done.stats.notice:
                self.notify(done.stats.notice, title="Saved model state", severity="warning", timeout=10, markup=False)
        if done.error and not done.engine_stopped:
            self.notify(done.error, title="The answer failed", severity="error", timeout=20, markup=False)
            last = self.log_view.last_answer()
            if last is not None and not last.content:
                await last.remove()
        view = self.log_view.last_answer()
        matched = view is not None and view.message_id == done.message_id
        if matched:
            await self.edits.propose(view)
        await self.commands.answered(view if matched else None, done.status)
        self.sync_files()  # what the answer was given is "current" now
        self.schedule_count()

    # the context meter

    @on(PromptInput.Changed)
    def schedule_count(self) -> None:
        """Recount shortly after the draft stops changing (the count includes the draft)."""
        self.meter.schedule()

    # the files in the conversation

    def sync_files(self) -> None:
        """Show the working set as it is now (after an add, a drop, a re-read, a new conversation)."""
        self.files = tuple(self.session.working_set.entries())

    def watch_files(self, before: tuple[FileEntry, ...], files: tuple[FileEntry, ...]) -> None:
        self.query_one(FileChips).show(files)
        if {entry.spec for entry in before} != {entry.spec for entry in files}:
            self.files_flow.watch_disk()  # other files (an edit changes only their text: the same folders stay watched)
        self.schedule_count()

    async def show_conversation(self) -> None:
        """Show the session's conversation as it is now: its messages, their edit cards, its files
        (a message being edited belonged to the one shown before)."""
        self.editing = None
        await self.log_view.show(self.session.messages)
        await self.edits.show_cards()
        await self.commands.show_cards()
        self.sync_files()
        self.schedule_count()

    # the conversation list (what opening one does is in ConversationFlow)

    @on(Sidebar.Search)
    def _search_changed(self) -> None:
        self.conversations.refresh_sidebar()

    @on(Sidebar.Selected)
    async def _switch(self, event: Sidebar.Selected) -> None:
        await self.conversations.open(event.conversation_id)

    @on(Sidebar.DeleteRequested)
    def _delete_from_sidebar(self, event: Sidebar.DeleteRequested) -> None:
        self.conversations.delete(event.conversation_id)

    # edits proposed in answers (EditFlow)

    @on(EditCard.Opened)
    async def _open_card(self, event: EditCard.Opened) -> None:
        await self.edits.open(event.card)

    @on(CommandCard.Chosen)
    def _command_card(self, event: CommandCard.Chosen) -> None:
        self.commands.chosen(event.card, event.copy)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The edit keys show in the footer (and the palette) only while they have something to do."""
        if action == "review_edits":
            return bool(self.edits.pending())
        if action == "undo_edit":
            return self.edits.can_undo
        if action in ("add_output", "fix_tests"):
            return self.commands.can(action)
        return True

    # keys and palette entries (the table is tui.commands.CHAT_ACTIONS)

    def action_stop(self) -> None:
        if self.generating:
            self.session.stop()
            self.phase = Phase.STOPPING
        elif self.commands.stop():
            pass
        elif self.editing is not None:
            self.editing = None
            self.prompt_input.clear()
            self.notify("Edit cancelled.")

    async def action_regenerate(self) -> None:
        if not self.idle("regenerating"):
            return
        question = self.session.last("user")
        if question is None:
            self.notify("Nothing to regenerate yet: ask a question first.")
            return
        self.session.drop_last_answer()
        await self.log_view.remove_from(question.id, keep=True)
        self.log_view.follow()
        await self.start_answer()

    def action_edit_last(self) -> None:
        if not self.idle("editing"):
            return
        question = self.session.last("user")
        if question is None:
            self.notify("There is no message of yours to edit yet.")
            return
        self.editing = question
        self.prompt_input.text = question.content
        self.prompt_input.focus()
        self.prompt_input.move_cursor(self.prompt_input.document.end)
        self.notify("Editing your last message: Enter resends it, Esc cancels.")

    def action_toggle_sidebar(self) -> None:
        sidebar = self.sidebar
        sidebar.display = not sidebar.display
        if not sidebar.display:
            self.prompt_input.focus()

    def action_search(self) -> None:
        sidebar = self.sidebar
        sidebar.display = True
        sidebar.focus_search()

    def action_add_suggested(self) -> None:
        if self.map_flow is not None:
            self.map_flow.add_suggested()

    def action_help(self) -> None:
        app = self.app
        palette = Binding(app.COMMAND_PALETTE_BINDING, "command_palette", "Command palette")
        keys = key_table([*self.BINDINGS, *PromptInput.BINDINGS, palette, *app.BINDINGS])
        app.push_screen(HelpScreen(SLASH_COMMANDS, keys))

    async def action_new_chat(self) -> None:
        await self.conversations.new()

    def action_clear(self) -> None:
        self.conversations.clear()

    def action_rename(self) -> None:
        self.conversations.rename()

    def action_delete(self) -> None:
        self.conversations.delete_current()

    def action_export(self) -> None:
        self.conversations.export()

    def action_copy_code(self) -> None:
        self.code.copy_last()

    def action_copy_chosen_code(self) -> None:
        self.code.copy_chosen()

    def action_save_code(self) -> None:
        self.code.save_last()

    def action_save_chosen_code(self) -> None:
        self.code.save_chosen()

    def action_review_edits(self) -> None:
        self.edits.review_newest()

    def action_undo_edit(self) -> None:
        self.edits.undo()

    def action_add_output(self) -> None:
        self.commands.add_output()

    def action_fix_tests(self) -> None:
        self.commands.fix_tests()

    def idle(self, doing: str) -> bool:
        """Not answering or running a command; otherwise a notice that `doing` waits for Esc."""
        if self.generating or self.phase is Phase.RUNNING:
            what = "answer" if self.generating else "command"
            self.notify(f"Stop the {what} (Esc) before {doing}.", severity="warning")
            return False
        return True
