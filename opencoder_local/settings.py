"""Chat settings: defaults, then the user's TOML config file, then command-line flags."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from opencoder_local import locations
from opencoder_local.documents import read_toml
from opencoder_local.engine import Engine, EngineOptions, GenParams
from opencoder_local.engine.endpoint import Endpoint, find_endpoint, normal_url
from opencoder_local.errors import UserError
from opencoder_local.files import user_path

if TYPE_CHECKING:
    from opencoder_local.engine.gguf_file import GGUFFile


@dataclass(frozen=True)
class ChatSettings:
    model: str | None = None  # None: the one installed model, else the first-run screen
    ctx: int | None = None
    system: str | None = None
    temperature: float = 0.0
    max_tokens: int | None = None
    seed: int | None = None
    threads: int | None = None
    theme: str | None = None
    exact_tokenizer: bool | None = None
    lookup: bool = True  # prompt lookup for greedy answers: faster copies, batch arithmetic (README)
    continue_last: bool = False
    project: str | None = None  # --project DIR: the folder the working set's paths are relative to
    tokenizer: str | None = None  # for a model on a server: the local GGUF whose vocabulary it uses
    map_tokens: int | None = None  # the project map's budget: None an eighth of the window (256-1,024), 0 off
    test_command: str | None = None  # /test and the loop: None is .opencoder.toml's, else detected (loop/test_command.py)
    command_timeout: float = 600.0  # seconds a /run or /test command may run before its group is stopped
    endpoints: tuple[Endpoint, ...] = ()  # config.toml's [endpoints.NAME] tables: servers --model can name
    rounds: int = 3  # how many times /test's fix asks the model before it gives up
    trust_typed_commands: bool = False  # /run and !COMMAND run without asking (never the model's commands)
    kv_cache_gb: float = 4.0  # the saved model states (a conversation resumed without re-reading it): cap, 0 off

    def with_overrides(self, **values) -> "ChatSettings":
        """Apply flags that were given (None means: not given on the command line)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


@dataclass(frozen=True)
class _Rule:
    kinds: tuple[type, ...]
    must: str  # "<setting> must be ..."
    ok: Callable[[Any], bool] = lambda _value: True


_MAX_THREADS = 4 * (os.cpu_count() or 1)
_MAX_TEMPERATURE = 100  # far past any useful value
_MAX_SEED = 2**32 - 2  # llama.cpp takes a uint32 seed and reads 0xFFFFFFFF as "random"

def _is_text(value: str) -> bool:
    """Not a lone surrogate, as a non-UTF-8 byte in a command-line argument becomes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_TEXT = _Rule((str,), "UTF-8 text", _is_text)

# Every value that reaches ChatSettings, from config.toml or a flag, passes these.
_RULES: dict[str, _Rule] = {
    "model": _TEXT,
    "ctx": _Rule((int,), "a whole number of tokens, at least 1", lambda v: v >= 1),
    "system": _TEXT,
    "temperature": _Rule((int, float), f"a number from 0 (greedy) to {_MAX_TEMPERATURE}",
                         lambda v: math.isfinite(v) and 0 <= v <= _MAX_TEMPERATURE),
    "max_tokens": _Rule((int,), "a whole number of tokens, at least 1", lambda v: v >= 1),
    "seed": _Rule((int,), f"a whole number from 0 to {_MAX_SEED}", lambda v: 0 <= v <= _MAX_SEED),
    "threads": _Rule((int,), f"a whole number from 1 to {_MAX_THREADS}", lambda v: 1 <= v <= _MAX_THREADS),
    "theme": _TEXT,
    "exact_tokenizer": _Rule((bool,), "true or false"),
    "lookup": _Rule((bool,), "true or false"),
    "tokenizer": _TEXT,
    "map_tokens": _Rule((int,), "a whole number of tokens, 0 (no map) or more", lambda v: v >= 0),
    "test_command": _Rule((str,), "the command as text", lambda v: _is_text(v) and bool(v.strip())),
    "command_timeout": _Rule((int, float), "a number of seconds above 0", lambda v: math.isfinite(v) and v > 0),
    "rounds": _Rule((int,), "a whole number from 1 to 20", lambda v: 1 <= v <= 20),
    "trust_typed_commands": _Rule((bool,), "true or false"),
    "kv_cache_gb": _Rule((int, float), "a number of gigabytes, 0 (off) or more", lambda v: math.isfinite(v) and v >= 0),
}
assert set(_RULES) == {f.name for f in fields(ChatSettings)} - {"continue_last", "project", "endpoints"}

# config.toml's [endpoints.NAME] tables: a server's address and how to talk to it.
_ENDPOINT_RULES: dict[str, _Rule] = {
    "url": _TEXT,
    "model": _TEXT,
    "api_key_env": _Rule((str,), "the name of an environment variable", lambda v: v.isidentifier()),
    "tokenizer": _TEXT,
    "timeout": _Rule((int, float), "a number of seconds above 0", lambda v: math.isfinite(v) and v > 0),
}
_FLAGS = {"exact_tokenizer": "--opencoder-tokenizer"}


def check_values(values: dict[str, Any], name: Callable[[str], str]) -> None:
    """Refuse, in one line naming the setting, a value of the wrong type or out of range."""
    for key, value in values.items():
        rule = _RULES.get(key)
        if rule is None or value is None:
            continue
        # bool is an int in Python; only the switches take one.
        right_type = isinstance(value, rule.kinds) and (bool in rule.kinds or not isinstance(value, bool))
        if not right_type or not rule.ok(value):
            raise UserError(f"{name(key)} must be {rule.must}, not {value!r}")


def apply_flags(settings: ChatSettings, **flags: Any) -> ChatSettings:
    """Settings with the command-line flags that were given (None: not given) checked and applied."""
    check_values(flags, lambda key: _FLAGS.get(key, "--" + key.replace("_", "-")))
    return settings.with_overrides(**flags)


def load_config(path: Path | None = None) -> ChatSettings:
    """Defaults overlaid with the config file, if there is one; a bad file is one clear error."""
    path = path or locations.config_path()
    if not path.is_file():
        return ChatSettings()
    data = read_toml(path)
    endpoints = _endpoints(path, data.pop("endpoints", {}))
    unknown = sorted(set(data) - set(_RULES))
    if unknown:
        known = ", ".join([*_RULES, "endpoints"])
        raise UserError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {known}")
    check_values(data, lambda key: f"{path}: {key}")
    for key in ("temperature", "command_timeout", "kv_cache_gb"):
        if key in data:
            data[key] = float(data[key])
    return ChatSettings(endpoints=endpoints).with_overrides(**data)


def _endpoints(path: Path, tables: Any) -> tuple[Endpoint, ...]:
    """[endpoints.NAME] tables -> Endpoints; an API key itself is refused (only its variable's name is kept)."""
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise UserError(f"{path}: endpoints must be tables: [endpoints.NAME] with url = \"http://HOST:PORT\"")
    endpoints = []
    for name, table in tables.items():
        where = f"{path}: endpoints.{name}"
        if "api_key" in table:
            raise UserError(f"{where}: an API key does not belong in a file; put it in an environment "
                            "variable and name the variable with api_key_env")
        unknown = sorted(set(table) - set(_ENDPOINT_RULES))
        if unknown:
            raise UserError(f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(_ENDPOINT_RULES)}")
        if "url" not in table:
            raise UserError(f"{where}: needs url = \"http://HOST:PORT\"")
        for key, value in table.items():
            rule = _ENDPOINT_RULES[key]
            if not isinstance(value, rule.kinds) or isinstance(value, bool) or not rule.ok(value):
                raise UserError(f"{where}.{key} must be {rule.must}, not {value!r}")
        fields_ = {**table, "url": normal_url(table["url"]), "name": name}
        if "timeout" in fields_:
            fields_["timeout"] = float(fields_["timeout"])
        endpoints.append(Endpoint(**fields_))
    return tuple(endpoints)


def endpoint_for(settings: ChatSettings) -> Endpoint | None:
    """The server the settings' model names (a URL or a configured endpoint), or None: a local model."""
    return find_endpoint(settings.model, settings.endpoints)


def open_chat_engine(settings: ChatSettings, *, isolated: bool, checked: GGUFFile | None = None,
                     stop_loading: Callable[[], bool] | None = None) -> Engine:
    """The engine these settings ask for: the one place the CLI and the app get one. A server the
    model names is asked what it serves before this returns; a local model (`checked`, if the caller
    has already checked its file) loads in a process of its own when `isolated` (the app), else here."""
    from opencoder_local.models.registry import open_model

    return open_model(endpoint_for(settings) or checked or settings.model, engine_options(settings),
                      isolated=isolated, tokenizer=settings.tokenizer, stop_loading=stop_loading)


def api_key_names(settings: ChatSettings) -> tuple[str, ...]:
    """The environment variables that hold the configured endpoints' API keys: a command the app runs never sees them."""
    return tuple(sorted({endpoint.api_key_env for endpoint in settings.endpoints if endpoint.api_key_env}))


def gen_params(settings: ChatSettings) -> GenParams:
    return GenParams(temperature=settings.temperature, max_tokens=settings.max_tokens, seed=settings.seed)


def project_folder(settings: ChatSettings) -> Path:
    """The project folder: `--project DIR`, else the folder the command was started in."""
    if settings.project is None:
        return Path.cwd()
    folder = user_path(settings.project)
    if not folder.is_dir():
        raise UserError(f"--project {settings.project}: no such folder")
    return Path(os.path.abspath(folder))


def engine_options(settings: ChatSettings) -> EngineOptions:
    """The llama.cpp engine options these settings ask for.

    Both the CLI and the app run generation on default_threads() (the physical cores) unless --threads
    says otherwise: the app's model runs in a process of its own, so the UI does not compete with it."""
    return EngineOptions(n_ctx=settings.ctx, n_threads=settings.threads, exact_tokenizer=settings.exact_tokenizer,
                         lookup=settings.lookup, kv_cache_gb=settings.kv_cache_gb)
