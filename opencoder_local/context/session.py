"""One chat: the stored conversation, the engine, and a turn that saves itself as it streams."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

from opencoder_local.context.apply import PlannedChange, WriteResult, plan, restore, write
from opencoder_local.context.edits import ProposedEdit, parse_edits
from opencoder_local.context.project_symbols import ProjectSymbols
from opencoder_local.context.repo_map import Focus, ProjectMap, RepoMap, map_budget, next_focus
from opencoder_local.context.window import Prompt, answer_reserve, fit_to_window, free_for_files, text_counter
from opencoder_local.context.working_set import AddResult, WorkingSet
from opencoder_local.engine.protocol import Delta, Engine, EngineStoppedError, GenParams, Message
from opencoder_local.store import CUT_SHORT, DONE, STOPPED, STREAMING, AppliedEdit, Conversation, Store, StoredMessage

SAVE_INTERVAL_S = 1.0  # a crash loses at most this much of a streaming answer


def title_for(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "New chat")
    return first if len(first) <= 48 else first[:47] + "…"


class ChatSession:
    """The current conversation and its working set; every method may be called from a worker thread.

    The working set is one object for the session's life (a new or opened conversation refills it),
    so a watcher can hold on to it. Files are added and dropped through `add_files`/`drop_files`,
    which check the budget and save the set with the conversation.

    `map_tokens` is the project map's budget (context/repo_map.py): None for the window's default,
    0 for no map. `map_scanned_apart`: a worker makes the map's first scan (the app's map flow), so a
    turn or a count never waits for it; otherwise the first use scans."""

    def __init__(self, store: Store, params: GenParams, system: str | None = None, model: str = "",
                 project: Path | None = None, map_tokens: int | None = 0, map_scanned_apart: bool = False):
        self.store = store
        self.params = params
        self.system = system
        self.model = model
        self.working_set = WorkingSet(project if project is not None else Path.cwd())
        self._engine: Engine | None = None
        self.conversation: Conversation | None = None
        self.messages: list[StoredMessage] = []
        self._cut = 0  # history messages the last answer left out: kept while the prompt fits
        self._stop = threading.Event()
        self.map_tokens = map_tokens
        self._map: ProjectMap | None = None
        self._map_scanned_apart = map_scanned_apart
        self._map_lock = threading.Lock()
        self._focus = Focus()  # what the last answer's map was about: kept until a question brings more
        self._count_text = None
        self._prefilled: tuple[Engine, tuple[Message, ...]] | None = None  # what the engine last read ahead

    @property
    def engine(self) -> Engine | None:
        return self._engine

    @engine.setter
    def engine(self, engine: Engine | None) -> None:
        """A new engine counts the working set with its own vocabulary."""
        self._engine = engine
        if engine is not None:
            self._count_text = text_counter(engine)
            self.working_set.set_counter(self._count_text)

    # which conversation

    def new(self) -> None:
        self._leave()
        self.conversation, self.messages, self._cut, self._focus = None, [], 0, Focus()
        self.working_set.drop()

    def open(self, conversation_id: int) -> bool:
        """Switch to a stored conversation, its working set re-read from disk (missing files kept as missing)."""
        conversation = self.store.conversation(conversation_id)
        if conversation is None:
            return False
        self._leave()
        self.conversation = conversation
        self.messages = self.store.messages(conversation_id)
        self._cut, self._focus = 0, Focus()
        self.working_set.drop()
        self.working_set.restore(self.store.working_set(conversation_id))
        return True

    def _leave(self) -> None:
        """The model's state for the conversation being left is saved (by the engine, off this thread)."""
        if self._engine is not None and self.conversation is not None:
            self._engine.save_state()

    def rename(self, title: str) -> None:
        if self.conversation is not None:
            self.store.rename(self.conversation.id, title)
            self.conversation = self.store.conversation(self.conversation.id)

    # the working set

    def add_files(self, specs: Sequence[str], draft: str = "") -> AddResult:
        """Add files, folders, globs or ranges within the room left (history may be cut for them); saved."""
        free = self.free_tokens(draft) if self.engine is not None else None
        result = self.working_set.add(specs, free)
        self._save_files()
        return result

    def drop_files(self, spec: str | None = None) -> list[str]:
        """Drop all files (None), a path, a folder's files or a glob's; saved. Returns the specs dropped."""
        dropped = self.working_set.drop(spec)
        self._save_files()
        return dropped

    def free_tokens(self, draft: str = "") -> int:
        """Tokens new files may take: the window less the reserve, the system prompt, the files and the draft.

        Older history is not counted: it is cut to make room (never the files)."""
        if self.engine is None:
            raise RuntimeError("no engine loaded")
        reserve = answer_reserve(self.engine.n_ctx, self.params.max_tokens)
        return free_for_files(self.engine.count, self.system, self.working_set.message(), draft, reserve)

    def _save_files(self) -> None:
        if self.conversation is not None:
            self.store.save_working_set(self.conversation.id, self.working_set.specs())

    # edits the answers propose

    def proposed_edits(self, answer: str) -> list[ProposedEdit]:
        """The file edits in an answer. A block with no path goes to the working set's only file, unless
        that is a line range: the model saw part of it, and a whole-file block would cut the rest."""
        return parse_edits(answer, [entry.path for entry in self.working_set.entries() if entry.lines is None])

    def plan_edit(self, edit: ProposedEdit) -> PlannedChange:
        """The edit against the file as it is now; EditRefused says why it cannot be applied."""
        return plan(self.working_set.root, edit)

    def apply_edits(self, message_id: int | None, accepted: Sequence[tuple[PlannedChange, str]]) -> WriteResult:
        """Write the accepted changes and keep what they replaced, so /undo can restore it."""
        result = write(accepted)
        if result.written and self.conversation is not None:
            self.store.record_edit(self.conversation.id, message_id, result.written)
        return result

    def applied_edits(self) -> list[AppliedEdit]:
        return self.store.applied_edits(self.conversation.id) if self.conversation is not None else []

    def last_applied_edit(self) -> AppliedEdit | None:
        return next((edit for edit in reversed(self.applied_edits()) if edit.undone is None), None)

    def undo_edit(self, edit: AppliedEdit, force: bool = False) -> None:
        """Restore the files as they were before `edit`; ChangedSinceApplied unless `force`."""
        restore(edit.files, force, self.working_set.root)
        self.store.mark_undone(edit.id)

    # the project map

    @property
    def project_map(self) -> ProjectMap | None:
        """The project's map, made on first use (its first scan parses the project); None when off."""
        if self.map_tokens == 0:
            return None
        with self._map_lock:
            if self._map is None:
                root = self.working_set.root
                self._map = ProjectMap(root, ProjectSymbols(root, scan_on_read=not self._map_scanned_apart))
            return self._map

    def repo_map(self, draft: str = "") -> RepoMap:
        """The map the next turn would carry (with `draft` as its question)."""
        return self._repo_map(draft, self.working_set.message())[0]

    def suggested_files(self, draft: str, limit: int = 3) -> list[str]:
        """Files the map ranks highest for `draft` that are not in the working set (none for a draft that
        names nothing in the project)."""
        project_map = self.project_map
        if project_map is None or not draft.strip():
            return []
        focus = project_map.focus(draft)
        if not (focus.names or focus.paths):
            return []
        return project_map.ranked_files(focus, self._held())[:limit]

    def _held(self) -> set[str]:
        return {entry.path for entry in self.working_set.entries()}

    def _question(self, draft: str) -> str:
        if draft:
            return draft
        last = self.last("user")
        return last.content if last is not None else ""

    def _repo_map(self, draft: str, files: str) -> tuple[RepoMap, Focus]:
        """The map for the next turn and the focus it was made for."""
        project_map = self.project_map
        if project_map is None or self.engine is None:
            return RepoMap("", 0, ()), self._focus
        question = self._question(draft)
        focus = next_focus(self._focus, project_map.focus(question))
        reserve = answer_reserve(self.engine.n_ctx, self.params.max_tokens)
        free = free_for_files(self.engine.count, self.system, files, question, reserve)
        budget = map_budget(self.map_tokens, self.engine.n_ctx, free)
        return project_map.render(focus, self._held(), budget, self._count_text), focus

    # what is sent

    def prompt(self, draft: str = "") -> Prompt:
        """The messages the engine would get now (with `draft` as the next question, if any)."""
        return self._prompt(draft)[0]

    def _prompt(self, draft: str, ahead: bool = False) -> tuple[Prompt, Focus]:
        """The prompt and its map's focus; `ahead`: as the next turn's will begin, its question still
        empty (a template writes its default system prompt only before a first message)."""
        if self.engine is None:
            raise RuntimeError("no engine loaded")
        history = [Message(m.role, m.content) for m in self.messages if m.content or m.role == "user"]
        if draft or ahead:
            history.append(Message("user", draft))
        reserve = answer_reserve(self.engine.n_ctx, self.params.max_tokens)
        files = self.working_set.message()
        repo_map, focus = self._repo_map(draft, files)
        # The engine's format remembers the ids of the last few prompts it counted: the meter's count
        # of a draft is the count of the turn that sends it, and the ids it made are the ids sent.
        prompt = fit_to_window(self.engine.count, self.system, history, reserve, files, self._cut, repo_map.text)
        return prompt, focus

    def prefill(self) -> None:
        """Have the engine read the next turn's prompt so far (system prompt, files, map, history) while
        the question is typed: the turn then evaluates little more than the question. Call while no
        answer runs; the same prompt is read once."""
        engine = self.engine
        if engine is None:
            return
        read = (engine, tuple(self._prompt("", ahead=True)[0].messages))
        if read != self._prefilled:
            self._prefilled = read
            engine.prefill(read[1])

    def last(self, role: str) -> StoredMessage | None:
        return next((m for m in reversed(self.messages) if m.role == role), None)

    # changing the conversation

    def add_user(self, text: str) -> StoredMessage:
        """Save the question as typed (the working set travels separately, never pasted into it)."""
        if self.conversation is None:
            self.conversation = self.store.create_conversation(title_for(text), self.model)
            self._save_files()
        message = self.store.add_message(self.conversation.id, "user", text)
        self.messages.append(message)
        return message

    def truncate_from(self, message: StoredMessage) -> None:
        """Forget a message and everything after it (regenerate, edit and resend)."""
        self.store.delete_messages_from(message.conversation_id, message.id)
        self.messages = [m for m in self.messages if m.id < message.id]

    def drop_last_answer(self) -> bool:
        """Before regenerating: remove what follows the last question; False if there is no question."""
        question = self.last("user")
        if question is None:
            return False
        after = [m for m in self.messages if m.id > question.id]
        if after:
            self.truncate_from(after[0])
        return True

    # a turn

    def begin_turn(self) -> None:
        """Call where the answer is requested (the UI thread), before answer() runs anywhere.

        A stop() from then on stops this turn, however early it lands."""
        self._stop.clear()

    def stop(self) -> None:
        """Stop the running (or requested) answer within a token; thread-safe."""
        self._stop.set()
        if self.engine is not None:
            self.engine.cancel()

    def answer(self) -> Iterator[Delta]:
        """Stream an answer to the conversation, saving it about once a second and when it ends."""
        engine = self.engine
        if engine is None or self.conversation is None:
            raise RuntimeError("answer() needs an engine and a question")
        prompt, focus = self._prompt("")
        messages = prompt.messages
        row: StoredMessage | None = self.store.add_message(self.conversation.id, "assistant", "", STREAMING)
        parts: list[str] = []
        status = STOPPED  # an answer that ends without the engine's final stats was cut short
        try:
            deltas = engine.stream(messages, self.params)  # the engine's turn begins here
            self._prefilled = None  # the turn's tokens are in the cache now
            self._cut = prompt.dropped  # kept on the next turns while they fit: the cache stays valid
            self._focus = focus  # likewise the map's: a follow-up about the same thing gets the same map
            self.working_set.mark_answered()  # the files as this prompt holds them are what the model sees
            if self._stop.is_set():
                engine.cancel()  # a stop that landed before the turn began
            last_save = time.monotonic()
            for delta in deltas:
                parts.append(delta.text)
                if delta.stats is not None:
                    status = STOPPED if delta.stats.stop_reason == "cancelled" else DONE
                yield delta  # before saving: a save that fails leaves nothing unseen in the answer
                now = time.monotonic()
                if now - last_save >= SAVE_INTERVAL_S:
                    self.store.update_message(row.id, "".join(parts), STREAMING)
                    last_save = now
        except BaseException as exc:
            if not any(parts):  # nothing was written (a full context, a load error): no empty answer
                self.store.delete_messages_from(row.conversation_id, row.id)
                row = None
            elif isinstance(exc, EngineStoppedError) and not self._stop.is_set():
                status = CUT_SHORT  # the model process died; after a stop (a hung one killed) the answer is stopped
            raise
        finally:
            if row is not None:
                # Memory first: if the disk is full the answer is still shown and sent next turn.
                final = StoredMessage(row.id, row.conversation_id, "assistant", "".join(parts), status)
                self.messages.append(final)
                self.store.update_message(final.id, final.content, final.status)
