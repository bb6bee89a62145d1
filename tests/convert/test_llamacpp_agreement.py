"""Converted GGUFs run in llama.cpp and agree with the numpy reference forward pass."""

from __future__ import annotations

import pytest

from fixtures.checkpoint import SMALL_8B, write_checkpoint
from opencoder_convert.checkpoint import read_checkpoint
from opencoder_convert.cli import main
from opencoder_convert.verify import verify


@pytest.mark.parametrize("outtype", ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"])
def test_gqa_shape_every_output_type(ckpt_8b, convert, outtype):
    report = verify(read_checkpoint(ckpt_8b), convert(ckpt_8b, outtype), outtype)
    assert report.passed, report.summary()
    if outtype in ("f32", "f16", "bf16"):
        assert report.decisive_top1 == 1.0


@pytest.mark.parametrize("outtype", ["f32", "f16", "q8_0"])
def test_odd_multi_head_shape(ckpt_15b, convert, outtype):
    report = verify(read_checkpoint(ckpt_15b), convert(ckpt_15b, outtype), outtype)
    assert report.passed, report.summary()
    if outtype != "q8_0":
        assert report.decisive_top1 == 1.0


def test_odd_shape_k_quant_falls_back_and_still_runs(ckpt_15b, convert):
    report = verify(read_checkpoint(ckpt_15b), convert(ckpt_15b, "q4_k_m"), "q4_k_m")
    assert report.passed, report.summary()


def test_f32_is_close_to_exact(ckpt_8b, convert):
    report = verify(read_checkpoint(ckpt_8b), convert(ckpt_8b, "f32"), "f32")
    assert report.top1 == 1.0  # raw, near-ties included
    assert report.relative_delta < 0.005


def test_tied_base_model(ckpt_base_tied, convert):
    report = verify(read_checkpoint(ckpt_base_tied), convert(ckpt_base_tied, "f32"), "f32")
    assert report.top1 == 1.0 and report.passed


def test_cli_verify_prints_agreement(ckpt_8b, tmp_path, capsys):
    dest = tmp_path / "out.gguf"
    assert main([str(ckpt_8b), "--outtype", "f16", "-o", str(dest), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "top-1 agreement" in out and "max |delta logit|" in out



@pytest.fixture(scope="module")
def ckpt_8b_reseeded(tmp_path_factory, opencoder_tokenizer_dir, n_tokens):
    """Same shape and tokenizer as ckpt_8b, other weights: what a mixed-up conversion would look like."""
    folder = tmp_path_factory.mktemp("reseeded") / "OpenCoder-8B-Instruct-tiny"
    return write_checkpoint(folder, SMALL_8B, opencoder_tokenizer_dir, n_tokens, shards=3, seed=9)


@pytest.mark.parametrize("outtype", ["f16", "q4_k_m"])
def test_verify_fails_when_the_gguf_holds_other_weights(ckpt_8b, ckpt_8b_reseeded, convert, outtype):
    wrong = verify(read_checkpoint(ckpt_8b), convert(ckpt_8b_reseeded, outtype), outtype)
    assert not wrong.passed, wrong.summary()
