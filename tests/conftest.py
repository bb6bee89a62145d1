"""Session-wide fixtures shared by every test package (the `fixtures` package is on pythonpath)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from fixtures.checkpoint import SMALL_8B, write_checkpoint
from fixtures.hub_server import HubServer
from fixtures.opencoder_tokenizer import ReferenceTokenizer, write_llamacpp_style_vocab_gguf, write_tokenizer


# The `model` marker: tests that load model weights through llama.cpp (the demo model, a converted or
# pulled checkpoint run by the engine) or build or start llama-server. `pytest -m "not model"` runs the
# rest in a minute or two; CI runs everything. A test is marked by a fixture it uses, by its module
# (where most of a module loads weights), or by its own @pytest.mark.model.
MODEL_FIXTURES = frozenset({"demo", "child", "demo_engine", "demo_app", "llama_server", "llama_server_binary",
                            "start_llama_server", "real_ckpt", "convert"})
MODEL_MODULES = frozenset({
    "cli/test_cli.py", "cli/test_one_shot_apply.py", "cli/test_remote_one_shot.py",
    "convert/test_engine_on_converted.py", "convert/test_llamacpp_agreement.py", "convert/test_real_weights.py",
    "engine/test_generation.py", "engine/test_lookup_costs.py", "engine/test_lookup_generation.py",
    "engine/test_process.py", "engine/test_remote.py",
    "models/test_install.py", "models/test_offline.py", "models/test_pull.py",
    "reliability/test_app_faults.py", "reliability/test_terminal.py",
    "tui/test_first_run.py", "tui/test_kill_while_streaming.py", "tui/test_lookup_chat.py",
    "tui/test_model_loading.py", "tui/test_model_process.py",
})
_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.relative_to(_TESTS).as_posix() if item.path.is_relative_to(_TESTS) else ""
        if module in MODEL_MODULES or MODEL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(autouse=True)
def opencoder_home(tmp_path, monkeypatch):
    """No test touches a real home: each gets its own OPENCODER_HOME and working folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("OPENCODER_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def anyio_backend():
    """Async tests (marked anyio in each module) run on asyncio through anyio's pytest plugin."""
    return "asyncio"


@pytest.fixture(scope="session")
def opencoder_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OpenCoder-style Instruct tokenizer release files (trained once per session)."""
    return write_tokenizer(tmp_path_factory.mktemp("opencoder_tokenizer"))


@pytest.fixture(scope="session")
def reference_tokenizer(opencoder_tokenizer_dir: Path) -> ReferenceTokenizer:
    return ReferenceTokenizer(opencoder_tokenizer_dir)


@pytest.fixture(scope="session")
def llamacpp_vocab_gguf(opencoder_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vocab-only GGUF as llama.cpp's own converter writes it (no add_space_prefix key)."""
    out = tmp_path_factory.mktemp("llamacpp_vocab") / "opencoder-vocab.gguf"
    padded = ReferenceTokenizer(opencoder_tokenizer_dir).vocab_size + 99
    return write_llamacpp_style_vocab_gguf(opencoder_tokenizer_dir, out, padded_vocab=padded)


@pytest.fixture(scope="session")
def hub_checkpoint(tmp_path_factory, opencoder_tokenizer_dir: Path, reference_tokenizer: ReferenceTokenizer) -> Path:
    """Config, tokenizer files, three safetensors shards and their index, as the release lays them out."""
    return write_checkpoint(tmp_path_factory.mktemp("hub") / "OpenCoder-8B-Instruct-tiny", SMALL_8B,
                            opencoder_tokenizer_dir, reference_tokenizer.vocab_size, shards=3, seed=4)


@pytest.fixture
def hub(monkeypatch) -> Iterator[HubServer]:
    """A started stand-in (add repos with hub.add_repo); HF_ENDPOINT points at it, offline mode and token unset."""
    with HubServer() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield server


@pytest.fixture(scope="session")
def llama_server_binary() -> Path:
    """llama.cpp's llama-server, built once from the pinned sdist's sources and cached (fixtures/llama_server.py).

    A failed build fails every test that needs it: nothing is skipped."""
    from fixtures.llama_server import ensure_built

    return ensure_built()


@pytest.fixture(scope="session")
def llama_server(llama_server_binary, tmp_path_factory):
    """llama-server on the demo model, shared by the session (one 4096-token slot); every prompt it
    receives is written, as the JSON it got, to a file in `llama_server.prompts`."""
    from fixtures.llama_server import LlamaServer
    from opencoder_local.models.registry import demo_path

    prompts = tmp_path_factory.mktemp("llama_server_prompts")
    server = LlamaServer(demo_path(), extra=("--log-prompts-dir", str(prompts)))
    server.prompts = prompts
    with server:
        yield server


@pytest.fixture
def start_llama_server(llama_server_binary):
    """Start a llama-server of the test's own (to stop or kill): start_llama_server(**LlamaServer kwargs)."""
    from fixtures.llama_server import LlamaServer
    from opencoder_local.models.registry import demo_path

    started = []

    def start(**kwargs):
        server = LlamaServer(kwargs.pop("model", demo_path()), **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
