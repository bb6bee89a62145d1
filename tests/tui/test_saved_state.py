"""The chat and the prefix cache on disk: a conversation left is saved, a turn from a saved state says so."""

from __future__ import annotations

from dataclasses import replace

import pytest

from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app

from tui.helpers import ask, notices, ready, status_label, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio
NOTICE = "a saved model state (x.kv) was ignored and removed: its checksum does not match; the prompt is evaluated again"


class SavingEngine(ScriptedEngine):
    """Counts the saves asked for; its first turn starts from a saved state, its second finds one damaged."""

    def __init__(self):
        super().__init__("Hello.")
        self.saves = 0

    def save_state(self) -> None:
        self.saves += 1

    def _turn(self, prompt, answer):
        first = self.turns == 1
        for delta in super()._turn(prompt, answer):
            if delta.stats is not None:
                delta = replace(delta, stats=replace(delta.stats, reused_tokens=prompt - 3, restored_tokens=prompt - 3)
                                if first else replace(delta.stats, notice=NOTICE))
            yield delta


async def test_a_turn_from_a_saved_state_says_so_and_a_conversation_left_is_saved():
    engine = SavingEngine()
    app = make_app(ChatSettings(model="demo"), lambda _s: engine)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "What is this?")
        prompt = engine.count(engine.prompts[0]).prompt_tokens
        assert f"{prompt - 3:,}/{prompt:,} from disk" in status_label(app, "backend")
        await ask(pilot, "And that?")
        assert "from disk" not in status_label(app, "backend")
        assert NOTICE in notices(app)
        assert engine.saves == 0
        await pilot.press("ctrl+n")  # a new chat: the conversation left is saved
        await wait_for(pilot, lambda: engine.saves == 1)
