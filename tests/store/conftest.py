import pytest


@pytest.fixture(autouse=True)
def opencoder_home(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENCODER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
