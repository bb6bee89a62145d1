"""/run and !COMMAND through the app, with real processes: the confirmation, the output block, Esc on a
process group, a flood, bytes that are not UTF-8, the output going with the next question only when
asked, the commands an answer proposes, and quitting while a command runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import Log

from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app
from opencoder_local.tui.phase import Phase
from opencoder_local.tui.screens.chat import ChatScreen
from opencoder_local.tui.screens.run_confirm import RunConfirmScreen
from opencoder_local.tui.widgets.command_block import SHOWN_LINES, CommandBlock, CommandCard, OutputTail

from tui.helpers import ask, notices, ready, wait_for
from tui.scripted import ScriptedEngine, pieces

pytestmark = pytest.mark.anyio


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "notes.txt").write_text("first line\n")
    return root


def app_on(project: Path, *answers: str, **settings):
    engine = ScriptedEngine(list(answers) or "Hello.")
    return make_app(ChatSettings(model="demo", project=str(project), **settings), lambda _s: engine), engine


async def command(pilot, text: str) -> None:
    pilot.app.screen.prompt_input.text = text
    await pilot.press("enter")


def blocks(app) -> list[CommandBlock]:
    return list(app.screen.query(CommandBlock)) if isinstance(app.screen, ChatScreen) else []


def summary(block: CommandBlock) -> str:
    return str(block.query_one(".summary").render())


async def ran(pilot, count: int = 1) -> CommandBlock:
    """Wait until `count` commands have ended; the newest block."""
    app = pilot.app

    def ended() -> bool:
        done = [block for block in blocks(app) if summary(block)]
        return len(done) >= count and app.screen.phase is not Phase.RUNNING

    await wait_for(pilot, ended, timeout=60)
    return blocks(app)[-1]


def processes(marker: str) -> list[int]:
    """Live processes whose command line holds `marker` (zombies do not count)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z" and int(entry) != os.getpid():
            found.append(int(entry))
    return found


async def test_run_asks_first_then_streams_the_output_and_says_how_it_ended(project):
    app, _engine = app_on(project)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await command(pilot, "/run echo hello from the run; echo made > made.txt; exit 3")
        await wait_for(pilot, lambda: isinstance(app.screen, RunConfirmScreen))
        assert "echo made > made.txt; exit 3" in str(app.screen.query_one("#command").render())
        assert not (project / "made.txt").exists()  # nothing runs before the yes
        await pilot.press("enter")
        block = await ran(pilot)
        assert "hello from the run" in block.shown
        assert "failed (exit 3)" in summary(block)
        assert (project / "made.txt").read_text() == "made\n"  # in the project folder
        assert app.screen.phase is Phase.IDLE
        await command(pilot, "!pwd")
        await wait_for(pilot, lambda: isinstance(app.screen, RunConfirmScreen))
        await pilot.press("y")
        block = await ran(pilot, 2)
        assert str(project) in block.shown and "passed" in summary(block)


async def test_n_and_esc_cancel_and_nothing_runs(project):
    app, _engine = app_on(project)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        for key in ("n", "escape"):
            await command(pilot, f"/run touch made-{key}.txt")
            await wait_for(pilot, lambda: isinstance(app.screen, RunConfirmScreen))
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        await pilot.pause(0.3)
        assert not list(project.glob("made-*")) and not blocks(app)
        await command(pilot, "/run")
        assert "Name a command" in notices(app)


async def test_trusted_typed_commands_run_without_asking(project):
    app, _engine = app_on(project, trust_typed_commands=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await command(pilot, "!echo trusted > t.txt")
        await ran(pilot)
        assert (project / "t.txt").read_text() == "trusted\n"


async def test_esc_stops_the_command_and_every_process_it_started(project):
    app, _engine = app_on(project, trust_typed_commands=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await command(pilot, "sh -c 'sleep 731 & sleep 732'".join(["!", ""]))
        await wait_for(pilot, lambda: processes("sleep 731") and processes("sleep 732"), timeout=30)
        assert app.screen.phase is Phase.RUNNING
        assert "Stop the command (Esc)" not in notices(app)
        await command(pilot, "a question while it runs")  # refused, kept in the box
        assert "Stop the command (Esc) before sending" in notices(app)
        await pilot.press("escape")
        block = await ran(pilot)
        assert "was stopped" in summary(block)
        await wait_for(pilot, lambda: not processes("sleep 731") and not processes("sleep 732"), timeout=30)


async def test_a_flood_keeps_the_app_responsive_and_the_block_bounded(project):
    app, _engine = app_on(project, trust_typed_commands=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await command(pilot, "!yes 'a line of the flood that never ends'")
        await wait_for(pilot, lambda: blocks(app) and len(blocks(app)[0].query_one(Log).lines) >= SHOWN_LINES)
        screen = app.screen
        screen.prompt_input.focus()
        await pilot.press(*"typed")
        await wait_for(pilot, lambda: screen.prompt_input.text == "typed")
        assert screen.phase is Phase.RUNNING  # the keys were handled while the flood went on
        await pilot.press("escape")
        block = await ran(pilot)
        assert len(block.query_one(Log).lines) <= SHOWN_LINES + 1
        assert "a line of the flood" in block.shown and "left some out" in summary(block)


async def test_output_that_is_not_utf8_is_shown_safely(project):
    app, _engine = app_on(project, trust_typed_commands=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await command(pilot, r"!printf 'caf\351 \033[31mred\033[0m \007bell \033]0;title\007 end\n'")
        block = await ran(pilot)
        shown = block.shown
        assert "caf\ufffd" in shown and "red" in shown and "end" in shown
        assert not any(ch in shown for ch in "\x1b\x07\x9b")


async def test_the_output_goes_with_the_next_question_only_when_asked(project):
    app, engine = app_on(project, "First answer.", "Second answer.", trust_typed_commands=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await command(pilot, "!seq 1 5000")
        await ran(pilot)
        await ask(pilot, "What did it print?")
        assert "4999" not in engine.prompts[-1][-1].content  # never added silently
        await pilot.press("f5")
        await wait_for(pilot, lambda: "goes with your next question" in notices(app))
        await ask(pilot, "And now?")
        sent = engine.prompts[-1][-1].content
        assert sent.startswith("And now?") and "Output of `seq 1 5000`" in sent
        assert "\n1\n" in sent and "5000" in sent and "lines left out" in sent  # head and tail, capped
        assert len(pieces(sent)) < 4096 // 4 + 40  # the output's share of the window, and the words around it
        await ask(pilot, "Once only?")
        assert "Output of" not in engine.prompts[-1][-1].content


PROPOSED = ("Run this to check:\n\n```console\n$ echo proposed > proposed.txt\nsome output line\n"
            "$ echo second >> proposed.txt\n```\n\nOr copy it.")


async def test_a_proposed_command_runs_only_after_a_yes_and_can_be_copied(project):
    app, _engine = app_on(project, PROPOSED, trust_typed_commands=True)  # the model's commands are never trusted
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "How do I check?")
        [card] = app.screen.query(CommandCard)
        assert card.command == "echo proposed > proposed.txt\necho second >> proposed.txt"
        card.focus()
        await pilot.press("c")
        assert app.clipboard == card.command and "Copied the command" in notices(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunConfirmScreen))
        shown = str(app.screen.query_one("#command").render())
        assert "echo second >> proposed.txt" in shown and "the model proposed it" in str(
            app.screen.query_one(".question").render())
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        await pilot.pause(0.2)
        assert not (project / "proposed.txt").exists()
        card.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunConfirmScreen))
        await pilot.press("y")
        await ran(pilot)
        assert (project / "proposed.txt").read_text() == "proposed\nsecond\n"


async def test_quitting_stops_a_running_command(project):
    app, _engine = app_on(project, trust_typed_commands=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await command(pilot, "!sleep 733")
        await wait_for(pilot, lambda: processes("sleep 733"), timeout=30)
    assert not processes("sleep 733")


def test_the_tail_keeps_the_last_lines_and_cuts_a_line_with_no_end():
    woken = []
    tail = OutputTail(lambda: woken.append(1), max_lines=3, max_chars=5)
    tail.add("one\ntwo\n")
    tail.add("three\nfour\nfive\n")
    assert tail.take() == "three\nfour\nfive\n" and tail.dropped and len(woken) == 1
    tail.add("x" * 4)
    tail.add("x" * 4)  # the same line goes on: cut once at 5 characters
    tail.add("y" * 100 + "\nok")
    assert tail.take() == "xxxx" + "x…" + "" + "\nok"
    assert tail.take() == "" and len(woken) == 2
