"""Chat settings: defaults, then the user's TOML config file, then command-line flags."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from opencoder_local import locations
from opencoder_local.documents import read_toml
from opencoder_local.errors import UserError


@dataclass(frozen=True)
class ChatSettings:
    model: str = "demo"
    ctx: int | None = None
    system: str | None = None
    temperature: float = 0.0
    max_tokens: int | None = None
    seed: int | None = None
    threads: int | None = None
    theme: str | None = None
    exact_tokenizer: bool | None = None
    continue_last: bool = False

    def with_overrides(self, **values) -> "ChatSettings":
        """Apply flags that were given (None means: not given on the command line)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "ctx": (int,),
    "system": (str,),
    "temperature": (int, float),
    "max_tokens": (int,),
    "seed": (int,),
    "threads": (int,),
    "theme": (str,),
    "exact_tokenizer": (bool,),
}
assert set(_CONFIG_TYPES) == {f.name for f in fields(ChatSettings)} - {"continue_last"}
_TYPE_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


def _check_types(path: Path, data: dict) -> None:
    for key, value in data.items():
        kinds = _CONFIG_TYPES[key]
        # bool is an int in Python; only exact_tokenizer takes one.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise UserError(f"{path}: {key} must be {_TYPE_NAMES[kinds[-1]]}, not {value!r}")


def load_config(path: Path | None = None) -> ChatSettings:
    """Defaults overlaid with the config file, if there is one; a bad file is one clear error."""
    path = path or locations.config_path()
    if not path.is_file():
        return ChatSettings()
    data = read_toml(path)
    unknown = sorted(set(data) - set(_CONFIG_TYPES))
    if unknown:
        raise UserError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(_CONFIG_TYPES)}")
    _check_types(path, data)
    if "temperature" in data:
        data["temperature"] = float(data["temperature"])
    return ChatSettings().with_overrides(**data)
