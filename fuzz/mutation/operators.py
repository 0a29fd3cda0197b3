"""Mutation operators that model real kernel bugs, as edits of Python source.

``mutants(source, path)`` parses a FlyDSL kernel file and yields every
:class:`Mutant`: one small textual edit at an AST node's exact span, so a
mutant's diff shows one changed expression.  Operators:

``cmp``          ``<`` <-> ``<=``, ``>`` <-> ``>=`` (off-by-one in comparisons and bounds)
``const``        an integer constant +1 / -1
``barrier``      a ``*.barrier()`` statement dropped
``select_swap``  the two value operands of ``c.select(a, b)`` swapped
``shift``        the amount of a ``<<`` / ``>>`` by a constant +1 / -1 (id packing)
``scan``         in a function whose name has ``scan``/``prefix``: ``a + b`` -> ``a``
                 (an inclusive sum made exclusive, or the reverse)
``mask_invert``  ``==`` <-> ``!=`` in a comparison that mentions a mask
``round_down``   ``(x + u - 1) // u`` -> ``x // u`` and ``-(-x // u)`` -> ``x // u``
``sentinel_t``   in an expression with ``<< 24`` or a name holding ``SENTINEL``,
                 the name of M replaced by the file's expression for T
                 (``token_names``: {M name: T expression}, per target file)
``grid``         ``grid=(x, ...)`` of a launch -> ``x + 1`` / ``x - 1``

Code in docstrings, ``assert`` statements, and module-level constants that
only size tables (``__all__``) is never mutated.
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
import hashlib
from typing import Iterator, Optional


@dataclasses.dataclass(frozen=True)
class Mutant:
    path: str
    operator: str
    line: int
    col: int
    before: str
    after: str
    source: str  # the whole mutated file
    function: str = ""  # innermost enclosing function ("" at module level)
    occurrence: int = 0  # index among same (function, operator, before, after) edits

    @property
    def id(self) -> str:
        """Stable across edits elsewhere in the file: no line numbers in the hash."""
        key = f"{self.path}:{self.function}:{self.operator}:{self.before}->{self.after}#{self.occurrence}"
        return f"{self.operator}-{self.function or 'module'}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"

    def diff(self, original: str) -> str:
        return "".join(difflib.unified_diff(original.splitlines(True), self.source.splitlines(True),
                                            f"a/{self.path}", f"b/{self.path}", n=1))


def _offsets(source: str) -> list[int]:
    starts, pos = [0], 0
    for line in source.splitlines(True):
        pos += len(line)
        starts.append(pos)
    return starts


class _Edits:
    """Collects (node, replacement, operator) and renders mutants."""

    def __init__(self, source: str, path: str):
        self.source, self.path = source, path
        self.line_start = _offsets(source)
        self.items: list[tuple[int, int, int, int, str, str, str]] = []
        self.function = ""

    def span(self, node) -> tuple[int, int]:
        start = self.line_start[node.lineno - 1] + _col(self.source, self.line_start[node.lineno - 1], node.col_offset)
        end = self.line_start[node.end_lineno - 1] + _col(self.source, self.line_start[node.end_lineno - 1], node.end_col_offset)
        return start, end

    def add(self, node, replacement: str, operator: str) -> None:
        start, end = self.span(node)
        if self.source[start:end] != replacement:
            self.items.append((start, end, node.lineno, node.col_offset, replacement, operator, self.function))

    def mutants(self) -> Iterator[Mutant]:
        seen = set()
        counts: dict = {}
        for start, end, line, col, replacement, operator, function in sorted(self.items):
            text = self.source[:start] + replacement + self.source[end:]
            if text in seen:
                continue
            seen.add(text)
            before = self.source[start:end]
            key = (function, operator, before, replacement)
            counts[key] = counts.get(key, 0) + 1
            yield Mutant(self.path, operator, line, col, before, replacement, text, function or "",
                         counts[key] - 1)


def _col(source: str, line_start: int, col_bytes: int) -> int:
    """AST columns count UTF-8 bytes; convert to characters."""
    line = source[line_start:source.find("\n", line_start) if "\n" in source[line_start:] else len(source)]
    return len(line.encode()[:col_bytes].decode(errors="ignore"))


#: Every operator, as :func:`mutants` names them.
OPERATORS = ("cmp", "const", "barrier", "select_swap", "shift", "scan", "mask_invert", "round_down",
             "sentinel_t", "grid")

_CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
_EQ_SWAP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}


def _unparse_replacing(node, field: str, value):
    clone = ast.parse(ast.unparse(node), mode="eval").body
    setattr(clone, field, value)
    return ast.unparse(clone)


def _skipped_nodes(tree) -> set:
    """Ids of nodes never mutated: docstrings and assert statements (and all below)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            skip.update(id(n) for n in ast.walk(node))
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                skip.update(id(n) for n in ast.walk(body[0]))
    return skip


def _mentions(edits: _Edits, node, *words) -> bool:
    start, end = edits.span(node)
    text = edits.source[start:end].lower()
    return any(w.lower() in text for w in words)


def _function_names(tree) -> dict:
    """node id -> name of the innermost enclosing function."""
    owner = {}

    def visit(node, name):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else name
            owner[id(child)] = inner
            visit(child, inner)
    visit(tree, None)
    return owner


def mutants(source: str, path: str, token_names: Optional[dict] = None) -> list[Mutant]:
    """Every mutant of ``source`` (see the module docstring)."""
    tree = ast.parse(source)
    edits = _Edits(source, path)
    skip = _skipped_nodes(tree)
    owner = _function_names(tree)
    token_names = token_names or {}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        edits.function = owner.get(id(node)) or ""
        _visit(node, edits, owner.get(id(node)), token_names)
    return list(edits.mutants())


def _visit(node, edits: _Edits, function: Optional[str], token_names: dict) -> None:
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        op = type(node.ops[0])
        if op in _CMP_SWAP:
            edits.add(node, _unparse_replacing(node, "ops", [_CMP_SWAP[op]()]), "cmp")
        elif op in _EQ_SWAP and _mentions(edits, node, "mask"):
            edits.add(node, _unparse_replacing(node, "ops", [_EQ_SWAP[op]()]), "mask_invert")
    elif isinstance(node, ast.Constant) and type(node.value) is int and function is not None:
        for delta in (1, -1):
            edits.add(node, repr(node.value + delta), "const")
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        if isinstance(func, ast.Attribute) and func.attr == "barrier":
            edits.add(node, "pass", "barrier")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "select" \
            and len(node.args) == 2:
        a, b = (ast.get_source_segment(edits.source, x) for x in node.args)
        if a is not None and b is not None and a != b:
            edits.add(node, f"{ast.get_source_segment(edits.source, node.func)}({b}, {a})", "select_swap")
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.LShift, ast.RShift)) \
            and isinstance(node.right, ast.Constant) and type(node.right.value) is int:
        left = ast.get_source_segment(edits.source, node.left)
        sym = "<<" if isinstance(node.op, ast.LShift) else ">>"
        for delta in (1, -1):
            edits.add(node, f"{left} {sym} {node.right.value + delta}", "shift")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and function \
            and any(w in function.lower() for w in ("scan", "prefix")):
        edits.add(node, ast.get_source_segment(edits.source, node.left), "scan")
    _round_down(node, edits)
    _sentinel(node, edits, token_names)
    if isinstance(node, ast.keyword) and node.arg == "grid" and isinstance(node.value, ast.Tuple) and node.value.elts:
        first = node.value.elts[0]
        text = ast.get_source_segment(edits.source, first)
        for delta in ("+ 1", "- 1"):
            edits.add(first, f"({text} {delta})", "grid")


def _round_down(node, edits: _Edits) -> None:
    src = lambda n: ast.get_source_segment(edits.source, n)  # noqa: E731
    # (x + u - 1) // u  ->  x // u
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.FloorDiv):
        left = node.left
        if isinstance(left, ast.BinOp) and isinstance(left.op, ast.Sub) and isinstance(left.right, ast.Constant) \
                and left.right.value == 1 and isinstance(left.left, ast.BinOp) and isinstance(left.left.op, ast.Add) \
                and src(left.left.right) == src(node.right):
            edits.add(node, f"({src(left.left.left)}) // {src(node.right)}", "round_down")
    # -(-x // u)  ->  x // u
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.BinOp) \
            and isinstance(node.operand.op, ast.FloorDiv) and isinstance(node.operand.left, ast.UnaryOp) \
            and isinstance(node.operand.left.op, ast.USub):
        edits.add(node, f"({src(node.operand.left.operand)}) // {src(node.operand.right)}", "round_down")


def _sentinel(node, edits: _Edits, token_names: dict) -> None:
    if not token_names or not isinstance(node, ast.BinOp) or not isinstance(node.op, ast.BitOr):
        return
    text = ast.get_source_segment(edits.source, node) or ""
    if "<< 24" not in text and "sentinel" not in text.lower():
        return
    for name_node in ast.walk(node):
        if isinstance(name_node, ast.Name) and name_node.id in token_names:
            edits.add(name_node, token_names[name_node.id], "sentinel_t")
