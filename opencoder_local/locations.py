"""Every path the app uses, rooted at OPENCODER_HOME when it is set (tests always set it)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "OPENCODER_HOME"


def _platform_dir(kind: str) -> Path:
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "opencoder"
    if os.name == "nt":
        return Path(os.environ.get("APPDATA", home)) / "opencoder"
    xdg = {"data": "XDG_DATA_HOME", "config": "XDG_CONFIG_HOME"}[kind]
    default = {"data": home / ".local" / "share", "config": home / ".config"}[kind]
    return Path(os.environ.get(xdg) or default) / "opencoder"


def _root(kind: str) -> Path:
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override) / kind
    return _platform_dir(kind)


def data_dir() -> Path:
    """Conversations, models: things the user would miss."""
    return _root("data")


def config_dir() -> Path:
    return _root("config")


def models_dir() -> Path:
    """Installed models: one folder each (GGUF + manifest), and GGUF files put here by hand."""
    return data_dir() / "models"


def downloads_dir() -> Path:
    """Checkpoints being pulled: partial files wait here to be resumed."""
    return data_dir() / "downloads"


def lookup_costs_path() -> Path:
    """Prompt lookup's measured batch costs, one table per model file and thread count."""
    return data_dir() / "lookup_costs.json"


def kv_cache_dir() -> Path:
    """Saved model states (the prefix cache on disk): one file per prompt prefix, within a size cap."""
    return data_dir() / "kv_cache"


def database_path() -> Path:
    return data_dir() / "conversations.sqlite3"


def config_path() -> Path:
    return config_dir() / "config.toml"
