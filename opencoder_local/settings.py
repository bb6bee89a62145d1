"""Chat settings: defaults, then the user's TOML config file, then command-line flags."""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path

from opencoder_local import locations
from opencoder_local.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


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


_CONFIG_KEYS = {f.name: f for f in fields(ChatSettings) if f.name != "continue_last"}


def load_config(path: Path | None = None) -> ChatSettings:
    """Defaults overlaid with the config file, if there is one; a bad file is one clear error."""
    path = path or locations.config_path()
    if not path.is_file():
        return ChatSettings()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"cannot read the config file {path}: {exc}") from None
    unknown = sorted(set(data) - set(_CONFIG_KEYS))
    if unknown:
        raise UserError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(_CONFIG_KEYS)}")
    return ChatSettings().with_overrides(**data)
