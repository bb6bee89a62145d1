"""The project map on real files: ranking for the question, the budget, stability across turns, the
symbol cache on disk, liveness through a real watcher, and bad input that never raises."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from opencoder_local.context import project_symbols
from opencoder_local.context.project_symbols import ProjectSymbols, cache_file
from opencoder_local.context.repo_map import Focus, ProjectMap, default_map_tokens, map_budget, next_focus


def chars(text: str) -> int:
    """A stand-in counter for tests that need no model: about four characters a token."""
    return -(-len(text) // 4)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "billing").mkdir(parents=True)
    (root / "billing" / "tax.py").write_text(
        "RATES = [0.1, 0.2]\n\n\ndef compute_tax_bracket(income: float) -> float:\n    return income * RATES[0]\n\n\n"
        "class Ledger:\n    def post(self, amount):\n        pass\n")
    (root / "billing" / "payroll.py").write_text(
        "from billing.tax import compute_tax_bracket\n\n\ndef run_payroll(salary):\n"
        "    return salary - compute_tax_bracket(salary)\n")
    for i in range(12):
        (root / f"module_{i:02}.py").write_text(
            "".join(f"def helper_{i}_{j}(value):\n    return value + {j}\n\n" for j in range(8)))
    (root / "web").mkdir()
    (root / "web" / "app.js").write_text("export function startServer(port) {\n  return listen(port);\n}\n")
    (root / "README.md").write_text("# Billing\n")
    return root


def test_the_map_ranks_the_named_definition_first_then_a_caller_within_the_budget(project):
    project_map = ProjectMap(project)
    focus = project_map.focus("Where is compute_tax_bracket used?")
    assert focus == Focus(frozenset({"compute_tax_bracket"}), frozenset())
    found = project_map.render(focus, set(), 120, chars)
    assert found.files[:2] == ("billing/tax.py", "billing/payroll.py")
    assert "billing/tax.py:\n  def compute_tax_bracket(income: float) -> float:" in found.text
    assert "  def run_payroll(salary):" in found.text
    assert found.tokens == chars(found.text) <= 120
    assert "return income" not in found.text  # bodies are left out


def test_files_in_the_working_set_are_left_out_and_a_named_path_ranks_its_file(project):
    project_map = ProjectMap(project)
    focus = project_map.focus("What is in web/app.js?")
    assert focus.paths == {"web/app.js"}
    found = project_map.render(focus, {"billing/tax.py"}, 200, chars)
    assert found.files[0] == "web/app.js" and "billing/tax.py" not in found.files
    assert project_map.ranked_files(focus, {"billing/tax.py"})[0] == "web/app.js"


@pytest.mark.parametrize("budget", [0, 20, 60, 150, 400])
def test_the_map_never_exceeds_its_budget(project, budget):
    found = ProjectMap(project).render(Focus(), set(), budget, chars)
    assert found.tokens <= budget and chars(found.text) == found.tokens
    assert (found.text == "") == (budget < 40)  # the header alone is no map


def test_the_default_budget_is_an_eighth_of_the_window_between_256_and_1024():
    assert [default_map_tokens(n) for n in (512, 4096, 8192, 32768)] == [256, 512, 1024, 1024]
    assert map_budget(None, 4096, 10_000) == 512 - 2 and map_budget(0, 4096, 10_000) == 0
    assert map_budget(700, 4096, 300) == 298 and map_budget(None, 4096, -5) == 0


def test_the_focus_moves_only_when_a_question_brings_something_new():
    first = Focus(frozenset({"compute_tax_bracket"}))
    assert next_focus(first, Focus()) is first  # "and why?" keeps the map as it was
    assert next_focus(first, first) is first
    other = Focus(frozenset({"run_payroll"}))
    assert next_focus(first, other) == other


def test_the_same_inputs_give_the_same_map_byte_for_byte(project):
    focus = ProjectMap(project).focus("compute_tax_bracket")
    texts = {ProjectMap(project).render(focus, set(), 200, chars).text for _ in range(3)}
    assert len(texts) == 1


def test_a_map_scanned_apart_is_never_waited_for_by_a_reader(project, monkeypatch):
    """The app's turn, count and chips read the map while its worker makes the first scan: they get
    what is there (nothing, before the first scan ends) at once, never a scan of their own."""
    parsing, release = threading.Event(), threading.Event()
    real = project_symbols.parse_symbols

    def slow(path, source):
        parsing.set()
        release.wait(30)
        return real(path, source)

    monkeypatch.setattr(project_symbols, "parse_symbols", slow)
    project_map = ProjectMap(project, ProjectSymbols(project, scan_on_read=False))
    focus = project_map.focus("Where is compute_tax_bracket used?")  # before any scan: reads, never scans
    assert focus == Focus() and not parsing.is_set()
    worker = threading.Thread(target=project_map.symbols.files, kwargs={"wait": True})
    worker.start()
    try:
        assert parsing.wait(30)
        found = project_map.render(project_map.focus("Where is compute_tax_bracket used?"), set(), 120, chars)
        assert found.text == "" and worker.is_alive()  # the scan is still held up: the reader did not wait
    finally:
        release.set()
        worker.join(30)
    found = project_map.render(project_map.focus("Where is compute_tax_bracket used?"), set(), 120, chars)
    assert found.files[:2] == ("billing/tax.py", "billing/payroll.py")


def test_a_second_scan_reads_the_cache_and_parses_only_what_changed(project, monkeypatch):
    first = ProjectSymbols(project).files()
    assert cache_file(project).is_file() and set(first) == {
        "billing/tax.py", "billing/payroll.py", "web/app.js", *(f"module_{i:02}.py" for i in range(12))}
    parsed: list[str] = []
    real = project_symbols.parse_symbols
    monkeypatch.setattr(project_symbols, "parse_symbols", lambda path, source: parsed.append(path) or real(path, source))
    assert ProjectSymbols(project).files() == first and parsed == []
    (project / "web" / "app.js").write_text("export function stopServer() {}\n")
    again = ProjectSymbols(project).files()
    assert parsed == ["web/app.js"] and [d.name for d in again["web/app.js"].definitions] == ["stopServer"]


def test_a_cache_from_other_grammars_or_a_broken_cache_is_parsed_again(project, monkeypatch):
    ProjectSymbols(project).files()
    cache_file(project).write_text("{not json")
    assert "billing/tax.py" in ProjectSymbols(project).files()
    monkeypatch.setattr(project_symbols, "grammar_versions", lambda: "another grammar")
    parsed = []
    real = project_symbols.parse_symbols
    monkeypatch.setattr(project_symbols, "parse_symbols", lambda path, source: parsed.append(path) or real(path, source))
    ProjectSymbols(project).files()
    assert len(parsed) == 15


def test_changed_files_are_read_again_new_ones_added_and_ignored_ones_not(project):
    subprocess_git(project)
    symbols = ProjectSymbols(project)
    symbols.files()
    version = symbols.version
    (project / "billing" / "tax.py").write_text("def flat_tax(income):\n    return income / 10\n")
    (project / "web" / "app.js").unlink()
    (project / "new.go").write_text("package main\n\nfunc Serve() {}\n")
    (project / "build").mkdir()
    (project / "build" / "gen.py").write_text("def generated():\n    pass\n")
    assert symbols.changed({project / "billing" / "tax.py", project / "web" / "app.js", project / "new.go",
                            project / "build" / "gen.py", project / "README.md"})
    files = symbols.files()
    assert [d.name for d in files["billing/tax.py"].definitions] == ["flat_tax"]
    assert "web/app.js" not in files and "new.go" in files and "build/gen.py" not in files
    assert symbols.version > version
    assert not symbols.changed({project / "README.md"})


def subprocess_git(root: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    (root / ".gitignore").write_text("build/\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)


def test_a_real_watcher_keeps_the_map_current(project):
    from opencoder_local.context.watcher import WorkingSetWatcher

    project_map = ProjectMap(project)
    project_map.symbols.files()
    updated = threading.Event()

    def changed(paths):
        if project_map.symbols.changed(paths):
            updated.set()

    watcher = WorkingSetWatcher(changed)
    watcher.watch_tree(project)
    try:
        (project / "billing" / "refunds.py").write_text("def issue_refund(order):\n    pass\n")
        assert updated.wait(10), "the watcher never reported the new file"
    finally:
        watcher.stop()
    focus = project_map.focus("How does issue_refund work?")
    assert "billing/refunds.py" in project_map.render(focus, set(), 200, chars).files


def test_bad_files_are_left_out_and_the_rest_is_mapped(project, monkeypatch):
    (project / "fake.py").write_bytes(b"\x00\x01\x02 binary named .py")
    (project / "bundle.min.js").write_text("function a(){return 1}" * 250_000)  # 5.5 MB of minified code
    (project / "latin1.py").write_bytes("def café():\n    return 'é'\n".encode("latin-1"))
    (project / "loop.py").symlink_to(project / "loop.py")
    (project / "gone.py").write_text("def vanishing():\n    pass\n")
    real = project_symbols.read_text

    def vanish(path, *args):
        if Path(path).name == "gone.py":
            os.unlink(path)  # deleted between the listing and the read
        return real(path, *args)

    monkeypatch.setattr(project_symbols, "read_text", vanish)
    files = ProjectSymbols(project).files()
    assert files["fake.py"].definitions == () and files["bundle.min.js"].definitions == ()
    assert "loop.py" not in files and "gone.py" not in files
    assert files["latin1.py"].definitions  # not UTF-8: read with replacement characters
    assert "compute_tax_bracket" in {d.name for d in files["billing/tax.py"].definitions}


def test_a_project_over_the_cap_is_mapped_up_to_it_with_a_notice_naming_it(project, monkeypatch):
    monkeypatch.setattr(project_symbols, "MAX_MAP_FILES", 5)
    symbols = ProjectSymbols(project)
    assert len(symbols.files()) == 5
    assert symbols.notices == ["the project has more than 5 source files: the map covers the first 5"]


def test_a_huge_folder_is_not_walked_whole(project, monkeypatch):
    monkeypatch.setattr(project_symbols, "MAX_LISTED", 4)
    symbols = ProjectSymbols(project)
    assert len(symbols.files()) <= 4
    assert symbols.notices == ["the project has more than 4 files: the map covers the source files among the first 4"]
