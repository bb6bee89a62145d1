"""The file edits answers propose: a card under the answer for each, the review, the write, and undo.

Parsing, the path rules, writing and the edit history are below the TUI (context/edits.py,
context/apply.py, the store); this flow shows their results and asks the user."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from opencoder_local.context.apply import ChangedSinceApplied, EditRefused
from opencoder_local.context.session import ChatSession
from opencoder_local.errors import UserError
from opencoder_local.store import AppliedEdit
from opencoder_local.tui.flows.files import FilesFlow
from opencoder_local.tui.flows.host import ChatHost
from opencoder_local.tui.screens.confirm import ConfirmScreen
from opencoder_local.tui.widgets.chat_log import AssistantMessage
from opencoder_local.tui.widgets.edit_card import APPLIED, FAILED, PENDING, REJECTED, UNDONE, EditCard

if TYPE_CHECKING:
    from opencoder_local.tui.screens.review import Decision


class EditFlow:
    def __init__(self, host: ChatHost, files: FilesFlow):
        self.host = host
        self._files = files  # a failed edit's file is added before asking again
        self.can_undo = False  # an applied edit of this conversation stands (the undo key shows)
        self.reviewed: list[Callable[[int | None], None]] = []  # told the answer's id after each review

    @property
    def session(self) -> ChatSession:
        return self.host.session

    def cards(self) -> list[EditCard]:
        return list(self.host.log_view.query(EditCard))

    def pending(self) -> list[EditCard]:
        return [card for card in self.cards() if card.state == PENDING]

    # cards

    async def propose(self, view: AssistantMessage) -> None:
        """Under a finished answer: a card for each file edit it proposes."""
        await self._mount_cards(view, {})
        self.host.refresh_bindings()

    async def show_cards(self) -> None:
        """After a conversation is shown: every answer's cards, the edits applied shown as applied."""
        stored: dict[tuple[int | None, str], str] = {}
        for edit in self.session.applied_edits():
            for applied in edit.files:
                stored[(edit.message_id, applied.path)] = UNDONE if edit.undone else APPLIED
        for view in self.host.log_view.query(AssistantMessage):
            await self._mount_cards(view, stored)
        self._history_changed()

    async def _mount_cards(self, view: AssistantMessage, stored: dict[tuple[int | None, str], str]) -> None:
        if view.message_id is None or not view.content:
            return
        cards = []
        for edit in self.session.proposed_edits(view.content):
            state = stored.get((view.message_id, self._absolute(edit.path)), PENDING)
            card = EditCard(edit, view.message_id, state)
            if state != APPLIED:
                self._plan(card)
            cards.append(card)
        if cards:
            await view.mount_all(cards)

    def _plan(self, card: EditCard) -> bool:
        """Diff the card's edit against its file as it is now; False (the card says why) if it cannot apply."""
        try:
            card.plan(self.session.plan_edit(card.edit), PENDING if card.state == FAILED else card.state)
        except EditRefused as exc:
            card.fail(exc)
            return False
        return True

    # opening and reviewing

    async def open(self, card: EditCard) -> None:
        """Enter or a click on a card: review it, or ask the model again for an edit that failed."""
        if card.state == FAILED and card.problem is not None:
            if card.problem.ask_again:
                await self.ask_again(card)
            else:
                self.host.notify(str(card.problem), title="Not applied", severity="error", timeout=15,
                                 markup=False)
        elif card.state == APPLIED:
            self.host.notify(f"{card.edit.path} is applied: /undo restores the files of the last edit.",
                             markup=False)
        else:
            self.review([card])

    def review_newest(self) -> None:
        """Review the pending edits of the newest answer that has some, one file after another."""
        pending = self.pending()
        if not pending:
            self.host.notify("No proposed edit is waiting for review.")
            return
        newest = pending[-1].message_id
        self.review([card for card in pending if card.message_id == newest])

    def review(self, cards: list[EditCard], note: str = "") -> None:
        """Diff each edit against its file as it is now and open the review screen on them."""
        live = [card for card in cards if self._plan(card) and card.change is not None]
        for card in cards:
            if card.state == FAILED:
                self.host.notify(str(card.problem), title="Not applied", severity="error", timeout=15, markup=False)
        if not live:
            return
        from opencoder_local.tui.screens.review import ReviewScreen  # its highlighting: with the first review

        by_target = {card.change.target: card for card in live}
        changes = [card.change for card in live]
        self.host.app.push_screen(ReviewScreen(changes, note), lambda done: self._decided(by_target, done or []))

    def _decided(self, cards: dict[Path, EditCard], decisions: list[Decision]) -> None:
        for decision in decisions:
            if decision.text is None:
                cards[decision.change.target].state = REJECTED
        accepted = [(d.change, d.text) for d in decisions if d.text is not None]
        if accepted:
            self._write(cards, accepted)
        self.host.refresh_bindings()
        self.host.prompt_input.focus()  # back to asking, whichever card the review was opened from
        if cards:
            for listener in self.reviewed:
                listener(next(iter(cards.values())).message_id)

    def _write(self, cards: dict[Path, EditCard], accepted: list) -> None:
        host = self.host
        message_id = cards[accepted[0][0].target].message_id
        try:
            result = self.session.apply_edits(message_id, accepted)
        except UserError as exc:  # the files are written; the history could not be saved
            host.notify(f"{exc}\nThe files are written, but /undo cannot restore them.", title="Not recorded",
                        severity="error", timeout=30, markup=False)
            return
        for written in result.written:
            cards[Path(written.path)].state = APPLIED
        for path, reason in result.failed:
            host.notify(reason, title=f"{path} was not written", severity="error", timeout=20, markup=False)
        if result.written:
            names = ", ".join(self._shown(f.path) for f in result.written)
            host.notify(f"Applied to {names}. /undo restores {'them' if len(result.written) > 1 else 'it'}.",
                        title="Edit applied", markup=False)
        if result.stale:
            names = ", ".join(change.path for change in result.stale)
            self.review([cards[change.target] for change in result.stale],
                        note=f"{names} changed on disk since its diff was made: this diff is against the file "
                             "as it is now.")
        self._history_changed()

    # undo

    def undo(self) -> None:
        """Restore the files of the conversation's last applied edit, asking first if they changed since."""
        edit = self.session.last_applied_edit()
        if edit is None:
            self.host.notify("Nothing to undo: no edit of this conversation is applied.")
            return
        try:
            self.session.undo_edit(edit)
        except ChangedSinceApplied as exc:
            names = ", ".join(self._shown(path) for path in exc.paths)

            def sure(answer: bool | None) -> None:
                if answer:
                    self.session.undo_edit(edit, force=True)
                    self._undone(edit)

            self.host.app.push_screen(ConfirmScreen(
                f"{names} changed since the edit was applied. Undo anyway? Those later changes are lost."), sure)
            return
        self._undone(edit)

    def _undone(self, edit: AppliedEdit) -> None:
        paths = {applied.path for applied in edit.files}
        for card in self.cards():
            if card.message_id == edit.message_id and self._absolute(card.edit.path) in paths:
                card.state = UNDONE
                self._plan(card)
        names = ", ".join(self._shown(applied.path) for applied in edit.files)
        self.host.notify(f"Restored {names} as before the edit.", title="Undone", markup=False)
        self._history_changed()

    def listing(self) -> None:
        """The conversation's applied edits, newest first, as a notice (/edits)."""
        edits = self.session.applied_edits()
        if not edits:
            self.host.notify("No edit of this conversation has been applied.")
            return
        lines = []
        for edit in reversed(edits[-20:]):
            when = time.strftime("%H:%M", time.localtime(edit.created))
            names = ", ".join(self._shown(applied.path) for applied in edit.files)
            lines.append(f"{when}  {names}" + ("  (undone)" if edit.undone else ""))
        self.host.notify("\n".join(lines), title=f"Applied edits ({len(edits)})", timeout=20, markup=False)

    # asking again

    async def ask_again(self, card: EditCard) -> None:
        """A new question with the file as it is now in the working set: the failed block, named."""
        path = card.edit.path
        question = (f"Your edit could not be applied ({card.problem}). {path} as it is now is with the files "
                    "above. Answer again with its path on a line of its own, then the whole new file, or SEARCH "
                    "blocks copied exactly from it.")
        held = {entry.path for entry in self.host.files}
        if path not in held and (self.session.working_set.root / path).is_file():
            self._files.add([path], then_send=question)
        else:
            await self.host.send_question(question)

    def _history_changed(self) -> None:
        self.can_undo = self.session.last_applied_edit() is not None
        self.host.refresh_bindings()

    def _absolute(self, path: str) -> str:
        return os.path.normpath(self.session.working_set.root / path)

    def _shown(self, path: str) -> str:
        try:
            return Path(path).relative_to(self.session.working_set.root).as_posix()
        except ValueError:
            return path
