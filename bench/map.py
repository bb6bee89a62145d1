"""Project-map benchmark on a real project no test uses (by default a copy of this Python's standard
library, tests included: about 2,000 files). Every figure is measured in this run.

(a) `opencoder-chat -p Q --show-prompt` wall and CPU time, as a person runs it: without the map
    (the baseline), with it on a cold symbol cache (target < 8 s), and again warm (target < 1 s more
    than the baseline)
(b) tokens per map (the demo model's own tokenizer) at the default budgets of a 4K and an 8K window
(c) recall: for 50 questions made from the project's own functions ("What does F do?", "Who calls
    F?"), the share whose map shows F's defining file, and the share that also shows a file using F
    (target: defining file >= 90% at 1,024 tokens)

Run: python bench/map.py [--project DIR] [--questions 50]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from opencoder_local.context.project_files import list_files
from opencoder_local.context.repo_map import ProjectMap, default_map_tokens
from opencoder_local.context.window import text_counter
from opencoder_local.engine.prompt_format import PromptFormat
from opencoder_local.models.registry import model_file


def stdlib_copy(into: Path) -> Path:
    """The standard library's .py files (not site-packages), copied: its own folder may sit inside a
    git repository that ignores it (pyenv's does), and then no listing would see a file."""
    source = Path(sysconfig.get_paths()["stdlib"])
    root = into / "stdlib"
    for path in source.rglob("*.py"):
        relative = path.relative_to(source)
        if relative.parts[0] in ("site-packages", "__pycache__") or any(p.startswith(".") for p in relative.parts):
            continue
        (root / relative.parent).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, root / relative)
    return root


def show_prompt(project: Path, home: Path, question: str, *flags: str) -> tuple[float, float, str]:
    """Wall and CPU seconds of one `--show-prompt`, and what it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "opencoder_local.cli", "chat", "--model", "demo", "-p", question,
                           "--show-prompt", "--project", str(project), *flags],
                          capture_output=True, text=True, env={**os.environ, "OPENCODER_HOME": str(home)})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"--show-prompt failed: {done.stderr.strip()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout


def timings(project: Path, home: Path, question: str) -> None:
    base_wall, base_cpu, _ = show_prompt(project, home, question, "--map-tokens", "0")
    cold_wall, cold_cpu, _ = show_prompt(project, home, question)
    warm = [show_prompt(project, home, question) for _ in range(3)]
    warm_wall = sorted(w for w, _c, _o in warm)[1]
    warm_cpu = sorted(c for _w, c, _o in warm)[1]
    print(f"(a) --show-prompt: without the map {base_wall:.2f} s wall ({base_cpu:.2f} s CPU); with it, cold cache "
          f"{cold_wall:.2f} s ({cold_cpu:.2f} s CPU, target < 8 s), warm {warm_wall:.2f} s ({warm_cpu:.2f} s CPU); "
          f"the map adds {warm_wall - base_wall:.2f} s warm (target < 1 s)")


def questions(project_map: ProjectMap, n: int, seed: int = 7):
    """(question, F, its defining file, the files using F) for functions defined once with a user elsewhere."""
    files = project_map.symbols.files()
    defined: dict[str, list[str]] = {}
    for path, symbols in files.items():
        for definition in symbols.definitions:
            if definition.signature.lstrip().startswith(("def ", "async def ")):
                defined.setdefault(definition.name, []).append(path)
    using: dict[str, list[str]] = {}
    for path, symbols in sorted(files.items()):
        for name in symbols.references:
            using.setdefault(name, []).append(path)
    candidates = []
    for name, paths in sorted(defined.items()):
        if len(set(paths)) != 1 or len(name) < 6 or name.startswith("_"):
            continue
        users = [path for path in using.get(name, ()) if path != paths[0]]
        if users:
            candidates.append((name, paths[0], users))
    picked = random.Random(seed).sample(candidates, min(n, len(candidates)))
    return [((f"What does {name} do?" if i % 2 == 0 else f"Who calls {name}?"), name, path, users)
            for i, (name, path, users) in enumerate(picked)]


def recall(project_map: ProjectMap, count, asked, budget: int) -> None:
    defining = caller = 0
    tokens, seconds = [], []
    for question, _name, path, users in asked:
        started = time.perf_counter()
        found = project_map.render(project_map.focus(question), set(), budget, count)
        seconds.append(time.perf_counter() - started)
        tokens.append(found.tokens)
        if path in found.files:
            defining += 1
            caller += any(user in found.files for user in users)
    n = len(asked)
    print(f"(c) recall at {budget:,} tokens, {n} questions: defining file {defining / n:.0%}"
          f" (target >= 90%), defining file and a caller {caller / n:.0%}; map tokens median "
          f"{sorted(tokens)[n // 2]:,} (max {max(tokens):,}); ranking and fitting {sorted(seconds)[n // 2] * 1000:.0f} ms "
          f"median per question")


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a project folder (default: a copy of the standard library)")
    parser.add_argument("--questions", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        project = args.project or stdlib_copy(Path(folder))
        listed = sum(1 for _ in list_files(project))
        print(f"project: {project} ({listed:,} files)")
        home = Path(folder) / "home"
        timings(project, home, "Who calls urlsplit?")
        os.environ["OPENCODER_HOME"] = str(home)  # the cache the runs above made
        project_map = ProjectMap(project)
        prompt_format = PromptFormat.vocab_only(model_file("demo"))
        try:
            count = text_counter(prompt_format)
            for n_ctx in (4096, 8192):
                budget = default_map_tokens(n_ctx)
                found = project_map.render(project_map.focus("Who calls urlsplit?"), set(), budget, count)
                print(f"(b) a {n_ctx:,}-token window: budget {budget:,}, map {found.tokens:,} tokens, "
                      f"{len(found.files)} files, {found.text.count(chr(10)) - 1} lines")
            asked = questions(project_map, args.questions)
            for budget in (1024, 512):
                recall(project_map, count, asked, budget)
        finally:
            prompt_format.close()


if __name__ == "__main__":
    main()
