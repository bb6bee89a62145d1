import pytest

from opencoder_local.engine import EngineOptions
from opencoder_local.models.registry import open_model


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENCODER_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def demo():
    """The demo chat model, real weights through real llama.cpp."""
    return open_model("demo", EngineOptions(n_ctx=4096), isolated=False)
