"""Peers that send too much, lie or loop, through the real command-line programs: a hostile Hub on
127.0.0.1 for `opencoder pull`, a hostile model server for `opencoder-chat --model http://...`.

Every row ends in one line on stderr and a non-zero exit, without a traceback, within a bound that
only a hang would pass, with the memory of the program bounded, the Hub token never shown, and
nothing half-built in the models store. A new kind of hostile peer is one new row (and, where it
needs one, a new mode of the stand-in: tests/fixtures/hub_protocol.py's HOSTILE, fake_llama_server.py).
"""

from __future__ import annotations

import json
import os
import resource
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from fixtures.fake_llama_server import FakeLlamaServer
from fixtures.hub_server import HubServer
from opencoder_local import locations
from opencoder_local.models import installed
from opencoder_local.models.registry import demo_path

BIN = Path(sys.executable).parent
TOKEN = "hf_HostilePeersTestToken0123456789abcd"
HANG = 60  # seconds: a row that takes longer is hung
MAX_RSS_MB = 800  # the program's peak memory; an unbounded read of these peers takes gigabytes
GGUF_REPO = "someone/Tiny-GGUF"
GGUF_FILE = "Tiny-Q4_1.gguf"


@dataclass
class Case:
    argv: list[str]  # the program (opencoder, opencoder-chat), then its arguments
    words: tuple[str, ...]  # what the one line must say
    env: dict[str, str] = field(default_factory=dict)
    config: str | None = None  # config.toml
    then: Callable[[], None] | None = None  # checks once the program has ended
    answers: bool = False  # the program copes and answers (within its limits) instead of refusing


class Peers:
    """What a row can set up: the Hub stand-in (HF_ENDPOINT points at it), fake model servers, files."""

    def __init__(self, hub: HubServer, root: Path, stack):
        self.hub, self.root, self._stack = hub, root, stack

    def gguf_repo(self, real: bool = False) -> str:
        """A GGUF repository: the demo model (real) or 200 KB that only a download reaches."""
        folder = self.root / "repo-gguf"
        folder.mkdir()
        if real:
            (folder / GGUF_FILE).symlink_to(demo_path())
        else:
            (folder / GGUF_FILE).write_bytes(os.urandom(200_000))
        self.hub.add_repo(GGUF_REPO, folder)
        return f"{GGUF_REPO}:Q4_1"

    def hostile_hub(self, kind: str, how: str, real: bool = False) -> str:
        self.hub.hostile[kind] = how
        return self.gguf_repo(real)

    def checkpoint_claiming(self, tensor_bytes: int) -> str:
        """A checkpoint repository whose one safetensors shard's header claims a tensor of `tensor_bytes`."""
        folder = self.root / "repo-ckpt"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
        header = json.dumps({"w": {"dtype": "F16", "shape": [tensor_bytes // 2], "data_offsets": [0, tensor_bytes]}})
        (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(64))
        self.hub.add_repo("someone/Tiny", folder)
        return "someone/Tiny:q8_0"

    def server(self, completion: str = "endless", props: str = "ok") -> str:
        return self._stack.enter_context(FakeLlamaServer(completion=completion, props=props)).url


def pull(name: str, **env: str) -> Case:
    return Case(["opencoder", "pull", name], (), env)


def ask(url: str, *flags: str) -> list[str]:
    return ["opencoder-chat", "--model", url, *flags, "-p", "hi", "--max-tokens", "50"]


def ids(peers: Peers, tokens: str) -> Case:
    return Case(ask(peers.server(f"ids:{tokens}"), "--tokenizer", "demo"), ())


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def two_pulls(peers: Peers) -> Case:
    """A pull held mid-download while a second pull of the same model starts: the second says so;
    the first then finishes and installs the model once."""
    name = peers.gguf_repo(real=True)
    held = peers.hub.block(GGUF_FILE, after=1_000_000)
    first = subprocess.Popen([str(BIN / "opencoder"), "pull", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True, env={**os.environ, "HF_TOKEN": TOKEN})
    assert held.reached.wait(HANG), "the first pull never started downloading"

    def finish_first() -> None:
        held.release.set()  # its connection drops; it resumes
        out, err = first.communicate(timeout=HANG)
        assert first.returncode == 0, err
        assert [m.name for m in installed.installed_models()] == [f"{GGUF_REPO}:q4_1"]

    return Case(["opencoder", "pull", name], ("another pull of", GGUF_REPO), then=finish_first)


ROWS: dict[str, Callable[[Peers], Case]] = {
    # F. no caps on what peers send
    "Hub model info as endless JSON": lambda p: _words(pull(p.hostile_hub("revision", "endless-json")), "16 MiB"),
    "Hub file list of 50 MB": lambda p: _words(pull(p.hostile_hub("tree", "huge-listing")), "16 MiB"),
    "Hub file list whose next page is itself": lambda p: _words(pull(p.hostile_hub("tree", "next-is-itself")),
                                                                "1,000 pages"),
    "server's /v1/models as endless JSON": lambda p: Case(ask(p.server(props="endless")), ("16 MiB", "/v1/models")),
    "server sends a 1.5 GB line": lambda p: Case(ask(p.server("huge-line"), "--tokenizer", "demo"), ("4 MiB",)),
    "server sends a 50 MB event": lambda p: Case(ask(p.server("huge-event")), ("4 MiB",)),
    # G. the client keeps its own token limit
    "server streams for ever (ids)": lambda p: Case(ask(p.server("endless"), "--tokenizer", "demo"), (),
                                                    answers=True),
    "server streams for ever (chat)": lambda p: Case(ask(p.server("endless")), (), answers=True),
    # H. token ids checked against the vocabulary
    "id past the vocabulary": lambda p: _words(ids(p, "[49152]"), "token id 49152", "vocabulary"),
    "negative id": lambda p: _words(ids(p, "[-1]"), "token id -1"),
    "id 2**31": lambda p: _words(ids(p, f"[{2**31}]"), f"token id {2**31}"),
    "id 1.5": lambda p: _words(ids(p, "[1.5]"), "not integers"),
    'id "x"': lambda p: _words(ids(p, '["x"]'), "not integers"),
    "id null": lambda p: _words(ids(p, "[null]"), "not integers"),
    "id [[1]]": lambda p: _words(ids(p, "[[1]]"), "not integers"),
    # M. redirects on the Hub
    "Hub redirect loop": lambda p: _words(pull(p.hostile_hub("revision", "redirect-loop")), "redirect loop"),
    "Hub download redirected to another port": lambda p: _elsewhere(p),
    # N. two pulls of the same model
    "two pulls of the same model": two_pulls,
    # O. messages
    "server answers 307": lambda p: Case(ask(p.server("redirect"), "--tokenizer", "demo"), ("307", "redirect")),
    "Hub echoes the token in a file list": lambda p: _words(pull(p.hostile_hub("tree", "token-in-listing")),
                                                            "[HF_TOKEN]"),
    # the hostile Hub
    "Hub Content-Length short": lambda p: _words(pull(p.hostile_hub("resolve", "length-short")), "damaged"),
    "Hub Content-Length long": lambda p: _words(pull(p.hostile_hub("resolve", "length-long")), "broke"),
    "Hub body that never ends": lambda p: _words(pull(p.hostile_hub("resolve", "endless-body")), "damaged"),
    "Hub body that stalls": lambda p: _words(pull(p.hostile_hub("resolve", "stall"), HF_HUB_DOWNLOAD_TIMEOUT="1"),
                                             "stopped answering"),
    "Hub HTML where JSON was expected": lambda p: _words(pull(p.hostile_hub("revision", "html")), "not JSON"),
    "safetensors header claiming a 100 GB tensor": lambda p: _words(pull(p.checkpoint_claiming(100 * 10**9)),
                                                                    "header describes"),
    # the hostile model server
    "server answers with an HTML error page": lambda p: Case(ask(p.server(props="html")), ("502",)),
    "server accepts and never answers": lambda p: _silent(p),
}


def _words(case: Case, *words: str) -> Case:
    case.words = words
    return case


def _elsewhere(p: Peers) -> Case:
    p.hub.elsewhere = closed_port()
    return _words(pull(p.hostile_hub("resolve", "redirect-elsewhere")), "cannot reach", p.hub.elsewhere)


def _silent(p: Peers) -> Case:
    url = p.server(props="silent")
    return Case(ask(url), ("did not answer within 2 s",), config=f'[endpoints.box]\nurl = "{url}"\ntimeout = 2\n')


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str
    max_rss_mb: float
    inherited_mb: float  # Linux counts the parent's peak at exec in the child's: this suite's own, by then


def run(argv: list[str], env: dict[str, str], out: Path) -> Ran:
    """Run a program to its end (killed after HANG seconds), with its own peak memory (wait4's rusage)."""
    inherited = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(out / "stdout", "w+") as stdout, open(out / "stderr", "w+") as stderr:
        child = subprocess.Popen([str(BIN / argv[0]), *argv[1:]], stdin=subprocess.DEVNULL, stdout=stdout,
                                 stderr=stderr, env=env)
        deadline = time.monotonic() + HANG
        while (ended := os.wait4(child.pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                child.kill()
                os.wait4(child.pid, 0)
                child.returncode = -9
                pytest.fail(f"{argv} still running after {HANG} s")
            time.sleep(0.05)
        child.returncode = os.waitstatus_to_exitcode(ended[1])
        stdout.seek(0), stderr.seek(0)
        return Ran(child.returncode, stdout.read(), stderr.read(), ended[2].ru_maxrss / 1024, inherited)


@pytest.mark.parametrize("build", ROWS.values(), ids=ROWS.keys())
def test_a_hostile_peer_is_one_line_and_installs_nothing(build, hub, tmp_path, monkeypatch):
    from contextlib import ExitStack

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with ExitStack() as stack:
        case = build(Peers(hub, tmp_path, stack))
        if case.config is not None:
            locations.config_path().parent.mkdir(parents=True, exist_ok=True)
            locations.config_path().write_text(case.config)
        ran = run(case.argv, {**os.environ, **case.env}, tmp_path)
        if case.then is not None:
            case.then()
    assert TOKEN not in ran.stdout + ran.stderr
    assert ran.max_rss_mb < MAX_RSS_MB + ran.inherited_mb
    if case.answers:
        assert ran.returncode == 0 and ran.stderr == "", ran.stderr
        assert 0 < len(ran.stdout) < 1000, ran.stdout
        return
    lines = ran.stderr.splitlines()
    assert ran.returncode != 0, ran.stderr
    assert "Traceback" not in ran.stderr and len(lines) == 1, ran.stderr
    assert lines[0].startswith(f"{case.argv[0]}: error: "), lines[0]
    for word in case.words:
        assert word in lines[0]
    store = locations.models_dir()
    assert not store.is_dir() or not [p for p in store.iterdir() if p.name.startswith((".incoming-", ".removing-"))]
    if case.argv[1] == "pull" and case.then is None:
        assert installed.installed_models() == []
