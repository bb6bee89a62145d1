"""How fast the chat widget takes a streamed answer, against the demo model's own generation rate.

Streams a synthetic ~4,000-token Markdown answer (prose, lists, Python code blocks) into the real
chat screen, headless (App.run_test), as fast as a thread can post it, and prints the UI's sustained
tokens/s, the worst gap between frames (a 60 Hz heartbeat on the UI's event loop: the longest the
screen could not have been redrawn), and the ratio to the demo model's tokens/s measured in this run.

    .venv/bin/python bench/tui.py [--tokens 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from typing import Iterator, Sequence

from opencoder_local.engine.protocol import ContextBudget, Delta, GenParams, Message, TurnStats
from opencoder_local.settings import ChatSettings

TARGET_RATIO = 10.0


def synthetic_answer(tokens: int) -> list[str]:
    """Token-sized pieces of a Markdown answer with a code block in every section."""
    section = (
        "## Step {n}: a helper\n\n"
        "Here is **why** this works: the function walks the list once, keeps a running total, "
        "and returns early when the `limit` is reached. See the notes below.\n\n"
        "```python\n"
        "def running_total_{n}(values: list[int], limit: int = 100) -> list[int]:\n"
        "    \"\"\"Prefix sums up to a limit.\"\"\"\n"
        "    total, out = 0, []\n"
        "    for value in values:\n"
        "        total += value\n"
        "        if total > limit:\n"
        "            break\n"
        "        out.append(total)\n"
        "    return out\n"
        "```\n\n"
        "- it is `O(n)` in time\n- it allocates one list\n- it stops early\n\n"
    )
    pieces: list[str] = []
    n = 0
    while len(pieces) < tokens:
        n += 1
        pieces.extend(re.findall(r"\w+|[^\w\s]+|\s+", section.format(n=n)))
    return pieces[:tokens]


class FirehoseEngine:
    """Yields the pieces with no delay: the UI, not the engine, sets the pace."""

    model_name, quantization, backend, chat_mode, n_ctx = "firehose", "F16", "CPU", True, 1 << 20

    def __init__(self, pieces: list[str], rate: float | None = None):
        self.pieces = pieces
        self.delay = 1 / rate if rate else 0.0
        self.first_piece_at = 0.0

    def count(self, messages: Sequence[Message]) -> ContextBudget:
        return ContextBudget(sum(len(m.content) // 4 + 4 for m in messages), self.n_ctx)

    def cancel(self) -> None:
        pass

    def stream(self, messages: Sequence[Message], params: GenParams = GenParams()) -> Iterator[Delta]:
        self.first_piece_at = time.perf_counter()
        for index, piece in enumerate(self.pieces):
            if self.delay:  # paced like a model: sleep until this piece is due
                time.sleep(max(0.0, self.first_piece_at + index * self.delay - time.perf_counter()))
            yield Delta(piece)
        yield Delta("", TurnStats(1, 0, len(self.pieces), 0.0, 0.0, "stop"))


def model_rate() -> float:
    """The demo model's generation tokens/s on a coding question (as the app loads it)."""
    from opencoder_local.tui.app import load_real_engine

    engine = load_real_engine(ChatSettings())
    question = [Message("user", "Write a Python class for a bank account with deposit and withdraw, with a code block.")]
    stats = None
    for delta in engine.stream(question, GenParams(max_tokens=256)):
        stats = delta.stats or stats
    return stats.gen_tok_s


async def ui_rate(pieces: list[str], rate: float | None = None) -> tuple[float, float, int]:
    """(tokens/s the widget sustained, worst gap between frames, code blocks rendered)."""
    from opencoder_local.tui.app import make_app
    from opencoder_local.tui.widgets.chat_log import AssistantMessage

    engine = FirehoseEngine(pieces, rate)
    app = make_app(ChatSettings(), lambda _s: engine)
    expected = "".join(pieces)
    beats: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        while app.screen.session.engine is None:
            await pilot.pause(0.01)
        app.set_interval(1 / 60, lambda: beats.append(time.perf_counter()))
        app.screen.prompt_input.text = "Explain running totals."
        await pilot.press("enter")
        while app.screen.generating:
            await asyncio.sleep(0.005)
        done = time.perf_counter()
        view = app.screen.query(AssistantMessage).last()
        assert view.content == expected, "the widget lost text"
        assert view.query_one("Markdown").source == expected, "the Markdown lost text"
        blocks = len(view.query("MarkdownFence"))
    window = [b for b in beats if engine.first_piece_at <= b <= done]
    gaps = [b - a for a, b in zip(window, window[1:])] or [done - engine.first_piece_at]
    return len(pieces) / (done - engine.first_piece_at), max(gaps), blocks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4000)
    parser.add_argument("--paced-tokens", type=int, default=600, help="tokens streamed at the model's own pace")
    args = parser.parse_args()
    os.environ["OPENCODER_HOME"] = tempfile.mkdtemp(prefix="opencoder-bench-")
    pieces = synthetic_answer(args.tokens)
    model = model_rate()
    ui, worst_gap, blocks = asyncio.run(ui_rate(pieces))
    _, paced_gap, _ = asyncio.run(ui_rate(pieces[: args.paced_tokens], rate=model))
    ratio = ui / model
    print(f"demo model generation    : {model:9,.1f} tok/s")
    print(f"chat widget sustained    : {ui:9,.1f} tok/s  ({len(pieces):,} tokens, {blocks} code blocks, Markdown + Pygments)")
    print(f"worst gap between frames : {worst_gap * 1000:9.1f} ms  (as fast as it can)")
    print(f"worst gap at model pace  : {paced_gap * 1000:9.1f} ms  ({args.paced_tokens} tokens at {model:,.0f} tok/s)")
    print(f"ratio UI / model         : {ratio:9.1f}x  (target >= {TARGET_RATIO:.0f}x: {'PASS' if ratio >= TARGET_RATIO else 'FAIL'})")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
