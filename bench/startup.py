"""Start-up to a usable input: the chat app against a minimal Textual app with one TextArea.

Both start the same way, in a fresh interpreter each time: the app is built, run headless
(App.run_test, 120x40) and the time from the process's start to its input having the focus is
taken. They alternate, so the machine's load falls on both alike; the best of each is compared
(start-up has a floor, and noise only adds to it). The chat app loads its model behind a usable
input, so the model's load is not in its figure; it opens on the demo model with a fresh data
folder (no conversations), as a first run does.

Also prints what the chat app imports before its first frame that the minimal one does not, the
heaviest first (python -X importtime), to say where the difference goes.

Run: python bench/startup.py [--repeats 7]   (target: chat / minimal <= 1.3x)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

TARGET = 1.3

MINIMAL = """
import asyncio, time
from textual.app import App
from textual.widgets import TextArea

class Minimal(App):
    def compose(self):
        yield TextArea()

async def main():
    app = Minimal()
    async with app.run_test(size=(120, 40)) as pilot:
        while not isinstance(app.focused, TextArea):
            await asyncio.sleep(0.002)
        print(time.time(), flush=True)
asyncio.run(main())
"""

CHAT = """
import asyncio, time
from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app
from opencoder_local.tui.widgets.prompt_input import PromptInput

async def main():
    app = make_app(ChatSettings(model="demo"))
    async with app.run_test(size=(120, 40)) as pilot:
        while not isinstance(app.focused, PromptInput):
            await asyncio.sleep(0.002)
        print(time.time(), flush=True)
asyncio.run(main())
"""


def once(source: str, env: dict[str, str]) -> float:
    import time

    started = time.time()
    out = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.split()[0]) - started


def imports(source: str, env: dict[str, str]) -> dict[str, int]:
    """Module -> its own import time in µs, as -X importtime reports it."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", source], capture_output=True, text=True, env=env)
    found = {}
    for line in out.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s+(.*)$", line)
        if match:
            found[match[3].strip()] = int(match[1])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "OPENCODER_HOME": tempfile.mkdtemp(prefix="opencoder-bench-startup-")}
    once(CHAT, env)  # the first run writes the data folder and warms the file cache for both
    minimal, chat = [], []
    for _ in range(args.repeats):
        minimal.append(once(MINIMAL, env))
        chat.append(once(CHAT, env))
    ratio = min(chat) / min(minimal)
    print(f"minimal Textual app (one TextArea): best {min(minimal):.3f} s of {args.repeats}")
    print(f"opencoder-chat to a usable input: best {min(chat):.3f} s of {args.repeats}")
    print(f"start-up ratio chat / minimal: {ratio:.2f}x  (target <= {TARGET}x: {'PASS' if ratio <= TARGET else 'FAIL'})")
    extra = imports(CHAT, env)
    for name in imports(MINIMAL, env):
        extra.pop(name, None)
    heaviest = sorted(extra.items(), key=lambda item: -item[1])[:12]
    print(f"imported by the chat app only: {sum(extra.values()) / 1e3:.0f} ms in {len(extra)} modules; heaviest:")
    for name, micros in heaviest:
        print(f"  {micros / 1e3:7.1f} ms  {name}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
