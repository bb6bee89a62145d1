"""The output appears only when complete: Ctrl+C, a full disk or an error leave nothing behind."""

from __future__ import annotations

import errno
import io
import os
import stat

import pytest

from opencoder_convert import pipeline, writer
from opencoder_convert.cli import main
from opencoder_local.progress import TerminalBar


def interrupt_after(n_calls: int, exc: BaseException):
    real = writer.convert_rows
    calls = {"n": 0}

    def convert_rows(*args):
        calls["n"] += 1
        if calls["n"] > n_calls:
            raise exc
        return real(*args)

    return convert_rows


def run(ckpt, out_dir, outtype="f16") -> int:
    return main([str(ckpt), "--outtype", outtype, "-o", str(out_dir / "m.gguf")])


def test_ctrl_c_mid_stream_exits_130_and_leaves_nothing(ckpt_8b, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(writer, "convert_rows", interrupt_after(5, KeyboardInterrupt()))
    assert run(ckpt_8b, tmp_path) == 130
    assert capsys.readouterr().err.strip() == "opencoder-convert: interrupted; no output file was written"
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_quantizing_removes_both_temp_files(ckpt_8b, tmp_path, monkeypatch, capsys):
    def quantize(source, dest, *args, **kwargs):
        assert source.exists() and dest.exists()
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "quantize", quantize)
    assert run(ckpt_8b, tmp_path, "q4_k_m") == 130
    assert list(tmp_path.iterdir()) == []


def test_disk_full_mid_write_is_one_line(ckpt_8b, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(writer, "convert_rows", interrupt_after(3, OSError(errno.ENOSPC, "No space left on device")))
    assert run(ckpt_8b, tmp_path) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "disk full" in err
    assert list(tmp_path.iterdir()) == []


def test_too_little_space_is_refused_before_writing(ckpt_8b, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(writer.shutil, "disk_usage", lambda _: type("U", (), {"free": 1000})())
    assert run(ckpt_8b, tmp_path) == 1
    assert "not enough disk space" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_internal_bug_still_raises_and_cleans_up(ckpt_8b, tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "convert_rows", interrupt_after(2, RuntimeError("bug")))
    with pytest.raises(RuntimeError):
        run(ckpt_8b, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_success_is_quiet_when_not_a_terminal(ckpt_8b, tmp_path, capsys):
    assert run(ckpt_8b, tmp_path) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.strip() == f"wrote {tmp_path / 'm.gguf'}"
    assert [p.name for p in tmp_path.iterdir()] == ["m.gguf"]


def test_progress_bar_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = TerminalBar("converting", 2_000_000_000, "B", stream)
    bar.advance(1_000_000_000)
    bar.close()
    text = stream.getvalue()
    assert "1.00 GB / 2.00 GB" in text and "MB/s" in text and "ETA" in text


def test_the_output_gets_normal_permissions_without_touching_the_process_umask(ckpt_8b, tmp_path, monkeypatch):
    # os.umask sets a process-wide value: reading it that way races with every other thread.
    def umask(_mask):
        raise AssertionError("os.umask was called")

    probe = tmp_path / "probe"
    probe.touch()
    monkeypatch.setattr(os, "umask", umask)
    assert run(ckpt_8b, tmp_path) == 0
    assert stat.S_IMODE((tmp_path / "m.gguf").stat().st_mode) == stat.S_IMODE(probe.stat().st_mode)
