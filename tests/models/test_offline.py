"""Offline for good: with a model installed, nothing in the app or its model process imports
huggingface_hub or opens a network socket, whatever the Hub settings say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fixtures.checkpoint import SMALL_1_5B, write_checkpoint
from fixtures.opencoder_tokenizer import ReferenceTokenizer

TESTS = Path(__file__).resolve().parents[1]

# Loaded by every Python process started with this folder on PYTHONPATH (the app and the model
# process it starts): records network calls and network-library imports as they happen (the model
# process is killed, so nothing waits for exit to be written).
SITECUSTOMIZE = textwrap.dedent('''
    import json, os, sys

    _OUT = os.environ["NETWORK_AUDIT"]
    _WATCHED = ("huggingface_hub", "httpx", "requests", "urllib3", "aiohttp")

    def _record(kind, detail):
        with open(_OUT, "a", encoding="utf-8") as out:
            out.write(json.dumps([os.getpid(), kind, detail]) + "\\n")

    def _hook(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto",
                     "urllib.Request", "http.client.connect"):
            _record(event, repr(args)[:200])
        elif event == "import" and args[0].split(".")[0] in _WATCHED:
            _record("import", args[0])

    sys.addaudithook(_hook)
''')

ASK_IN_THE_APP = textwrap.dedent('''
    import asyncio, sys
    sys.path.insert(0, sys.argv[1])
    from opencoder_local.cli import _chat_parser, _settings
    from opencoder_local.tui.app import make_app
    from tui.helpers import answered, ask, ready

    async def main():
        settings = _settings(_chat_parser().parse_args(["--max-tokens", "4"]))
        app = make_app(settings)
        async with app.run_test(size=(100, 30)) as pilot:
            await ready(pilot)
            await ask(pilot, "hi")
            await answered(pilot, 1)
            print("model:", settings.model, "answer:", repr(app.screen.session.messages[-1].content))

    asyncio.run(main())
''')


@pytest.fixture
def installed_model(tmp_path, opencoder_tokenizer_dir) -> str:
    n_tokens = ReferenceTokenizer(opencoder_tokenizer_dir).vocab_size
    checkpoint = write_checkpoint(tmp_path / "OpenCoder-1.5B-Instruct", SMALL_1_5B, opencoder_tokenizer_dir,
                                  n_tokens, shards=1, seed=7)
    result = subprocess.run([sys.executable, "-m", "opencoder_local", "pull", "opencoder-1.5b-instruct",
                             "--from-dir", str(checkpoint)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return "opencoder-1.5b-instruct:q4_k_m"


@pytest.mark.parametrize("hub_settings", [{}, {"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}])
def test_chatting_with_an_installed_model_touches_no_network(installed_model, tmp_path, hub_settings):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    audit = tmp_path / "network.jsonl"
    env = {**os.environ, **hub_settings, "NETWORK_AUDIT": str(audit),
           "PYTHONPATH": os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")])}
    # The watch works: a process that does reach for the network library is seen.
    subprocess.run([sys.executable, "-c", "import huggingface_hub"], env=env, check=True, timeout=120)
    assert "huggingface_hub" in audit.read_text()
    audit.unlink()
    one_shot = subprocess.run([sys.executable, "-m", "opencoder_local", "chat", "-p", "hi", "--max-tokens", "4"],
                              capture_output=True, text=True, env=env, timeout=300)
    assert one_shot.returncode == 0 and one_shot.stdout.strip(), one_shot.stderr
    app = subprocess.run([sys.executable, "-c", ASK_IN_THE_APP, str(TESTS)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert app.returncode == 0 and f"model: {installed_model}" in app.stdout, app.stderr
    records = [json.loads(line) for line in audit.read_text().splitlines()] if audit.exists() else []
    assert records == [], records
