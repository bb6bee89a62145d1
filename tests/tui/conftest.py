"""The demo model is loaded once and shared (every test has its own OPENCODER_HOME: tests/conftest.py)."""

from __future__ import annotations

import pytest

from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import load_real_engine, make_app

from tui.helpers import SharedEngine


@pytest.fixture(scope="session")
def demo_engine():
    """The demo model in its own process, as the app runs it; loaded once for the session."""
    engine = load_real_engine(ChatSettings(model="demo"))
    engine.wait_ready()
    yield engine
    engine.close()


@pytest.fixture
def demo_app(demo_engine):
    """An app on the real demo model (already loaded, so each test starts fast)."""

    def build(**settings):
        settings.setdefault("max_tokens", 120)  # short answers keep the suite quick
        settings.setdefault("model", "demo")
        return make_app(ChatSettings(**settings), lambda _settings: SharedEngine(demo_engine))

    return build
