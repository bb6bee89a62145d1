"""The review's diff: the same text as difflib's unified diff, and the new text with chosen hunks only."""

from __future__ import annotations

import difflib
import random

from opencoder_local.context.diffs import NO_NEWLINE, diff_text

OLD = "".join(f"line {n}\n" for n in range(1, 41))
NEW = OLD.replace("line 3\n", "line three\n").replace("line 30\n", "line 30\nline 30.5\n").replace("line 38\n", "")


def test_the_unified_text_is_difflibs():
    diff = diff_text(OLD, NEW)
    expected = "".join(difflib.unified_diff(OLD.splitlines(True), NEW.splitlines(True), "a/f.txt", "b/f.txt"))
    assert diff.unified("f.txt") == expected
    assert (diff.added, diff.removed) == (2, 2)
    assert [h.header for h in diff.hunks] == ["@@ -1,6 +1,6 @@", "@@ -28,6 +28,7 @@", "@@ -35,6 +36,5 @@"]


def test_chosen_hunks_only():
    diff = diff_text(OLD, NEW)
    assert diff.with_hunks(range(len(diff.hunks))) == NEW
    assert diff.with_hunks([]) == OLD
    first_only = diff.with_hunks([0])
    assert "line three\n" in first_only and "line 30.5\n" not in first_only and "line 38\n" in first_only
    assert diff.with_hunks([1, 2]) == NEW.replace("line three", "line 3")


def test_random_edits_round_trip():
    rng = random.Random(7)
    for _ in range(200):
        lines = [f"x{rng.randint(0, 9)}\n" for _ in range(rng.randint(0, 30))]
        changed = list(lines)
        for _ in range(rng.randint(1, 4)):
            where = rng.randint(0, len(changed))
            changed[where:where + rng.randint(0, 2)] = [f"new {rng.random()}\n"] * rng.randint(0, 2)
        old, new = "".join(lines), "".join(changed)
        diff = diff_text(old, new)
        assert diff.with_hunks(range(len(diff.hunks))) == new and diff.with_hunks([]) == old


def test_a_missing_final_newline_is_marked_and_a_new_file_comes_from_dev_null():
    diff = diff_text("a\nb", "a\nc\n")
    assert diff.unified("f") == f"--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n{NO_NEWLINE}\n+c\n"
    created = diff_text("", "hello\n").unified("new.txt", new_file=True)
    assert created == "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hello\n"
    assert diff_text("same\n", "same\n").hunks == []
