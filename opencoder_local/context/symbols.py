"""The symbols of one source file: its definitions (with their signature lines) and the names it uses.

Parsed with tree-sitter and the per-language grammar wheels (`tree-sitter-python` and the rest),
which carry their compiled grammar: nothing is downloaded, ever. The queries are our own and small:
a definition is a function, method, class or type with its name; a reference is any identifier
a file uses, counted. A file in a language
without a grammar here contributes nothing. Grammars load on first use of their language.
"""

from __future__ import annotations

import bisect
import os
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Sequence

FORMAT = 2  # bump when what parse_symbols finds changes: caches made before are read no more
SIGNATURE_CHARS = 160  # a longer signature line is cut, with "…"

# extension -> (grammar module, its language function)
_GRAMMARS = {
    ".py": ("tree_sitter_python", "language"), ".pyi": ("tree_sitter_python", "language"),
    ".js": ("tree_sitter_javascript", "language"), ".mjs": ("tree_sitter_javascript", "language"),
    ".cjs": ("tree_sitter_javascript", "language"), ".jsx": ("tree_sitter_javascript", "language"),
    ".ts": ("tree_sitter_typescript", "language_typescript"), ".mts": ("tree_sitter_typescript", "language_typescript"),
    ".tsx": ("tree_sitter_typescript", "language_tsx"),
    ".go": ("tree_sitter_go", "language"),
    ".rs": ("tree_sitter_rust", "language"),
    ".c": ("tree_sitter_c", "language"), ".h": ("tree_sitter_c", "language"),
    ".cc": ("tree_sitter_cpp", "language"), ".cpp": ("tree_sitter_cpp", "language"),
    ".cxx": ("tree_sitter_cpp", "language"), ".hpp": ("tree_sitter_cpp", "language"),
    ".hh": ("tree_sitter_cpp", "language"), ".hxx": ("tree_sitter_cpp", "language"),
    ".java": ("tree_sitter_java", "language"),
}

_JS_DEFS = """
(function_declaration name: (identifier) @name) @def
(generator_function_declaration name: (identifier) @name) @def
(method_definition name: (property_identifier) @name) @def
(variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)]) @def
"""
_C_DEFS = """
(function_definition declarator: (function_declarator declarator: (identifier) @name)) @def
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @def
(struct_specifier name: (type_identifier) @name body: (_)) @def
(enum_specifier name: (type_identifier) @name body: (_)) @def
(type_definition declarator: (type_identifier) @name) @def
"""
_DEFINITIONS = {
    "tree_sitter_python": """
(function_definition name: (identifier) @name) @def
(class_definition name: (identifier) @name) @def
""",
    "tree_sitter_javascript": _JS_DEFS + "(class_declaration name: (identifier) @name) @def\n",
    "tree_sitter_typescript": _JS_DEFS + """
(class_declaration name: (type_identifier) @name) @def
(abstract_class_declaration name: (type_identifier) @name) @def
(interface_declaration name: (type_identifier) @name) @def
(type_alias_declaration name: (type_identifier) @name) @def
(enum_declaration name: (identifier) @name) @def
(method_signature name: (property_identifier) @name) @def
""",
    "tree_sitter_go": """
(function_declaration name: (identifier) @name) @def
(method_declaration name: (field_identifier) @name) @def
(type_spec name: (type_identifier) @name) @def
""",
    "tree_sitter_rust": """
(function_item name: (identifier) @name) @def
(function_signature_item name: (identifier) @name) @def
(struct_item name: (type_identifier) @name) @def
(enum_item name: (type_identifier) @name) @def
(trait_item name: (type_identifier) @name) @def
(type_item name: (type_identifier) @name) @def
(macro_definition name: (identifier) @name) @def
""",
    "tree_sitter_c": _C_DEFS,
    "tree_sitter_cpp": _C_DEFS + """
(function_definition declarator: (function_declarator declarator: (field_identifier) @name)) @def
(function_definition declarator: (function_declarator declarator: (qualified_identifier name: (identifier) @name))) @def
(field_declaration declarator: (function_declarator declarator: (field_identifier) @name)) @def
(class_specifier name: (type_identifier) @name body: (_)) @def
""",
    "tree_sitter_java": """
(class_declaration name: (identifier) @name) @def
(interface_declaration name: (identifier) @name) @def
(enum_declaration name: (identifier) @name) @def
(record_declaration name: (identifier) @name) @def
(method_declaration name: (identifier) @name) @def
(constructor_declaration name: (identifier) @name) @def
""",
}
# Any name a file uses: the node kinds its grammar gives identifiers (those missing from one are skipped).
_NAME_KINDS = ("identifier", "type_identifier", "field_identifier", "property_identifier")
_PATTERN_START = re.compile(r"^\((\w+)", re.MULTILINE)  # the node each definition pattern starts at


class Definition(NamedTuple):
    name: str
    line: int  # 1-based, where the definition starts
    end: int  # 1-based, its last line
    signature: str  # its first line(s) up to the body, on one line, as indented in the file


@dataclass(frozen=True)
class FileSymbols:
    definitions: tuple[Definition, ...]
    references: dict[str, int]  # name -> times the file uses it


EMPTY = FileSymbols((), {})


@lru_cache(maxsize=1)
def grammar_versions() -> str:
    """The grammar wheels installed, with their versions: a cache of symbols is only good for these."""
    from importlib import metadata

    found = []
    for module in sorted({module for module, _function in _GRAMMARS.values()} | {"tree_sitter"}):
        try:
            found.append(f"{module}={metadata.version(module.replace('_', '-'))}")
        except metadata.PackageNotFoundError:
            found.append(f"{module}=?")
    return f"{FORMAT};" + ",".join(found)


def language_of(path: str) -> str | None:
    """The grammar module that parses this file, or None (no map entry for it)."""
    found = _GRAMMARS.get(os.path.splitext(path)[1].lower())
    return found[0] if found else None


def parse_symbols(path: str, source: bytes) -> FileSymbols:
    """The definitions and references of a file's bytes; a file tree-sitter cannot make sense of
    yields what it could read (tree-sitter always returns a tree, with error nodes where it must)."""
    grammar = _GRAMMARS.get(os.path.splitext(path)[1].lower())
    if grammar is None:
        return EMPTY
    from tree_sitter import QueryCursor

    parser, definitions_query, walk_query = _tools(*grammar)
    tree = parser.parse(source)
    found = QueryCursor(walk_query).captures(tree.root_node)  # one walk: every name, and where definitions may start
    definitions = _definitions(definitions_query, found.get("start", []), tree.root_node, source.split(b"\n"))
    return FileSymbols(definitions, _references(found.get("ref", []), source))


def _definitions(query, starts: list, root, lines: list[bytes]) -> tuple[Definition, ...]:
    """The definitions matched at these nodes: each pattern starts at its definition's node, so matching
    there alone finds them all, without another walk of the tree. Two different definitions of one
    name on one line are told apart as a search of the whole tree orders them (the first is kept)."""
    from tree_sitter import QueryCursor

    cursor = QueryCursor(query)
    cursor.set_max_start_depth(0)
    found = _by_line_and_name((match for node in starts for match in cursor.matches(node)), lines, strict=True)
    if found is None:
        found = _by_line_and_name(QueryCursor(query).matches(root), lines, strict=False)
    return tuple(sorted(found.values(), key=lambda d: (d.line, d.name)))


def _by_line_and_name(matches, lines: list[bytes], strict: bool) -> dict[tuple[int, str], Definition] | None:
    """One definition per line and name, the first matched; None if `strict` and a later one differs."""
    found: dict[tuple[int, str], Definition] = {}
    for _pattern, captures in matches:
        node, name = captures["def"][0], captures["name"][0]
        text = name.text.decode("utf-8", "replace")
        key = (node.start_point.row, text)
        if key not in found:
            found[key] = _definition(node, text, lines)
        elif strict and found[key] != _definition(node, text, lines):
            return None
    return found


def _definition(node, name: str, lines: list[bytes]) -> Definition:
    return Definition(name, node.start_point.row + 1, node.end_point.row + 1, _signature(node, lines))


def _signature(node, lines: list[bytes]) -> str:
    """The definition up to its body (or its first line), on one line, with the file's indentation.
    A comment between the parameters and the body is not part of it."""
    first = node.start_point.row
    body = node.child_by_field_name("body")
    if body is None:
        parts = [lines[first]]
    else:
        head = body.prev_sibling  # the last part before the body that is not a comment
        while head is not None and (head.start_byte >= body.start_byte or head.type == "comment"):
            head = head.prev_sibling
        row, column = head.end_point if head is not None else body.start_point
        parts = [*lines[first:row], lines[row][:column]] if row > first else [lines[first][:column]]
    joined = b" ".join([parts[0].rstrip(), *(part.strip() for part in parts[1:])])
    text = joined.decode("utf-8", "replace").rstrip().rstrip("{").rstrip()
    indent = len(text) - len(text.lstrip())
    text = text[:indent].expandtabs(4) + " ".join(text[indent:].split())
    return text if len(text) <= SIGNATURE_CHARS else text[:SIGNATURE_CHARS - 1] + "…"


def _references(nodes: list, source: bytes) -> dict[str, int]:
    names = Counter([source[slice(*node.byte_range)] for node in nodes])  # cheaper than node.text
    return {name.decode("utf-8", "replace"): count for name, count in names.items()}


def enclosing(definitions: Sequence[Definition], line: int) -> Definition | None:
    """The innermost definition holding `line`, or None. Walking back from the last definition begun
    by `line` (they are sorted by first line), the first that has not ended yet is it."""
    index = bisect.bisect_right([d.line for d in definitions], line)
    return next((d for d in reversed(definitions[:index]) if d.end >= line), None)


@lru_cache(maxsize=None)
def _tools(module: str, function: str):
    """A parser and two queries for one grammar, built once per process: the definitions, and one to
    walk the tree with, for every name used and every node a definition pattern starts at."""
    import importlib

    from tree_sitter import Language, Parser, Query

    language = Language(getattr(importlib.import_module(module), function)())
    names = [kind for kind in _NAME_KINDS if language.id_for_node_kind(kind, True)]
    starts = sorted(set(_PATTERN_START.findall(_DEFINITIONS[module])))
    walk = Query(language, f"{_alternatives(names)} @ref\n{_alternatives(starts)} @start")
    return Parser(language), Query(language, _DEFINITIONS[module]), walk


def _alternatives(kinds: list[str]) -> str:
    return "[" + " ".join(f"({kind})" for kind in kinds) + "]"
