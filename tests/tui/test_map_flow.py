"""The map's flow on a small host screen (the chat screen wires it the same way): suggestion chips for
a draft and the key that adds them, /map's screen, and the watcher keeping the map current."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from opencoder_local.context.session import ChatSession
from opencoder_local.engine.protocol import GenParams
from opencoder_local.store import Store
from opencoder_local.tui.flows.map import MapFlow
from opencoder_local.tui.screens.project_map import ProjectMapScreen
from opencoder_local.tui.widgets.suggestion_chips import SuggestionChips
from opencoder_local.tui.widgets.status_bar import meter

from tui.helpers import wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio


class Host(Screen):
    BINDINGS = [Binding("f3", "add_suggested", "Add suggested")]

    def __init__(self, session: ChatSession):
        super().__init__()
        self.session = session
        self.added: list[list[str]] = []
        self.counts = 0

    def compose(self):
        yield SuggestionChips(id="suggested")

    def on_mount(self) -> None:
        self.map_flow = MapFlow(self, self.query_one(SuggestionChips))
        self.map_flow.start()

    def on_unmount(self) -> None:
        self.map_flow.stop()

    def add_files(self, specs, then_send=None) -> None:
        self.added.append(list(specs))

    def schedule_count(self) -> None:
        self.counts += 1

    def action_add_suggested(self) -> None:
        self.map_flow.add_suggested()


class HostApp(App):
    def __init__(self, session: ChatSession):
        super().__init__()
        self.session = session

    def on_mount(self) -> None:
        self.push_screen(Host(self.session))


@pytest.fixture
def session(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "tax.py").write_text("def compute_tax_bracket(income):\n    return income // 10_000\n")
    (root / "payroll.py").write_text("from tax import compute_tax_bracket\n\n\ndef run_payroll(salary):\n"
                                     "    return salary - compute_tax_bracket(salary)\n")
    session = ChatSession(Store.open(":memory:"), GenParams(), project=root, map_tokens=None)
    session.engine = ScriptedEngine()
    return session


async def test_suggestions_for_a_draft_and_one_key_adds_them(session):
    app = HostApp(session)
    async with app.run_test() as pilot:
        host = app.screen
        await wait_for(pilot, lambda: host.counts >= 1)  # scanned: the meter was asked to recount
        host.map_flow.suggest("Who calls compute_tax_bracket?")
        chips = host.query_one(SuggestionChips)
        await wait_for(pilot, lambda: chips.files)
        assert chips.files[:2] == ("tax.py", "payroll.py") and chips.display
        await pilot.press("f3")
        assert host.added == [["tax.py", "payroll.py"]] and not chips.display
        host.map_flow.suggest("hello")
        await wait_for(pilot, lambda: not chips.files and not chips.display)


async def test_slash_map_shows_the_map_the_next_question_carries(session):
    app = HostApp(session)
    async with app.run_test() as pilot:
        app.screen.map_flow.show("What does compute_tax_bracket do?")
        await wait_for(pilot, lambda: isinstance(app.screen, ProjectMapScreen))
        assert "def compute_tax_bracket(income):" in app.screen.found.text
        await pilot.press("escape")
        assert isinstance(app.screen, Host)


async def test_the_watcher_keeps_the_map_current(session):
    app = HostApp(session)
    async with app.run_test() as pilot:
        host = app.screen
        await wait_for(pilot, lambda: host.counts >= 1)
        (session.working_set.root / "refunds.py").write_text("def issue_refund(order):\n    pass\n")
        await wait_for(pilot, lambda: host.counts >= 2, timeout=30)
        assert "refunds.py" in session.repo_map("How does issue_refund work?").files


def test_the_meter_shows_the_map_only_when_there_is_one():
    parts = {"system": 10, "files": 20, "map": 30, "history": 40, "reserve": 50}
    assert meter(1000, parts, 0) == "ctx 100 / 1,000: sys 10 · files 20 · map 30 · hist 40 · answer 50"
    assert "map" not in meter(1000, {**parts, "map": 0}, 0)
