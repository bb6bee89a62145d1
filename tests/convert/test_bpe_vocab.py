"""tokenizer.json byte-level BPE: the pre-tokenizer table, tokens, merges, special tokens, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gguf
import pytest
import tokenizers

from fixtures.corpus import read_text, split_corpus
from fixtures.llama_vocab import load_vocab
from opencoder_convert.bpe_vocab import GPT2_REGEX, LLAMA3_REGEX, identify_pre, read_bpe
from opencoder_convert.checkpoint import CheckpointError, read_checkpoint
from opencoder_convert.cli import main
from opencoder_convert.metadata import add_model_metadata
from opencoder_convert.vocab import read_vocab

BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
RAW_BYTE_LEVEL = {**BYTE_LEVEL, "use_regex": False}
# tokenizer.json pre_tokenizer sections as GPT-2, SmolLM2 and Llama 3 ship them.
LAYOUTS = {
    "gpt-2": BYTE_LEVEL,
    "smollm": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, BYTE_LEVEL]},
    "llama-bpe": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated", "invert": False},
        RAW_BYTE_LEVEL,
    ]},
}


@pytest.mark.parametrize("name", LAYOUTS)
def test_known_layouts_are_identified(name):
    assert identify_pre(Path("tokenizer.json"), LAYOUTS[name]) == name


@pytest.mark.parametrize("pre_tokenizer, shown", [
    ({"type": "Metaspace", "replacement": "_"}, "Metaspace()"),
    ({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": GPT2_REGEX + "|x"}, "behavior": "Isolated"}, RAW_BYTE_LEVEL]}, "|x"),
    ({**BYTE_LEVEL, "add_prefix_space": True}, "ByteLevel(add_prefix_space=True, use_regex=True)"),
    (None, "none"),
])
def test_unknown_layouts_are_named(pre_tokenizer, shown):
    with pytest.raises(CheckpointError) as err:
        identify_pre(Path("tokenizer.json"), pre_tokenizer)
    assert shown in str(err.value) and "smollm" in str(err.value) and "\n" not in str(err.value)


def _variant(real_ckpt: Path, folder: Path, edit) -> Path:
    folder.mkdir()
    for name in ("config.json", "tokenizer_config.json", "model.safetensors.index.json"):
        shutil.copy(real_ckpt / name, folder / name)
    for shard in real_ckpt.glob("*.safetensors"):
        (folder / shard.name).symlink_to(shard)
    data = json.loads((real_ckpt / "tokenizer.json").read_text(encoding="utf-8"))
    edit(data)
    (folder / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return folder


def _vocab_only_gguf(folder: Path, out: Path) -> Path:
    config = read_checkpoint(folder).config
    writer = gguf.GGUFWriter(out, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    add_model_metadata(writer, config, read_vocab(folder, config, folder.name), folder.name,
                       gguf.LlamaFileType.ALL_F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    return out


@pytest.mark.parametrize("name", LAYOUTS)
def test_each_known_name_splits_as_its_layout(real_ckpt, tmp_path, name):
    """llama.cpp under the chosen name == `tokenizers` under the tokenizer.json layout (SmolLM2's vocabulary)."""
    def edit(data):
        data["pre_tokenizer"] = LAYOUTS[name]
        data["model"]["ignore_merges"] = name == "llama-bpe"  # as Llama 3 ships it, and llama.cpp applies it

    folder = _variant(real_ckpt, tmp_path / name, edit)
    reference = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    _, unseen = split_corpus()
    samples = [read_text(p) for p in unseen[1::15]] + ["x = 1234567 + 89\n\n\n  y's  'LL \t\r\n   z"]
    with load_vocab(_vocab_only_gguf(folder, tmp_path / f"{name}.gguf")) as vocab:
        for text in samples:
            assert vocab.tokenize(text) == reference.encode(text, add_special_tokens=False).ids


def test_list_form_merges_read_like_string_form(real_ckpt, tmp_path):
    folder = _variant(real_ckpt, tmp_path / "lists",
                      lambda d: d["model"].update(merges=[m.split(" ") for m in d["model"]["merges"]]))
    assert read_bpe(folder / "tokenizer.json").merges == read_bpe(real_ckpt / "tokenizer.json").merges


def _tiny(folder: Path, added: list[dict], post_processor=None, **tok_config) -> Path:
    folder.mkdir()
    vocab = {"a": 0, "b": 1, "ab": 2, "Ġ": 4}  # id 3 is a gap
    (folder / "tokenizer.json").write_text(json.dumps({
        "added_tokens": added, "normalizer": None, "pre_tokenizer": LAYOUTS["gpt-2"],
        "post_processor": post_processor, "model": {"type": "BPE", "vocab": vocab, "merges": [["a", "b"]]},
    }))
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config))
    return folder


def _config(vocab_size: int):
    from opencoder_convert.checkpoint import parse_config

    return parse_config({"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "num_hidden_layers": 1,
                         "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": vocab_size})


def test_added_tokens_types_gaps_and_padding(tmp_path):
    added = [{"id": 5, "content": "<|begin|>", "special": True}, {"id": 6, "content": "<tool>", "special": False}]
    folder = _tiny(tmp_path / "t", added, bos_token="<|begin|>", eos_token={"content": "<tool>"})
    vocab = read_vocab(folder, _config(9), "tiny")
    T = gguf.TokenType
    assert vocab.model == "gpt2" and vocab.pre == "gpt-2" and vocab.merges == ["a b"]
    assert vocab.tokens == ["a", "b", "ab", "[PAD3]", "Ġ", "<|begin|>", "<tool>", "[PAD7]", "[PAD8]"]
    assert vocab.types == [T.NORMAL] * 3 + [T.UNUSED, T.NORMAL, T.CONTROL, T.USER_DEFINED, T.UNUSED, T.UNUSED]
    assert vocab.special_ids == {"bos": 5, "eos": 6}
    assert vocab.add_bos is False and vocab.scores is None


def test_add_bos_from_template_post_processor_unless_config_says(tmp_path):
    template = {"type": "Sequence", "processors": [{"type": "ByteLevel"}, {"type": "TemplateProcessing", "single": [
        {"SpecialToken": {"id": "<|begin|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]}]}
    added = [{"id": 5, "content": "<|begin|>", "special": True}]
    assert read_vocab(_tiny(tmp_path / "a", added, template, bos_token="<|begin|>"), _config(6), "t").add_bos
    vocab = read_vocab(_tiny(tmp_path / "b", added, template, bos_token="<|begin|>", add_bos_token=False),
                       _config(6), "t")
    assert vocab.add_bos is False and vocab.add_eos is False


def _fails(capsys, folder: Path, out: Path) -> str:
    assert main([str(folder), "--outtype", "f16", "-o", str(out)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("opencoder-convert: error: ")
    assert not out.exists() and not list(out.parent.glob("*.gguf"))
    return err[0]


def test_cli_refuses_unknown_pre_tokenizer_in_one_line(real_ckpt, tmp_path, capsys):
    folder = _variant(real_ckpt, tmp_path / "ws", lambda d: d.update(pre_tokenizer={"type": "WhitespaceSplit"}))
    line = _fails(capsys, folder, tmp_path / "out.gguf")
    assert "WhitespaceSplit()" in line and "pre-tokenizer" in line


def test_cli_refuses_non_bpe_and_normalized_tokenizers(real_ckpt, tmp_path, capsys):
    folder = _variant(real_ckpt, tmp_path / "wp", lambda d: d["model"].update(type="WordPiece"))
    assert "WordPiece" in _fails(capsys, folder, tmp_path / "out.gguf")
    folder = _variant(real_ckpt, tmp_path / "nfc", lambda d: d.update(normalizer={"type": "NFC"}))
    assert "NFC normalizer" in _fails(capsys, folder, tmp_path / "out2.gguf")
