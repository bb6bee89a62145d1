import pytest

from opencoder_local.engine.llama_engine import EngineOptions, load_engine


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENCODER_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def demo():
    """The demo chat model, real weights through real llama.cpp."""
    return load_engine("demo", EngineOptions(n_ctx=4096))
