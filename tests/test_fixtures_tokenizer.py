"""The shared tokenizer fixtures are sound: the reference round-trips, the GGUF loads in llama.cpp."""

from __future__ import annotations

import json

import gguf

from fixtures.corpus import read_text, source_files, split_corpus
from fixtures.llama_vocab import load_vocab
from fixtures.opencoder_tokenizer import BOS, EOS, IM_END, IM_START, UNK


def test_corpus_split_is_disjoint_and_deterministic():
    train, unseen = split_corpus()
    assert not set(train) & set(unseen)
    assert (train, unseen) == split_corpus()
    assert all(p.stat().st_size < 200_000 for p in source_files())


def test_reference_round_trips_unseen_files(reference_tokenizer):
    _, unseen = split_corpus()
    for path in unseen:
        text = read_text(path)
        assert reference_tokenizer.decode(reference_tokenizer.encode(text)) == text, path


def test_special_tokens_map_to_their_ids(reference_tokenizer, opencoder_tokenizer_dir):
    added = json.loads((opencoder_tokenizer_dir / "added_tokens.json").read_text())
    sp_size = reference_tokenizer.sp.get_piece_size()
    assert added == {IM_END: sp_size, IM_START: sp_size + 1}
    ids = reference_tokenizer.encode(f"{IM_START}user\nhi{IM_END}{BOS}{EOS}{UNK}")
    assert ids[0] == sp_size + 1
    assert ids[-4:] == [sp_size, 1, 2, 0]


def test_reference_does_not_add_a_space_prefix(reference_tokenizer):
    first = reference_tokenizer.sp.id_to_piece(reference_tokenizer.encode("import os")[0])
    assert not first.startswith("\u2581")


def test_llamacpp_style_vocab_gguf_loads_vocab_only(llamacpp_vocab_gguf, reference_tokenizer):
    reader = gguf.GGUFReader(llamacpp_vocab_gguf)
    assert gguf.Keys.Tokenizer.ADD_PREFIX not in reader.fields
    pre = reader.fields[gguf.Keys.Tokenizer.PRE]
    assert bytes(pre.parts[pre.data[0]]).decode() == "default"
    with load_vocab(llamacpp_vocab_gguf) as vocab:
        assert vocab.n_tokens == reference_tokenizer.vocab_size + 99
        assert vocab.tokenize(IM_START, parse_special=True) == [reference_tokenizer.vocab_size - 1]
        # Without add_space_prefix=false llama.cpp prepends a space the reference never adds.
        text = "import os"
        assert vocab.tokenize(text) != reference_tokenizer.encode(text)
