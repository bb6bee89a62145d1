"""A Hugging Face tokenizer.json byte-level BPE vocabulary, read for llama.cpp's "gpt2" tokenizer.

llama.cpp does not run tokenizer.json's pre-tokenizer; it applies the regexes it has built in for
a name stored under tokenizer.ggml.pre. llama.cpp's own converter picks that name by hashing the
token ids of a check text under the real tokenizer, which needs the `tokenizers` package and one
hash per released model. We match what decides the split instead: the pre_tokenizer section
(its Split regexes, Digits and ByteLevel steps) against the few layouts whose llama.cpp
regexes we know to be equivalent. Anything else is refused by name rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf

from opencoder_convert.checkpoint import CheckpointError, read_json

GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# A step is what changes the split: ("bytelevel", add_prefix_space, use_regex) - use_regex means
# GPT-2's regex -, ("digits", individual_digits), ("split", regex, behavior, invert).
Step = tuple
KNOWN_PRE: dict[tuple[Step, ...], str] = {
    (("bytelevel", False, True),): "gpt-2",
    # SmolLM/SmolLM2 (and StarCoder): single digits, then GPT-2's regex; llama.cpp's "smollm" is [\p{N}, GPT-2].
    (("digits", True), ("bytelevel", False, True)): "smollm",
    (("split", LLAMA3_REGEX, "isolated", False), ("bytelevel", False, False)): "llama-bpe",
}


@dataclass
class BpeVocab:
    pre: str
    tokens: list[str]
    types: list[int]
    merges: list[str]
    post_processor: dict[str, Any] | None


def read_bpe(path: Path) -> BpeVocab:
    """tokens, token types, merges and llama.cpp pre-tokenizer name of a tokenizer.json."""
    data = read_json(path, "the tokenizer")
    model = data.get("model")
    if not isinstance(model, dict) or model.get("type") != "BPE":
        found = model.get("type") if isinstance(model, dict) else None
        raise CheckpointError(f"{path} has model type {found!r}; opencoder-convert reads byte-level BPE tokenizer.json only")
    if data.get("normalizer"):
        kind = data["normalizer"].get("type") if isinstance(data["normalizer"], dict) else data["normalizer"]
        raise CheckpointError(f"{path} has a {kind} normalizer, which llama.cpp's BPE tokenizer does not apply")
    tokens, types = _tokens(path, model.get("vocab"), data.get("added_tokens") or [])
    return BpeVocab(identify_pre(path, data.get("pre_tokenizer")), tokens, types,
                    _merges(path, model.get("merges")), data.get("post_processor"))


def identify_pre(path: Path, pre_tokenizer: Any) -> str:
    """The llama.cpp pre-tokenizer name for a tokenizer.json pre_tokenizer section."""
    steps = tuple(_steps(pre_tokenizer))
    if steps in KNOWN_PRE:
        return KNOWN_PRE[steps]
    raise CheckpointError(
        f"{path} has a pre-tokenizer llama.cpp has no known equivalent for ({describe(steps)}); "
        f"supported: {', '.join(KNOWN_PRE.values())}"
    )


_NAMES = {"bytelevel": "ByteLevel", "digits": "Digits", "split": "Split"}
_FIELDS = {"bytelevel": ("add_prefix_space", "use_regex"), "digits": ("individual_digits",),
           "split": ("regex", "behavior", "invert")}


def describe(steps: tuple[Step, ...]) -> str:
    """e.g. "Digits(individual_digits=True) + ByteLevel(add_prefix_space=False, use_regex=True)"."""
    parts = []
    for kind, *values in steps:
        fields = _FIELDS.get(kind, ())
        args = ", ".join(f"{f}={v!r}" for f, v in zip(fields, values)) if fields else ""
        parts.append(f"{_NAMES.get(kind, kind)}({args})")
    return " + ".join(parts) or "none"


def _steps(node: Any) -> list[Step]:
    if node is None:
        return []
    if not isinstance(node, dict):
        return [(repr(node)[:40],)]
    kind = node.get("type")
    if kind == "Sequence":
        return [step for child in node.get("pretokenizers") or [] for step in _steps(child)]
    if kind == "ByteLevel":
        return [("bytelevel", bool(node.get("add_prefix_space", True)), bool(node.get("use_regex", True)))]
    if kind == "Digits":
        return [("digits", bool(node.get("individual_digits", False)))]
    if kind == "Split":
        pattern = node.get("pattern") if isinstance(node.get("pattern"), dict) else {}
        regex = pattern.get("Regex") if "Regex" in pattern else f"literal {pattern.get('String')!r}"
        return [("split", regex, str(node.get("behavior", "")).lower(), bool(node.get("invert", False)))]
    return [(str(kind),)]


def _tokens(path: Path, vocab: Any, added: list[Any]) -> tuple[list[str], list[int]]:
    """Tokens by id; added tokens are control (special) or user-defined; gaps become unused [PADi]."""
    if not isinstance(vocab, dict) or not vocab:
        raise CheckpointError(f"{path} has no model.vocab")
    try:
        by_id = {int(i): (text, gguf.TokenType.NORMAL) for text, i in vocab.items()}
        for entry in added:
            kind = gguf.TokenType.CONTROL if entry.get("special") else gguf.TokenType.USER_DEFINED
            by_id[int(entry["id"])] = (str(entry["content"]), kind)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise CheckpointError(f"{path} has a malformed vocab or added_tokens entry") from None
    if min(by_id) < 0:
        raise CheckpointError(f"{path} has a negative token id")
    ordered = [by_id.get(i, (f"[PAD{i}]", gguf.TokenType.UNUSED)) for i in range(max(by_id) + 1)]
    return [t for t, _ in ordered], [int(k) for _, k in ordered]


def _merges(path: Path, merges: Any) -> list[str]:
    """Merges as llama.cpp stores them, "left right", from either tokenizer.json form."""
    if not isinstance(merges, list):
        raise CheckpointError(f"{path} has no model.merges")
    out = []
    for merge in merges:
        if isinstance(merge, list) and len(merge) == 2 and not any(" " in part for part in merge):
            out.append(f"{merge[0]} {merge[1]}")
        elif isinstance(merge, str) and merge.count(" ") == 1:
            out.append(merge)
        else:
            raise CheckpointError(f"{path} has a merge llama.cpp cannot store: {merge!r}")
    return out


def adds_special(post_processor: dict[str, Any] | None, token: str | None, first: bool) -> bool | None:
    """Whether a TemplateProcessing post-processor puts `token` first (bos) or last (eos); None if no template."""
    if not isinstance(post_processor, dict) or token is None:
        return None
    if post_processor.get("type") == "Sequence":
        found = [adds_special(p, token, first) for p in post_processor.get("processors") or []]
        return next((f for f in found if f is not None), None)
    if post_processor.get("type") != "TemplateProcessing":
        return None
    single = post_processor.get("single") or []
    if not single:
        return False
    piece = single[0] if first else single[-1]
    return piece.get("SpecialToken", {}).get("id") == token
