"""The files in the conversation, through the app: slash commands, @path with completion, the chips
kept live by real watchdog events, the meter's breakdown and the dropped-history marker."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import watchdog.utils

from opencoder_local.context.working_set import WorkingSet
from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app
from opencoder_local.tui.widgets.chat_log import DroppedMarker, MessageView
from opencoder_local.tui.widgets.file_chips import FileChips
from opencoder_local.tui.widgets.path_completion import PathCompletions
from opencoder_local.tui.widgets.status_bar import meter

from tui.helpers import answered, ask, notices, ready, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio

APP = "def main():\n    print('hello')\n\n\nif __name__ == '__main__':\n    main()\n"
UTIL = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(APP)
    (root / "src" / "util.py").write_text(UTIL)
    (root / "notes.txt").write_text("".join(f"note {n}\n" for n in range(1, 11)))
    return root


def app_on(project: Path, engine: ScriptedEngine):
    return make_app(ChatSettings(model="demo", project=str(project)), lambda _s: engine)


async def command(pilot, text: str) -> None:
    pilot.app.screen.prompt_input.text = text
    await pilot.press("enter")


async def add(pilot, specs: str, count: int) -> None:
    """`/add specs` and wait until the working set holds `count` files."""
    await command(pilot, f"/add {specs}")
    await wait_for(pilot, lambda: len(pilot.app.screen.files) == count)
    await pilot.pause()  # the chips' first layout


def chips(app) -> str:
    return str(app.screen.query_one(FileChips).render())


def entry(app, spec: str):
    return next((e for e in app.screen.files if e.spec == spec), None)


def state_of(app, spec: str):
    found = entry(app, spec)
    return found.state if found else None


async def test_add_a_glob_and_a_line_range_shows_a_chip_per_file_with_its_tokens(project):
    app = app_on(project, ScriptedEngine("ok"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert not app.screen.query_one(FileChips).display  # nothing to show yet
        await add(pilot, "src/*.py notes.txt:2-4", 3)
        entries = app.screen.session.working_set.entries()
        assert {e.spec for e in entries} == {"src/app.py", "src/util.py", "notes.txt:2-4"}
        assert app.screen.files == tuple(entries)
        shown = chips(app)
        for e in entries:
            assert e.tokens > 0 and f"{e.spec} {e.tokens:,}" in shown
        assert "Added 3 files" in notices(app)
        assert app.screen.prompt_input.text == ""


async def test_drop_one_file_then_all_and_files_lists_them(project):
    app = app_on(project, ScriptedEngine("ok"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await add(pilot, "src notes.txt", 3)
        await command(pilot, "/files")
        listing = notices(app)
        for e in app.screen.files:
            assert f"{e.spec}  {e.tokens:,} tokens  current" in listing
        await command(pilot, "/drop src/util.py")
        assert [e.spec for e in app.screen.files] == ["src/app.py", "notes.txt"]
        assert "src/util.py" not in chips(app) and "src/app.py" in chips(app)
        await command(pilot, "/drop nothing-like-this.py")
        assert "No file in the conversation matches nothing-like-this.py" in notices(app)
        await command(pilot, "/drop")
        assert app.screen.files == () and not app.screen.query_one(FileChips).display
        assert app.screen.session.working_set.entries() == []


async def test_an_unknown_command_is_a_notice_and_slashes_can_still_be_sent(project):
    engine = ScriptedEngine("ok")
    app = app_on(project, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await command(pilot, "/usr/bin/python is slow")
        shown = notices(app)
        assert "Unknown command /usr/bin/python" in shown and all(f"/{n}" in shown for n in ("add", "drop", "files"))
        assert "//" in shown  # how to send it as a message
        assert app.screen.prompt_input.text == "/usr/bin/python is slow"  # kept, to fix
        assert app.screen.session.messages == []
        await command(pilot, "//usr/bin/python is slow")
        await answered(pilot, 2)
        await command(pilot, " /tmp fills up")
        await answered(pilot, 4)
        sent = [m.content for m in app.screen.session.messages if m.role == "user"]
        assert sent == ["/usr/bin/python is slow", "/tmp fills up"]
        assert engine.prompts[0][-1].content.endswith("\n\n/usr/bin/python is slow")  # after the project's map


async def test_at_completion_offers_paths_tab_accepts_and_the_message_carries_the_file(project):
    engine = ScriptedEngine("seen")
    app = app_on(project, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        dropdown = app.screen.query_one(PathCompletions)
        await pilot.press(*"explain @sr")
        await wait_for(pilot, lambda: dropdown.is_open)
        offered = [dropdown.get_option_at_index(i).id for i in range(dropdown.option_count)]
        assert set(offered) == {"src/app.py", "src/util.py"}
        await pilot.press("down", "tab")
        assert app.screen.prompt_input.text == f"explain @{offered[1]} "
        assert not dropdown.display
        await pilot.press(*"please", "enter")
        await answered(pilot, 2)
        assert app.screen.session.messages[0].content == f"explain @{offered[1]} please"
        assert [e.spec for e in app.screen.files] == [offered[1]]
        text = (project / offered[1]).read_text()
        assert any(text in m.content for m in engine.prompts[-1])


async def test_the_dropdown_never_takes_enter_or_esc_when_closed(project):
    engine = ScriptedEngine("word " * 200, pause_after=3)
    app = app_on(project, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        dropdown = app.screen.query_one(PathCompletions)
        await pilot.press(*"@no-such-thing")
        await pilot.pause(0.3)
        assert not dropdown.display  # no match: nothing open
        app.screen.prompt_input.text = ""
        await pilot.press(*"@src/a")
        await wait_for(pilot, lambda: dropdown.is_open)
        await pilot.press("escape")
        assert not dropdown.display and app.screen.prompt_input.text == "@src/a"
        app.screen.prompt_input.text = "go"
        await pilot.press("enter")  # closed: Enter sends
        await wait_for(pilot, engine.paused.is_set)
        await pilot.press("escape")  # closed: Esc stops the answer
        await answered(pilot, 2)
        assert app.screen.session.messages[-1].status == "stopped"


async def test_an_at_path_that_is_refused_keeps_the_message_unsent(project):
    (project / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    app = app_on(project, ScriptedEngine("ok"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await command(pilot, "what is in @logo.png?")
        await wait_for(pilot, lambda: "Not sent" in notices(app))
        assert "logo.png" in notices(app) and app.screen.session.messages == []
        assert app.screen.prompt_input.text == "what is in @logo.png?"
        await command(pilot, "what does @property do?")  # not a path: plain text
        await answered(pilot, 2)
        assert app.screen.files == ()


async def test_a_file_changed_on_disk_is_marked_changed_by_write_and_by_rename_over(project):
    app = app_on(project, ScriptedEngine("ok"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await add(pilot, "src/app.py src/util.py", 2)
        await ask(pilot, "look")  # the model has seen them: from now on an edit is "changed"
        assert {e.state for e in app.screen.files} == {"current"}
        (project / "src" / "app.py").write_text(APP + "\n# more words in the file now\n")
        await wait_for(pilot, lambda: state_of(app, "src/app.py") == "changed")
        changed = entry(app, "src/app.py")
        assert "# more words" in changed.text and f"src/app.py {changed.tokens:,} changed" in chips(app)
        temporary = project / "src" / ".util.py.swp"  # as an editor saves: write aside, rename over
        temporary.write_text(UTIL + "\n\ndef sub(a, b):\n    return a - b\n")
        os.replace(temporary, project / "src" / "util.py")
        await wait_for(pilot, lambda: state_of(app, "src/util.py") == "changed")
        assert "def sub" in entry(app, "src/util.py").text
        await ask(pilot, "again")
        assert {e.state for e in app.screen.files} == {"current"}


async def test_a_deleted_file_shows_missing_and_comes_back(project):
    app = app_on(project, ScriptedEngine("ok"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await add(pilot, "src/util.py", 1)
        (project / "src" / "util.py").unlink()
        await wait_for(pilot, lambda: state_of(app, "src/util.py") == "missing")
        assert "src/util.py missing" in chips(app)
        (project / "src" / "util.py").write_text(UTIL)
        await wait_for(pilot, lambda: state_of(app, "src/util.py") == "current")


async def test_the_meter_breaks_the_window_down(project):
    engine = ScriptedEngine("ok")
    app = app_on(project, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await add(pilot, "src/app.py", 1)
        await ask(pilot, "hello")
        prompt = app.screen.session.prompt()
        expected = meter(engine.n_ctx, prompt.parts, prompt.dropped)
        await wait_for(pilot, lambda: str(app.screen.query_one("#context").render()) == expected)
        parts = prompt.parts
        assert parts["files"] >= entry(app, "src/app.py").tokens and parts["history"] > 0
        assert parts["system"] + parts["files"] + parts["map"] + parts["history"] == prompt.budget.prompt_tokens
        assert expected.startswith(f"ctx {prompt.budget.prompt_tokens:,} / {engine.n_ctx:,}: ")
        assert f"files {parts['files']:,}" in expected and f"answer {parts['reserve']:,}" in expected


async def test_history_that_outgrows_the_window_is_dropped_with_a_marker_in_the_log(project):
    engine = ScriptedEngine("word " * 60, n_ctx=400)
    app = app_on(project, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        for n in range(5):
            await ask(pilot, f"question {n} " + "filler " * 20)
        prompt = app.screen.session.prompt()
        assert prompt.dropped > 0
        log = app.screen.log_view
        await wait_for(pilot, lambda: log.query(DroppedMarker) and log.query_one(DroppedMarker).display)
        marker = log.query_one(DroppedMarker)
        assert f"{prompt.dropped} older messages not sent" in str(marker.render())
        children = list(log.children)
        first_kept = list(log.query_children(MessageView))[prompt.dropped]
        assert children.index(marker) == children.index(first_kept) - 1
        assert f"{prompt.dropped} old msgs dropped" in str(app.screen.query_one("#context").render())


async def test_a_huge_folder_is_added_in_a_worker_while_keys_still_work(project, monkeypatch):
    big = project / "big"
    big.mkdir()
    for n in range(3000):
        (big / f"module_{n}.py").write_text(f"VALUE_{n} = {n}\n")
    started, release = threading.Event(), threading.Event()
    real_add = WorkingSet.add

    def held_add(self, specs, free_tokens=None):  # the real add, held until the keys were seen
        started.set()
        release.wait(30)
        return real_add(self, specs, free_tokens)

    monkeypatch.setattr(WorkingSet, "add", held_add)
    app = app_on(project, ScriptedEngine("ok"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        try:
            await command(pilot, "/add big")
            await wait_for(pilot, started.is_set)
            await pilot.press(*"typing", "ctrl+b")
            assert app.screen.prompt_input.text == "typing" and not app.screen.query_one("#sidebar").display
        finally:
            release.set()
        await wait_for(pilot, lambda: "big" in notices(app))
        assert "big: 3,000 files" in notices(app)


async def test_the_watcher_follows_the_conversation_and_stops_on_quit(project):
    app = app_on(project, ScriptedEngine("ok"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await add(pilot, "src/app.py", 1)
        await ask(pilot, "first conversation")
        first = app.screen.session.conversation.id
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.screen.files == ())
        await add(pilot, "src/util.py", 1)
        await ask(pilot, "second conversation")
        (project / "src" / "app.py").write_text(APP + "# not this conversation's file\n")
        (project / "src" / "util.py").write_text(UTIL + "# this one's\n")
        await wait_for(pilot, lambda: state_of(app, "src/util.py") == "changed")
        assert [e.spec for e in app.screen.files] == ["src/util.py"]
        await app.screen.conversations.open(first)
        await wait_for(pilot, lambda: [e.spec for e in app.screen.files] == ["src/app.py"])
        (project / "src" / "app.py").write_text(APP + "# edited again\n")
        await wait_for(pilot, lambda: "edited again" in entry(app, "src/app.py").text)
        watching = [t for t in threading.enumerate() if isinstance(t, watchdog.utils.BaseThread)]
        assert watching
    for thread in watching:
        thread.join(5)
    assert not any(thread.is_alive() for thread in watching)
