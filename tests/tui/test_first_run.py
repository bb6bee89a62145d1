"""The first-run screen: no model installed or configured -> choose one, pull it, chat on it.

Pulls run as real child processes: the real `opencoder pull NAME --from-dir CHECKPOINT --progress
json` for the whole way to the chat, and small scripts for a failure, a cancel and a quit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from fixtures.checkpoint import SMALL_1_5B, write_checkpoint
from fixtures.opencoder_tokenizer import ReferenceTokenizer
from opencoder_local.models import catalog, installed
from opencoder_local.models.pull_process import StageProgress
from opencoder_local.progress import size_text
from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app
from opencoder_local.tui.screens import first_run
from opencoder_local.tui.screens.chat import ChatScreen
from opencoder_local.tui.screens.first_run import FirstRunScreen
from opencoder_local.tui.widgets.pull_progress import PullProgress

from tui.helpers import ask, notices, ready, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio

GB = 10**9
INSTALLED_AS = "opencoder-1.5b-instruct:q4_k_m"


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, opencoder_tokenizer_dir) -> Path:
    """A tiny OpenCoder-1.5B-Instruct checkpoint in the release layout."""
    n_tokens = ReferenceTokenizer(opencoder_tokenizer_dir).vocab_size
    folder = tmp_path_factory.mktemp("first_run") / "OpenCoder-1.5B-Instruct"
    return write_checkpoint(folder, SMALL_1_5B, opencoder_tokenizer_dir, n_tokens, shards=1, seed=7)


@pytest.fixture
def memory(monkeypatch):
    """Fix the memory the machine has available."""
    return lambda n: monkeypatch.setattr(catalog, "available_memory", lambda: n)


class Engines:
    """A scripted engine factory that remembers the settings of each engine it made."""

    def __init__(self):
        self.models: list[str | None] = []

    def __call__(self, settings: ChatSettings) -> ScriptedEngine:
        self.models.append(settings.model)
        return ScriptedEngine("Hello from the new model.")


def no_pull(name: str) -> list[str]:
    raise AssertionError(f"{name} should not have been pulled")


def script(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def table(app) -> DataTable:
    return app.screen.query_one("#models", DataTable)


def cursor_key(app) -> str:
    t = table(app)
    return t.coordinate_to_cell_key((t.cursor_row, 0)).row_key.value


def text(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


@pytest.mark.parametrize(("available", "recommended"), [(4 * GB, "opencoder-1.5b-instruct"),
                                                         (16 * GB, "opencoder-8b-instruct")])
async def test_with_no_model_the_models_are_listed_with_their_costs_and_one_recommended(memory, available,
                                                                                         recommended):
    memory(available)
    app = make_app(ChatSettings(), Engines(), no_pull)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FirstRunScreen)
        t = table(app)
        rows = {m.name: [str(c) for c in t.get_row(m.name)] for m in catalog.CATALOG}
        assert list(rows) == [row.value for row in t.rows]
        for model in catalog.CATALOG:
            mark, name, summary, download, disk, needs, context = rows[model.name]
            assert (name, summary, download, disk) == (model.name, model.summary, size_text(model.download_bytes),
                                                       size_text(model.disk_bytes()))
            assert needs == f"{model.memory_bytes() / GB:.1f} GB" and context == f"{model.shape.context:,}"
            assert mark == (first_run.RECOMMENDED if model.name == recommended else "")
        assert cursor_key(app) == recommended
        why = text(app, "#why")
        assert f"has {available // GB}.0 GB of memory available" in why and "8B-Instruct needs about 6.1 GB" in why
        notes = text(app, "#notes")
        assert "--model demo" in notes and "--from-dir" in notes and "--model FILE.gguf" in notes


async def test_a_named_model_opens_the_chat_without_the_first_run_screen():
    engines = Engines()
    app = make_app(ChatSettings(model="demo"), engines, no_pull)
    async with app.run_test() as pilot:
        await ready(pilot)
        assert isinstance(app.screen, ChatScreen)
        assert not any(isinstance(s, FirstRunScreen) for s in app.screen_stack)
        assert engines.models == ["demo"]


async def test_a_pull_shows_its_stages_and_ends_in_the_chat_on_the_new_model(memory, checkpoint):
    memory(4 * GB)  # the 1.5B is preselected
    pulled = []

    def from_dir(name: str) -> list[str]:
        pulled.append(name)
        return [sys.executable, "-m", "opencoder_local", "pull", name, "--from-dir", str(checkpoint),
                "--progress", "json"]

    engines = Engines()
    app = make_app(ChatSettings(), engines, from_dir)
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.phase == "pulling")
        progress = screen.query_one(PullProgress)
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert pulled == ["opencoder-1.5b-instruct"]
        assert progress.stages == ["converting bf16", "quantizing q4_k_m", "verifying"]
        assert [type(s) for s in app.screen_stack][1:] == [ChatScreen]  # replaced, not stacked
        assert app.screen.settings.model == INSTALLED_AS
        assert [m.name for m in installed.installed_models()] == [INSTALLED_AS]
        assert f"{INSTALLED_AS} is installed" in notices(app)
        await ready(pilot)
        assert engines.models == [INSTALLED_AS]
        await ask(pilot, "Hi")
        assert app.screen.session.messages[-1].content == "Hello from the new model."


FAILS = script("""
    import sys
    print('{"stage": "downloading", "done": 0, "total": 100, "unit": "B"}', flush=True)
    print("opencoder: error: not enough disk space: free some space and run it again", file=sys.stderr)
    sys.exit(1)
""")
CRASHES = script("raise ValueError('an internal bug')")


@pytest.mark.parametrize(("argv", "shown"), [
    (FAILS, "opencoder: error: not enough disk space: free some space and run it again"),
    (CRASHES, "ValueError: an internal bug"),
])
async def test_a_failed_pull_shows_its_one_error_line_and_retry_runs_it_again(memory, argv, shown):
    memory(16 * GB)
    attempts = []

    def failing_then_installed(name: str) -> list[str]:
        attempts.append(name)
        if len(attempts) == 1:
            return argv
        return script(f"""print('{{"installed": "{name}:q4_k_m", "already": false, "path": "x"}}')""")

    engines = Engines()
    app = make_app(ChatSettings(), engines, failing_then_installed)
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.phase == "failed")
        assert text(app, "#pull-error") == shown
        assert "Traceback" not in text(app, "#pull-error")
        assert screen.query_one("#retry").has_focus
        await pilot.click("#retry")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        await ready(pilot)
        assert attempts == ["opencoder-8b-instruct", "opencoder-8b-instruct"]
        assert engines.models == ["opencoder-8b-instruct:q4_k_m"]


def downloading(marker: Path, on_sigint: str) -> list[str]:
    """A pull that reports a download and then waits; on SIGINT it notes it in `marker`, then
    `on_sigint` (exit as the real pull does, or hang on as a stuck one would)."""
    return script(f"""
        import pathlib, signal, sys, time
        def interrupted(*_):
            pathlib.Path({str(marker)!r}).write_text("SIGINT")
            {on_sigint}
        signal.signal(signal.SIGINT, interrupted)
        print('{{"stage": "downloading", "done": 1000, "total": 1000000, "unit": "B"}}', flush=True)
        while True:
            time.sleep(0.05)
    """)


@pytest.mark.parametrize(("on_sigint", "ends_with"), [
    ("sys.exit(130)", 130),  # as the real pull: it saves what it has and exits
    ("pass", -signal.SIGKILL),  # stuck: killed after a moment
])
async def test_cancel_stops_the_pull_and_returns_to_the_list(memory, monkeypatch, tmp_path, on_sigint, ends_with):
    memory(4 * GB)
    monkeypatch.setattr(first_run, "KILL_AFTER_S", 0.5)
    marker = tmp_path / "signal"
    app = make_app(ChatSettings(), Engines(), lambda _name: downloading(marker, on_sigint))
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.phase == "pulling" and screen.query_one(PullProgress).stages)
        process = screen.pulling
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen.phase == "choose")
        assert marker.read_text() == "SIGINT"
        assert process.returncode == ends_with
        with pytest.raises(ProcessLookupError):
            os.kill(process.pid, 0)
        assert "resume where it stopped" in notices(app)
        assert table(app).has_focus and cursor_key(app) == "opencoder-1.5b-instruct"


async def test_quitting_mid_pull_kills_the_child_at_once(memory, tmp_path):
    memory(4 * GB)
    app = make_app(ChatSettings(), Engines(), lambda _name: downloading(tmp_path / "signal", "pass"))
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.phase == "pulling" and screen.query_one(PullProgress).stages)
        process = screen.pulling
        await pilot.press("ctrl+q")
    assert process.wait() == -signal.SIGKILL


def install_by_hand(name: str) -> None:
    with installed.incoming(name) as folder:
        (folder / "model.gguf").write_bytes(b"GGUF")
        installed.install(folder, installed.Manifest(name, "model.gguf", "test", None, "q4_k_m", 4, 4096,
                                                     "not checked", "2026-01-01T00:00:00+00:00"))


async def test_installed_models_are_marked_and_open_without_a_pull(memory):
    memory(16 * GB)
    install_by_hand(INSTALLED_AS)
    install_by_hand("someone/Other-GGUF:q8_0")  # two installed: neither is the default
    engines = Engines()
    app = make_app(ChatSettings(), engines, no_pull)
    async with app.run_test() as pilot:
        await pilot.pause()
        t = table(app)
        assert str(t.get_row("opencoder-1.5b-instruct")[0]) == first_run.INSTALLED
        assert [str(c) for c in t.get_row("someone/Other-GGUF:q8_0")][:3] == [
            first_run.INSTALLED, "someone/Other-GGUF:q8_0", "installed by hand"]
        assert cursor_key(app) == "opencoder-8b-instruct"
        await pilot.press("up", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        await ready(pilot)
        assert engines.models == [INSTALLED_AS]


class _Progress(App):
    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def compose(self) -> ComposeResult:
        yield PullProgress(clock=self.clock)


async def test_a_download_shows_bytes_speed_and_time_left():
    now = [100.0]
    app = _Progress(lambda: now[0])
    async with app.run_test() as pilot:
        progress = app.query_one(PullProgress)
        progress.report(StageProgress("downloading", 0, 3 * GB, "B"))
        now[0] += 2
        progress.report(StageProgress("downloading", GB // 2, 3 * GB, "B"))
        await progress.refresh_rows()
        assert str(progress.query_one(".detail").render()) == "500.0 MB / 3.00 GB · 250.0 MB/s · ETA 0:10"
        now[0] += 3  # nothing new for 3 s: the speed falls and the time left grows
        await progress.refresh_rows()
        assert str(progress.query_one(".detail").render()) == "500.0 MB / 3.00 GB · 100.0 MB/s · ETA 0:25"
        progress.report(StageProgress("verifying", 1, 3, ""))
        await progress.refresh_rows()
        await pilot.pause()
        assert progress.stages == ["downloading", "verifying"]
        assert str(progress.query(".detail").last().render()) == "1 / 3"


def test_the_first_run_path_never_imports_huggingface_hub(tmp_path):
    """The child pulls; the app process only lists the models and reads the child's progress."""
    code = textwrap.dedent("""
        import asyncio, sys
        from opencoder_local.settings import ChatSettings
        from opencoder_local.tui.app import make_app
        from opencoder_local.tui.screens.first_run import FirstRunScreen

        async def main():
            app = make_app(ChatSettings(), pull=lambda name: [sys.executable, "-c", "print('{}')"])
            async with app.run_test() as pilot:
                await pilot.pause()
                assert isinstance(app.screen, FirstRunScreen)
                await pilot.press("enter")
                while app.screen.phase != "failed":
                    await pilot.pause(0.02)
        asyncio.run(main())
        print(sorted(m for m in sys.modules if m.startswith("huggingface_hub")))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OPENCODER_HOME": str(tmp_path / "home")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


async def test_a_pull_from_the_hub_with_the_real_command_ends_in_the_chat(memory, hub, hub_checkpoint):
    memory(16 * GB)  # the 8B is preselected
    hub.add_repo("infly/OpenCoder-8B-Instruct", hub_checkpoint)
    engines = Engines()
    app = make_app(ChatSettings(), engines)  # the default: `opencoder pull NAME --progress json`, HF_ENDPOINT inherited
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.phase == "pulling")
        progress = screen.query_one(PullProgress)
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert progress.stages[0] == "downloading"
        assert app.screen.settings.model == "opencoder-8b-instruct:q4_k_m"
        assert sum(hub.sent.values()) == sum(p.stat().st_size for p in hub_checkpoint.iterdir())
        await ready(pilot)
        assert engines.models == ["opencoder-8b-instruct:q4_k_m"]
