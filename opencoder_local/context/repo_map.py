"""The project map: the files the model has not been given, ranked for the question, shown as their
definitions' signature lines within a token budget.

Ranking is aider's idea in a few lines of numpy: files are nodes, a file that uses a name another
file defines gets an edge to it (weighted by how often, much more for a name the question mentions,
less for a private name or one defined all over), and a personalized PageRank starts its walks at
what the question and the working set point to: the files the question names, the files defining
the names it mentions, and the working set's files. A definition ranks by the rank that flows to it
through the names used; a definition the question names ranks first, then the places that use it.

The map is a pure function of the project's symbols, the working set, the focus and the budget, and
the focus changes only when a question brings names or paths it did not have (`next_focus`): a
follow-up about the same thing gets the same map, byte for byte, and the KV cache stays valid.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection

from opencoder_local.context.file_text import Refused, read_text
from opencoder_local.context.project_symbols import MAX_SOURCE_BYTES, ProjectSymbols
from opencoder_local.context.symbols import SIGNATURE_CHARS, FileSymbols, enclosing

MAP_HEADER = ("Other files of the project, most relevant first: their main definitions, signature lines "
              "only (bodies left out). Ask for a file to see it whole.")
MIN_DEFAULT, MAX_DEFAULT = 256, 1_024
MAX_DEFINERS = 20  # a name defined in more files than this points nowhere in particular
MAX_FOCUS_DEFINERS = 5  # a word of the question defined in more files is not taken as a pointer
FOCUS_WEIGHT = 10.0  # uses of a name the question mentions weigh this much more
NAMED_SCORE = 1.0  # a definition of a name the question mentions comes first,
FILE_NAMED_SCORE = 0.75  # then the definitions of a file it names,
CALLER_SCORE = 0.5  # then the places that use a name it mentions, then the rest (scores under 0.5)
CALLERS_SHOWN = 3  # per name the question mentions: the files using it that are shown
JOIN_TOKENS = 2  # the blank line between the files and the map, and a token merged across it
DAMPING = 0.85
ITERATIONS = 30
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATH = re.compile(r"[\w./-]+\.\w+")


def default_map_tokens(n_ctx: int) -> int:
    """An eighth of the window, at least 256 and at most 1,024 tokens."""
    return max(MIN_DEFAULT, min(MAX_DEFAULT, n_ctx // 8))


def map_budget(map_tokens: int | None, n_ctx: int, free: int) -> int:
    """Tokens the map's text may count: the setting (None: the window's default; 0: no map), never more
    than the room the files and the question leave, less what joining it to the files may add."""
    wanted = default_map_tokens(n_ctx) if map_tokens is None else map_tokens
    return max(0, min(wanted, free) - JOIN_TOKENS) if wanted > 0 else 0


@dataclass(frozen=True)
class Focus:
    """What a question points at: names the project defines, and project files it names."""

    names: frozenset[str] = frozenset()
    paths: frozenset[str] = frozenset()


def next_focus(previous: Focus, asked: Focus) -> Focus:
    """The focus after a question: unchanged unless it brings a name or path the focus lacks."""
    if asked.names <= previous.names and asked.paths <= previous.paths:
        return previous
    return asked


@dataclass(frozen=True)
class RepoMap:
    text: str  # "" when nothing fits or there is nothing to show
    tokens: int
    files: tuple[str, ...]  # the files shown, most relevant first


@dataclass(frozen=True)
class _Ranked:
    score: float
    path: str
    line: int
    signature: str


class ProjectMap:
    """The map of one project folder; every method may be called from any thread."""

    def __init__(self, root: Path, symbols: ProjectSymbols | None = None):
        self.symbols = symbols or ProjectSymbols(root)
        self.root = self.symbols.root
        self._lock = threading.RLock()
        self._graph: tuple[int, _Graph] | None = None
        self._ranked: tuple[tuple, list[_Ranked]] | None = None
        self._memo: tuple[tuple, RepoMap] | None = None

    def focus(self, question: str) -> Focus:
        """The project names and files a question mentions (a name defined all over is no pointer)."""
        graph = self._current()
        names = frozenset(word for word in set(_WORD.findall(question))
                          if 0 < len(graph.defines.get(word, ())) <= MAX_FOCUS_DEFINERS)
        paths = set()
        for word in _PATH.findall(question):
            word = word.strip("./")
            paths.update(path for path in graph.paths if path == word or path.endswith("/" + word))
        return Focus(names, frozenset(paths))

    def render(self, focus: Focus, held: Collection[str], budget: int, count: Callable[[str], int]) -> RepoMap:
        """The map within `budget` tokens (as `count` counts them), leaving out the files in `held`."""
        if budget <= 0:
            return RepoMap("", 0, ())
        with self._lock:
            ranked = self._ranked_for(focus, frozenset(held))
            key = (self.symbols.version, focus, frozenset(held), budget, count)
            if self._memo is None or self._memo[0] != key:
                self._memo = (key, _fit(ranked, budget, count))
            return self._memo[1]

    def ranked_files(self, focus: Focus, held: Collection[str]) -> list[str]:
        """Project files not in `held`, most relevant to the focus first (files without definitions
        are not ranked)."""
        with self._lock:
            ranked = self._ranked_for(focus, frozenset(held))
        return list(dict.fromkeys(item.path for item in ranked))

    def _current(self) -> "_Graph":
        """The reference graph of the project as it is now (rebuilt when a file's symbols change)."""
        with self._lock:
            files = self.symbols.files()
            if self._graph is None or self._graph[0] != self.symbols.version:
                self._graph = (self.symbols.version, _Graph(files))
            return self._graph[1]

    def _ranked_for(self, focus: Focus, held: frozenset[str]) -> list[_Ranked]:
        graph = self._current()
        key = (self.symbols.version, focus, held)
        if self._ranked is None or self._ranked[0] != key:
            self._ranked = (key, rank(self.root, graph, focus, held))
        return self._ranked[1]


class _Graph:
    """Files as nodes, an edge for each name a file uses that another defines (focus not applied)."""

    def __init__(self, files: dict[str, FileSymbols]):
        import numpy as np

        self.files = files
        self.paths = sorted(files)
        self.index = {path: i for i, path in enumerate(self.paths)}
        self.defines = _defined(files)
        self.pairs: dict[tuple[str, str], int] = {}  # (defining file, name) -> its id
        src, dst, weights, names, pairs = [], [], [], [], []
        name_ids: dict[str, int] = {}
        for path, symbols in files.items():
            here = self.index[path]
            for name, uses in symbols.references.items():
                definers = self.defines.get(name)
                if not definers or len(definers) > MAX_DEFINERS:
                    continue
                weight = _weight(name, len(definers)) * math.sqrt(uses)
                name_id = name_ids.setdefault(name, len(name_ids))
                for definer in definers:
                    if definer != path:
                        src.append(here)
                        dst.append(self.index[definer])
                        weights.append(weight)
                        names.append(name_id)
                        pairs.append(self.pairs.setdefault((definer, name), len(self.pairs)))
        self.name_ids = name_ids
        self.src, self.dst = np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)
        self.weights, self.names = np.array(weights, dtype=np.float64), np.array(names, dtype=np.int64)
        self.pair_of_edge = np.array(pairs, dtype=np.int64)


def rank(root: Path, graph: _Graph, focus: Focus, held: frozenset[str]) -> list[_Ranked]:
    """Every definition outside `held` with its score, best first (ties in path and line order)."""
    import numpy as np

    n = len(graph.paths)
    personal = np.zeros(n)
    for path in held | focus.paths:
        if path in graph.index:
            personal[graph.index[path]] += 1.0
    for name in focus.names:
        for path in graph.defines.get(name, ()):
            personal[graph.index[path]] += 1.0
    focused = [graph.name_ids[name] for name in focus.names if name in graph.name_ids]
    weights = graph.weights * np.where(np.isin(graph.names, focused), FOCUS_WEIGHT, 1.0)
    ranks = _pagerank(n, graph.src, graph.dst, weights, personal)
    flow = np.zeros(len(graph.pairs))
    if len(graph.src):
        out = np.bincount(graph.src, weights=weights, minlength=n)
        flow = np.bincount(graph.pair_of_edge, weights=ranks[graph.src] * weights / out[graph.src],
                           minlength=len(graph.pairs))
    scores: dict[tuple[str, int], _Ranked] = {}
    for path, symbols in graph.files.items():
        if path in held:
            continue
        base = float(ranks[graph.index[path]]) * 0.01  # a file's own rank lifts all its definitions a little
        for definition in symbols.definitions:
            pair = graph.pairs.get((path, definition.name))
            score = (float(flow[pair]) if pair is not None else 0.0) + base
            if definition.name in focus.names:
                score += NAMED_SCORE
            elif path in focus.paths:
                score += FILE_NAMED_SCORE
            _keep(scores, _Ranked(score, path, definition.line, definition.signature))
    for name in sorted(focus.names):
        for item in _callers(root, graph, ranks, name, held):
            _keep(scores, item)
    return sorted(scores.values(), key=lambda item: (-item.score, item.path, item.line))


def _weight(name: str, definers: int) -> float:
    weight = 0.1 if name.startswith("_") else 1.0
    return weight * 0.1 if definers > 5 else weight


def _pagerank(n: int, src, dst, weights, personal):
    """Personalized PageRank over the weighted edges; a file with no edges out hands its rank back
    to where the walks start."""
    import numpy as np

    if n == 0:
        return np.zeros(0)
    start = personal / personal.sum() if personal.sum() > 0 else np.full(n, 1.0 / n)
    out = np.bincount(src, weights=weights, minlength=n) if len(src) else np.zeros(n)
    share = weights / out[src] if len(src) else weights
    dangling = out == 0
    ranks = start.copy()
    for _ in range(ITERATIONS):
        flow = np.bincount(dst, weights=ranks[src] * share, minlength=n) if len(src) else np.zeros(n)
        ranks = (1 - DAMPING) * start + DAMPING * (flow + ranks[dangling].sum() * start)
    return ranks


def _callers(root: Path, graph: _Graph, ranks, name: str, held: frozenset[str]) -> list[_Ranked]:
    """The best-ranked files that use `name` (and do not define it), each with the definition the use
    sits in, or the line itself when it is at the top of the file."""
    definers = set(graph.defines.get(name, ()))
    users = [path for path, symbols in graph.files.items()
             if name in symbols.references and path not in held and path not in definers]
    users.sort(key=lambda path: (-float(ranks[graph.index[path]]), path))
    found = []
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    for path in users[:CALLERS_SHOWN]:
        try:
            lines = read_text(root / path, None, MAX_SOURCE_BYTES).text.splitlines()
        except Refused:
            continue
        uses = [number for number, text in enumerate(lines, 1) if pattern.search(text)]
        if not uses:
            continue
        definitions = graph.files[path].definitions
        # The first use inside a definition says more than an import at the top.
        line = next((number for number in uses if enclosing(definitions, number) is not None), uses[0])
        holder = enclosing(definitions, line)
        signature = holder.signature if holder is not None else lines[line - 1].rstrip()[:SIGNATURE_CHARS]
        found.append(_Ranked(CALLER_SCORE, path, holder.line if holder is not None else line, signature))
    return found


def _keep(scores: dict[tuple[str, int], _Ranked], item: _Ranked) -> None:
    """One entry per line of a file: the better score wins."""
    key = (item.path, item.line)
    if key not in scores or scores[key].score < item.score:
        scores[key] = item


def _defined(files: dict[str, FileSymbols]) -> dict[str, list[str]]:
    defines: dict[str, list[str]] = {}
    for path in sorted(files):
        for name in dict.fromkeys(d.name for d in files[path].definitions):
            defines.setdefault(name, []).append(path)
    return defines


def render_map(items: list[_Ranked]) -> tuple[str, tuple[str, ...]]:
    """The map's text for these definitions: files by their best definition, lines in file order."""
    by_file: dict[str, list[_Ranked]] = {}
    for item in items:  # best first: the files come out in rank order
        by_file.setdefault(item.path, []).append(item)
    blocks = [f"{path}:\n" + "\n".join("  " + item.signature for item in sorted(group, key=lambda i: i.line))
              for path, group in by_file.items()]
    return (MAP_HEADER + "\n\n" + "\n".join(blocks) if blocks else ""), tuple(by_file)


def _fit(ranked: list[_Ranked], budget: int, count: Callable[[str], int]) -> RepoMap:
    """The most definitions whose map fits the budget (a binary search on how many, counted exactly)."""
    best = RepoMap("", 0, ())
    low, high = 1, min(len(ranked), budget // 3 + 1)  # a signature line is never under 3 tokens
    while low <= high:
        middle = (low + high) // 2
        text, shown = render_map(ranked[:middle])
        tokens = count(text)
        if tokens <= budget:
            best, low = RepoMap(text, tokens, shown), middle + 1
        else:
            high = middle - 1
    return best
