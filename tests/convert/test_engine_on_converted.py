"""Converted GGUFs through the product's own engine: exact tokenization, chat and completion modes."""

from fixtures.corpus import read_text, split_corpus
from opencoder_local.engine import EngineOptions
from opencoder_local.engine.prompt_format import vocab_only
from opencoder_local.models.registry import model_file, open_model
from opencoder_local.engine.protocol import GenParams, Message

UNSEEN = split_corpus()[1]


def test_engine_tokenization_equals_the_reference_on_unseen_files(ckpt_15b, convert, reference_tokenizer):
    model = vocab_only(model_file(str(convert(ckpt_15b, "f16"))))
    try:
        assert model.vocab.exact  # recognised from the converter's metadata, no flag needed
        mismatched = [p.name for p in UNSEEN if model.vocab.encode(read_text(p)) != reference_tokenizer.encode(read_text(p))]
    finally:
        model.close()
    assert mismatched == []


def test_instruct_model_chats_with_its_template(ckpt_8b, convert, reference_tokenizer):
    engine = open_model(str(convert(ckpt_8b, "q8_0")), EngineOptions(n_ctx=256), isolated=False)
    question = [Message("user", "def add(a, b):")]
    assert engine.chat_mode
    expected = reference_tokenizer.encode(
        "<|im_start|>system\nYou are OpenCoder, created by OpenCoder Team.<|im_end|>\n"
        "<|im_start|>user\ndef add(a, b):<|im_end|>\n<|im_start|>assistant\n"
    )
    assert engine.prompt_ids(question) == expected
    stats = [d.stats for d in engine.stream(question, GenParams(max_tokens=8)) if d.stats][0]
    assert stats.prompt_tokens == len(expected) and stats.generated_tokens >= 1


def test_base_model_completes_plain_text(ckpt_base_tied, convert, reference_tokenizer):
    engine = open_model(str(convert(ckpt_base_tied, "f16")), EngineOptions(n_ctx=256), isolated=False)
    assert not engine.chat_mode
    prompt = [Message("user", "def fib(n):\n    ")]
    assert engine.prompt_ids(prompt) == reference_tokenizer.encode("def fib(n):\n    ")
