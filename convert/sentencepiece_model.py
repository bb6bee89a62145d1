"""Read the few fields of a SentencePiece tokenizer.model we need, without protobuf or sentencepiece.

tokenizer.model is a serialized ModelProto (sentencepiece_model.proto): repeated `pieces`
(field 1: piece=1, score=2, type=3), `trainer_spec` (2) and `normalizer_spec` (3:
add_dummy_prefix=3, remove_extra_whitespaces=4). Unknown fields are skipped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import gguf

# SentencePiece.Type enum values -> GGUF token types.
_PIECE_TYPES = {
    1: gguf.TokenType.NORMAL,
    2: gguf.TokenType.UNKNOWN,
    3: gguf.TokenType.CONTROL,
    4: gguf.TokenType.USER_DEFINED,
    5: gguf.TokenType.UNUSED,
    6: gguf.TokenType.BYTE,
}


class ProtoError(ValueError):
    pass


@dataclass
class SentencePieceModel:
    pieces: list[str]
    scores: list[float]
    types: list[gguf.TokenType]
    add_dummy_prefix: bool
    remove_extra_whitespaces: bool

    def index(self, piece: str) -> int | None:
        try:
            return self.pieces.index(piece)
        except ValueError:
            return None


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtoError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes):
    """Yield (field number, wire type, value) for each field of one message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ProtoError("message runs past the end")
        yield number, wire, value


def _piece(buf: bytes) -> tuple[str, float, gguf.TokenType]:
    text, score, kind = "", 0.0, 1
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 2:
            text = value.decode("utf-8")
        elif number == 2 and wire == 5:
            (score,) = struct.unpack("<f", value)
        elif number == 3 and wire == 0:
            kind = value
    if kind not in _PIECE_TYPES:
        raise ProtoError(f"unknown piece type {kind}")
    return text, score, _PIECE_TYPES[kind]


def parse_sentencepiece_model(data: bytes) -> SentencePieceModel:
    """Pieces, scores, types and normaliser flags of a serialized SentencePiece ModelProto."""
    model = SentencePieceModel([], [], [], add_dummy_prefix=True, remove_extra_whitespaces=True)
    for number, wire, value in _fields(data):
        if number == 1 and wire == 2:
            text, score, kind = _piece(value)
            model.pieces.append(text)
            model.scores.append(score)
            model.types.append(kind)
        elif number == 3 and wire == 2:
            for field, ftype, flag in _fields(value):
                if field == 3 and ftype == 0:
                    model.add_dummy_prefix = bool(flag)
                elif field == 4 and ftype == 0:
                    model.remove_extra_whitespaces = bool(flag)
    if not model.pieces:
        raise ProtoError("no pieces")
    return model
