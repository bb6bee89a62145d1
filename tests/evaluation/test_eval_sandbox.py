"""Hostile solutions, each run for real in the sandbox and contained."""

from __future__ import annotations

import os
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from opencoder_local.evaluation.sandbox import Limits, open_sandbox

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the Linux sandbox (macOS: checked on paper)")


@pytest.fixture(scope="module")
def sandbox():
    return open_sandbox(no_sandbox=False, limits=Limits(time_s=3.0, grace_s=2.0))


def run(sandbox, code: str):
    return sandbox.run(textwrap.dedent(code))


def test_a_right_answer_passes_and_a_wrong_one_is_a_wrong_answer(sandbox):
    assert run(sandbox, "assert 1 + 1 == 2\n").passed
    outcome = run(sandbox, "assert 1 + 1 == 3\n")
    assert (outcome.passed, outcome.reason) == (False, "wrong answer")


def test_no_write_outside_its_folder(sandbox, tmp_path):
    target = tmp_path / "other" / "escaped.txt"
    target.parent.mkdir()
    outcome = run(sandbox, f"open({str(target)!r}, 'w').write('x')\n")
    assert outcome.reason == "PermissionError"
    assert not target.exists()


def test_its_own_folder_is_writable(sandbox):
    assert run(sandbox, "open('scratch.txt', 'w').write('x'); assert open('scratch.txt').read() == 'x'\n").passed


def test_no_connection_even_to_127_0_0_1(sandbox):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        outcome = run(sandbox, f"""
            import socket
            socket.create_connection(("127.0.0.1", {port}), timeout=1).sendall(b"leak")
        """)
        listener.settimeout(0.5)
        with pytest.raises(socket.timeout):
            listener.accept()
    assert not outcome.passed


def test_a_spinning_program_is_stopped_at_the_time_limit(sandbox):
    start = time.monotonic()
    outcome = run(sandbox, "while True:\n    pass\n")
    assert outcome.reason == "time limit"
    assert time.monotonic() - start < 3.0 + 2.0 + 5


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            continue
    return found


def test_forty_children_that_setsid_die_with_the_program(sandbox):
    marker = f"opencoder-eval-straggler-{os.getpid()}"
    outcome = run(sandbox, f"""
        import os, sys
        for _ in range(40):
            if os.fork() == 0:
                os.setsid()
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", {marker!r}])
        import time
        time.sleep(0.5)
    """)
    assert outcome.passed  # they started: the program ended normally
    time.sleep(0.3)
    assert _processes_with(marker) == []


def test_four_gigabytes_are_refused(sandbox):
    assert run(sandbox, "x = bytearray(4 * 1024 ** 3)\n").reason == "MemoryError"


def test_the_home_folder_is_not_readable(sandbox, tmp_path, monkeypatch):
    home = tmp_path / "fake-home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("SECRET KEY")
    monkeypatch.setenv("HOME", str(home))
    outcome = run(sandbox, f"""
        import os
        for path in ({str(home / ".ssh" / "id_rsa")!r}, os.path.expanduser("~/.ssh/id_rsa")):
            try:
                print(open(path).read())
            except OSError:
                continue
            raise SystemExit(0)
        raise SystemExit(1)
    """)
    assert not outcome.passed


def test_the_environment_is_clean(sandbox, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    assert run(sandbox, """
        import os
        assert "HF_TOKEN" not in os.environ and "OPENAI_API_KEY" not in os.environ
        assert os.environ["HOME"] == os.getcwd()
    """).passed


def test_killing_its_parent_harms_nothing_outside(sandbox):
    outcome = run(sandbox, """
        import os, signal
        for target in (os.getppid(), 0, -1):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass
        assert False
    """)
    assert not outcome.passed
    assert run(sandbox, "pass\n").passed  # and the next program runs as before


def test_a_hundred_megabytes_of_output_go_nowhere(sandbox):
    outcome = run(sandbox, "import sys\nsys.stdout.write('x' * 100_000_000)\n")
    assert outcome.passed
    assert outcome.seconds < 3.0 + 2.0 + 5


def test_the_macos_profile_denies_the_network_and_writes_outside_the_folder(tmp_path):
    from opencoder_local.evaluation.sandbox import macos_profile

    profile = macos_profile(str(tmp_path)).splitlines()
    assert "(deny network*)" in profile and "(deny file-write*)" in profile
    allowed = next(line for line in profile if line.startswith("(allow file-write*"))
    assert f'(subpath "{os.path.realpath(tmp_path)}")' in allowed
    assert profile.index("(deny file-write*)") < profile.index(allowed)  # the later rule wins


def test_a_kernel_without_landlock_or_namespaces_is_refused_in_one_line(monkeypatch):
    from opencoder_local.evaluation import sandbox as module

    monkeypatch.setattr(module.Sandbox, "_launch", lambda self, code, folder: {"unsupported": "no Landlock"})
    with pytest.raises(module.SandboxUnavailable, match="no Landlock; --no-sandbox runs it with rlimits alone"):
        module.open_sandbox(no_sandbox=False)
