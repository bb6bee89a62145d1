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
MAX_RANKED = 2_000  # definitions ranked: more than any budget shows
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
    """Files as nodes, an edge for each name a file uses that another defines, and every definition as
    arrays (the focus is applied when ranking)."""

    def __init__(self, files: dict[str, FileSymbols]):
        import numpy as np

        self.files = files
        self.paths = sorted(files)
        self.index = {path: i for i, path in enumerate(self.paths)}
        self.defines = _defined(files)
        self.name_ids = {name: i for i, name in enumerate(self.defines)}
        n_names = len(self.defines)
        # Each name's defining files, flat (CSR): a name defined all over points nowhere, so has none.
        pointing = {name for name, paths in self.defines.items() if len(paths) <= MAX_DEFINERS}
        definers = [[self.index[p] for p in paths] if name in pointing else [] for name, paths in self.defines.items()]
        counts = np.array([len(d) for d in definers], dtype=np.int64)
        starts = np.cumsum(counts) - counts
        flat = np.array([i for d in definers for i in d], dtype=np.int64)
        name_weight = np.array([_weight(name, len(paths)) for name, paths in self.defines.items()], dtype=np.float64)
        # One row per (file, name it uses that a few files define), then one edge per defining file.
        ref_file, ref_name, ref_uses = [], [], []
        for here, path in enumerate(self.paths):
            references = files[path].references
            used = sorted(references.keys() & pointing)  # sorted: the sums, hence the map, the same every run
            ref_file.extend([here] * len(used))
            ref_name.extend(self.name_ids[name] for name in used)
            ref_uses.extend(references[name] for name in used)
        ref_name_a = np.array(ref_name, dtype=np.int64)
        fan = counts[ref_name_a]
        offsets = np.arange(int(fan.sum())) - np.repeat(np.cumsum(fan) - fan, fan)
        src = np.repeat(np.array(ref_file, dtype=np.int64), fan)
        dst = flat[np.repeat(starts[ref_name_a], fan) + offsets]
        names = np.repeat(ref_name_a, fan)
        weights = np.repeat(name_weight[ref_name_a] * np.sqrt(np.array(ref_uses, dtype=np.float64)), fan)
        other = src != dst
        self.src, self.dst, self.names, self.weights = src[other], dst[other], names[other], weights[other]
        pair_keys, self.pair_of_edge = np.unique(self.dst * max(n_names, 1) + self.names, return_inverse=True)
        self.n_pairs = len(pair_keys)
        # Every definition, in path and line order (the order ties keep).
        self.definitions = [(i, d) for i, path in enumerate(self.paths) for d in files[path].definitions]
        self.def_file = np.array([i for i, _d in self.definitions], dtype=np.int64)
        self.def_name = np.array([self.name_ids[d.name] for _i, d in self.definitions], dtype=np.int64)
        keys = self.def_file * max(n_names, 1) + self.def_name
        found = np.searchsorted(pair_keys, keys)
        known = found < self.n_pairs
        known[known] = pair_keys[found[known]] == keys[known]
        self.def_pair = np.where(known, found, self.n_pairs)  # n_pairs: no pair, nothing flows to it


def rank(root: Path, graph: _Graph, focus: Focus, held: frozenset[str]) -> list[_Ranked]:
    """The best MAX_RANKED definitions outside `held` with their scores, best first (ties in path and
    line order), and the places that use the names the question mentions."""
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
    flow = np.zeros(graph.n_pairs + 1)  # the last one stands for "no pair": nothing flows to it
    if len(graph.src):
        out = np.bincount(graph.src, weights=weights, minlength=n)
        flow[:-1] = np.bincount(graph.pair_of_edge, weights=ranks[graph.src] * weights / out[graph.src],
                                minlength=graph.n_pairs)
    # A definition's score: what flows to it through its name, plus a little of its file's own rank.
    scores = flow[graph.def_pair] + ranks[graph.def_file] * 0.01
    named = np.isin(graph.def_name, focused)
    scores += np.where(named, NAMED_SCORE, 0.0)
    in_named_file = np.isin(graph.def_file, [graph.index[p] for p in focus.paths if p in graph.index])
    scores += np.where(in_named_file & ~named, FILE_NAMED_SCORE, 0.0)
    scores[np.isin(graph.def_file, [graph.index[p] for p in held if p in graph.index])] = -np.inf
    best: dict[tuple[str, int], _Ranked] = {}
    for i in np.argsort(-scores, kind="stable")[:MAX_RANKED].tolist():
        if scores[i] == -np.inf:
            break
        file, definition = graph.definitions[i]
        _keep(best, _Ranked(float(scores[i]), graph.paths[file], definition.line, definition.signature))
    for name in sorted(focus.names):
        for item in _callers(root, graph, ranks, name, held):
            _keep(best, item)
    return sorted(best.values(), key=lambda item: (-item.score, item.path, item.line))


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
