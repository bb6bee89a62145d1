"""The first-run screen: no model installed or configured, so choose one, pull it, and chat.

The list shows what each model costs (download, disk, memory) and recommends one for this
machine's memory. Enter pulls the selected model in a process of its own (`opencoder pull NAME
--progress json`), whose progress shows here; an installed model opens at once. The screen is
dismissed with the name of the installed model to open.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, ContentSwitcher, DataTable, Static

from opencoder_local.errors import UserError
from opencoder_local.models import catalog, installed
from opencoder_local.models.catalog import DEFAULT_QUANT, CatalogModel
from opencoder_local.models.pull import by_hand
from opencoder_local.models.pull_process import Installed, PullArgv, PullProcess, StageProgress
from opencoder_local.progress import size_text
from opencoder_local.tui.widgets.key_footer import KeyFooter
from opencoder_local.tui.widgets.pull_progress import PullProgress

KILL_AFTER_S = 3.0  # a cancelled pull has this long to save its partial download before it is killed
COLUMNS = ("", "Model", "For", "Download", "Disk", "Memory", "Context")
RECOMMENDED, INSTALLED = "★", "✓"
LEGEND = f"{RECOMMENDED} recommended for this machine · {INSTALLED} installed · disk and memory at {DEFAULT_QUANT}"
NOTES = (
    "Enter pulls the selected model (one already installed opens at once). "
    "`opencoder-chat --model demo` opens the small demo model instead; to "
    + by_hand("NAME").replace("bring it in", "bring a model in", 1) + "."
)


@dataclass(frozen=True)
class Choice:
    """A row of the list: a catalog model to pull, or an installed model to open."""

    key: str  # the name to pull, or the installed model's name
    opens: str | None  # the installed model this row opens; None: it is pulled first
    cells: tuple[str, ...]


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def choices(recommended: CatalogModel) -> list[Choice]:
    """The catalog with what is installed marked, then installed models the catalog does not name."""
    rows, shown = [], set()
    for model in catalog.CATALOG:
        found = installed.find_installed(model.name, DEFAULT_QUANT)
        mark = INSTALLED if found else RECOMMENDED if model is recommended else ""
        rows.append(Choice(model.name, found.name if found else None, (
            mark, model.name, model.summary, size_text(model.download_bytes), size_text(model.disk_bytes()),
            _gb(model.memory_bytes()), f"{model.shape.context:,}")))
        if found:
            shown.add(found.name)
    for model in installed.installed_models():
        if model.name not in shown:
            entry = catalog.find(model.name)
            context = model.manifest.context if model.manifest else None
            size = model.manifest.size if model.manifest else model.path.stat().st_size
            rows.append(Choice(model.name, model.name, (
                INSTALLED, model.name, entry.summary if entry else "installed by hand", "—",
                size_text(size), "—", f"{context:,}" if context else "—")))
    return rows


def why(available: int, recommended: CatalogModel) -> str:
    """One line on why the recommended model is the one for this machine."""
    strongest = catalog.recommend(sys.maxsize)
    needs = f"{strongest.display_name} needs about {_gb(strongest.memory_bytes())} at {DEFAULT_QUANT}"
    has = f"This machine has {_gb(available)} of memory available" if available else \
        "This machine's free memory is unknown"
    if recommended is strongest:
        return f"{has}; {needs}, so it is recommended."
    return f"{has}; {needs}, so {recommended.display_name} is recommended: it runs anywhere."


class FirstRunScreen(Screen[str]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    phase: reactive[str] = reactive("choose", init=False)  # choose, pulling, failed
    error: reactive[str] = reactive("", init=False)  # why the last pull failed, in one line

    class Progress(Message):
        """A stage's newest numbers; only the newest of each stage matters."""

        def __init__(self, progress: StageProgress):
            super().__init__()
            self.progress = progress

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, FirstRunScreen.Progress) and message.progress.stage == self.progress.stage

    class Ended(Message):
        """The pull's process is gone: `installed` on success, else its error line."""

        def __init__(self, installed: Installed | None, error: str):
            super().__init__()
            self.installed = installed
            self.error = error

    def __init__(self, pull_argv: PullArgv):
        super().__init__()
        self.pull_argv = pull_argv
        self.available = catalog.available_memory()
        self.recommended = catalog.recommend(self.available)
        self.choices = {choice.key: choice for choice in choices(self.recommended)}
        self.pulling: PullProcess | None = None
        self.pull_name = ""
        self._cancelled = False
        self._kill_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with ContentSwitcher(initial="choose", id="views"):
            with Vertical(id="choose"):
                yield Static("No model is installed yet: choose one to download.", classes="title")
                yield Static(why(self.available, self.recommended), id="why", markup=False)
                yield DataTable(id="models", cursor_type="row")
                yield Static(LEGEND, id="legend", markup=False)
                yield Static(NOTES, id="notes", markup=False)
            with Vertical(id="pulling"):
                yield Static("", id="pull-title", classes="title", markup=False)
                yield Vertical(id="stages")
                yield Static("Esc cancels; pulling it again resumes the download.", classes="hint")
                with Horizontal(classes="buttons"):
                    yield Button("Cancel (Esc)", id="cancel")
            with Vertical(id="failed"):
                yield Static("", id="failed-title", classes="title", markup=False)
                yield Static("", id="pull-error", markup=False)
                with Horizontal(classes="buttons"):
                    yield Button("Retry", id="retry", variant="primary")
                    yield Button("Back to the list (Esc)", id="back")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#models", DataTable)
        table.add_columns(*COLUMNS)
        for choice in self.choices.values():
            table.add_row(*choice.cells, key=choice.key)
        table.move_cursor(row=list(self.choices).index(self.recommended.name))
        table.focus()

    def watch_phase(self, phase: str) -> None:
        self.query_one("#views", ContentSwitcher).current = phase
        focus = {"choose": "#models", "pulling": "#cancel", "failed": "#retry"}[phase]
        self.query_one(focus).focus()
        self.refresh_bindings()

    def watch_error(self, error: str) -> None:
        self.query_one("#pull-error", Static).update(error)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.phase != "choose"
        return True

    @on(DataTable.RowSelected, "#models")
    async def _chosen(self, event: DataTable.RowSelected) -> None:
        choice = self.choices[event.row_key.value]
        if choice.opens is not None:
            self.dismiss(choice.opens)
        else:
            await self._pull(choice.key)

    async def _pull(self, name: str) -> None:
        await self.query("#stages PullProgress").remove()
        await self.query_one("#stages").mount(PullProgress())
        self.pull_name, self._cancelled = name, False
        self.query_one("#pull-title", Static).update(f"Pulling {name} ({DEFAULT_QUANT})…")
        self.query_one("#failed-title", Static).update(f"Pulling {name} did not work:")
        try:
            self.pulling = PullProcess(name, self.pull_argv)
        except UserError as exc:
            self.error, self.phase = str(exc), "failed"
            return
        self.phase = "pulling"
        self._read(self.pulling)

    @work(thread=True, group="pull")
    def _read(self, process: PullProcess) -> None:
        done = None
        for event in process.events():
            if isinstance(event, Installed):
                done = event
            else:
                self.post_message(self.Progress(event))
        code = process.wait()
        if code == 0 and done is not None:
            self.post_message(self.Ended(done, ""))
        else:
            self.post_message(self.Ended(None, process.error() if code else "the pull ended without installing a model"))

    def on_first_run_screen_progress(self, message: Progress) -> None:
        self.query_one(PullProgress).report(message.progress)

    async def on_first_run_screen_ended(self, message: Ended) -> None:
        self.pulling = None
        if self._kill_timer is not None:
            self._kill_timer.stop()
            self._kill_timer = None
        if message.installed is not None:
            await self.query_one(PullProgress).refresh_rows()
            if not message.installed.already:
                self.notify(f"{message.installed.name} is installed.", title="Model", markup=False)
            self.dismiss(message.installed.name)
        elif self._cancelled:
            self.phase = "choose"
            self.notify(f"Stopped pulling {self.pull_name}. Pull it again to resume where it stopped.",
                        title="Pull cancelled", markup=False)
        else:
            self.error, self.phase = message.error, "failed"

    def action_cancel(self) -> None:
        """Stop the pull (it saves what it downloaded, then is killed if it takes too long), or leave a failure."""
        if self.phase == "failed":
            self.phase = "choose"
        elif self.pulling is not None and not self._cancelled:
            self._cancelled = True
            self.query_one("#pull-title", Static).update(f"Stopping the pull of {self.pull_name}…")
            self.pulling.interrupt()
            self._kill_timer = self.set_timer(KILL_AFTER_S, self.pulling.kill)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.phase = "choose"

    @on(Button.Pressed, "#retry")
    async def _retry_pressed(self) -> None:
        await self._pull(self.pull_name)

    def on_unmount(self) -> None:
        # Quitting mid-pull ends the child at once; the next pull resumes its download.
        if self.pulling is not None:
            self.pulling.kill()
