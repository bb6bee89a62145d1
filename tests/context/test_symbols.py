"""Definitions with their signature lines, and the names a file uses, for each language with a grammar."""

from __future__ import annotations

import pytest

from opencoder_local.context.symbols import enclosing, grammar_versions, language_of, parse_symbols

SOURCES = {
    "calc.py": (b"import os\n\nclass Ledger(Base):\n    def add(self, amount,\n            note=None):  # why\n"
                b"        return total(amount)\n\n@cached\ndef total(x): return x\n",
                {"Ledger": "class Ledger(Base):", "add": "    def add(self, amount, note=None):",
                 "total": "def total(x):"}, "total"),
    "app.js": (b"export function render(view, data) {\n  return paint(view);\n}\nclass Store extends Base {\n"
               b"  load(key) { return render(key); }\n}\nconst paint = (v) => v;\n",
               {"render": "export function render(view, data)", "Store": "class Store extends Base",
                "load": "  load(key)", "paint": "const paint = (v) => v;"}, "paint"),
    "types.ts": (b"interface Shape { area(): number }\ntype Id = string;\nexport class Circle implements Shape {\n"
                 b"  area(): number { return pi(); }\n}\nfunction pi(): number { return 3 }\n",
                 {"Shape": "interface Shape", "Id": "type Id = string;", "Circle": "export class Circle implements Shape",
                  "pi": "function pi(): number"}, "pi"),
    "view.tsx": (b"function App(props: Props) { return <div>{props.name}</div> }\n",
                 {"App": "function App(props: Props)"}, "Props"),
    "server.go": (b"package main\n\ntype Server struct{ port int }\n\nfunc (s *Server) Start(\n\tport int) error {\n"
                  b"\treturn listen(port)\n}\n\nfunc listen(p int) error { return nil }\n",
                  {"Server": "type Server struct{ port int }", "Start": "func (s *Server) Start( port int) error",
                   "listen": "func listen(p int) error"}, "listen"),
    "lib.rs": (b"pub struct Point { x: i32 }\npub trait Shape { fn area(&self) -> f64; }\nimpl Point {\n"
               b"    pub fn new(x: i32) -> Self { Point { x } }\n}\nfn main() { let p = Point::new(1); }\n",
               {"Point": "pub struct Point", "Shape": "pub trait Shape", "new": "    pub fn new(x: i32) -> Self",
                "main": "fn main()"}, "Point"),
    "list.c": (b"typedef struct node { int v; } node_t;\nstatic int *find(node_t *n,\n    int v) {\n"
               b"  return lookup(n, v);\n}\n",
               {"node_t": "typedef struct node { int v; } node_t;", "find": "static int *find(node_t *n, int v)"},
               "lookup"),
    "widget.cpp": (b"class Widget {\n public:\n  void draw();\n};\nvoid Widget::draw() { paint(); }\n",
                   {"Widget": "class Widget", "draw": "void Widget::draw()"}, "paint"),
    "Main.java": (b"public class Main {\n  public Main() {}\n  public int run(int x) { return helper(x); }\n}\n",
                  {"Main": "public class Main", "run": "  public int run(int x)"}, "helper"),
}


@pytest.mark.parametrize("path", sorted(SOURCES))
def test_each_language_gives_its_definitions_signature_lines_and_the_names_it_uses(path):
    source, signatures, used = SOURCES[path]
    symbols = parse_symbols(path, source)
    found = {d.name: d.signature for d in symbols.definitions}
    for name, signature in signatures.items():
        assert name in found and signature in {d.signature for d in symbols.definitions if d.name == name}, found
    assert symbols.references.get(used, 0) >= 1


def test_the_definition_a_line_sits_in_is_the_innermost():
    symbols = parse_symbols("calc.py", SOURCES["calc.py"][0])
    assert enclosing(symbols.definitions, 6).name == "add"
    assert enclosing(symbols.definitions, 3).name == "Ledger"
    assert enclosing(symbols.definitions, 1) is None


def test_files_without_a_grammar_and_broken_source_give_what_they_can():
    assert language_of("README.md") is None and parse_symbols("README.md", b"# def x():").definitions == ()
    broken = parse_symbols("bad.py", b"def ok(a):\n    return a\n\ndef broken(:\n  ))))\n\x00\xff\xfe")
    assert "ok" in {d.name for d in broken.definitions}
    assert parse_symbols("min.js", b"function a(){return b()}" * 2000).definitions


def test_the_cache_key_names_every_grammar_and_its_version():
    versions = grammar_versions()
    for module in ("tree_sitter_python", "tree_sitter_javascript", "tree_sitter_typescript", "tree_sitter_go",
                   "tree_sitter_rust", "tree_sitter_c", "tree_sitter_cpp", "tree_sitter_java"):
        assert f"{module}=" in versions and f"{module}=?" not in versions
