"""Model names, the install store and `opencoder pull --from-dir / models / rm`, through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.checkpoint import SMALL_1_5B, write_checkpoint
from fixtures.opencoder_tokenizer import ReferenceTokenizer
from opencoder_local.errors import UserError
from opencoder_local.models import catalog, installed, pull
from opencoder_local.models.catalog import ModelNameError, parse_target, recommend


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, opencoder_tokenizer_dir) -> Path:
    """A tiny OpenCoder-1.5B-Instruct checkpoint in the release layout, two shards."""
    n_tokens = ReferenceTokenizer(opencoder_tokenizer_dir).vocab_size
    folder = tmp_path_factory.mktemp("hub") / "OpenCoder-1.5B-Instruct"
    return write_checkpoint(folder, SMALL_1_5B, opencoder_tokenizer_dir, n_tokens, shards=2, seed=5)


def opencoder(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opencoder_local", *args], capture_output=True, text=True,
                          input=stdin, timeout=600, stdin=None if stdin is not None else subprocess.DEVNULL)


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr


@pytest.mark.parametrize(("name", "repo", "tag", "installed_as"), [
    ("opencoder-8b-instruct", "infly/OpenCoder-8B-Instruct", "q4_k_m", "opencoder-8b-instruct:q4_k_m"),
    ("OpenCoder-1.5B-Base:Q5_K_M", "infly/OpenCoder-1.5B-Base", "q5_k_m", "opencoder-1.5b-base:q5_k_m"),
    ("infly/OpenCoder-8B-Base:q8_0", "infly/OpenCoder-8B-Base", "q8_0", "opencoder-8b-base:q8_0"),
    ("someone/Some-GGUF:Q4_K_M", "someone/Some-GGUF", "Q4_K_M", "someone/Some-GGUF:q4_k_m"),
    ("someone/model", "someone/model", "q4_k_m", "someone/model:q4_k_m"),
])
def test_names_say_what_to_pull(name, repo, tag, installed_as):
    target = parse_target(name)
    assert (target.repo, target.tag, target.name) == (repo, tag, installed_as)


@pytest.mark.parametrize("name", ["opencoder-9b", "opencoder-8b-instruct:q3", "opencoder-8b-instruct:a b", "../x"])
def test_a_bad_name_is_one_line(name):
    with pytest.raises(ModelNameError) as caught:
        parse_target(name)
    assert "\n" not in str(caught.value) and repr(name) in str(caught.value)


def test_the_recommendation_follows_the_memory():
    gib = 2**30
    assert recommend(4 * gib).name == "opencoder-1.5b-instruct"
    assert recommend(16 * gib).name == "opencoder-8b-instruct"
    assert recommend(1 * gib).name == "opencoder-1.5b-instruct"  # the smallest when nothing fits
    big = catalog.find("opencoder-8b-instruct")
    assert 5.5e9 < big.memory_bytes() < 7e9 and 4.5e9 < big.disk_bytes() < 5e9 and 15e9 < big.download_bytes < 16.5e9


def test_pull_from_a_folder_installs_a_verified_model_that_chats_and_is_the_default(checkpoint):
    result = opencoder("pull", "opencoder-1.5b-instruct", "--from-dir", str(checkpoint))
    assert result.returncode == 0, result.stderr
    assert "installed opencoder-1.5b-instruct:q4_k_m" in result.stdout and "top-1 agreement" in result.stdout
    assert "\r" not in result.stdout  # no bars when stdout is not a terminal
    (model,) = installed.installed_models()
    assert model.manifest.quantization == "q4_k_m" and model.manifest.context == SMALL_1_5B.context
    assert model.manifest.source == str(checkpoint) and model.manifest.size == model.path.stat().st_size
    listing = opencoder("models").stdout
    assert "opencoder-1.5b-instruct:q4_k_m" in listing and str(checkpoint) in listing
    # The exact tokenizer of the checkpoint, through the installed name and the default model alike.
    ids = json.loads(opencoder("tokenize", "-m", "opencoder-1.5b-instruct", stdin="def f(x):\n    return x\n").stdout)
    assert ids == ReferenceTokenizer(checkpoint).encode("def f(x):\n    return x\n")
    assert json.loads(opencoder("tokenize", stdin="def f(x):\n    return x\n").stdout) == ids
    answer = subprocess.run([sys.executable, "-m", "opencoder_local", "chat", "-p", "hi", "--max-tokens", "4"],
                            capture_output=True, text=True, timeout=300)
    assert answer.returncode == 0 and answer.stdout.strip(), answer.stderr
    again = opencoder("pull", "opencoder-1.5b-instruct", "--from-dir", str(checkpoint))
    assert again.returncode == 0 and "already installed" in again.stdout


def test_rm_asks_first_and_frees_the_space(checkpoint):
    assert opencoder("pull", "opencoder-1.5b-instruct:q8_0", "--from-dir", str(checkpoint)).returncode == 0
    one_line_error(opencoder("rm", "opencoder-1.5b-instruct:q8_0"), "--yes")
    one_line_error(opencoder("rm", "opencoder-8b-instruct"), "opencoder-8b-instruct")
    kept = opencoder("rm", "opencoder-1.5b-instruct:q8_0", stdin="n\n")
    assert kept.returncode != 0 or "kept" in kept.stdout  # stdin is a pipe: refused without --yes
    assert installed.installed_models()
    removed = opencoder("rm", "opencoder-1.5b-instruct", "--yes")  # the only build of that name
    assert removed.returncode == 0 and "freed" in removed.stdout, removed.stderr
    assert installed.installed_models() == []
    assert not any(p for p in (Path(os.environ["OPENCODER_HOME"]) / "data" / "models").iterdir())


def test_without_any_model_a_question_says_how_to_get_one():
    one_line_error(opencoder("chat", "-p", "hi"), "opencoder pull", "--model demo")


def test_a_model_that_is_not_installed_says_how_to_pull_it(monkeypatch):
    one_line_error(opencoder("chat", "-p", "hi", "--model", "opencoder-8b-instruct"),
                   "not installed", "opencoder pull opencoder-8b-instruct")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    one_line_error(opencoder("chat", "-p", "hi", "--model", "opencoder-8b-instruct"), "--from-dir", ".gguf")
    one_line_error(opencoder("pull", "opencoder-8b-instruct"), "offline", "--from-dir")


def test_a_failed_verification_installs_nothing(checkpoint, monkeypatch):
    from opencoder_convert import verify

    class Failed:
        passed = False

        def failure(self):
            return "top-1 agreement 0.01"

        def summary(self):
            return "failed"

    monkeypatch.setattr(verify, "verify", lambda *a, **k: Failed())
    with pytest.raises(UserError, match="not installed: top-1 agreement 0.01"):
        pull.pull_from_dir("opencoder-1.5b-instruct", str(checkpoint))
    store = Path(os.environ["OPENCODER_HOME"]) / "data" / "models"
    assert installed.installed_models() == [] and list(store.iterdir()) == []


def test_what_a_killed_pull_left_behind_is_swept_and_never_listed(checkpoint):
    child = subprocess.Popen([sys.executable, "-c", (
        "import os\n"
        "from opencoder_local.models import installed\n"
        "with installed.incoming('opencoder-1.5b-instruct:q4_k_m') as folder:\n"
        "    (folder / 'model.gguf').write_bytes(b'GGUF half')\n"
        "    print(folder, flush=True)\n"
        "    os.kill(os.getpid(), 9)\n")], stdout=subprocess.PIPE, text=True)
    left = Path(child.stdout.readline().strip())
    child.wait()
    assert left.is_dir() and installed.installed_models() == []
    assert opencoder("models").stdout.count("opencoder-1.5b-instruct:") == 0
    assert opencoder("pull", "opencoder-1.5b-instruct", "--from-dir", str(checkpoint)).returncode == 0
    assert not left.exists() and len(installed.installed_models()) == 1


def test_a_reinstall_replaces_the_model_in_one_step(checkpoint):
    assert opencoder("pull", "opencoder-1.5b-instruct", "--from-dir", str(checkpoint)).returncode == 0
    (before,) = installed.installed_models()
    again = opencoder("pull", "opencoder-1.5b-instruct", "--from-dir", str(checkpoint), "--force")
    assert again.returncode == 0, again.stderr
    (after,) = installed.installed_models()
    assert after.path == before.path and after.manifest.installed >= before.manifest.installed
    store = Path(os.environ["OPENCODER_HOME"]) / "data" / "models"
    assert [p.name for p in store.iterdir()] == [after.folder.name]


def test_from_dir_with_a_missing_folder_is_one_line(tmp_path):
    one_line_error(opencoder("pull", "opencoder-1.5b-instruct", "--from-dir", str(tmp_path / "nowhere")),
                   "no such folder")


def test_the_status_bar_names_an_installed_model_by_its_name(checkpoint):
    from opencoder_local.models.registry import open_model

    assert opencoder("pull", "opencoder-1.5b-instruct:q8_0", "--from-dir", str(checkpoint)).returncode == 0
    engine = open_model("opencoder-1.5b-instruct")
    try:
        assert (engine.model_name, engine.quantization) == ("opencoder-1.5b-instruct", "Q8_0")
    finally:
        engine.close()
