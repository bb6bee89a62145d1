"""OpenCoder tokenization through the engine equals the reference tokenizer, id for id."""

import json
import subprocess
import sys

import pytest

from fixtures.corpus import read_text, split_corpus
from fixtures.opencoder_tokenizer import write_llamacpp_style_vocab_gguf
from opencoder_local.engine.prompt_format import vocab_only
from opencoder_local.models.registry import model_file
from opencoder_local.engine.tokenizer import pre_split, SPLIT_PATTERN

UNSEEN = split_corpus()[1]
EDGE_CASES = [
    "",
    "x",
    "  leading spaces and trailing   ",
    "tabs\tand\r\nCRLF\r\n\r\n\n  \n",
    "It's they'RE we'Ve I'M you'll he'D",
    "1234567 3.14159 0x1F_u32",
    "<|im_start|>user\nhi<|im_end|>\n<s> </s> <unk>",
    "naïve façade 日本語のコード 😀 \u00a0nbsp\u3000ideographic",
    "\x1c\x1d\x1e\x1f\x85\u2028\u2029 odd whitespace",
    "def f():\n\treturn {'a': [1, 2]}  # comment\n",
]


@pytest.fixture(scope="module")
def vocab(llamacpp_vocab_gguf):
    """A GGUF as llama.cpp's own converter writes it, recognised by its name."""
    model = vocab_only(model_file(str(llamacpp_vocab_gguf)))
    yield model.vocab
    model.close()


def test_the_unseen_corpus_is_real_and_never_trained_on():
    train, unseen = split_corpus()
    assert len(unseen) == 120 and not set(train) & set(unseen)


def test_pre_split_equals_the_tokenizers_split():
    from tokenizers import Regex, pre_tokenizers

    split = pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated")
    for text in EDGE_CASES + [read_text(p) for p in UNSEEN]:
        assert list(pre_split(text)) == [piece for piece, _ in split.pre_tokenize_str(text)]


def test_auto_detects_a_llamacpp_converted_opencoder_gguf(vocab):
    assert vocab.exact


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_match_the_reference(vocab, reference_tokenizer, text):
    assert vocab.encode(text) == reference_tokenizer.encode(text)


def test_unseen_source_files_match_the_reference_with_zero_mismatches(vocab, reference_tokenizer):
    mismatched = [p for p in UNSEEN if vocab.encode(read_text(p)) != reference_tokenizer.encode(read_text(p))]
    assert mismatched == []


def test_stock_llamacpp_tokenization_differs(llamacpp_vocab_gguf, reference_tokenizer):
    """The problem we fix: without the pre-split and space fix, most files tokenize differently."""
    model = vocab_only(model_file(str(llamacpp_vocab_gguf)), exact_tokenizer=False)
    try:
        differing = sum(
            model.vocab.encode(read_text(p)) != reference_tokenizer.encode(read_text(p)) for p in UNSEEN[:30]
        )
    finally:
        model.close()
    assert differing >= 25


def test_the_flag_forces_exact_tokenization_on_an_unnamed_gguf(opencoder_tokenizer_dir, reference_tokenizer, tmp_path):
    anonymous = write_llamacpp_style_vocab_gguf(opencoder_tokenizer_dir, tmp_path / "model.gguf", name="model")
    auto = vocab_only(model_file(str(anonymous)))
    forced = vocab_only(model_file(str(anonymous)), exact_tokenizer=True)
    try:
        assert not auto.vocab.exact and forced.vocab.exact
        text = read_text(UNSEEN[0])
        assert forced.vocab.encode(text) == reference_tokenizer.encode(text)
    finally:
        auto.close()
        forced.close()


def _tokenize_cli(*args: str, stdin: str = "") -> list[int]:
    out = subprocess.run(
        [sys.executable, "-m", "opencoder_local", "tokenize", *args],
        input=stdin, capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def test_tokenize_command_prints_the_reference_ids(llamacpp_vocab_gguf, reference_tokenizer):
    text = read_text(UNSEEN[1])
    assert _tokenize_cli("--model", str(llamacpp_vocab_gguf), stdin=text) == reference_tokenizer.encode(text)


def test_tokenize_chat_prints_the_exact_prompt(llamacpp_vocab_gguf, reference_tokenizer, tmp_path):
    chat = [{"role": "user", "content": "Reverse a string in Python"}]
    (tmp_path / "chat.json").write_text(json.dumps(chat))
    ids = _tokenize_cli("--model", str(llamacpp_vocab_gguf), "--chat", str(tmp_path / "chat.json"))
    expected = (
        "<|im_start|>system\nYou are OpenCoder, created by OpenCoder Team.<|im_end|>\n"
        "<|im_start|>user\nReverse a string in Python<|im_end|>\n<|im_start|>assistant\n"
    )
    assert ids == reference_tokenizer.encode(expected)
