"""The Markdown of the conversation, made cheap to stream into.

Code fences are highlighted incrementally while they grow. Textual's Markdown re-parses the last
block at every append, so a streamed fence used to be lexed from its first line at every frame: O(n)
a frame, O(n^2) an answer (3.7 ms a frame at the end of a 57-line fence on the demo model's answer).
Here the tokens of the last highlight are kept, and code that extends it is lexed again only from a
line where the lexer was back at plain text (a newline lexed as whitespace: not inside a string or a
comment), a few lines before the old end. The overlap must come out the same as before, or the whole
fence is lexed again; and when the answer ends, `finish()` checks each fence against a highlight from
scratch.

And the widgets an answer grows in take their new size from one layout pass, not two (sized_by_layout.py).
"""

from __future__ import annotations

import os

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import Text, _TokenType
from pygments.util import ClassNotFound
from textual.app import ComposeResult
from textual.content import Content, Span
from textual.highlight import HighlightTheme, highlight
from textual.widgets import Label, Markdown
from textual.widgets.markdown import MarkdownFence, MarkdownStream

from opencoder_local.tui.widgets.sized_by_layout import SizedByLayout

RELEX_LINES = 3  # lines before the old end always lexed again: an unfinished line lexes differently
TAB_SIZE = 8  # as textual.highlight

Token = tuple[_TokenType, str]


class FenceHighlighter:
    """What textual.highlight.highlight returns, reusing the tokens of the last code it highlighted."""

    def __init__(self) -> None:
        self._key: tuple[str, type[HighlightTheme]] | None = None
        self._code = ""
        self._tokens: list[Token] = []

    def highlight(self, code: str, language: str, theme: type[HighlightTheme]) -> Content:
        code = "\n".join(code.splitlines())  # as textual.highlight does
        lexer = _lexer(language)
        if lexer is None or "\t" in code:  # no language (guessed from the text) or tabs: Textual's own way
            return highlight(code, language=language or None, theme=theme, tab_size=TAB_SIZE)
        if self._key != (language, theme):
            self._key, self._code, self._tokens = (language, theme), "", []
        kept, start = self._reusable(code)
        fresh = list(lexer.get_tokens(code[start:]))
        if kept and not self._same_overlap(code, start, fresh):
            kept, fresh = [], list(lexer.get_tokens(code))
        self._code, self._tokens = code, kept + fresh
        return _content(code, self._tokens, theme)

    def _reusable(self, code: str) -> tuple[list[Token], int]:
        """The old tokens still valid for `code`, and where lexing must start again."""
        shared = _shared_lines(self._code, code)
        limit = shared
        for _ in range(RELEX_LINES):
            limit = code.rfind("\n", 0, max(limit - 1, 0)) + 1
        position, restart, count = 0, 0, 0
        for index, (kind, value) in enumerate(self._tokens):
            position += len(value)
            if position > limit:
                break
            if value.endswith("\n") and kind in Text:
                restart, count = position, index + 1
        return self._tokens[:count], restart

    def _same_overlap(self, code: str, start: int, fresh: list[Token]) -> bool:
        """Do the fresh tokens agree with the old ones over the complete lines both texts share?"""
        end = _shared_lines(self._code, code)
        old = _tokens_between(self._tokens, start, end)
        return old == _tokens_between(fresh, 0, end - start)


def _shared_lines(old: str, new: str) -> int:
    """Length of the complete lines that `new` keeps from `old`."""
    end = old.rfind("\n") + 1
    if new.startswith(old[:end]):  # the usual case: the same fence, grown
        return end
    return old.rfind("\n", 0, len(os.path.commonprefix([old, new]))) + 1


def _tokens_between(tokens: list[Token], start: int, end: int) -> list[Token]:
    """The tokens that lie wholly between two positions."""
    out, position = [], 0
    for token in tokens:
        following = position + len(token[1])
        if following > end:
            break
        if position >= start:
            out.append(token)
        position = following
    return out


def _lexer(language: str) -> Lexer | None:
    if not language:
        return None
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=True, tabsize=TAB_SIZE)
    except ClassNotFound:
        return None


def _content(code: str, tokens: list[Token], theme: type[HighlightTheme]) -> Content:
    """Spans from tokens exactly as textual.highlight.highlight makes them."""
    spans: list[Span] = []
    styles = theme.STYLES
    start = 0
    for kind, value in tokens:
        end = start + len(value)
        while True:
            if style := styles.get(kind):
                spans.append(Span(start, end, style))
                break
            if (kind := kind.parent) is None:
                break
        start = end
    return Content(code, spans=spans).stylize_before("$text")


class CodeLabel(SizedByLayout, Label):
    """The highlighted code inside a fence."""


class AnswerParagraph(SizedByLayout, Markdown.BLOCKS["paragraph_open"]):  # MarkdownParagraph is not exported
    """A paragraph, the block prose streams into."""


class AnswerFence(SizedByLayout, MarkdownFence):
    """A code fence of an answer: highlighted by its Markdown's FenceHighlighter while it streams."""

    def highlight(  # type: ignore[override]  # Textual calls it on the fence, as self.highlight(...)
        self, code: str, language: str, ansi: bool = False, dark: bool = False
    ) -> Content:
        if ansi:  # Textual's own themes for a terminal's ANSI colours
            return MarkdownFence.highlight(code, language, ansi, dark)
        return self._markdown.highlighter.highlight(code, language, HighlightTheme)

    def compose(self) -> ComposeResult:
        yield CodeLabel(self._highlighted_code, id="code-content", expand=True)

    def finish(self) -> None:
        """The answer ended: make sure the fence shows what a highlight from scratch shows."""
        app = self.app
        exact = MarkdownFence.highlight(self.code, self.lexer, app.native_ansi_color, app.current_theme.dark)
        if exact != self._highlighted_code:
            self._highlighted_code = exact
            self.set_content(exact)


class AnswerMarkdown(SizedByLayout, Markdown):
    """Markdown whose code fences reuse the highlighting of the frame before."""

    BLOCKS = {**Markdown.BLOCKS, "paragraph_open": AnswerParagraph, "fence": AnswerFence,
              "code_block": AnswerFence}

    def __init__(self, markdown: str | None = None):
        super().__init__(markdown)
        self.highlighter = FenceHighlighter()

    def stream(self) -> MarkdownStream:
        """Textual's stream into this Markdown: it batches what is written to it."""
        return self.get_stream(self)

    def finish(self) -> None:
        """The answer ended: each of its fences is checked once against a highlight from scratch."""
        for fence in self.query(AnswerFence):
            fence.finish()
