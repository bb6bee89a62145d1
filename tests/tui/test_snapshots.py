"""SVG snapshots of the main screens: scripted engine, fixed conversation, fixed size.

Update after an intended visual change with: pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from opencoder_local import locations
from opencoder_local.context.session import ChatSession
from opencoder_local.engine.protocol import GenParams
from opencoder_local.errors import ModelFileError
from opencoder_local.models import catalog
from opencoder_local.settings import ChatSettings
from opencoder_local.store import STOPPED, Store
from opencoder_local.tui.app import make_app
from opencoder_local.tui.screens.first_run import FirstRunScreen
from opencoder_local.tui.widgets.status_bar import meter

from tui.helpers import ask, ready, wait_for
from tui.scripted import ScriptedEngine

SIZE = (110, 34)
ANSWER = (
    "Here is a small, tested helper:\n\n"
    "```python\n"
    "def is_prime(n: int) -> bool:\n"
    "    \"\"\"True when n has no divisor but 1 and itself.\"\"\"\n"
    "    if n < 2:\n"
    "        return False\n"
    "    return all(n % d for d in range(2, int(n ** 0.5) + 1))\n"
    "```\n\n"
    "It checks divisors up to **the square root**, so it runs in `O(√n)`.\n"
)


async def counted(pilot) -> None:
    """Wait until the context meter shows the final count of the conversation."""
    screen = pilot.app.screen
    prompt = screen.session.prompt(screen.prompt_input.text.strip())  # the meter counts the draft too
    expected = meter(prompt.budget.n_ctx, prompt.parts, prompt.dropped)
    await wait_for(pilot, lambda: str(screen.query_one("#context").render()) == expected)


def still(pilot) -> None:
    pilot.app.screen.prompt_input.cursor_blink = False


def test_conversation_with_a_highlighted_code_answer(snap_compare):
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine(ANSWER))

    async def run_before(pilot):
        await ready(pilot)
        await ask(pilot, "Write a Python function that checks if a number is prime.")
        await counted(pilot)
        still(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_resumed_conversation_with_a_stopped_answer_and_no_sidebar(snap_compare):
    store = Store.open(locations.database_path())
    session = ChatSession(store, GenParams())
    question = session.add_user("Explain Python generators with an example.")
    store.add_message(question.conversation_id, "assistant",
                      "A generator is a function that **yields** values lazily:\n\n```python\ndef count(n):\n    i = 0\n",
                      STOPPED)
    store.close()
    app = make_app(ChatSettings(model="demo", continue_last=True), lambda _s: ScriptedEngine())

    async def run_before(pilot):
        await ready(pilot)
        await pilot.press("ctrl+b")
        await counted(pilot)
        still(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_model_load_failure_notice(snap_compare):
    def broken(_settings):
        raise ModelFileError("/models/broken.gguf is truncated: 1,024 of 80,000,000 bytes")

    app = make_app(ChatSettings(model="/models/broken.gguf"), broken)

    async def run_before(pilot):
        await wait_for(pilot, lambda: pilot.app._notifications)
        await pilot.pause(0.1)
        still(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_command_palette_lists_the_chat_actions(snap_compare):
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine())

    async def run_before(pilot):
        await ready(pilot)
        still(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"code")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_files_in_the_conversation_and_the_path_dropdown(snap_compare, tmp_path):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "app.py").write_text("def main():\n    print('hello')\n")
    (project / "src" / "util.py").write_text("def add(a, b):\n    return a + b\n")
    (project / "notes.txt").write_text("".join(f"note {n}\n" for n in range(1, 11)))
    app = make_app(ChatSettings(model="demo", project=str(project)), lambda _s: ScriptedEngine(ANSWER))

    async def run_before(pilot):
        screen = pilot.app.screen
        await ready(pilot)
        screen.prompt_input.text = "/add src/*.py notes.txt:2-4"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.files) == 3)
        await ask(pilot, "Write a Python function that checks if a number is prime.")
        (project / "src" / "app.py").write_text("def main():\n    print('hello, world')\n")
        (project / "src" / "util.py").unlink()
        await wait_for(pilot, lambda: [e.state for e in screen.files] == ["current", "changed", "missing"])
        await pilot.press(*"see @sr")
        await wait_for(pilot, lambda: screen.query_one("#completions").display)
        await counted(pilot)
        pilot.app.clear_notifications()
        still(pilot)
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_first_run_lists_the_models_and_recommends_one(snap_compare, monkeypatch):
    monkeypatch.setattr(catalog, "available_memory", lambda: 16 * 10**9)  # the 8B fits
    app = make_app(ChatSettings(), lambda _s: ScriptedEngine())

    async def run_before(pilot):
        def listed() -> bool:
            screen = pilot.app.screen
            return isinstance(screen, FirstRunScreen) and screen.query_one("#models").row_count == 4

        await wait_for(pilot, listed)
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_an_edit_card_and_its_review_with_one_hunk_left_out(snap_compare, tmp_path):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    calc = "".join(f"def f{n}(x):\n    return x + {n}\n\n\n" for n in range(1, 6))
    (project / "src" / "calc.py").write_text(calc)
    typed = calc.replace("def f1(x):", "def f1(x: int) -> int:").replace("def f5(x):", "def f5(x: int) -> int:")
    answer = f"Type hints for both:\n\n`src/calc.py`\n```python\n{typed}```\n"
    app = make_app(ChatSettings(model="demo", project=str(project)), lambda _s: ScriptedEngine(answer))

    async def run_before(pilot):
        screen = pilot.app.screen
        await ready(pilot)
        screen.prompt_input.text = "/add src/calc.py"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.files) == 1)
        await ask(pilot, "Add type hints to f1 and f5.")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: pilot.app.screen is not screen)
        await pilot.pause(0.2)
        await pilot.press("down", "space")
        pilot.app.clear_notifications()
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
