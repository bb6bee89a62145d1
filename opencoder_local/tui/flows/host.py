"""What a flow may use of the chat screen it works for, and how it runs slow work off the UI thread.

The chat screen is the one ChatHost; a flow never sees more of it than this, and never imports it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Callable, Protocol, TypeVar, runtime_checkable

from textual.worker import WorkerCancelled, WorkerFailed

if TYPE_CHECKING:
    from textual.app import App
    from textual.notifications import SeverityLevel
    from textual.timer import Timer
    from textual.worker import Worker

    from opencoder_local.context.session import ChatSession
    from opencoder_local.context.working_set import FileEntry
    from opencoder_local.tui.phase import Phase
    from opencoder_local.tui.widgets.chat_log import ChatLog
    from opencoder_local.tui.widgets.prompt_input import PromptInput
    from opencoder_local.tui.widgets.sidebar import Sidebar
    from opencoder_local.tui.widgets.status_bar import StatusBar

T = TypeVar("T")


@runtime_checkable
class ChatHost(Protocol):
    session: ChatSession
    phase: Phase  # the screen's one reactive state: the status bar and the footer follow it

    @property
    def app(self) -> App[Any]: ...

    @property
    def files(self) -> tuple[FileEntry, ...]:
        """The working set as shown."""

    @property
    def log_view(self) -> ChatLog: ...

    @property
    def prompt_input(self) -> PromptInput: ...

    @property
    def sidebar(self) -> Sidebar: ...

    @property
    def status(self) -> StatusBar: ...

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None: ...

    def run_worker(self, work: Any, name: str | None = "", group: str = "default", description: str = "",
                   exit_on_error: bool = True, start: bool = True, exclusive: bool = False,
                   thread: bool = False) -> Worker[Any]: ...

    def refresh_bindings(self) -> None: ...

    def set_timer(self, delay: float, callback: Callable[[], Any] | None = None, *, name: str | None = None,
                  pause: bool = False) -> Timer: ...

    def call_later(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Run `callback` on the screen's own queue, in turn with its keys (a worker sends a question so)."""

    def idle(self, doing: str) -> bool:
        """Not answering; otherwise a notice that `doing` waits for Esc."""

    def sync_files(self) -> None:
        """Show the working set as it is now."""

    def schedule_count(self) -> None:
        """Count the prompt again, shortly."""

    async def show_conversation(self) -> None:
        """Show the session's conversation as it is now."""

    async def send_question(self, text: str) -> bool:
        """Save, show and answer a question; False (with a notice) if it cannot be sent."""

    async def start_answer(self) -> None:
        """Answer the conversation's last question."""


async def in_thread(host: ChatHost, work: Callable[[], T], group: str) -> T:
    """Run `work` in a thread worker of the screen and return its result; what it raises is raised here.

    Await it from an async worker: the screen goes on meanwhile, and if it closes, both workers are
    cancelled and the result is dropped (the thread never touches a widget)."""
    worker = host.run_worker(work, group=group, thread=True, exit_on_error=False)
    try:
        return await worker.wait()
    except WorkerFailed as failed:
        raise failed.error from None
    except WorkerCancelled:
        raise asyncio.CancelledError from None  # the screen is closing: the awaiting worker ends too
