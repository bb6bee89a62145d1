"""The one-shot CLI as a script would use it, and one clear line for every bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import gguf
import pytest

from opencoder_local.models.registry import demo_path


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENCODER_HOME", str(tmp_path / "home"))


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from opencoder_local.cli import chat_main; sys.exit(chat_main())", *args],
        input=stdin, capture_output=True, text=True, env=os.environ, timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]


def test_one_shot_answers_with_code():
    result = run("--model", "demo", "-p", "Write a Python function that reverses a string")
    assert result.returncode == 0, result.stderr
    assert "def " in result.stdout and "```" in result.stdout


def test_question_on_stdin_with_flags():
    result = run("--model", "demo", "--max-tokens", "5", "--temperature", "0.7", "--seed", "3",
                 "--system", "Answer briefly.", stdin="What is a list in Python?")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def _write_gguf(path: Path, arch: str) -> Path:
    writer = gguf.GGUFWriter(str(path), arch)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    return path


def test_bad_inputs_give_one_line_each(tmp_path):
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("just text")
    truncated = tmp_path / "cut.gguf"
    with demo_path().open("rb") as src:
        truncated.write_bytes(src.read(40_000_000))
    header_cut = tmp_path / "header.gguf"
    header_cut.write_bytes(truncated.read_bytes()[:5000])
    cases = [
        (str(tmp_path / "missing.gguf"), ["not found"]),
        (str(not_gguf), ["not a GGUF"]),
        (str(truncated), ["truncated"]),
        (str(header_cut), ["truncated"]),
        (str(_write_gguf(tmp_path / "foo.gguf", "foo")), ["unsupported architecture", "foo"]),
        (str(_write_gguf(tmp_path / "empty-llama.gguf", "llama")), ["could not load"]),
        ("no-such-model", ["unknown model", "demo"]),
    ]
    for model, words in cases:
        assert_one_line_error(run("--model", model, "-p", "hi"), *words)


def test_context_overflow_and_bad_ctx_are_one_line():
    assert_one_line_error(run("--model", "demo", "--ctx", "32", "-p", "word " * 100), "context window")
    assert_one_line_error(run("--model", "demo", "--ctx", "999999", "-p", "hi"), "--ctx")


def test_bad_chat_file_for_tokenize(tmp_path):
    bad = tmp_path / "chat.json"
    bad.write_text('{"role": "user"}')
    result = subprocess.run(
        [sys.executable, "-m", "opencoder_local", "tokenize", "--chat", str(bad)],
        capture_output=True, text=True,
    )
    assert_one_line_error(result, "JSON list")


def test_models_lists_the_demo():
    result = subprocess.run([sys.executable, "-m", "opencoder_local", "models"], capture_output=True, text=True)
    assert result.returncode == 0
    installed = result.stdout.split("\n\n")[0].splitlines()
    assert installed[0].startswith("Installed") and any(line.startswith("demo ") for line in installed)


def test_ctrl_c_while_streaming_is_one_line_and_exit_130():
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from opencoder_local.cli import chat_main; sys.exit(chat_main())",
         "--model", "demo", "--max-tokens", "2000", "-p", "Write a very long Python tutorial."],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout.read(20)  # it is streaming
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip() == "opencoder-chat: interrupted"


def test_ctrl_c_before_the_first_token_is_one_line_and_exit_130():
    """SIGINT while a ~7,000-token prompt is evaluated: it lands in llama.cpp's abort callback."""
    import signal
    import time

    prompt = "Summarise this log:\n" + "\n".join(f"line {i}: request served in {i % 97} ms" for i in range(500))
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from opencoder_local.cli import chat_main; sys.exit(chat_main())",
         "--model", "demo", "--max-tokens", "50", "-p", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    proc.stdin.write(prompt)
    proc.stdin.close()
    proc.stdin = None  # written: communicate() must not flush it
    time.sleep(2.5)  # past loading, inside the prompt (which takes several seconds here)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip() == "opencoder-chat: interrupted"


def test_non_utf8_stdin_is_one_line():
    for data in (b"hi \xff\xfe there", b"\x7fELF\x02\x01\x01\x00\x00\xb0"):
        result = subprocess.run(
            [sys.executable, "-c", "import sys; from opencoder_local.cli import chat_main; sys.exit(chat_main())",
             "--model", "demo", "-p", "-"],
            input=data, capture_output=True, timeout=120,
        )
        assert result.returncode == 1 and b"Traceback" not in result.stderr
        assert result.stderr.decode().count("\n") == 1 and "standard input" in result.stderr.decode()
    result = subprocess.run([sys.executable, "-m", "opencoder_local", "tokenize", "-m", "demo"], input=b"\xff",
                            capture_output=True)
    assert result.returncode == 1 and b"not UTF-8" in result.stderr and b"Traceback" not in result.stderr


def test_control_characters_on_stdin_are_text():
    """A NUL is a character like any other for a tokenizer; only bytes that are not UTF-8 are refused."""
    tokenize = [sys.executable, "-m", "opencoder_local", "tokenize", "-m", "demo"]
    with_nul = subprocess.run(tokenize, input="a\x00b\x07c".encode(), capture_output=True, text=False)
    without = subprocess.run(tokenize, input=b"abc", capture_output=True)
    assert with_nul.returncode == 0, with_nul.stderr
    assert len(json.loads(with_nul.stdout)) > len(json.loads(without.stdout))
    shown = subprocess.run([sys.executable, "-m", "opencoder_local", "chat", "--model", "demo", "-p", "-",
                            "--show-prompt"], input="x\x00y".encode(), capture_output=True)
    assert shown.returncode == 0 and b"x\x00y" in shown.stdout


def test_config_values_of_the_wrong_type_are_one_line(tmp_path):
    config = Path(os.environ["OPENCODER_HOME"]) / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    for line, word in (('temperature = "hot"', "temperature"), ('ctx = "4096"', "ctx"), ("model = 5", "model"),
                       ("seed = true", "seed")):
        config.write_text(line + "\n")
        assert_one_line_error(run("-p", "hi"), "config.toml", word)
    config.write_text("temperature = 0\nmax_tokens = 3\n")
    assert run("--model", "demo", "-p", "hi").returncode == 0


def test_models_skips_a_broken_link_in_the_store():
    store = Path(os.environ["OPENCODER_HOME"]) / "data" / "models"
    store.mkdir(parents=True)
    (store / "gone.gguf").symlink_to(store / "nowhere.gguf")
    result = subprocess.run([sys.executable, "-m", "opencoder_local", "models"], capture_output=True, text=True)
    assert result.returncode == 0 and "gone" not in result.stdout and "Traceback" not in result.stderr


def test_lookup_is_a_switch_on_the_command_line_and_in_the_config(tmp_path):
    (tmp_path / "scale.py").write_text("".join(f"def scale_{i}(v):\n    return v * {i}\n\n" for i in range(20)))
    result = run("--model", "demo", "--lookup", "off", "--max-tokens", "40", "--project", str(tmp_path),
                 "-f", "scale.py", "-p", "Repeat the file.")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    config = Path(os.environ["OPENCODER_HOME"]) / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('lookup = "yes"\n')
    assert_one_line_error(run("-p", "hi"), "config.toml", "lookup", "true or false")
    config.write_text("lookup = false\n")
    assert run("--model", "demo", "--max-tokens", "3", "-p", "hi").returncode == 0


def test_the_lookup_setting_reaches_the_engine():
    from opencoder_local.settings import ChatSettings, engine_options

    assert engine_options(ChatSettings()).lookup is True  # on by default: greedy answers draft
    assert engine_options(ChatSettings(lookup=False)).lookup is False
