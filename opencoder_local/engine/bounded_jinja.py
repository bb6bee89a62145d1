"""A Jinja sandbox whose templates cannot run for ever or fill memory.

Work in a Jinja template happens only in loop iterations, calls (macros included), filters
and operators, so each of those checks a per-thread deadline: every `for` loop's iterable is
wrapped at compile time, calls and filters pass through the environment, and `+ * ** % ~`
are intercepted. The same places refuse, before doing it, any step whose result could pass
MAX_SIZE: the linear cases are checked on the result, the amplifying ones (`*`, `**`, joins,
replaces, format strings, per-line indents, widths) on an upper bound computed first.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from typing import Any, Callable, Iterable, Iterator

from jinja2.compiler import CodeGenerator, Frame
from jinja2.visitor import NodeTransformer
from jinja2.ext import loopcontrols
from jinja2.nodes import BinExpr, Call, Concat, Const, EnvironmentAttribute, For, Node
from jinja2.optimizer import Optimizer
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment

MAX_SIZE = 1 << 23  # characters (or items) in any one value and in the output
MAX_INT_BITS = 1 << 16  # a product or power that big is no template's business
_MAX_WIDTH = MAX_RANGE  # the largest size argument (width, count, indent) a call may pass
_WIDE_FORMAT = re.compile(r"%[-+ #0]*\d{6}|%[-+ #0]*\d*\.\d{6}|\{[^{}]*:[^{}]*\d{6}")


class TooBig(BaseException):  # BaseException: nothing on the way out can swallow it
    pass


class TooLong(BaseException):
    pass


class _Deadline(threading.local):  # each thread renders on its own clock
    at = float("inf")


_deadline = _Deadline()


def run_within(seconds: float, work: Callable[[], Any]) -> Any:
    """Run `work` (a compile or a render); a template step after `seconds` raises TooLong."""
    _deadline.at = time.perf_counter() + seconds
    try:
        return work()
    finally:
        _deadline.at = float("inf")


def _tick() -> None:
    if time.perf_counter() > _deadline.at:
        raise TooLong


def _check(size: int) -> None:
    if size > MAX_SIZE:
        raise TooBig


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else 0


def _text(value: Any) -> int:
    return len(value) if isinstance(value, str) else 0


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _join_size(sep: Any, items: list) -> int:
    return _text(sep) * max(len(items) - 1, 0) + sum(_text(i) or 8 for i in items)


def _replace_size(text: Any, old: Any, new: Any) -> int:
    """The most `text.replace(old, new)` can give: every possible match replaced."""
    return _text(text) + (_text(text) // max(_text(old), 1) + 1) * _text(new)


def _format_size(fmt: Any, values: Iterable[Any]) -> int:
    """The most a format string can give: each placeholder filled with the largest value."""
    if not isinstance(fmt, str):
        return 0
    if _WIDE_FORMAT.search(fmt):
        return MAX_SIZE + 1
    largest = max((len(str(v)) for v in values), default=0)
    return len(fmt) + (fmt.count("{") + fmt.count("%")) * largest


def _indent_size(text: Any, width: Any) -> int:
    return _text(text) + (str(text).count("\n") + 1) * (_text(width) or (width if isinstance(width, int) else 0))


# Calls whose result can be far larger than their inputs: an upper bound, checked first.
# Filters are keyed by name with (first argument, other args, kwargs); str methods by "str.name".
_GROWTH: dict[str, Callable[[Any, tuple, dict], int]] = {
    "replace": lambda s, a, k: _replace_size(s, _arg(a, k, 0, "old"), _arg(a, k, 1, "new")),
    "format": lambda s, a, k: _format_size(s, [*a, *k.values()]),
    "indent": lambda s, a, k: _indent_size(s, _arg(a, k, 0, "width", 4)),
    "wordwrap": lambda s, a, k: _text(s) * (2 + _text(_arg(a, k, 2, "wrapstring"))),
    "tojson": lambda v, a, k: MAX_SIZE + 1 if (_arg(a, k, 0, "indent") or 0) > 64 else 0,
    "str.replace": lambda s, a, k: _replace_size(s, _arg(a, k, 0, "old"), _arg(a, k, 1, "new")),
    "str.expandtabs": lambda s, a, k: _text(s) + s.count("\t") * (_arg(a, k, 0, "tabsize", 8) or 0),
}


def _check_args(args: tuple, kwargs: dict) -> None:
    """A size argument (center(10**9), a width, a count) above _MAX_WIDTH is refused before the call."""
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > _MAX_WIDTH:
            raise TooBig


def _bounded_filter(name: str, func: Callable) -> Callable:
    skip = 1 if hasattr(func, "jinja_pass_arg") else 0  # the context Jinja passes first

    @functools.wraps(func)  # keeps jinja_pass_arg, which tells Jinja what to pass
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        _check_args(args, kwargs)
        subject, rest = (args[skip], args[skip + 1:]) if len(args) > skip else (None, ())
        if name == "join":  # items|join(sep): the items may be a generator; look at them once
            args = (*args[:skip], list(subject), *rest)
            _check(_join_size(_arg(rest, kwargs, 0, "d", ""), args[skip]))
        elif name in _GROWTH:
            _check(_GROWTH[name](subject, rest, kwargs))
        result = func(*args, **kwargs)
        _check(_size(result))
        return result

    return bounded


def _bounded_iter(items: Iterable) -> Iterator:
    for item in items:
        _tick()
        yield item


def _concat(parts: Iterable[str]) -> str:
    """Jinja's "".join for the output and for macro, call and set blocks, with the size checked as it grows."""
    kept, size = [], 0
    for part in parts:
        size += len(part)
        _check(size)
        kept.append(part)
    _tick()
    return "".join(kept)


class _BoundedCodeGenerator(CodeGenerator):
    """Every `for` iterates through bounded_iter; `a ~ b` is a checked join, not Jinja's own."""

    def visit_For(self, node: For, frame: Frame) -> None:
        node.iter = Call(EnvironmentAttribute("bounded_iter"), [node.iter], [], None, None)
        super().visit_For(node, frame)

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.str_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with loop controls (as Transformers' chat templates have)."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})
    concat = staticmethod(_concat)  # also joins the output of macros, call and set blocks
    bounded_iter = staticmethod(_bounded_iter)
    str_join = staticmethod(lambda parts: _concat(map(str, parts)))

    def __init__(self, **options: Any) -> None:
        super().__init__(extensions=[loopcontrols], **options)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "+" and type(left) is str and type(right) is str:  # the common case, kept fast
            _check(len(left) + len(right))
            return left + right
        ints = isinstance(left, int) and isinstance(right, int)
        if operator == "+":
            _check(_size(left) + _size(right))
        elif operator == "**" and ints and right > 0 and left.bit_length() * right > MAX_INT_BITS:
            raise TooBig
        elif operator == "*":
            if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise TooBig
            for seq, times in ((left, right), (right, left)):
                if isinstance(times, int) and isinstance(seq, (str, list, tuple)):
                    _check(len(seq) * abs(times))
        elif operator == "%":
            values = right.values() if isinstance(right, dict) else right if isinstance(right, tuple) else [right]
            _check(_format_size(left, values))
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's signature)
        _tick()
        _check_args(args, kwargs)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            key = f"str.{getattr(__obj, '__name__', '')}"
            if key == "str.join" and args:
                args = (list(args[0]), *args[1:])
                _check(_join_size(owner, args[0]))
            elif key in _GROWTH:
                _check(_GROWTH[key](owner, args, kwargs))
        result = super().call(__context, __obj, *args, **kwargs)
        _check(_size(result))
        return result

    def wrap_str_format(self, value: Any):
        """str.format and format_map, with the most they can produce checked before they run."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt, is_map = value.__self__, value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            values = args[0].values() if is_map and args and isinstance(args[0], dict) else [*args, *kwargs.values()]
            _check(_format_size(fmt, values))
            return wrapped(*args, **kwargs)

        return bounded


class _BoundedFolder(Optimizer):
    """Jinja's constant folding, with operators applied the bounded way."""

    def generic_visit(self, node: Node, *args: Any, **kwargs: Any) -> Node:
        if not isinstance(node, BinExpr) or node.operator not in self.environment.binop_table:
            return super().generic_visit(node, *args, **kwargs)
        node = NodeTransformer.generic_visit(self, node, *args, **kwargs)
        if isinstance(node.left, Const) and isinstance(node.right, Const):
            try:
                value = self.environment.call_binop(None, node.operator, node.left.value, node.right.value)
            except Exception:  # what Jinja would not fold either ('a' - 1)
                return node
            return Const(value, lineno=node.lineno)
        return node


def check_constant_folding(env: BoundedEnvironment, source: str) -> None:
    """Raise TooBig if compiling `source` in an ordinary Jinja environment would build a huge value.

    Jinja folds constant expressions while it compiles, in any environment that does not
    intercept the operator: llama-cpp-python compiles a GGUF's chat templates as it loads, and
    `{{ 'x' * 10**10 }}` would build 10 GB there. Folding here, bounded, finds such a template first."""
    _BoundedFolder(env).visit(env.parse(source))
