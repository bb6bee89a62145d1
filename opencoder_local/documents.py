"""JSON and TOML we did not write (chat files, checkpoint configs, safetensors headers, config.toml).

Every parse goes through here, so a malformed, absurdly nested or non-Unicode document is
one line naming the file, never a RecursionError or a UnicodeEncodeError later on. What the
document must contain is checked by its reader.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

from opencoder_local.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class DocumentError(UserError):
    """A file cannot be read, or is not well-formed JSON/TOML text."""


def parse_json(data: str | bytes, where: str) -> Any:
    """The value of a JSON document; `where` names it in the error."""
    return _parse(json.loads, data, where, "JSON", (UnicodeDecodeError, json.JSONDecodeError))


def read_json(path: Path) -> Any:
    return parse_json(_read_bytes(path), str(path))


def read_toml(path: Path) -> dict[str, Any]:
    def loads(data: bytes) -> dict[str, Any]:
        return tomllib.loads(data.decode("utf-8"))

    return _parse(loads, _read_bytes(path), str(path), "TOML", (UnicodeDecodeError, tomllib.TOMLDecodeError))


def _parse(loads: Callable[[Any], Any], data: str | bytes, where: str, kind: str,
           malformed: tuple[type[Exception], ...]) -> Any:
    try:
        value = loads(data)
        _check_unicode(value, where)
        return value
    except RecursionError:
        raise DocumentError(f"{where} is nested too deeply to be read") from None
    except malformed as exc:
        raise DocumentError(f"{where} is not valid {kind}: {exc}") from None


def _read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read {path}: {exc.strerror or exc}") from None


def _check_unicode(value: Any, where: str) -> None:
    """A `\\ud800` escape gives a string that cannot be encoded: refuse it here, not when it is used."""
    try:
        json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        raise DocumentError(f"{where} holds text that is not valid Unicode (a lone surrogate escape)") from None
