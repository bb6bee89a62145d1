"""Commands in the chat: /run and !COMMAND, /test and its fix loop, and the commands answers propose.

Running a process group, capturing and capping its output, finding the test command and the files a
failure names are below the TUI (opencoder_local/loop/); this flow asks first, shows, and wires the
loop through the usual question, answer and review. The loop's modules and the confirmation screen
load with the first command, not at start-up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from opencoder_local.context.code_blocks import fence_for, shell_commands
from opencoder_local.context.window import text_counter
from opencoder_local.errors import UserError
from opencoder_local.settings import ChatSettings, api_key_names
from opencoder_local.store import DONE
from opencoder_local.tui.clipboard import copy_text
from opencoder_local.tui.flows.edits import EditFlow
from opencoder_local.tui.flows.host import ChatHost, in_thread
from opencoder_local.tui.phase import Phase
from opencoder_local.tui.widgets.chat_log import AssistantMessage
from opencoder_local.tui.widgets.command_block import CommandBlock, CommandCard, LoopNote
from opencoder_local.tui.widgets.edit_card import APPLIED, PENDING

if TYPE_CHECKING:
    from opencoder_local.loop.run import CommandResult, RunningCommand

UNLOADED_OUTPUT_TOKENS = 1_024  # the output's cap before a model has loaded (then: as the one-shot --test's)
QUIT_WAIT_S = 3.0  # quitting waits this long for running commands to end


@dataclass(frozen=True)
class Ran:
    """A command that ended, and its block in the log."""

    command: str
    result: CommandResult
    block: CommandBlock
    is_test: bool


@dataclass
class _Fix:
    """The test-and-fix loop under way."""

    command: str
    asked: bool = False  # the fix question was sent: the next answer is the model's fix
    message_id: int | None = None  # that answer, while its edits wait for review
    waiting: asyncio.Future[str | None] | None = None  # None: the fix was applied; else why the loop ends
    stopped: bool = False  # Esc


class CommandFlow:
    def __init__(self, host: ChatHost, settings: ChatSettings, edits: EditFlow, keys: dict[str, str]):
        self.host = host
        self.settings = settings
        self._edits = edits
        self._keys = keys  # the screen's key for each action, for the hints
        self._running: RunningCommand | None = None
        self.last: Ran | None = None  # the newest command that ended
        self.attached: tuple[Ran, str] | None = None  # output (capped) that goes with the next question
        self._tests_confirmed: set[tuple[str, str]] = set()  # (project, command) shown and confirmed
        self._fix: _Fix | None = None
        self._closing = False  # the screen is closing: its widgets are gone
        edits.reviewed.append(self._reviewed)

    @property
    def root(self):
        return self.host.session.working_set.root

    def can(self, action: str) -> bool:
        """Whether a key of this flow has something to do now (the footer shows it then)."""
        if self._running is not None or self.last is None:
            return False
        if action == "add_output":
            return True
        result = self.last.result
        return self.last.is_test and not result.passed and not result.stopped and self._fix is None

    # starting a command

    def run_typed(self, command: str) -> None:
        """/run COMMAND or !COMMAND: the user's own command, run as typed (asked first unless trusted)."""
        if not command.strip():
            self.host.notify("Name a command: /run COMMAND or !COMMAND.", severity="warning")
            return
        if self.settings.trust_typed_commands:
            self._start(command)
        else:
            self._confirm(command, "you typed it", lambda: self._start(command))

    def test(self) -> None:
        """/test: the project's test command, shown and confirmed the first time in this session."""
        from opencoder_local.loop.test_command import find_test_command

        try:
            command = find_test_command(self.root, self.settings.test_command)
        except UserError as exc:
            self.host.notify(str(exc), title="No tests run", severity="error", timeout=15, markup=False)
            return
        if command is None:
            self.host.notify("No test command found: set test_command = \"…\" in .opencoder.toml at the project "
                             "root (or in config.toml).", title="No tests run", severity="warning", timeout=15)
            return
        key = (str(self.root), command)

        def confirmed() -> None:
            self._tests_confirmed.add(key)
            self._start(command, "tests  ", is_test=True)

        if key in self._tests_confirmed:
            if self._free("running the tests"):
                confirmed()
        else:
            self._confirm(command, "the project's test command", confirmed)

    def _confirm(self, command: str, source: str, then) -> None:
        if self._free("running a command"):
            from opencoder_local.tui.screens.run_confirm import RunConfirmScreen

            self.host.app.push_screen(RunConfirmScreen(command, str(self.root), source),
                                      lambda yes: yes and self._free("running a command") and then())

    def _free(self, doing: str) -> bool:
        if self._fix is not None:
            self.host.notify("The tests' fix is under way: Esc ends it.", severity="warning")
            return False
        return self.host.idle(doing)

    def _start(self, command: str, title: str = "", is_test: bool = False) -> None:
        self.host.run_worker(self._execute(command, title, is_test), group="command")

    async def _execute(self, command: str, title: str, is_test: bool) -> Ran | None:
        """Run `command` in the project folder, its output streaming into a block; the result, or None
        when it could not start."""
        from opencoder_local.loop.run import RunningCommand

        host = self.host
        block = CommandBlock(command, title)
        await host.log_view.mount(block)
        host.log_view.follow()
        running = RunningCommand(command, self.root, timeout_s=self.settings.command_timeout,
                                 drop_env=api_key_names(self.settings), on_output=block.tail.add)
        self._running = running
        host.phase = Phase.RUNNING
        try:
            running.start()
            result = await in_thread(host, running.wait, group="command-wait")
        except (UserError, OSError) as exc:
            self._ended()
            block.finish(f"Not run: {exc}", failed=True)
            host.notify(str(exc), title="Not run", severity="error", timeout=15, markup=False)
            return None
        except asyncio.CancelledError:  # the screen is closing: its widgets may be gone
            self._running = None
            running.stop()
            raise
        if self._closing:
            return None
        self._ended()
        ran = Ran(command, result, block, is_test)
        self.last = ran
        if block.is_attached:
            block.finish(result.summary(), self._hint(ran), failed=not result.passed)
        host.refresh_bindings()
        return ran

    def _ended(self) -> None:
        self._running = None
        if self.host.phase is Phase.RUNNING:
            self.host.phase = Phase.IDLE

    def _hint(self, ran: Ran) -> str:
        hint = f"{self._keys['add_output']}: add this output to your next question"
        if self.can("fix_tests"):
            hint = f"{self._keys['fix_tests']}: ask the model to fix it · " + hint
        return hint

    # Esc and quitting

    def stop(self) -> bool:
        """Esc: stop the running command (and every process it started), or end the fix; False if
        there was nothing to stop."""
        if self._running is not None:
            self._running.stop()
            return True
        if self._fix is not None:
            self._fix.stopped = True
            self._settle("stopped with Esc")
            return True
        return False

    async def shut_down(self) -> None:
        """Quitting: every running command stops with its processes, within QUIT_WAIT_S."""
        from opencoder_local.loop.run import stop_all_running

        self._closing = True
        if self._running is not None:
            self._running.stop()
        try:
            await asyncio.wait_for(asyncio.to_thread(stop_all_running), QUIT_WAIT_S)
        except asyncio.TimeoutError:
            pass

    # the output, with the next question

    def add_output(self) -> None:
        """F5: the last command's output (capped) goes with the next question; again: it does not."""
        host = self.host
        if self.attached is not None:
            ran, self.attached = self.attached[0], None
            if ran.block.is_attached:
                ran.block.note(self._hint(ran))
            host.notify("The output will not go with your next question.")
            return
        if self.last is None:
            host.notify("No command has run yet: /run COMMAND or !COMMAND runs one.")
            return
        host.run_worker(self._attach(self.last), group="attach")

    async def _attach(self, ran: Ran) -> None:
        output = await in_thread(self.host, partial(self._for_model, ran.result), group="read")
        self.attached = (ran, output)
        note = f"↳ goes with your next question · {self._keys['add_output']} takes it back"
        if ran.block.is_attached:
            ran.block.note(note)
        lines = len(output.splitlines())
        self.host.notify(f"The output of {ran.command.splitlines()[0][:60]} ({lines:,} lines) goes with your "
                         f"next question. {self._keys['add_output']} again takes it back.", title="Output added",
                         markup=False)

    def with_output(self, question: str) -> str:
        """The question as sent: with the added output after it, once."""
        if self.attached is None:
            return question
        ran, output = self.attached
        self.attached = None
        if ran.block.is_attached:
            ran.block.note(self._hint(ran))
        fence = fence_for(output)
        return (f"{question}\n\nOutput of `{ran.command}` ({ran.result.summary()}):\n"
                f"{fence}text\n{output.rstrip()}\n{fence}")

    def _for_model(self, result: CommandResult) -> str:
        """The output capped for the model's window, head and tail, as the one-shot `--test` caps it (in a
        thread: counting asks the engine)."""
        from opencoder_local.loop.fix import MIN_OUTPUT_TOKENS, OUTPUT_SHARE

        engine = self.host.session.engine
        if engine is None:
            return result.output.for_model(lambda text: len(text) // 3 + 1, UNLOADED_OUTPUT_TOKENS)
        return result.output.for_model(text_counter(engine), max(MIN_OUTPUT_TOKENS, engine.n_ctx // OUTPUT_SHARE))

    # commands answers propose

    async def propose(self, view: AssistantMessage) -> None:
        """Under an answer: a card for each command it proposes (none runs without a key and a yes)."""
        if view.message_id is None or not view.content or view.query(CommandCard):
            return
        edits = frozenset(edit.whole for edit in self.host.session.proposed_edits(view.content) if edit.whole)
        cards = [CommandCard(command, view.message_id) for command in shell_commands(view.content, edits)]
        if cards:
            await view.mount_all(cards)

    async def show_cards(self) -> None:
        for view in self.host.log_view.query(AssistantMessage):
            await self.propose(view)

    def chosen(self, card: CommandCard, copy: bool) -> None:
        if copy:
            used = copy_text(self.host.app, card.command)
            self.host.notify(f"Copied the command ({', '.join(used)}).", markup=False)
        else:  # never trusted: the model wrote it
            self._confirm(card.command, "the model proposed it", lambda: self._start(card.command, "proposed  "))

    # the fix loop: tests fail -> the model answers -> its edits are reviewed and applied -> tests again

    def fix_tests(self) -> None:
        """F8: ask the model to fix the failing tests, up to `rounds` times."""
        ran = self.last
        if not self.can("fix_tests") or ran is None:
            self.host.notify("No failed test run to fix: /test runs the tests.")
            return
        if not self.host.idle("asking for a fix"):
            return
        self._fix = _Fix(ran.command)
        self.host.refresh_bindings()
        self.host.run_worker(self._fix_loop(ran), group="fix")

    async def _fix_loop(self, ran: Ran) -> None:
        rounds = self.settings.rounds
        try:
            for number in range(1, rounds + 1):
                await self._note(f"Fix, round {number} of {rounds}: the model is asked about {ran.result.summary()}")
                why = await self._ask_fix(ran)
                if why is not None:
                    await self._note(f"■ Fix ended in round {number}: {why}.")
                    return
                tested = await self._execute(ran.command, f"tests · round {number} of {rounds}  ", is_test=True)
                if tested is None or tested.result.stopped:
                    await self._note(f"■ Fix ended in round {number}: the tests were stopped.")
                    return
                ran = tested
                if ran.result.passed:
                    await self._note(f"✓ The tests pass after {number} round{'s' if number > 1 else ''} of fixes.")
                    return
            await self._note(f"✗ The tests still fail after {rounds} rounds of fixes: {ran.result.summary()}")
        finally:
            self._fix = None
            self.host.refresh_bindings()

    async def _note(self, text: str) -> None:
        await self.host.log_view.mount(LoopNote(text))
        self.host.log_view.follow()

    async def _ask_fix(self, ran: Ran) -> str | None:
        """Send the fix question with the files the failure names; None once its edits are applied,
        else why the loop ends."""
        from opencoder_local.loop.failures import files_in_failure, fix_question

        host, fix = self.host, self._fix
        if fix is None:
            return "stopped"
        output = await in_thread(host, partial(self._for_model, ran.result), group="read")
        held = {entry.path for entry in host.files}
        named = [path for path in files_in_failure(ran.result.output.display_text(), self.root) if path not in held]
        if named:  # within the budget, as /add: a file that does not fit is named, not added
            draft = fix_question(ran.result, output)
            added = await in_thread(host, partial(host.session.add_files, named, draft), group="read")
            for spec, reason in added.refused:
                host.notify(f"{spec}: {reason}", title="Not added", severity="warning", timeout=15, markup=False)
            host.sync_files()
        # The working set's message spells out the edit format once it holds a file.
        question = fix_question(ran.result, output, edit_format=not host.session.working_set.entries())
        if fix.stopped:
            return "stopped with Esc"
        fix.waiting = asyncio.get_running_loop().create_future()
        fix.asked, self.attached = True, None  # the question carries the output already
        if not await host.send_question(question):
            return "the question could not be sent"
        return await fix.waiting

    async def answered(self, view: AssistantMessage | None, status: str) -> None:
        """After an answer ended (its edit cards are shown): its command cards, and the fix loop's next step."""
        if view is not None:
            await self.propose(view)
        fix = self._fix
        if fix is None or not fix.asked:
            return
        fix.asked = False
        if view is None or status != DONE:
            self._settle("the answer was stopped or failed")
            return
        cards = [card for card in self._edits.pending() if card.message_id == view.message_id]
        if not cards:
            self._settle("the answer proposed no edit that applies")
            return
        fix.message_id = view.message_id
        self._edits.review(cards, note="The model's fix: once it is applied the tests run again.")

    def _reviewed(self, message_id: int | None) -> None:
        fix = self._fix
        if fix is None or fix.message_id is None or fix.message_id != message_id:
            return
        states = {card.state for card in self._edits.cards() if card.message_id == message_id}
        if APPLIED in states:
            self._settle(None)
        elif PENDING not in states:
            self._settle("its edits were rejected")
        else:
            self.host.notify(f"The fix waits for review ({self._keys['review_edits']}); the tests run again once "
                             "it is applied. Esc ends the fix.", markup=False)

    def _settle(self, why: str | None) -> None:
        fix = self._fix
        if fix is not None and fix.waiting is not None and not fix.waiting.done():
            fix.message_id = None
            fix.waiting.set_result(why)
