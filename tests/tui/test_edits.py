"""Edits proposed in answers, through the app with a scripted engine: the cards, the review screen
(accept, reject, chosen hunks, all at once), new files, refusals, a file changed meanwhile, asking
again, and /undo, also after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencoder_local.context.code_blocks import code_blocks
from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app
from opencoder_local.tui.screens.chat import ChatScreen
from opencoder_local.tui.screens.confirm import ConfirmScreen
from opencoder_local.tui.screens.review import HunkView, ReviewScreen
from opencoder_local.tui.widgets.edit_card import APPLIED, FAILED, PENDING, REJECTED, UNDONE, EditCard

from tui.helpers import ask, notices, ready, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio

CALC = "".join(f"def f{n}(x):\n    return x + {n}\n\n\n" for n in range(1, 8))
TYPED = CALC.replace("def f1(x):", "def f1(x: int) -> int:").replace("def f7(x):", "def f7(x: int) -> int:")
UTIL = "def double(x):\n    return 2 * x\n"


def whole_file(path: str, text: str) -> str:
    return f"Here is the new version.\n\n`{path}`\n```python\n{text}```\n\nThat is all."


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "calc.py").write_text(CALC)
    (root / "src" / "util.py").write_text(UTIL)
    return root


def app_on(project: Path, *answers: str, **settings):
    engine = ScriptedEngine(list(answers))
    return make_app(ChatSettings(model="demo", project=str(project), **settings), lambda _s: engine), engine


async def command(pilot, text: str) -> None:
    pilot.app.screen.prompt_input.text = text
    await pilot.press("enter")


async def with_files(pilot, *specs: str) -> None:
    await ready(pilot)
    await command(pilot, "/add " + " ".join(specs))
    await wait_for(pilot, lambda: len(pilot.app.screen.files) == len(specs))


def cards(app) -> list[EditCard]:
    return list(app.screen.query(EditCard)) if isinstance(app.screen, ChatScreen) else []


async def review(pilot) -> ReviewScreen:
    await pilot.press("ctrl+g")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen))
    await pilot.pause()
    return pilot.app.screen


async def test_accept_an_edit_then_undo_it(project):
    app, _engine = app_on(project, whole_file("src/calc.py", TYPED))
    calc = project / "src" / "calc.py"
    async with app.run_test(size=(120, 40)) as pilot:
        await with_files(pilot, "src/calc.py")
        await ask(pilot, "Add type hints to f1 and f7.")
        [card] = cards(app)
        assert card.state == PENDING and "src/calc.py" in str(card.render()) and "+2 −2" in str(card.render())
        await pilot.press("shift+tab")  # from the question box to the newest card
        assert app.focused is card
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("escape")  # later: nothing decided, the card still waits
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert card.state == PENDING and calc.read_text() == CALC
        screen = await review(pilot)
        assert [v.header for v in screen.query(HunkView)] == ["@@ -1,4 +1,4 @@", "@@ -22,7 +22,7 @@"]
        shown = "\n".join(str(v.render()) for v in screen.query(HunkView))
        assert "- def f1(x):" in shown and "+ def f1(x: int) -> int:" in shown
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert calc.read_text() == TYPED
        assert card.state == APPLIED and "Applied to src/calc.py" in notices(app)
        await command(pilot, "/undo")
        await wait_for(pilot, lambda: calc.read_text() == CALC)
        assert card.state == UNDONE and "Restored src/calc.py" in notices(app)
        await command(pilot, "/undo")
        assert "Nothing to undo" in notices(app)


async def test_choose_hunks_then_reject_the_next_file(project):
    answer = whole_file("src/calc.py", TYPED) + "\n\n" + whole_file("src/util.py", UTIL.replace("2 * x", "x + x"))
    app, _engine = app_on(project, answer)
    async with app.run_test(size=(120, 40)) as pilot:
        await with_files(pilot, "src/calc.py", "src/util.py")
        await ask(pilot, "Improve both.")
        assert [c.edit.path for c in cards(app)] == ["src/calc.py", "src/util.py"]
        await pilot.press("ctrl+p")  # the palette offers the review while edits wait
        await pilot.press(*"review proposed")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.pause()
        screen = app.screen
        await pilot.press("down", "space")  # leave out the second hunk (f7)
        assert [v.chosen for v in screen.query(HunkView)] == [True, False]
        await pilot.press("y")
        await wait_for(pilot, lambda: "src/util.py" in str(screen.query_one("#title").render()))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert (project / "src" / "calc.py").read_text() == CALC.replace("def f1(x):", "def f1(x: int) -> int:")
        assert (project / "src" / "util.py").read_text() == UTIL
        assert [c.state for c in cards(app)] == [APPLIED, REJECTED]


async def test_accept_all_at_once_with_a_new_file_confirmed_first(project):
    answer = whole_file("src/calc.py", TYPED) + "\n\n" + whole_file("tests/test_calc.py", "from calc import f1\n")
    app, _engine = app_on(project, answer)
    async with app.run_test(size=(120, 40)) as pilot:
        await with_files(pilot, "src/calc.py")
        await ask(pilot, "Type it and test it.")
        assert "new file" in str(cards(app)[1].render())
        await review(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "tests/test_calc.py" in app.screen.question
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen) and cards(app)[1].state == APPLIED)
        assert (project / "tests" / "test_calc.py").read_text() == "from calc import f1\n"
        assert (project / "src" / "calc.py").read_text() == TYPED
        await pilot.press("f4")  # one edit: both files restored, the new one removed
        await wait_for(pilot, lambda: not (project / "tests" / "test_calc.py").exists())
        assert (project / "src" / "calc.py").read_text() == CALC


async def test_a_path_outside_the_project_is_refused_on_its_card(project):
    app, _engine = app_on(project, whole_file("../outside.py", "import os\n"))
    async with app.run_test(size=(120, 40)) as pilot:
        await with_files(pilot, "src/calc.py")
        await ask(pilot, "Write outside.")
        [card] = cards(app)
        assert card.state == FAILED and "outside the project folder" in str(card.render())
        card.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, ChatScreen) and "outside the project folder" in notices(app)
        assert not (project.parent / "outside.py").exists()
        assert not app.screen.check_action("review_edits", ())  # nothing to review: the key is not offered


async def test_a_search_block_that_does_not_match_asks_the_model_again(project):
    wrong = "`src/calc.py`\n```python\n<<<<<<< SEARCH\ndef f9(x):\n=======\ndef f9(x: int):\n>>>>>>> REPLACE\n```\n"
    app, engine = app_on(project, wrong, whole_file("src/calc.py", TYPED))
    async with app.run_test(size=(120, 40)) as pilot:
        await with_files(pilot, "src/calc.py")
        await ask(pilot, "Type f9.")
        [card] = cards(app)
        assert card.state == FAILED and "SEARCH block 1 does not match the file" in str(card.render())
        card.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.screen.session.messages) == 4 and not app.screen.generating)
        question = app.screen.session.messages[2].content
        assert "SEARCH block 1 does not match the file" in question and "src/calc.py" in question
        assert any(CALC in m.content for m in engine.prompts[-1])  # the current file went with it
        await wait_for(pilot, lambda: len(cards(app)) == 2)
        assert cards(app)[1].state == PENDING


async def test_a_file_changed_since_its_diff_is_shown_again_before_writing(project):
    app, _engine = app_on(project, whole_file("src/calc.py", TYPED))
    calc = project / "src" / "calc.py"
    async with app.run_test(size=(120, 40)) as pilot:
        await with_files(pilot, "src/calc.py")
        await ask(pilot, "Add type hints.")
        screen = await review(pilot)
        calc.write_text(CALC + "# saved in the editor meanwhile\n")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen is not screen)
        assert "changed on disk" in str(app.screen.query_one("#note").render())
        assert calc.read_text().endswith("# saved in the editor meanwhile\n")  # not overwritten unseen
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert calc.read_text() == TYPED


async def test_a_click_opens_a_card_and_undo_works_after_a_restart(project):
    app, _engine = app_on(project, whole_file("src/calc.py", TYPED))
    calc = project / "src" / "calc.py"
    async with app.run_test(size=(120, 40)) as pilot:
        await with_files(pilot, "src/calc.py")
        await ask(pilot, "Add type hints.")
        await pilot.click(EditCard)
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: calc.read_text() == TYPED)
    again, _engine = app_on(project, "unused", continue_last=True)
    async with again.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(cards(again)) == 1)
        assert cards(again)[0].state == APPLIED and again.screen.check_action("undo_edit", ())
        await command(pilot, "/edits")
        assert "src/calc.py" in notices(again)
        await pilot.press("f4")
        await wait_for(pilot, lambda: calc.read_text() == CALC)
        assert cards(again)[0].state == UNDONE


async def test_the_demo_model_writes_a_file_end_to_end(demo_app, tmp_path):
    """The real model in its process: the block it writes lands in the file, and /undo takes it back."""
    project = tmp_path / "demo-project"
    project.mkdir()
    hello = project / "hello.py"
    hello.write_text('def greet(name):\n    return "Hello " + name\n')
    app = demo_app(project=str(project), max_tokens=150)
    async with app.run_test(size=(120, 40)) as pilot:
        await with_files(pilot, "hello.py")
        await command(pilot, "Write the whole hello.py again with a docstring.")  # one block, for the only file
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.session.messages) == 2 and not screen.generating, timeout=600)
        answer = app.screen.session.messages[-1].content
        [block] = [b.code for b in code_blocks(answer)]
        [card] = cards(app)
        assert card.state == PENDING and card.edit.path == "hello.py"
        await review(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: card.state == APPLIED)
        assert hello.read_text() == block
        await command(pilot, "/undo")
        await wait_for(pilot, lambda: card.state == UNDONE)
        assert hello.read_text() == 'def greet(name):\n    return "Hello " + name\n'
