"""The app has the model read the prompt so far while no answer runs: once the model has loaded, and
again after each answer; never the draft, never during an answer."""

from __future__ import annotations

import pytest

from opencoder_local.engine.protocol import Message
from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app

from tui.helpers import ask, ready, status_label, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio


async def test_the_prompt_so_far_is_read_ahead_after_the_load_and_after_each_answer(tmp_path):
    (tmp_path / "tax.py").write_text("def compute_tax_bracket(income):\n    return income // 10_000\n")
    engine = ScriptedEngine("Fine, " * 30, delay=0.01)
    app = make_app(ChatSettings(model="demo", project=str(tmp_path), map_tokens=0), lambda _s: engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        session = app.screen.session
        await wait_for(pilot, lambda: engine.prefilled)
        assert engine.prefilled == [session.prompt("").messages + [Message("user", "")]]  # the system prompt

        session.add_files(["tax.py"])
        app.screen.sync_files()
        await wait_for(pilot, lambda: len(engine.prefilled) == 2)
        assert "compute_tax_bracket" in "".join(m.content for m in engine.prefilled[1])

        draft = "What does compute_tax_bracket return?"
        app.screen.prompt_input.text = draft
        counted = engine.count(session.prompt(draft).messages).prompt_tokens
        await wait_for(pilot, lambda: status_label(app, "context").startswith(f"ctx {counted:,} / "))
        await pilot.pause(0.3)
        assert len(engine.prefilled) == 2  # a draft is not read ahead: it is still changing

        app.screen.prompt_input.text = ""
        await ask(pilot, "What does compute_tax_bracket return?")
        await wait_for(pilot, lambda: len(engine.prefilled) == 3)
        assert engine.prefilled[2][-2:] == [Message("assistant", "Fine, " * 30), Message("user", "")]
        assert engine.prefilled[2] == session.prompt().messages + [Message("user", "")]
        assert engine.turns == 1
