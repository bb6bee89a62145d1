"""Copy and save code blocks."""

from __future__ import annotations

import stat

from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app
from opencoder_local.tui.screens.ask import AskScreen
from opencoder_local.tui.screens.code_picker import CodePickerScreen
from opencoder_local.tui.screens.confirm import ConfirmScreen

import pytest

from tui.helpers import ask, notices, ready, wait_for
from tui.scripted import ScriptedEngine

ANSWER = (
    "First a helper:\n\n```python\ndef double(x):\n    return 2 * x\n```\n\n"
    "Then run it:\n\n```bash\npython -c 'print(1)'\n```\n"
)

pytestmark = pytest.mark.anyio


def app_with_code():
    return make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine(ANSWER))


async def test_copy_the_last_code_block():
    app = app_with_code()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "show code")
        await pilot.press("ctrl+o")
        assert app.clipboard == "python -c 'print(1)'\n"
        assert "Copied 1 line of bash (OSC 52" in notices(app)


async def test_copy_a_chosen_code_block_from_the_palette():
    app = app_with_code()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "show code")
        await pilot.press("ctrl+p")
        await pilot.press(*"Copy a code")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, CodePickerScreen)
        await pilot.press("down", "enter")
        assert app.clipboard == "def double(x):\n    return 2 * x\n"


async def test_save_the_last_code_block_to_a_file(tmp_path):
    app = app_with_code()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "show code")
        await pilot.press("ctrl+s")
        field = app.screen.query_one("Input")
        assert field.value.endswith("snippet.sh")
        field.value = str(tmp_path / "run.sh")
        await pilot.press("enter")
        assert (tmp_path / "run.sh").read_text() == "python -c 'print(1)'\n"


async def test_no_code_block_is_a_notice_not_an_error():
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine("plain words"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "hi")
        await pilot.press("ctrl+o")
        assert "No code block" in notices(app)


async def test_saving_over_an_existing_file_asks_first_and_keeps_its_permissions(tmp_path):
    target = tmp_path / "run.sh"
    target.write_text("echo mine\n")
    target.chmod(0o755)
    app = app_with_code()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "show code")
        for answer in ("n", "y"):
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, AskScreen) and app.screen.query("Input"))
            app.screen.query_one("Input").value = str(target)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen.query(".question"))
            assert str(app.screen.query_one(".question").render()) == f"{target} exists. Replace it?"
            await pilot.press(answer)
            await pilot.pause(0.1)
            if answer == "n":
                assert target.read_text() == "echo mine\n"
        assert target.read_text() == "python -c 'print(1)'\n"
        assert stat.S_IMODE(target.stat().st_mode) == 0o755
        assert f"Saved the code block to {target}." in notices(app)
