"""Real commands through RunningCommand: process groups stopped whole, timeouts, floods in bounded
memory, bytes that are not text, the shell's 127, death by a signal, no stdin, the environment."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from opencoder_local.errors import UserError
from opencoder_local.loop.output import HEAD_BYTES, TAIL_BYTES, CapturedOutput
from opencoder_local.loop.run import RunningCommand, run_command, stop_all_running


def processes_with(args: str) -> list[int]:
    """Live (not zombie) processes whose command line is exactly `args`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            state = Path(f"/proc/{entry}/stat").read_bytes().rpartition(b")")[2].split()[0]
        except OSError:
            continue
        if cmdline == args and state != b"Z":
            found.append(int(entry))
    return found


def wait_for(check, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_stop_ends_the_shell_and_its_background_grandchild(tmp_path):
    running = RunningCommand("sleep 731 & sleep 732", tmp_path).start()
    assert wait_for(lambda: processes_with("sleep 731") and processes_with("sleep 732"))
    running.stop()
    running.stop()  # a second stop is harmless
    result = running.wait(10)
    assert result.stopped and not result.passed and "was stopped after" in result.summary()
    assert wait_for(lambda: not processes_with("sleep 731") and not processes_with("sleep 732"))


def test_stop_ends_a_forked_daemon_that_stays_in_the_group(tmp_path):
    running = RunningCommand("(sleep 733 &) ; sleep 734", tmp_path).start()
    assert wait_for(lambda: processes_with("sleep 733") and processes_with("sleep 734"))
    threading.Thread(target=running.stop).start()  # from another thread, as the app's Esc does
    assert running.wait(10).stopped
    assert wait_for(lambda: not processes_with("sleep 733") and not processes_with("sleep 734"))


def test_sigterm_ignored_is_followed_by_sigkill(tmp_path):
    running = RunningCommand("trap '' TERM; sleep 736 & wait", tmp_path).start()
    assert wait_for(lambda: processes_with("sleep 736"))
    running.stop()
    assert running.wait(10).stopped
    assert wait_for(lambda: not processes_with("sleep 736"))


def test_a_timeout_stops_the_group_in_one_line(tmp_path):
    result = run_command("sleep 737 & sleep 738", tmp_path, timeout_s=0.5)
    assert result.timed_out and not result.stopped and not result.passed
    assert result.summary().startswith("`sleep 737 & sleep 738` timed out after ") and "\n" not in result.summary()
    assert wait_for(lambda: not processes_with("sleep 737") and not processes_with("sleep 738"))


def test_what_the_shell_leaves_behind_on_the_pipe_is_stopped_when_it_ends(tmp_path):
    result = run_command("sleep 739 & echo left", tmp_path)
    assert result.passed and result.output.display_text() == "left\n"
    assert wait_for(lambda: not processes_with("sleep 739"))


def test_exit_status_not_found_and_signals(tmp_path):
    failed = run_command("echo oops; exit 3", tmp_path)
    assert (failed.exit_code, failed.passed, failed.not_found) == (3, False, False)
    assert failed.summary().startswith("`echo oops; exit 3` failed (exit 3) in ")
    missing = run_command("no-such-command-opencoder", tmp_path)
    assert missing.not_found and missing.exit_code == 127 and missing.summary().endswith("not found (the shell's exit 127)")
    assert "not found" in missing.output.display_text()
    segv = run_command("kill -SEGV $$", tmp_path)
    assert (segv.exit_code, segv.signal_name) == (None, "SIGSEGV") and "was killed by SIGSEGV" in segv.summary()
    child_segv = run_command("sh -c 'kill -SEGV $$'; true_exit=$?; exit $true_exit", tmp_path)
    assert (child_segv.exit_code, child_segv.signal_name) == (139, "SIGSEGV")
    passed = run_command("true", tmp_path)
    assert passed.passed and passed.summary().startswith("`true` passed in ")


def test_stdin_gives_nothing_and_the_environment_loses_what_is_dropped(tmp_path, monkeypatch):
    assert run_command("cat", tmp_path, timeout_s=20).passed  # ends at once: stdin is /dev/null
    monkeypatch.setenv("OPENCODER_SECRET_KEY", "hunter2")
    monkeypatch.setenv("OPENCODER_KEPT", "kept")
    result = run_command('echo "[$OPENCODER_SECRET_KEY][$OPENCODER_KEPT]"; pwd', tmp_path,
                         drop_env=["OPENCODER_SECRET_KEY"])
    assert result.output.display_text() == f"[][kept]\n{tmp_path}\n"


def test_colours_bytes_that_are_not_utf8_and_binary_are_shown_printable(tmp_path):
    result = run_command(r"printf '\033[31mred\033[0m \377\376 caf\303\251 \000\007\033]0;title\007end\n'", tmp_path)
    shown = result.output.display_text()
    assert shown == "red \ufffd\ufffd café \\x00\\x07end\n"
    binary = run_command("head -c 20000 /dev/urandom", tmp_path).output.display_text()
    assert "\x1b" not in binary and "\x00" not in binary and "\r" not in binary


def test_on_output_gets_printable_coalesced_text(tmp_path):
    calls: list[str] = []
    result = run_command(r"for i in $(seq 1 2000); do printf '\033[1mline %s\033[0m\n' $i; done; sleep 0.3; echo last",
                         tmp_path, on_output=calls.append)
    assert result.passed
    text = "".join(calls)
    assert text == "".join(f"line {i}\n" for i in range(1, 2001)) + "last\n"
    assert len(calls) < 2001  # coalesced, not a call per line


def test_a_colour_code_cut_between_two_chunks_is_still_removed(tmp_path):
    calls: list[str] = []
    result = run_command(r"printf 'a\033[3'; sleep 0.3; printf '1mred\033[0m\n'", tmp_path, on_output=calls.append)
    assert result.passed and "".join(calls) == "ared\n" and calls[0] == "a"


def test_a_100_mb_flood_keeps_head_tail_and_totals_in_bounded_memory(tmp_path):
    shown = [0]
    result = run_command("seq 1 14000000", tmp_path, on_output=lambda text: shown.__setitem__(0, shown[0] + len(text)))
    output = result.output
    assert result.passed and output.total_lines == 14_000_000 and output.total_bytes > 100_000_000
    assert len(output._head) == HEAD_BYTES and len(output._tail) < 2 * TAIL_BYTES
    text = output.display_text()
    assert text.startswith("1\n2\n3\n") and text.endswith("13999999\n14000000\n")
    assert "lines left out]\n" in text and len(text) < HEAD_BYTES + TAIL_BYTES + 100
    assert 0 < shown[0] < output.total_bytes  # the screen was given a part of the flood, not all of it


def test_captured_output_keeps_everything_when_small_and_counts_lines():
    output = CapturedOutput(head_bytes=8, tail_bytes=8)
    output.feed(b"ab\ncd\n")
    assert output.display_text() == "ab\ncd\n" and output.total_lines == 2
    for i in range(100):
        output.feed(f"line{i}\n".encode())
    text = output.display_text()
    assert text.startswith("ab\ncd\nli") and text.endswith("line99\n") and "lines left out]" in text
    assert output.total_lines == 102


def words(text: str) -> int:
    return len(text.split())


def test_for_model_keeps_head_and_tail_within_the_budget():
    output = CapturedOutput()
    output.feed("".join(f"line number {i}\n" for i in range(1000)).encode())
    whole = output.for_model(words, 100_000)
    assert whole.startswith("line number 0\n") and whole.endswith("line number 999\n") and "left out" not in whole
    cut = output.for_model(words, 300)
    assert words(cut) <= 300
    assert cut.startswith("line number 0\n") and cut.endswith("line number 999\n")
    marker = next(line for line in cut.split("\n") if "left out" in line)
    kept = [line for line in cut.split("\n") if line.startswith("line number")]
    assert marker == f"[{1000 - len(kept):,} lines left out]"
    assert words(cut) > 250  # the budget is used, not wasted
    assert output.for_model(words, 2) == ""  # not even the marker fits


def test_for_model_after_a_flood_says_how_many_lines_in_all_were_left_out():
    output = CapturedOutput(head_bytes=64, tail_bytes=64)
    output.feed("".join(f"row {i}\n" for i in range(10_000)).encode())
    text = output.for_model(words, 40)
    assert words(text) <= 40 and text.endswith("row 9999\n")
    marker = next(line for line in text.split("\n") if "left out" in line)
    kept = sum(line.startswith("row") for line in text.split("\n"))
    assert int(marker.strip("[]").split()[0].replace(",", "")) >= 10_000 - kept - 2  # partial lines at the cuts


def test_for_model_cuts_one_endless_line():
    output = CapturedOutput()
    output.feed(b"x" * 100_000 + b"\nFAILED\n")
    text = output.for_model(len, 5000)
    assert len(text) <= 5000 and "FAILED" in text


def test_stop_all_running_stops_every_command(tmp_path):
    first = RunningCommand("sleep 740", tmp_path).start()
    second = RunningCommand("sleep 741 & wait", tmp_path).start()
    assert wait_for(lambda: processes_with("sleep 740") and processes_with("sleep 741"))
    stop_all_running()
    assert first.wait(0).stopped and second.wait(0).stopped
    assert not processes_with("sleep 740") and wait_for(lambda: not processes_with("sleep 741"))


def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(UserError, match="the command is empty"):
        RunningCommand("  ", tmp_path)
    with pytest.raises(UserError, match="cannot run `true` in .*missing"):
        RunningCommand("true", tmp_path / "missing").start()
