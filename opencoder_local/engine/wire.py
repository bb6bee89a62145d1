"""The app and its model process talk in JSON lines over a socket pair: no pickle, either way.

Every message is one frozen dataclass below, sent as a JSON object whose "tag" names its class.
Only this module spells the tags and the field names; a line that is not one of the messages a
side accepts (not JSON, an unknown tag, a field missing, extra or of the wrong type) is one
WireError, never a KeyError from deep in a reader.
"""

from __future__ import annotations

import functools
import json
import socket
import threading
import types
import typing
from dataclasses import MISSING, dataclass, fields, is_dataclass
from typing import Any, ClassVar, Iterator, Mapping

from opencoder_local.engine.protocol import EngineOptions, GenParams, TurnStats
from opencoder_local.errors import UserError

_RECV_BYTES = 1 << 16
_SCALARS = (int, float, str, bool)


class WireError(UserError):
    """A message that is not one this side of the socket understands."""


# Sent to the model process when it starts (as its command-line argument).

@dataclass(frozen=True)
class Load:
    TAG: ClassVar[str] = "load"
    model: str  # a GGUF the app has checked
    options: EngineOptions


# Requests: the app -> the model process.

@dataclass(frozen=True)
class Turn:
    TAG: ClassVar[str] = "turn"
    turn: int
    ids: tuple[int, ...]  # the prompt, tokenized by the app
    max_new: int
    params: GenParams


@dataclass(frozen=True)
class Prefill:
    """Read these prompt ids into the KV cache ahead of the turn that will begin with them (after the
    turns sent before it); nothing is answered. Any request that arrives meanwhile stops it between
    batches, a Cancel or a Quit at once."""
    TAG: ClassVar[str] = "prefill"
    ids: tuple[int, ...]


@dataclass(frozen=True)
class Cancel:
    TAG: ClassVar[str] = "cancel"
    turn: int


@dataclass(frozen=True)
class SaveState:
    """Save the KV cache's state to the prefix cache on disk, after the turns sent before it."""
    TAG: ClassVar[str] = "save_state"


@dataclass(frozen=True)
class Quit:
    """Stop the current turn, skip those waiting, save the state within `deadline_s` (or drop the save,
    leaving no file), then end the process."""
    TAG: ClassVar[str] = "quit"
    deadline_s: float


# Events: the model process -> the app.

@dataclass(frozen=True)
class Ready:
    TAG: ClassVar[str] = "ready"
    backend: str
    n_ctx: int
    n_threads: int


@dataclass(frozen=True)
class Failed:
    """The model did not load; the process ends."""
    TAG: ClassVar[str] = "failed"
    error: str


@dataclass(frozen=True)
class Piece:
    """One generated token's text."""
    TAG: ClassVar[str] = "piece"
    turn: int
    text: str


@dataclass(frozen=True)
class Stopping:
    """A Cancel has arrived: sent at once by the process's reader, whatever generation is doing."""
    TAG: ClassVar[str] = "stopping"
    turn: int


@dataclass(frozen=True)
class Done:
    TAG: ClassVar[str] = "done"
    turn: int
    text: str
    stats: TurnStats


@dataclass(frozen=True)
class Error:
    """This turn failed; the process lives on."""
    TAG: ClassVar[str] = "error"
    turn: int
    error: str


Request = Turn | Prefill | Cancel | SaveState | Quit
Event = Ready | Failed | Piece | Stopping | Done | Error
Message = Load | Request | Event

LOAD: Mapping[str, type] = {Load.TAG: Load}
REQUESTS: Mapping[str, type] = {cls.TAG: cls for cls in (Turn, Prefill, Cancel, SaveState, Quit)}
EVENTS: Mapping[str, type] = {cls.TAG: cls for cls in (Ready, Failed, Piece, Stopping, Done, Error)}


def encode(message: Message) -> bytes:
    """One line of ASCII: JSON's escapes carry any text, even lone surrogates."""
    return json.dumps({"tag": message.TAG, **_fields(message)}, default=_fields).encode("ascii") + b"\n"


def decode(line: bytes | str, accepts: Mapping[str, type]) -> Any:
    """The message a line holds, if it is one of `accepts` (tag -> class); otherwise a WireError."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        raise WireError("a message that is not JSON") from None
    if not isinstance(record, dict):
        raise WireError("a message that is not a JSON object")
    tag = record.pop("tag", None)
    if tag is None:
        raise WireError("a message without a tag")
    cls = accepts.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise WireError(f"a message of unknown kind {tag!r}")
    return _build(cls, record, tag)


class Channel:
    """One end of the socket pair, reading the messages in `accepts` (REQUESTS or EVENTS).

    send() is safe from any thread, batches() from one reader."""

    def __init__(self, sock: socket.socket, accepts: Mapping[str, type]):
        self.sock = sock
        self._accepts = accepts
        self._send_lock = threading.Lock()
        self._buffer = b""

    def send(self, message: Message) -> None:
        data = encode(message)
        with self._send_lock:
            self.sock.sendall(data)

    def batches(self) -> Iterator[list[Any]]:
        """Every message that has arrived, a list per read: when the reader falls behind, its batches grow.

        Ends when the other side is gone (end of file, or this end shut down); a malformed
        message is a WireError, after which the channel reads no more."""
        while True:
            try:
                data = self.sock.recv(_RECV_BYTES)
            except OSError:
                return
            if not data:
                return
            lines = (self._buffer + data).split(b"\n")
            self._buffer = lines.pop()
            if lines:
                yield [decode(line, self._accepts) for line in lines]

    def shutdown(self) -> None:
        """Wake a reader blocked in batches() and tell the other side we are gone."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _fields(obj: Any) -> dict[str, Any]:
    if not is_dataclass(obj):
        raise TypeError(f"{type(obj).__name__} cannot go over the wire")  # a bug here, not the peer's
    return {field.name: getattr(obj, field.name) for field in fields(obj)}


@functools.cache
def _shape(cls: type) -> tuple[dict[str, Any], frozenset[str]]:
    """A dataclass's field types, and the names of those without a default."""
    hints = typing.get_type_hints(cls)
    kinds = {field.name: hints[field.name] for field in fields(cls)}
    required = frozenset(field.name for field in fields(cls)
                         if field.default is MISSING and field.default_factory is MISSING)
    return kinds, required


def _build(cls: type, record: dict, where: str) -> Any:
    kinds, required = _shape(cls)
    missing, unknown = sorted(required - record.keys()), sorted(record.keys() - kinds.keys())
    if missing:
        raise WireError(f"a message without {where}.{missing[0]}")
    if unknown:
        raise WireError(f"a message with an unknown field {where}.{unknown[0]}")
    return cls(**{name: _value(kinds[name], value, f"{where}.{name}") for name, value in record.items()})


def _value(kind: Any, value: Any, where: str) -> Any:
    """`value` checked against the type `kind`, with lists made tuples and objects dataclasses."""
    if kind in _SCALARS:
        if type(value) is kind or (kind is float and type(value) is int):  # bool is no int here
            return value
    elif kind is type(None):
        if value is None:
            return value
    elif typing.get_origin(kind) in (types.UnionType, typing.Union):
        for option in typing.get_args(kind):
            try:
                return _value(option, value, where)
            except WireError:
                continue
    elif typing.get_origin(kind) is tuple:
        if isinstance(value, list):
            item = typing.get_args(kind)[0]
            if item in _SCALARS and all(type(element) is item for element in value):
                return tuple(value)  # the prompt's ids: thousands of them, checked at C speed
            return tuple(_value(item, element, where) for element in value)
    elif is_dataclass(kind):
        if isinstance(value, dict):
            return _build(kind, value, where)
    else:
        raise TypeError(f"{kind!r} cannot go over the wire")  # a bug here: a field of a type not handled
    raise WireError(f"a message whose {where} is not {getattr(kind, '__name__', kind)}")
