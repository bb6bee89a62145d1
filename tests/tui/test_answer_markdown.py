"""A code fence highlighted as it grows shows exactly what a highlight from scratch of the same text shows."""

from __future__ import annotations

import re

import pytest
from textual.highlight import HighlightTheme, highlight

from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app
from opencoder_local.tui.widgets.chat_log import AssistantMessage
from opencoder_local.tui.widgets.answer_markdown import AnswerFence, FenceHighlighter

from tui.helpers import ask, ready
from tui.scripted import ScriptedEngine

# Strings and comments that span lines, a docstring that closes lines later, a string that ends a line.
PYTHON = '''import os


class Stack:
    """A stack.

    def push(self): not code, a docstring
    """

    def __init__(self, items=None):
        self.items = list(items or [])  # a comment
        self.note = """one
two # not a comment
three"""

    def push(self, item):
        """Push an item."""
        self.items.append(item)
        return f"pushed {item!r} at {len(self.items)}"


def main():
    s = Stack(); s.push("x")
    print(s.items, os.sep, 'it\\'s', r"\\d+")
'''

JSON = '{\n  "name": "stack",\n  "tags": ["a",\n    "b"],\n  "nested": {"x": 1,\n "y": "two\\nlines"}\n}\n'


def pieces(text: str) -> list[str]:
    """Token-sized pieces, as a model streams them."""
    return re.findall(r"\w+|[^\w\s]+|\s+", text)


@pytest.mark.parametrize("language,code", [("python", PYTHON), ("json", JSON),
                                           ("python", PYTHON.replace("    ", "\t"))])
def test_every_prefix_highlighted_incrementally_equals_a_highlight_from_scratch(language, code):
    highlighter = FenceHighlighter()
    shown = ""
    for piece in pieces(code):
        shown += piece
        fence = shown.rstrip()  # Textual's Markdown hands a fence its code without trailing spaces
        assert highlighter.highlight(fence, language, HighlightTheme) == highlight(fence, language=language)


def test_a_different_fence_after_a_long_one_is_highlighted_from_its_start():
    highlighter = FenceHighlighter()
    highlighter.highlight(PYTHON, "python", HighlightTheme)
    other = 'x = """\n' + PYTHON
    assert highlighter.highlight(other, "python", HighlightTheme) == highlight(other, language="python")


@pytest.mark.anyio
async def test_a_fence_streamed_over_many_frames_ends_highlighted_as_from_scratch():
    engine = ScriptedEngine("Here it is:\n\n```python\n" + PYTHON + "```\n", delay=0.01)
    app = make_app(ChatSettings(model="demo"), lambda _s: engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "a stack")
        fence = app.screen.query(AssistantMessage).last().query_one(AnswerFence)
        assert fence._highlighted_code == highlight(PYTHON.rstrip(), language="python")
