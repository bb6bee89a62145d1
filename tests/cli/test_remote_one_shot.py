"""One-shot answers from a model on llama-server (--model http://...): the local engine's greedy text,
files in context, one line and a non-zero exit for each failure, and an API key that is never shown."""

from __future__ import annotations

import os
import subprocess
import sys

from fixtures.llama_server import free_port
from opencoder_local import locations

QUESTION = "Write a Python function that checks whether a number is prime."


def chat(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opencoder_local", "chat", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_the_same_greedy_answer_as_the_local_model(llama_server):
    local = chat("--model", "demo", "-p", QUESTION, "--max-tokens", "60")
    served = chat("--model", llama_server.url, "-p", QUESTION, "--max-tokens", "60")
    assert local.returncode == 0 and served.returncode == 0, local.stderr + served.stderr
    assert served.stdout == local.stdout and "def " in served.stdout


def test_files_in_context_and_the_exact_prompt(llama_server, tmp_path):
    (tmp_path / "primes.py").write_text("def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, n))\n")
    args = ("-p", "What does is_prime do?", "-f", "primes.py", "--project", str(tmp_path))
    local = chat("--model", "demo", *args, "--show-prompt")
    served = chat("--model", llama_server.url + "/v1/", *args, "--show-prompt")
    assert served.returncode == 0, served.stderr
    assert served.stdout == local.stdout and "def is_prime" in served.stdout
    answered = chat("--model", llama_server.url, *args, "--max-tokens", "20")
    assert answered.returncode == 0 and answered.stdout.strip(), answered.stderr


def test_apply_writes_the_servers_answer(llama_server, tmp_path):
    from opencoder_local.context.code_blocks import code_blocks

    hello = 'def greet(name):\n    return "Hello " + name\n'
    (tmp_path / "hello.py").write_text(hello)
    result = subprocess.run([sys.executable, "-m", "opencoder_local", "chat", "--model", llama_server.url,
                             "--max-tokens", "150", "-p", "Rewrite the greet function in hello.py so it uses an f-string.",
                             "-f", "hello.py", "--apply", "--yes"], capture_output=True, text=True, env=os.environ,
                            timeout=600, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    [block] = [b.code for b in code_blocks(result.stderr)]  # the answer streams to stderr with --apply
    assert (tmp_path / "hello.py").read_text() == block != hello
    assert result.stdout.startswith("--- a/hello.py\n+++ b/hello.py\n@@ ") and "wrote hello.py" in result.stderr


def test_each_failure_is_one_line():
    nobody = f"http://127.0.0.1:{free_port()}"
    assert "cannot reach the server at " + nobody in one_line(chat("--model", nobody, "-p", "Hi"))
    assert "not a server address" in one_line(chat("--model", "http://", "-p", "Hi"))
    assert "--tokenizer goes with a model on a server" in one_line(chat("--model", "demo", "--tokenizer", "demo",
                                                                        "-p", "Hi"))


def test_a_model_the_server_does_not_have_and_a_window_too_big(llama_server):
    config = locations.config_path()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[endpoints.box]\nurl = "{llama_server.url}"\nmodel = "opencoder-8b-instruct"\n')
    assert "does not serve 'opencoder-8b-instruct'" in one_line(chat("--model", "box", "-p", "Hi"))
    config.unlink()  # (a URL that a configured endpoint has takes that endpoint's settings)
    assert "at most the server's 4,096-token window" in one_line(
        chat("--model", llama_server.url, "--ctx", "8192", "-p", "Hi"))


def test_a_server_killed_mid_answer_leaves_the_partial_answer_and_one_line(start_llama_server):
    server = start_llama_server()
    child = subprocess.Popen([sys.executable, "-m", "opencoder_local", "chat", "--model", server.url, "-p",
                              "Write a very long essay about the history of computers.", "--max-tokens", "3000"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)
    first = child.stdout.read(40)  # some of the answer has arrived
    server.stop(kill=True)
    rest, err = child.communicate(timeout=120)
    assert child.returncode == 1 and first.strip()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert server.url in err and "cut short" in err
    assert (first + rest).endswith("\n")


def test_an_api_key_from_the_environment_is_used_and_never_shown(start_llama_server):
    key = "sk-test-0123456789abcdef"
    server = start_llama_server(extra=("--api-key", key))
    config = locations.config_path()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[endpoints.box]\nurl = "{server.url}"\napi_key_env = "BOX_KEY"\n')
    answered = chat("--model", "box", "-p", "Hi", "--max-tokens", "8", env={"BOX_KEY": key})
    assert answered.returncode == 0, answered.stderr
    refused = chat("--model", "box", "-p", "Hi", env={"BOX_KEY": key[:-1]})
    assert "check the key in BOX_KEY" in one_line(refused)
    unset = chat("--model", "box", "-p", "Hi", env={"BOX_KEY": ""})
    assert "BOX_KEY is not set" in one_line(unset)
    for result in (answered, refused, unset):
        assert key[:12] not in result.stdout + result.stderr
    config.write_text(f'[endpoints.box]\nurl = "{server.url}"\napi_key = "{key}"\n')
    assert "does not belong in a file" in one_line(chat("--model", "box", "-p", "Hi"))


def test_endpoints_in_the_config_are_checked_and_found(tmp_path):
    import pytest

    from opencoder_local.errors import UserError
    from opencoder_local.settings import endpoint_for, load_config

    config = tmp_path / "config.toml"
    config.write_text('[endpoints.box]\nurl = "http://10.0.0.5:8080/v1/"\napi_key_env = "BOX_KEY"\ntimeout = 20\n')
    settings = load_config(config)
    box = endpoint_for(settings.with_overrides(model="box"))
    assert (box.url, box.api_key_env, box.timeout) == ("http://10.0.0.5:8080", "BOX_KEY", 20.0)
    assert endpoint_for(settings.with_overrides(model="http://10.0.0.5:8080")) == box  # its URL finds it
    assert endpoint_for(settings.with_overrides(model="http://10.0.0.6:8080")).api_key_env is None
    assert endpoint_for(settings.with_overrides(model="demo")) is None
    for table, words in [('[endpoints.box]\nmodel = "x"\n', "needs url"),
                         ('[endpoints.box]\nurl = "http://h:1"\nport = 2\n', r"unknown setting\(s\) port"),
                         ('[endpoints.box]\nurl = "http://h:1"\ntimeout = 0\n', "timeout must be a number"),
                         ('[endpoints.box]\nurl = "http://h:1"\napi_key_env = "not a name"\n', "api_key_env must"),
                         ('[endpoints.box]\nurl = "ftp://h:1"\n', "not a server address"),
                         ('endpoints = 3\n', "endpoints must be tables")]:
        config.write_text(table)
        with pytest.raises(UserError, match=words):
            load_config(config)
