"""Every user mistake: one line on stderr, a non-zero exit, no traceback, nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from opencoder_convert.cli import main


@pytest.fixture
def ckpt(ckpt_8b, tmp_path) -> Path:
    return Path(shutil.copytree(ckpt_8b, tmp_path / "OpenCoder-8B-Instruct"))


@pytest.fixture
def out_dir(tmp_path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def fails(capsys, ckpt: Path, out_dir: Path, *extra: str, outtype: str = "f16") -> str:
    code = main([str(ckpt), "--outtype", outtype, "-o", str(out_dir / "m.gguf"), *extra])
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("opencoder-convert: error: "), err
    assert "Traceback" not in err
    assert list(out_dir.iterdir()) == [] and not list(ckpt.parent.glob("*.gguf"))
    return lines[0]


def edit_config(ckpt: Path, **changes) -> None:
    config = json.loads((ckpt / "config.json").read_text())
    config.update(changes)
    (ckpt / "config.json").write_text(json.dumps(config))


def test_no_config(capsys, ckpt, out_dir):
    (ckpt / "config.json").unlink()
    assert "no config.json" in fails(capsys, ckpt, out_dir)


def test_unsupported_architecture_names_the_supported_one(capsys, ckpt, out_dir):
    edit_config(ckpt, architectures=["GPT2LMHeadModel"])
    line = fails(capsys, ckpt, out_dir)
    assert "GPT2LMHeadModel" in line and "LlamaForCausalLM" in line


def test_missing_tokenizer(capsys, ckpt, out_dir):
    (ckpt / "tokenizer.model").unlink()
    assert "tokenizer" in fails(capsys, ckpt, out_dir)


def test_tokenizer_json_without_a_bpe_model(capsys, ckpt, out_dir):
    (ckpt / "tokenizer.model").unlink()
    (ckpt / "tokenizer.json").write_text("{}")
    assert "tokenizer.json" in fails(capsys, ckpt, out_dir)


def test_unreadable_tokenizer(capsys, ckpt, out_dir):
    (ckpt / "tokenizer.model").write_bytes(b"\xff\xff\xff not a protobuf")
    assert "SentencePiece" in fails(capsys, ckpt, out_dir)


def test_truncated_safetensors(capsys, ckpt, out_dir):
    shard = sorted(ckpt.glob("*.safetensors"))[1]
    shard.write_bytes(shard.read_bytes()[:-1000])
    assert "truncated" in fails(capsys, ckpt, out_dir)


def test_corrupt_safetensors_header(capsys, ckpt, out_dir):
    shard = sorted(ckpt.glob("*.safetensors"))[0]
    data = bytearray(shard.read_bytes())
    data[8:20] = b"#garbage####"
    shard.write_bytes(bytes(data))
    assert "corrupt" in fails(capsys, ckpt, out_dir)


def test_missing_shard(capsys, ckpt, out_dir):
    sorted(ckpt.glob("*.safetensors"))[2].unlink()
    assert "missing" in fails(capsys, ckpt, out_dir)


def test_shape_contradicts_config(capsys, ckpt, out_dir):
    edit_config(ckpt, intermediate_size=768)
    line = fails(capsys, ckpt, out_dir)
    assert "shape" in line and "config.json" in line


def test_pickle_only_checkpoint_is_refused(capsys, ckpt, out_dir):
    for file in ckpt.glob("*.safetensors*"):
        file.unlink()
    (ckpt / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    assert "never unpickles" in fails(capsys, ckpt, out_dir)


def test_output_folder_missing(capsys, ckpt, out_dir):
    code = main([str(ckpt), "--outtype", "f16", "-o", str(out_dir / "nope" / "m.gguf")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "does not exist" in err


def test_output_path_under_a_file(capsys, ckpt, out_dir):
    blocker = out_dir / "file"
    blocker.write_text("x")
    code = main([str(ckpt), "--outtype", "f16", "-o", str(blocker / "m.gguf")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "cannot write" in err
    assert list(out_dir.iterdir()) == [blocker]


def test_unknown_output_type(capsys, ckpt, out_dir):
    line = fails(capsys, ckpt, out_dir, outtype="q3_xyz")
    assert "q3_xyz" in line and "q4_k_m" in line


def test_checkpoint_folder_missing(capsys, tmp_path, out_dir):
    assert "not found" in fails(capsys, tmp_path / "nothing", out_dir)


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "file, change",
    [
        ("tokenizer_config.json", lambda d: d["added_tokens_decoder"].update({"1500": {"special": True}})),
        ("added_tokens.json", lambda d: d.update({"<|x|>": "not a number"})),
        ("tokenizer_config.json", lambda d: (d.pop("bos_token", None), d.update({"added_tokens_decoder": []}))),
    ],
)
def test_malformed_tokenizer_files(capsys, ckpt, out_dir, file, change):
    _edit_json(ckpt / file, change)
    assert "tokenizer files are malformed" in fails(capsys, ckpt, out_dir)


def test_weight_map_naming_no_file(capsys, ckpt, out_dir):
    _edit_json(ckpt / "model.safetensors.index.json",
               lambda d: d["weight_map"].update({next(iter(d["weight_map"])): 7}))
    assert "weight_map" in fails(capsys, ckpt, out_dir)


def test_architectures_as_a_plain_string_is_read(capsys, ckpt, out_dir):
    edit_config(ckpt, architectures="LlamaForCausalLM")
    assert main([str(ckpt), "--outtype", "f16", "-o", str(out_dir / "m.gguf")]) == 0
