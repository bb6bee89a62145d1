"""Real trained weights: SmolLM2-135M-Instruct rebuilt as a Hugging Face checkpoint from the demo GGUF,
converted back, and checked against the numpy reference, the `tokenizers` library and the demo itself."""

from __future__ import annotations

import pytest

import gguf
import numpy as np
import tokenizers

from fixtures.corpus import read_text, split_corpus
from fixtures.llama_vocab import load_vocab
from fixtures.real_checkpoint import unpermute_qk
from opencoder_convert.checkpoint import read_checkpoint
from opencoder_convert.tensors import permute_qk
from opencoder_convert.verify import PROMPT, compare, gguf_logits, verify
from opencoder_local.engine import EngineOptions
from opencoder_local.models.registry import open_model
from opencoder_local.engine.protocol import GenParams, Message
from opencoder_local.models.registry import demo_path

T = gguf.Keys.Tokenizer


def tokenizer_fields(path) -> dict:
    reader = gguf.GGUFReader(path)
    return {name: f.contents() for name, f in reader.fields.items() if name.startswith("tokenizer.")}


def test_unpermute_inverts_permute_for_q_and_k():
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((9 * 64, 24)), rng.standard_normal((3 * 64, 24))
    assert np.array_equal(unpermute_qk(permute_qk(q, 9, 9), 9), q)
    assert np.array_equal(unpermute_qk(permute_qk(k, 9, 3), 3), k)
    assert unpermute_qk(np.array([0, 2, 1, 3, 4, 6, 5, 7]), 2).tolist() == list(range(8))


def test_rebuilt_checkpoint_is_sharded_bf16_llama(real_ckpt):
    checkpoint = read_checkpoint(real_ckpt)
    c = checkpoint.config
    assert (c.n_layers, c.hidden_size, c.n_heads, c.n_kv_heads, c.vocab_size) == (30, 576, 9, 3, 49152)
    assert c.tie_word_embeddings and "lm_head.weight" not in checkpoint.tensors
    assert len({t.path for t in checkpoint.tensors.values()}) > 1
    assert {t.dtype for t in checkpoint.tensors.values()} == {"BF16"}


def test_f16_matches_reference_forward_pass(real_ckpt, convert):
    report = verify(read_checkpoint(real_ckpt), convert(real_ckpt, "f16"), "f16")
    assert report.passed and report.top1 == 1.0, report.summary()


@pytest.mark.parametrize("outtype", ["f32", "bf16", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0"])
def test_every_output_type_loads_and_passes_verify(real_ckpt, convert, outtype):
    report = verify(read_checkpoint(real_ckpt), convert(real_ckpt, outtype), outtype)
    assert report.passed, report.summary()


def test_round_trip_agrees_with_the_demo_model(real_ckpt, convert):
    """The rebuilt checkpoint is the demo network (not a mis-permuted one): same next-token choices."""
    tokens, ours = gguf_logits(convert(real_ckpt, "f16"), PROMPT)
    demo_tokens, theirs = gguf_logits(demo_path(), PROMPT)
    assert tokens == demo_tokens
    assert compare(theirs, ours, "q8_0").top1 >= 0.95


def test_tokenizer_metadata_equals_the_demo_gguf(real_ckpt, convert):
    ours, demo = tokenizer_fields(convert(real_ckpt, "f16")), tokenizer_fields(demo_path())
    assert ours[T.MODEL] == "gpt2" and ours[T.PRE] == "smollm"
    for key in (T.LIST, T.TOKEN_TYPE, T.MERGES, T.BOS_ID, T.EOS_ID, T.UNK_ID, T.PAD_ID, T.ADD_BOS, T.CHAT_TEMPLATE):
        assert ours[key] == demo[key], key


def test_tokenization_matches_tokenizers_and_the_demo_on_unseen_files(real_ckpt, convert):
    reference = tokenizers.Tokenizer.from_file(str(real_ckpt / "tokenizer.json"))
    _, unseen = split_corpus()
    files = unseen[::6]
    assert len(files) >= 20
    with load_vocab(convert(real_ckpt, "f16")) as ours, load_vocab(demo_path()) as demo:
        for path in files:
            text = read_text(path)
            ids = ours.tokenize(text)
            assert ids == reference.encode(text, add_special_tokens=False).ids, path
            assert ids == demo.tokenize(text), path
        chat = "<|im_start|>user\nreverse 12345<|im_end|>\n"
        assert ours.tokenize(chat, parse_special=True) == reference.encode(chat, add_special_tokens=False).ids


def test_chat_answer_from_converted_model_writes_code(real_ckpt, convert):
    engine = open_model(str(convert(real_ckpt, "f16")), EngineOptions(n_ctx=512), isolated=False)
    question = [Message("user", "Write a Python function that reverses a string")]
    answer = "".join(d.text for d in engine.stream(question, GenParams(temperature=0.0, max_tokens=60)))
    assert "def " in answer, answer
