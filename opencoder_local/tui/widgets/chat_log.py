"""The conversation on screen: questions and Markdown answers that stream in place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Label, Static

from opencoder_local.engine.protocol import TurnStats
from opencoder_local.terminal_text import printable
from opencoder_local.tui.pacer import FramePacer, IncomingText
from opencoder_local.tui.widgets.sized_by_layout import SizedByLayout
from opencoder_local.store import CUT_SHORT, DONE, STOPPED, STREAMING, StoredMessage

if TYPE_CHECKING:
    from textual.widgets.markdown import MarkdownStream

    from opencoder_local.tui.widgets.answer_markdown import AnswerMarkdown

_STATUS_NOTES = {
    STOPPED: "■ stopped",
    STREAMING: "■ interrupted (the app was closed while answering)",
    CUT_SHORT: "■ cut short (the model process stopped)",
}


class MessageView(SizedByLayout, Widget):
    """One message; `message_id` ties it to the stored row (None until it is saved)."""

    markdown: AnswerMarkdown  # the message's text, once composed

    def __init__(self, content: str, message_id: int | None = None, status: str = DONE):
        super().__init__()
        self.content = content
        self.message_id = message_id
        self.status = status

    def compose(self) -> ComposeResult:
        # Markdown (markdown-it, Pygments) loads with the first message shown: an empty chat's first
        # frame does not wait for it.
        from opencoder_local.tui.widgets.answer_markdown import AnswerMarkdown

        self.markdown = AnswerMarkdown(printable(self.content))  # a model's ESC or BEL never reaches the terminal
        yield self.markdown
        yield Label(_STATUS_NOTES.get(self.status, ""), classes="note")

    def on_mount(self) -> None:
        self.show_note(_STATUS_NOTES.get(self.status, ""))

    def show_note(self, text: str) -> None:
        # Set on the label itself: a class on this widget would restyle every Markdown block in it.
        note = self.query_one(".note", Label)
        note.update(text)
        note.display = bool(text)


class UserMessage(MessageView):
    BORDER_TITLE = "You"


class AssistantMessage(MessageView):
    """An answer; while streaming, the generation thread adds its text to `start_stream()`'s IncomingText."""

    BORDER_TITLE = "Assistant"

    class TextWaiting(Message, bubble=False):
        """Text waits in the IncomingText (posted once per batch, from the generation thread)."""

    class Done(Message):
        """The answer ended (posted to the view, then bubbles to the screen)."""

        def __init__(self, status: str, message_id: int | None = None, stats: TurnStats | None = None,
                     error: str | None = None, engine_stopped: bool = False):
            super().__init__()
            self.status = status
            self.message_id = message_id
            self.stats = stats
            self.error = error
            self.engine_stopped = engine_stopped  # the model process died: the screen starts another

    def __init__(self, content: str = "", message_id: int | None = None, status: str = DONE):
        super().__init__(content, message_id, status)
        self._stream: MarkdownStream | None = None
        self._incoming = IncomingText(lambda: self.post_message(self.TextWaiting()))
        self._pacer = FramePacer()

    def start_stream(self) -> IncomingText:
        """Show the answer as it comes: the generation thread adds its text to what this returns."""
        self.border_subtitle = "writing…"
        self._stream = self.markdown.stream()
        return self._incoming

    def on_assistant_message_text_waiting(self) -> None:
        # Text is written once a frame, at the rate the pacer allows (tui/pacer.py): re-laying out a
        # growing answer per token would take the CPU the model needs. The answer's first text is
        # written at once: a frame's wait there is latency the user sees, not CPU saved.
        if self.content:
            self.set_timer(self._pacer.interval, self._flush)
        else:
            self.call_later(self._flush)

    async def _flush(self) -> None:
        text = self._incoming.take()
        if self._stream is not None and text:
            self.content += text
            await self._stream.write(printable(text))  # per character: safe on a split escape sequence
            self._pacer.shown()

    async def on_assistant_message_done(self, done: Done) -> None:
        await self._flush()
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
            self.markdown.finish()
        self.border_subtitle = ""
        self.status = done.status
        self.message_id = done.message_id
        self.show_note(_STATUS_NOTES.get(done.status, ""))


class ChatLog(SizedByLayout, VerticalScroll):
    """Scrolls with the answer unless the user has scrolled up (Textual's anchor)."""

    def on_mount(self) -> None:
        self.anchor()

    async def show(self, messages: list[StoredMessage]) -> None:
        await self.remove_children()
        views = [_view_for(m) for m in messages if m.role in ("user", "assistant")]
        if views:
            await self.mount_all(views)
        self.anchor()

    async def add(self, view: MessageView) -> MessageView:
        await self.mount(view)
        return view

    def follow(self) -> None:
        """Scroll to the end and keep following (after the user sends something)."""
        self.anchor()

    async def remove_from(self, message_id: int, keep: bool = False) -> None:
        """Remove a message's view (unless `keep`) and every view after it."""
        views = list(self.query_children(MessageView))
        for index, view in enumerate(views):
            if view.message_id == message_id:
                await self.remove_children(views[index + 1 if keep else index:])
                return

    async def mark_dropped(self, count: int) -> None:
        """Say where the history the model is given begins: after the oldest `count` messages."""
        views = list(self.query_children(MessageView))
        markers = self.query_children(DroppedMarker)
        if not count or not views:
            for marker in markers:
                marker.display = False
            return
        text = f"↑ {count} older message{'s' if count != 1 else ''} not sent: the window is full"
        place = {"before": views[count]} if count < len(views) else {"after": views[-1]}
        if markers:
            marker = markers.first()
            marker.update(text)
            marker.display = True
            self.move_child(marker, **place)
        else:
            await self.mount(DroppedMarker(text), **place)

    def last_answer(self) -> AssistantMessage | None:
        answers = list(self.query_children(AssistantMessage))
        return answers[-1] if answers else None


class DroppedMarker(Static):
    """Where the history sent to the model begins (older messages do not fit the window)."""

    def __init__(self, text: str):
        super().__init__(text, markup=False)


def _view_for(message: StoredMessage) -> MessageView:
    kind = UserMessage if message.role == "user" else AssistantMessage
    return kind(message.content, message.id, message.status)
