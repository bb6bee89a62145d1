"""Phase 3a: the tokenizer files of a checkpoint -> GGUF tokenizer metadata.

SentencePiece (OpenCoder, Llama 2 style) becomes tokenizer.ggml.model="llama"; a Hugging Face
tokenizer.json byte-level BPE vocabulary (SmolLM2, Llama 3, ...) becomes "gpt2" with its merges
and the llama.cpp pre-tokenizer that splits text the same way (see bpe_vocab). For OpenCoder
we also record what llama.cpp cannot do by itself: no space prefix, and the regex pre-split
(`tokenizer.ggml.pre`="opencoder" plus the pattern under PRE_SPLIT_KEY) that our engine applies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from opencoder_convert.bpe_vocab import adds_special, read_bpe
from opencoder_convert.checkpoint import CheckpointError, ModelConfig, read_json
from opencoder_convert.sentencepiece_model import ProtoError, parse_sentencepiece_model
from opencoder_local.engine.tokenizer import OPENCODER_PRE, SPLIT_PATTERN

PRE_SPLIT_KEY = "opencoder.tokenizer.pre_split"
ADDED_SCORE, PAD_SCORE = -1000.0, -10000.0


@dataclass
class Vocab:
    """Everything the GGUF says about tokenization."""

    model: str
    pre: str
    tokens: list[str]
    types: list[int]
    scores: list[float] | None = None
    merges: list[str] | None = None
    special_ids: dict[str, int] = field(default_factory=dict)
    add_bos: bool = False
    add_eos: bool = False
    add_space_prefix: bool | None = None
    chat_template: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def write_to(self, writer: gguf.GGUFWriter) -> None:
        writer.add_tokenizer_model(self.model)
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.types)
        if self.scores is not None:
            writer.add_token_scores(self.scores)
        if self.merges is not None:
            writer.add_token_merges(self.merges)
        adders = {"bos": writer.add_bos_token_id, "eos": writer.add_eos_token_id,
                  "unk": writer.add_unk_token_id, "pad": writer.add_pad_token_id}
        for kind, token_id in self.special_ids.items():
            adders[kind](token_id)
        writer.add_add_bos_token(self.add_bos)
        writer.add_add_eos_token(self.add_eos)
        if self.add_space_prefix is not None:
            writer.add_add_space_prefix(self.add_space_prefix)
        if self.chat_template:
            writer.add_chat_template(self.chat_template)
        for key, value in self.extra.items():
            writer.add_string(key, value)


def read_vocab(folder: Path, config: ModelConfig, name: str) -> Vocab:
    """The vocabulary of a checkpoint: tokenizer.model if present, else a byte-level BPE tokenizer.json."""
    try:
        return _read_vocab(folder, config, name)
    except (KeyError, TypeError, ValueError, AttributeError, UnicodeDecodeError) as exc:
        # The tokenizer files are the user's input: a field of the wrong shape is their file's fault.
        raise CheckpointError(f"{folder}: the tokenizer files are malformed ({type(exc).__name__}: {exc})") from None


def _read_vocab(folder: Path, config: ModelConfig, name: str) -> Vocab:
    tok_config = _optional_json(folder / "tokenizer_config.json")
    if (folder / "tokenizer.model").is_file():
        vocab = sentencepiece_vocab(folder, tok_config, name)
    elif (folder / "tokenizer.json").is_file():
        vocab = bpe_vocab(folder, tok_config)
    else:
        raise CheckpointError(f"{folder} has no tokenizer.model or tokenizer.json; copy the tokenizer files in")
    _pad(vocab, config.vocab_size)
    vocab.special_ids = _special_ids(vocab.tokens, tok_config, config)
    vocab.chat_template = _chat_template(folder, tok_config)
    return vocab


def is_opencoder(tok_config: dict[str, Any], name: str) -> bool:
    """OpenCoder's release files name their own tokenizer class, InfLMTokenizer."""
    marks = json.dumps([tok_config.get("tokenizer_class"), tok_config.get("auto_map")]).lower()
    return "inflm" in marks or "opencoder" in name.lower().replace("-", "").replace(" ", "")


def sentencepiece_vocab(folder: Path, tok_config: dict[str, Any], name: str) -> Vocab:
    path = folder / "tokenizer.model"
    try:
        sp = parse_sentencepiece_model(path.read_bytes())
    except (OSError, ProtoError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read {path}: not a SentencePiece model ({exc})") from None
    tokens, scores, types = list(sp.pieces), list(sp.scores), [int(t) for t in sp.types]
    added = _optional_json(folder / "added_tokens.json")
    for text, token_id in sorted(added.items(), key=lambda kv: kv[1]):
        _place(tokens, scores, types, int(token_id), text, gguf.TokenType.USER_DEFINED)
    for token_id, entry in tok_config.get("added_tokens_decoder", {}).items():
        token_id = int(token_id)
        # Keep SentencePiece's own control/unknown types; mark added tokens as llama.cpp's converter does.
        if token_id < len(sp.pieces) and sp.types[token_id] != gguf.TokenType.NORMAL:
            continue
        kind = gguf.TokenType.CONTROL if entry.get("special") else gguf.TokenType.USER_DEFINED
        _place(tokens, scores, types, token_id, entry["content"], kind)
    vocab = Vocab("llama", "default", tokens, types, scores=scores,
                  add_bos=bool(tok_config.get("add_bos_token", True)),
                  add_eos=bool(tok_config.get("add_eos_token", False)),
                  add_space_prefix=sp.add_dummy_prefix)
    if is_opencoder(tok_config, name):
        vocab.pre = OPENCODER_PRE
        vocab.add_space_prefix = False
        vocab.extra[PRE_SPLIT_KEY] = SPLIT_PATTERN
    return vocab


def bpe_vocab(folder: Path, tok_config: dict[str, Any]) -> Vocab:
    bpe = read_bpe(folder / "tokenizer.json")
    # Without add_bos_token/add_eos_token, the tokenizer.json post-processor's template decides, as in HF.
    bos, eos = _token_text(tok_config.get("bos_token")), _token_text(tok_config.get("eos_token"))
    add_bos = tok_config.get("add_bos_token", adds_special(bpe.post_processor, bos, first=True))
    add_eos = tok_config.get("add_eos_token", adds_special(bpe.post_processor, eos, first=False))
    return Vocab("gpt2", bpe.pre, bpe.tokens, bpe.types, merges=bpe.merges,
                 add_bos=bool(add_bos), add_eos=bool(add_eos))


def _place(tokens: list[str], scores: list[float], types: list[int], token_id: int, text: str, kind: int) -> None:
    if token_id < 0 or token_id > len(tokens):
        raise CheckpointError(f"added token {text!r} has id {token_id}, leaving a gap after {len(tokens)} tokens")
    if token_id == len(tokens):
        tokens.append(text)
        scores.append(ADDED_SCORE)
        types.append(kind)
        return
    tokens[token_id], scores[token_id], types[token_id] = text, ADDED_SCORE, kind


def _pad(vocab: Vocab, n_vocab: int) -> None:
    """Pad to the embedding's row count with unused [PADi] tokens, as llama.cpp's converter does."""
    if len(vocab.tokens) > n_vocab:
        raise CheckpointError(
            f"the tokenizer has {len(vocab.tokens)} tokens but config.json's vocab_size is {n_vocab}"
        )
    for i in range(len(vocab.tokens), n_vocab):
        vocab.tokens.append(f"[PAD{i}]")
        vocab.types.append(gguf.TokenType.UNUSED)
        if vocab.scores is not None:
            vocab.scores.append(PAD_SCORE)


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


def _special_ids(tokens: list[str], tok_config: dict[str, Any], config: ModelConfig) -> dict[str, int]:
    """bos/eos/unk/pad ids: tokenizer_config.json's token texts first, config.json's ids second."""
    index: dict[str, int] = {}
    for i, text in enumerate(tokens):
        index.setdefault(text, i)
    ids = {}
    fallback = {"bos": config.bos_token_id, "eos": config.eos_token_id}
    for kind in ("bos", "eos", "unk", "pad"):
        text = _token_text(tok_config.get(f"{kind}_token"))
        if text is not None and text in index:
            ids[kind] = index[text]
        elif fallback.get(kind) is not None:
            ids[kind] = int(fallback[kind])
    return ids


def _chat_template(folder: Path, tok_config: dict[str, Any]) -> str | None:
    template = tok_config.get("chat_template")
    if template is None and (folder / "chat_template.jinja").is_file():
        template = (folder / "chat_template.jinja").read_text(encoding="utf-8")
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    return template if isinstance(template, str) else None


def _optional_json(path: Path) -> dict[str, Any]:
    return read_json(path, "optional") if path.exists() else {}
