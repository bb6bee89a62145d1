"""Prompt lookup in the app: `lookup` reaches the model process, and the status bar says what it kept."""

from __future__ import annotations

import pytest

from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import load_real_engine, make_app

from tui.helpers import ask, ready, status_label

pytestmark = pytest.mark.anyio

FILE = "".join(f"def scale_{i}(value):\n    return value * {i} + {i * 7}\n\n" for i in range(12))
COPY = f"Here is `scale.py`:\n```python\n{FILE}```\nRewrite the whole file with scale_5 renamed to grow_5."


@pytest.mark.parametrize("lookup", [True, False])
async def test_the_status_bar_shows_the_drafts_the_model_kept_only_with_lookup_on(lookup):
    app = make_app(ChatSettings(model="demo", max_tokens=150, lookup=lookup), load_real_engine)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, COPY)
        backend = status_label(app, "backend")
        assert ("lookup " in backend) == lookup, backend
        if lookup:
            kept, drafted = backend.split("lookup ")[1].split(" kept")[0].replace(",", "").split("/")
            assert 0 < int(kept) <= int(drafted)
        assert "def scale_" in app.screen.session.messages[-1].content
