"""OpenCoder's exact tokenization, and how to recognise a GGUF that needs it.

OpenCoder's reference tokenizer (tokenization_inflm.py) splits text on its special tokens,
then with a GPT-4-style regex into isolated pieces, then runs SentencePiece on each piece.
llama.cpp's SentencePiece path does no pre-split at all, and on GGUFs from llama.cpp's own
converter it also prepends a space. We split here and let llama.cpp encode each piece.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence

import gguf
import regex

from opencoder_local.engine.gguf_file import GGUFFile

OPENCODER_PRE = "opencoder"  # our converter's tokenizer.ggml.pre for these models
SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+\s+(\S)+"
)
_SPLIT = regex.compile(SPLIT_PATTERN)
IM_END, IM_START = "<|im_end|>", "<|im_start|>"
_SPECIAL_TYPES = {
    gguf.TokenType.CONTROL,
    gguf.TokenType.USER_DEFINED,
    gguf.TokenType.UNKNOWN,
}


def pre_split(text: str) -> Iterator[str]:
    """Isolated split: every regex match and every stretch between matches is a piece."""
    pos = 0
    for match in _SPLIT.finditer(text):
        start, end = match.span()
        if start > pos:
            yield text[pos:start]
        if end > start:
            yield text[start:end]
        pos = end
    if pos < len(text):
        yield text[pos:]


class OpenCoderTokenizer:
    """Special tokens first, then the regex, then `encode_piece` (SentencePiece) on each piece."""

    def __init__(self, specials: dict[str, int], encode_piece: Callable[[str], Sequence[int]]):
        self._specials = specials
        self._encode_piece = encode_piece
        names = sorted(specials, key=len, reverse=True)
        self._special_re = regex.compile("|".join(regex.escape(n) for n in names)) if names else None

    def _segments(self, text: str) -> Iterator[tuple[str, bool]]:
        if self._special_re is None:
            yield text, False
            return
        pos = 0
        for match in self._special_re.finditer(text):
            if match.start() > pos:
                yield text[pos:match.start()], False
            yield match.group(), True
            pos = match.end()
        if pos < len(text):
            yield text[pos:], False

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for segment, is_special in self._segments(text):
            if is_special:
                ids.append(self._specials[segment])
                continue
            for piece in pre_split(segment):
                ids.extend(self._encode_piece(piece))
        return ids


def special_tokens(tokens: Iterable[str], types: Iterable[int]) -> dict[str, int]:
    """Texts of the control, user-defined and unknown tokens: those the reference splits on first."""
    return {tok: i for i, (tok, kind) in enumerate(zip(tokens, types)) if kind in _SPECIAL_TYPES and tok}


def looks_like_opencoder(info: GGUFFile) -> bool:
    """True for OpenCoder GGUFs from our converter and from others (llama.cpp's included)."""
    if info.get(gguf.Keys.Tokenizer.MODEL) != "llama":
        return False
    if info.get(gguf.Keys.Tokenizer.PRE) == OPENCODER_PRE:
        return True
    names = " ".join(
        str(info.get(key, "")) for key in (gguf.Keys.General.NAME, gguf.Keys.General.BASENAME)
    )
    if "opencoder" in names.lower().replace(" ", "").replace("-", ""):
        return True
    tokens = info.get(gguf.Keys.Tokenizer.LIST) or []
    # The released vocabulary ends its real tokens with the two ChatML markers.
    return len(tokens) > 96540 and tokens[96539] == IM_END and tokens[96540] == IM_START


def looks_like_instruct(info: GGUFFile) -> bool:
    text = " ".join(
        str(info.get(key, ""))
        for key in (gguf.Keys.General.NAME, gguf.Keys.General.FINETUNE, gguf.Keys.General.BASENAME)
    )
    return "instruct" in text.lower() or "instruct" in info.path.name.lower()
