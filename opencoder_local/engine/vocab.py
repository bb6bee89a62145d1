"""Tokenize and detokenize through a llama.cpp vocabulary, exactly as the model was trained."""

from __future__ import annotations

import ctypes
from pathlib import Path

import gguf
import llama_cpp

from opencoder_local.engine.gguf_file import GGUFFile
from opencoder_local.engine.tokenizer import IM_END, OpenCoderTokenizer, special_tokens
from opencoder_local.errors import ModelFileError

# OpenCoder adds no space before the first piece and no BOS; llama.cpp's converter
# leaves add_space_prefix out, and llama.cpp then defaults to prepending a space.
OPENCODER_OVERRIDES = {
    gguf.Keys.Tokenizer.ADD_PREFIX: False,
    gguf.Keys.Tokenizer.ADD_BOS: False,
}


def kv_override_array(overrides: dict[str, bool]) -> ctypes.Array:
    """A sentinel-terminated llama_model_kv_override array for boolean overrides."""
    array = (llama_cpp.llama_model_kv_override * (len(overrides) + 1))()
    for slot, (key, value) in zip(array, overrides.items()):
        slot.key = key.encode()
        slot.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_BOOL
        slot.value.val_bool = value
    array[-1].key = b"\0"
    return array


_PIECES_KEPT = 1 << 16  # pieces whose ids are remembered (a few MB)


def _token_text(tokens: list[str], token: int) -> str:
    return tokens[token] if 0 <= token < len(tokens) else ""


class Vocab:
    """A llama.cpp vocabulary, with OpenCoder's pre-split when `exact` is on."""

    def __init__(self, vocab_ptr, info: GGUFFile, exact: bool):
        self._vocab = vocab_ptr
        self.size = llama_cpp.llama_vocab_n_tokens(vocab_ptr)  # ids run from 0 to size - 1
        self.exact = exact
        tokens = info.get(gguf.Keys.Tokenizer.LIST) or []
        types = info.get(gguf.Keys.Tokenizer.TOKEN_TYPE) or []
        self.specials = special_tokens(tokens, types)
        self._opencoder = OpenCoderTokenizer(self.specials, self._encode_plain) if exact else None
        self._pieces: dict[str, tuple[int, ...]] = {}  # a piece's ids: code says the same words again and again
        self._piece_buf = ctypes.create_string_buffer(256)
        im_end = self.specials.get(IM_END)
        self.stop_ids = frozenset([im_end] if im_end is not None else [])
        self.bos_id = llama_cpp.llama_vocab_bos(vocab_ptr)
        # What a chat template's bos_token / eos_token stand for (Llama-2-style templates use them).
        self.bos_text = _token_text(tokens, self.bos_id)
        self.eos_text = _token_text(tokens, llama_cpp.llama_vocab_eos(vocab_ptr))
        self.add_bos = (not exact) and bool(llama_cpp.llama_vocab_get_add_bos(vocab_ptr))

    def _tokenize(self, text: str, parse_special: bool) -> list[int]:
        data = text.encode("utf-8")
        n_max = len(data) + 8
        buf = (llama_cpp.llama_token * n_max)()
        n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buf, n_max, False, parse_special)
        if n < 0:
            n_max = -n
            buf = (llama_cpp.llama_token * n_max)()
            n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buf, n_max, False, parse_special)
        return list(buf[:n])

    def _encode_plain(self, piece: str) -> tuple[int, ...]:
        ids = self._pieces.get(piece)
        if ids is None:
            ids = tuple(self._tokenize(piece, parse_special=False))
            if len(self._pieces) < _PIECES_KEPT:
                self._pieces[piece] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of text, special-token markers included, without BOS."""
        if self._opencoder is not None:
            return self._opencoder.encode(text)
        return self._tokenize(text, parse_special=True)

    def piece(self, token: int) -> bytes:
        """The bytes a generated token stands for (control tokens: none)."""
        n = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece_buf, len(self._piece_buf), 0, False)
        if n < 0:
            self._piece_buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece_buf, -n, 0, False)
        return self._piece_buf.raw[:n]

    def is_stop(self, token: int) -> bool:
        return token in self.stop_ids or bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))


class VocabOnlyModel:
    """Just the vocabulary of a GGUF (no weights): for `opencoder tokenize`."""

    def __init__(self, path: Path, info: GGUFFile, exact: bool):
        llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        if exact:
            self._overrides = kv_override_array(OPENCODER_OVERRIDES)
            params.kv_overrides = self._overrides
        self._model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
        if not self._model:
            raise ModelFileError(f"llama.cpp could not read the vocabulary of {path}")
        self.vocab = Vocab(llama_cpp.llama_model_get_vocab(self._model), info, exact)

    def close(self) -> None:
        if self._model:
            llama_cpp.llama_model_free(self._model)
            self._model = None
