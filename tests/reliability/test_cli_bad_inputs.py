"""Bad inputs through the real command-line programs: one line on stderr, a non-zero exit, nothing written.

Each row builds its input in a fresh folder and names the program and arguments; every row is
checked the same way, and the folder must be exactly as the row left it (no output file, no
temporary file, a FIFO still a FIFO). A new kind of bad input is one new row.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from fixtures.gguf_files import demo_with_template, gguf_with

BIN = Path(sys.executable).parent
DEEP_JSON = "[" * 100_000 + "]" * 100_000
ENDLESS_TEMPLATE = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"


@dataclass(frozen=True)
class Case:
    argv: list[str]  # the program (opencoder, opencoder-chat, opencoder-convert), then its arguments
    words: tuple[str, ...]  # what the one line must say
    stdin: str = ""
    config: str | None = None  # config.toml


class Workspace:
    """A fresh folder for one row, with helpers to build bad inputs in it."""

    def __init__(self, root: Path, ckpt: Path):
        self.dir = root / "work"
        self.dir.mkdir()
        self.out = self.dir / "out"
        self.out.mkdir()
        self._ckpt = ckpt

    def ckpt(self, **config_changes) -> Path:
        folder = Path(shutil.copytree(self._ckpt, self.dir / self._ckpt.name))
        if config_changes:
            config = json.loads((folder / "config.json").read_text())
            config.update(config_changes)
            (folder / "config.json").write_text(json.dumps(config))
        return folder

    def ckpt_with_header(self, **entry_changes) -> Path:
        """The checkpoint with one tensor's safetensors header entry changed."""
        folder = self.ckpt()
        shard = next(folder.glob("*.safetensors"))
        data = shard.read_bytes()
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n])
        first = next(name for name in header if name != "__metadata__")
        header[first].update(entry_changes)
        raw = json.dumps(header).encode()
        shard.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])
        return folder

    def file(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.write_text(text)
        return path

    def fifo(self) -> Path:
        path = self.dir / "fifo.gguf"
        os.mkfifo(path)
        return path

    def socket(self) -> Path:
        path = self.dir / "sock.gguf"
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(path))
        return path

    def char_device(self) -> Path:
        """A node like /dev/full (1, 7), made here so that no real device is ever at risk."""
        path = self.dir / "full.gguf"
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 7))
        except PermissionError:
            pytest.skip("making a device node needs root")
        return path

    def link_to(self, target: Path) -> Path:
        link = self.dir / "link.gguf"
        link.symlink_to(target)
        return link

    def gguf(self, **metadata) -> Path:
        return gguf_with(self.dir / "bad.gguf", **metadata)

    def demo_with_template(self, template: str) -> Path:
        return demo_with_template(self.dir / "template.gguf", template)


def convert(ckpt: Path, out: Path | str) -> list[str]:
    return ["opencoder-convert", str(ckpt), "--outtype", "f16", "-o", str(out)]


def chat(*args: str) -> list[str]:
    return ["opencoder-chat", *args, "-p", "hi"]


def model(path: Path) -> list[str]:
    return chat("--model", str(path))


def tokenize_chat(path: Path) -> list[str]:
    return ["opencoder", "tokenize", "--chat", str(path)]


ROWS: dict[str, Callable[[Workspace], Case]] = {
    # 1. user paths
    "model path with unknown ~user": lambda w: Case(chat("--model", "~nosuchuser/x.gguf"), ("nosuchuser",)),
    "config model with unknown ~user": lambda w: Case(chat(), ("nosuchuser",), config='model = "~nosuchuser/x.gguf"'),
    "config model with a NUL byte": lambda w: Case(chat(), ("NUL",), config='model = "a\\u0000b.gguf"'),
    "tokenize model with unknown ~user": lambda w: Case(
        ["opencoder", "tokenize", "--model", "~nosuchuser/x.gguf"], ("nosuchuser",), stdin="hi"),
    "tokenize chat file with unknown ~user": lambda w: Case(tokenize_chat(Path("~nosuchuser/c.json")), ("nosuchuser",)),
    "convert checkpoint with unknown ~user": lambda w: Case(convert(Path("~nosuchuser/ckpt"), w.out / "m.gguf"),
                                                            ("nosuchuser",)),
    "convert output with unknown ~user": lambda w: Case(convert(w.ckpt(), "~nosuchuser/m.gguf"), ("nosuchuser",)),
    # 2. only regular files are replaced, and the converter refuses before converting
    "convert onto a FIFO": lambda w: Case(convert(w.ckpt(), w.fifo()), ("named pipe",)),
    "convert onto a socket": lambda w: Case(convert(w.ckpt(), w.socket()), ("socket",)),
    "convert onto a folder": lambda w: Case(convert(w.ckpt(), w.out), ("folder",)),
    "convert onto a character device": lambda w: Case(convert(w.ckpt(), w.char_device()), ("character device",)),
    "convert onto a symlink to a FIFO": lambda w: Case(convert(w.ckpt(), w.link_to(w.fifo())), ("named pipe",)),
    # 3. untrusted JSON, configs, headers and GGUF metadata
    "tokenize a 100,000-deep chat file": lambda w: Case(tokenize_chat(w.file("deep.json", DEEP_JSON)),
                                                       ("nested too deeply",)),
    "tokenize a chat file with a lone surrogate": lambda w: Case(
        tokenize_chat(w.file("s.json", '[{"role": "user", "content": "\\ud800"}]')), ("not valid Unicode",)),
    "convert a 100,000-deep config.json": lambda w: Case(convert(_deep_config(w), w.out / "m.gguf"),
                                                        ("nested too deeply",)),
    "config num_attention_heads 0": lambda w: Case(convert(w.ckpt(num_attention_heads=0), w.out / "m.gguf"),
                                                  ("num_attention_heads",)),
    "config hidden_size true": lambda w: Case(convert(w.ckpt(hidden_size=True), w.out / "m.gguf"), ("hidden_size",)),
    "config vocab_size a string": lambda w: Case(convert(w.ckpt(vocab_size="96640"), w.out / "m.gguf"),
                                                ("vocab_size",)),
    "config num_hidden_layers 10**9": lambda w: Case(convert(w.ckpt(num_hidden_layers=10**9), w.out / "m.gguf"),
                                                    ("num_hidden_layers",)),
    "config rope_theta nan": lambda w: Case(convert(w.ckpt(rope_theta=float("nan")), w.out / "m.gguf"),
                                           ("rope_theta",)),
    "config eos_token_id past the vocabulary": lambda w: Case(convert(w.ckpt(eos_token_id=10**7), w.out / "m.gguf"),
                                                             ("eos_token_id",)),
    "safetensors shape 10**30": lambda w: Case(convert(w.ckpt_with_header(shape=[10**30, 10]), w.out / "m.gguf"),
                                               ("shape",)),
    "safetensors negative shape": lambda w: Case(convert(w.ckpt_with_header(shape=[-1, 10]), w.out / "m.gguf"),
                                                 ("shape",)),
    "safetensors offsets as strings": lambda w: Case(
        convert(w.ckpt_with_header(data_offsets=["0", "10"]), w.out / "m.gguf"), ("data_offsets",)),
    "safetensors offsets reversed": lambda w: Case(
        convert(w.ckpt_with_header(data_offsets=[10, 0]), w.out / "m.gguf"), ("data_offsets",)),
    "safetensors dtype a list": lambda w: Case(convert(w.ckpt_with_header(dtype=["BF16"]), w.out / "m.gguf"),
                                               ("dtype",)),
    "safetensors entry not an object": lambda w: Case(convert(_header_entry(w, [1, 2]), w.out / "m.gguf"),
                                                      ("header entry",)),
    "gguf context_length a string": lambda w: Case(model(w.gguf(llama__context_length=("string", "4096"))),
                                                   ("llama.context_length",)),
    "gguf alignment 0": lambda w: Case(model(w.gguf(general__alignment=("uint32", 0))), ("general.alignment",)),
    "gguf alignment not a power of two": lambda w: Case(model(w.gguf(general__alignment=("uint32", 48))),
                                                        ("general.alignment",)),
    "gguf block_count a float": lambda w: Case(model(w.gguf(llama__block_count=("float32", 2.5))),
                                               ("llama.block_count",)),
    "gguf head_count negative": lambda w: Case(model(w.gguf(llama__attention__head_count=("int32", -4))),
                                               ("head_count",)),
    "gguf file_type a string": lambda w: Case(model(w.gguf(general__file_type=("string", "q4"))),
                                              ("general.file_type",)),
    "gguf chat template a number": lambda w: Case(model(w.gguf(tokenizer__chat_template=("uint32", 7))),
                                                  ("tokenizer.chat_template",)),
    "gguf token list of numbers": lambda w: Case(model(w.gguf(tokenizer__ggml__tokens=("array", [1, 2]))),
                                                 ("tokenizer.ggml.tokens",)),
    "gguf token types shorter than tokens": lambda w: Case(
        model(w.gguf(tokenizer__ggml__tokens=("array", ["a", "b"]), tokenizer__ggml__token_type=("array", [1]))),
        ("token_type",)),
    "gguf bos id a string": lambda w: Case(model(w.gguf(tokenizer__ggml__bos_token_id=("string", "1"))),
                                           ("bos_token_id",)),
    "gguf nested arrays": lambda w: Case(model(w.gguf(general__tags=("array", [["a"], ["b"]]))), ("damaged",)),
    "gguf tokenized with a bad context_length": lambda w: Case(
        ["opencoder", "tokenize", "--model", str(w.gguf(llama__context_length=("int32", -1)))],
        ("llama.context_length",), stdin="hi"),
    # 4. chat templates
    "template with a syntax error": lambda w: Case(model(w.demo_with_template("{% for %}")), ("template is broken",)),
    "template that loops 10**10 times": lambda w: Case(model(w.demo_with_template(ENDLESS_TEMPLATE)),
                                                       ("took too long",)),
    "template multiplying a string by 10**10": lambda w: Case(
        model(w.demo_with_template("{{ 'x' * 10**10 }}")), ("too large",)),
    "template loop when tokenizing a chat": lambda w: Case(
        [*tokenize_chat(w.file("c.json", '[{"role": "user", "content": "hi"}]')),
         "--model", str(w.demo_with_template(ENDLESS_TEMPLATE))], ("took too long",)),
    # 5. numbers in flags and config.toml
    "--threads 0": lambda w: Case(chat("--threads", "0"), ("--threads",)),
    "--threads -3": lambda w: Case(chat("--threads", "-3"), ("--threads",)),
    "--threads 100000": lambda w: Case(chat("--threads", "100000"), ("--threads",)),
    "--temperature -1": lambda w: Case(chat("--temperature", "-1"), ("--temperature",)),
    "--temperature nan": lambda w: Case(chat("--temperature", "nan"), ("--temperature",)),
    "--temperature inf": lambda w: Case(chat("--temperature", "inf"), ("--temperature",)),
    "--temperature 1e308": lambda w: Case(chat("--temperature", "1e308"), ("--temperature",)),
    "--max-tokens 0": lambda w: Case(chat("--max-tokens", "0"), ("--max-tokens",)),
    "--max-tokens -5": lambda w: Case(chat("--max-tokens", "-5"), ("--max-tokens",)),
    "--ctx 0": lambda w: Case(chat("--ctx", "0"), ("--ctx",)),
    "--seed -1": lambda w: Case(chat("--seed", "-1"), ("--seed",)),
    "--seed 2**32": lambda w: Case(chat("--seed", str(2**32)), ("--seed",)),
    "--system not UTF-8": lambda w: Case(chat("--system", "\udcff"), ("--system", "UTF-8")),
    "config temperature nan": lambda w: Case(chat(), ("config.toml", "temperature"), config="temperature = nan"),
    "config temperature inf": lambda w: Case(chat(), ("config.toml", "temperature"), config="temperature = inf"),
    "config threads 0": lambda w: Case(chat(), ("config.toml", "threads"), config="threads = 0"),
    "config max_tokens -5": lambda w: Case(chat(), ("config.toml", "max_tokens"), config="max_tokens = -5"),
    "config 100,000-deep": lambda w: Case(chat(), ("nested too deeply",), config="x = " + "[" * 100_000 + "]" * 100_000),
}


# A template that loops is met only when the question is formatted, once the weights have loaded.
LOADS_THE_MODEL = {"template that loops 10**10 times"}


def _deep_config(w: Workspace) -> Path:
    folder = w.ckpt()
    (folder / "config.json").write_text(DEEP_JSON)
    return folder


def _header_entry(w: Workspace, entry) -> Path:
    folder = w.ckpt()
    shard = next(folder.glob("*.safetensors"))
    data = shard.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    raw = json.dumps({"bad": entry}).encode()
    shard.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])
    return folder


def _snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under `folder`: its type, size and modification time (symlinks not followed)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        found[str(path.relative_to(folder))] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns)
    return found


@pytest.mark.parametrize("build", [pytest.param(build, id=name, marks=[pytest.mark.model] if name in LOADS_THE_MODEL else [])
                                   for name, build in ROWS.items()])
def test_a_bad_input_is_one_line_and_changes_nothing(build, tmp_path, tiny_ckpt):
    work = Workspace(tmp_path, tiny_ckpt)
    case = build(work)
    home = tmp_path / "home"
    if case.config is not None:
        (home / "config").mkdir(parents=True)
        (home / "config" / "config.toml").write_text(case.config + "\n")
    before = _snapshot(work.dir)
    result = subprocess.run(
        [str(BIN / case.argv[0]), *case.argv[1:]],
        input=case.stdin, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OPENCODER_HOME": str(home)},
    )
    lines = result.stderr.splitlines()
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{case.argv[0]}: error: "), lines[0]
    for word in case.words:
        assert word in lines[0]
    assert _snapshot(work.dir) == before
