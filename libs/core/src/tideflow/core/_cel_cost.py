"""A cost meter for CEL: an upper bound on what evaluating a program will build, before
it runs.

cel-cpp evaluates holding the GIL and cannot be interrupted, and its iteration budget
counts loop turns, not bytes: `l.map(a, l.map(b, l.map(c, input.s + input.s)))` over a
20-item list and a 100 KB string runs 8,000 turns but copies 1.6 GB. So before a program
runs, we interpret its checked AST (the `CheckedExpr` cel-cpp serialises) over the actual
data, abstractly: every value is either the real JSON value (field selects on the input
resolve exactly) or a `Shape`, an upper bound on its size in bytes and its length. A
comprehension costs its range's length times its body; concatenation and conversion cost
the bytes they produce; every loop turn costs `ITERATION_COST`. A program whose bound is
over the budget is refused before it runs, deterministically: the same data gives the same
bound on every machine, so replays decide alike.

The bound is conservative (branches are joined, unknown functions cost the sum of their
arguments) and cheap: it walks the AST once per comprehension body, not once per turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ITERATION_COST = 32
"""Bytes-equivalent of one loop turn (measured: a turn costs about as much as copying
32 bytes)."""

_SCALAR = 8
UNBOUNDED = 2**62


@dataclass(slots=True)
class Shape:
    """An upper bound on a value: its size in bytes and its length (elements or bytes)."""

    size: int
    length: int = 0
    text: bool | None = None
    """True: surely text; False: surely not; None: unknown."""
    fields: dict[str, Shape] | None = None
    elem: Shape | None = None
    floor: int = 0
    """A lower bound on the value's size as JSON (0: nothing known)."""
    min_length: int = 0
    """A lower bound on its length."""

    def element(self) -> Shape:
        """Any element (or map key/value) of this value."""
        return self.elem if self.elem is not None else Shape(self.size, self.size)

    def field(self, name: str) -> Shape:
        if self.fields is not None and name in self.fields:
            return self.fields[name]
        return self.element()


@dataclass(frozen=True, slots=True)
class Data:
    """A real JSON value: selects and indexes on it are resolved exactly."""

    value: Any


Abstract = Shape | Data


class OverBudget(Exception):  # noqa: N818 - reads as the outcome
    """The bound exceeded the budget; `cost` is how far it had got."""

    def __init__(self, cost: int) -> None:
        super().__init__(cost)
        self.cost = cost


def blob(size: int) -> Shape:
    """Any value of at most `size` bytes (its length, and its parts, are no larger)."""
    return Shape(size, size)


def shape_of(value: Any, precision: int = 2) -> Shape:
    """The shape of a real value. Elements of lists and values of maps are joined field by
    field `precision` levels deep (`items[*].name` stays small when `items[*].body` is
    large); below that a part is bounded by its size alone."""
    if isinstance(value, str | bytes):
        n = len(value)
        return Shape(n + 2, n, text=True, floor=n + 2, min_length=n)
    if isinstance(value, dict):
        parts = {str(k): shape_of(v, precision - 1) for k, v in value.items()}
        size = sum(p.size + len(k) + 4 for k, p in parts.items()) + 2
        floor = sum(p.floor + len(k) + 3 for k, p in parts.items()) + 1
        # no joined element: iterating or indexing a map by a computed key is bounded by
        # its size (`element()`), and joining every map's values would cost more than it
        # saves
        return Shape(size, len(value), text=False, fields=parts if precision > 0 else None,
                     floor=floor, min_length=len(value))  # fmt: skip
    if isinstance(value, list):
        items = [shape_of(v, precision - 1) for v in value]
        size = sum(p.size + 1 for p in items) + 2
        floor = sum(p.floor + 1 for p in items) + 1
        elem = _join_all(items) if precision > 0 else None
        return Shape(size, len(value), text=False, elem=elem, floor=floor, min_length=len(value))
    return Shape(_SCALAR, text=False, floor=1)


def _join_all(shapes: Any) -> Shape | None:
    result: Shape | None = None
    for shape in shapes:
        result = shape if result is None else join(result, shape)
    return result


def join(a: Shape, b: Shape) -> Shape:
    """The least shape bounding both."""
    fields = None
    if a.fields is not None and b.fields is not None:
        fields = dict(a.fields)
        for k, v in b.fields.items():
            mine = fields.get(k)
            fields[k] = v if mine is None else _join_leaf(mine, v)
        for k in fields.keys() - b.fields.keys():
            fields[k] = _join_leaf(fields[k], b.element())
    elem = None if a.elem is None or b.elem is None else join(a.elem, b.elem)
    text = a.text if a.text == b.text else None
    return Shape(
        max(a.size, b.size), max(a.length, b.length), text, fields, elem,
        min(a.floor, b.floor), min(a.min_length, b.min_length),
    )  # fmt: skip


def _join_leaf(a: Shape, b: Shape) -> Shape:
    """`join` for the parts of joined maps: sizes and lengths only (one level is enough)."""
    if a.fields is None and b.fields is None and a.elem is None and b.elem is None:
        text = a.text if a.text == b.text else None
        return Shape(
            max(a.size, b.size), max(a.length, b.length), text,
            floor=min(a.floor, b.floor), min_length=min(a.min_length, b.min_length),
        )  # fmt: skip
    return join(a, b)


def _text(shapes: list[Shape]) -> bool | None:
    """Whether a concatenation builds text (copies bytes) or a list (copies references)."""
    if any(s.text is False for s in shapes):
        return False
    return True if shapes and all(s.text for s in shapes) else None


def _shape(value: Abstract) -> Shape:
    return shape_of(value.value) if isinstance(value, Data) else value


# ---- the checked AST, from cel-cpp's serialised CheckedExpr ---------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    """One `cel.expr.Expr`: kind is const/ident/select/call/list/struct/comprehension."""

    kind: str
    name: str = ""
    value: Any = None
    children: tuple[Node, ...] = ()
    keys: tuple[Node | str, ...] = ()
    test_only: bool = False
    vars: tuple[str, str] = ("", "")
    extra: dict[str, Node] = field(default_factory=dict)


def _varint(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, i


def _fields(data: bytes) -> dict[int, list[Any]]:
    """A protobuf message's fields: varints as ints, everything else as bytes."""
    out: dict[int, list[Any]] = {}
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:  # noqa: PLR2004 - protobuf wire type: length-delimited
            n, i = _varint(data, i)
            value, i = data[i : i + n], i + n
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        elif wire == 5:  # noqa: PLR2004 - protobuf wire type: 32-bit
            value, i = data[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _constant(data: bytes) -> Any:
    f = _fields(data)
    if 6 in f:  # noqa: PLR2004 - Constant.string_value
        return f[6][0].decode("utf-8", "replace")
    if 7 in f:  # noqa: PLR2004 - Constant.bytes_value
        return f[7][0]
    return 0


def _node(data: bytes) -> Node:  # noqa: PLR0911 - one branch per expression kind
    f = _fields(data)
    if 3 in f:  # noqa: PLR2004
        return Node("const", value=_constant(f[3][0]))
    if 4 in f:  # noqa: PLR2004
        return Node("ident", name=_fields(f[4][0])[1][0].decode())
    if 5 in f:  # noqa: PLR2004
        s = _fields(f[5][0])
        return Node("select", name=s[2][0].decode(), children=(_node(s[1][0]),),
                    test_only=bool(s.get(3, [0])[0]))  # fmt: skip
    if 6 in f:  # noqa: PLR2004
        c = _fields(f[6][0])
        target = tuple(_node(t) for t in c.get(1, []))
        args = tuple(_node(a) for a in c.get(3, []))
        return Node("call", name=c[2][0].decode(), children=target + args)
    if 7 in f:  # noqa: PLR2004
        return Node("list", children=tuple(_node(e) for e in _fields(f[7][0]).get(1, [])))
    if 8 in f:  # noqa: PLR2004
        entries = [_fields(e) for e in _fields(f[8][0]).get(2, [])]
        keys = tuple(e[2][0].decode() if 2 in e else _node(e[3][0]) for e in entries)  # noqa: PLR2004
        return Node("struct", keys=keys, children=tuple(_node(e[4][0]) for e in entries))
    if 9 in f:  # noqa: PLR2004
        c = _fields(f[9][0])
        parts = {name: _node(c[number][0]) for number, name in
                 ((2, "range"), (4, "init"), (5, "cond"), (6, "step"), (7, "result"))}  # fmt: skip
        return Node("comprehension", vars=(c[1][0].decode(), c[3][0].decode()), extra=parts)
    return Node("unknown")


@lru_cache(maxsize=4096)
def program_tree(serialized: bytes) -> Node:
    """The AST of a compiled program (`Expression.serialize()`: an Any of CheckedExpr)."""
    try:
        checked = _fields(_fields(serialized)[2][0])
        return _node(checked[4][0])
    except (KeyError, IndexError, ValueError) as e:  # a form we do not know: bound nothing
        return Node("unknown", value=str(e))


# ---- the abstract interpreter -------------------------------------------------------------

_BOOLEAN = frozenset({
    "_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_", "_&&_", "_||_", "!_", "@in", "contains",
    "startsWith", "endsWith", "matches", "@not_strictly_false", "bool",
})  # fmt: skip
_NUMERIC = frozenset({
    "size", "int", "uint", "double", "_-_", "_*_", "_/_", "_%_", "-_", "timestamp", "duration",
    "getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear",
    "getHours", "getMinutes", "getSeconds", "getMilliseconds", "type", "dyn",
})  # fmt: skip
_SCANS = frozenset({"contains", "startsWith", "endsWith", "matches", "@in", "_==_", "_!=_"})
"""Calls whose time grows with their operands (a scan or a deep comparison)."""


class Meter:
    """Accumulates the bound and stops as soon as it is over budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.cost = 0

    def add(self, amount: int) -> None:
        self.cost += amount
        if self.cost > self.budget:
            raise OverBudget(self.cost)

    def run(self, node: Node, env: dict[str, Abstract]) -> Abstract:  # noqa: PLR0911
        self.add(1)
        if node.kind == "unknown":  # no bound: its result is copied out under the meter
            return Shape(UNBOUNDED, UNBOUNDED)
        if node.kind == "const":
            return Data(node.value)
        if node.kind == "ident":
            return env.get(node.name, blob(0))
        if node.kind == "select":
            operand = self.run(node.children[0], env)
            if node.test_only:
                return Shape(_SCALAR, text=False)
            if isinstance(operand, Data):
                value = operand.value
                return Data(value.get(node.name) if isinstance(value, dict) else None)
            return operand.field(node.name)
        if node.kind == "call":
            return self._call(node, env)
        if node.kind in {"list", "struct"}:
            parts = [_shape(self.run(child, env)) for child in node.children]
            self.add(len(parts) * _SCALAR)
            elem = _join_all(parts) or blob(0)
            fields = None
            if node.kind == "struct" and all(isinstance(k, str) for k in node.keys):
                fields = {str(k): p for k, p in zip(node.keys, parts, strict=True)}
            size = sum(p.size for p in parts) + _SCALAR
            floor = sum(p.floor + 1 for p in parts) + 1
            return Shape(size, len(parts), text=False, fields=fields, elem=elem,
                         floor=floor, min_length=len(parts))  # fmt: skip
        return self._comprehension(node, env)

    def _call(self, node: Node, env: dict[str, Abstract]) -> Abstract:
        args = [self.run(child, env) for child in node.children]
        name = node.name
        if name == "_[_]" and len(args) == 2:  # noqa: PLR2004
            container, key = args
            if isinstance(container, Data) and isinstance(key, Data):
                try:
                    return Data(container.value[key.value])
                except (LookupError, TypeError):
                    return Data(None)
            return _shape(container).element()
        if name == "_?_:_" and len(args) == 3:  # noqa: PLR2004
            return join(_shape(args[1]), _shape(args[2]))
        shapes = [_shape(a) for a in args]
        if name in _SCANS:
            self.add(sum(s.size for s in shapes))
        if name in _BOOLEAN or name in _NUMERIC:
            return Shape(_SCALAR, text=False)
        # `+` on strings and lists, conversions, and anything unknown: what they build
        size = sum(s.size for s in shapes)
        length = sum(s.length for s in shapes)
        text = _text(shapes)
        copied = size if text is not False else length * _SCALAR
        self.add(max(copied, _SCALAR))
        built = Shape(size, length, text, None, _join_all(s.element() for s in shapes))
        if name == "_+_":  # concatenation: at least as large as its operands together
            # each operand's quotes or brackets appear once in the result, not per operand
            built.floor = max(sum(s.floor for s in shapes) - 2 * (len(shapes) - 1), 0)
            built.min_length = sum(s.min_length for s in shapes)
        return built

    def _comprehension(self, node: Node, env: dict[str, Abstract]) -> Abstract:
        iter_var, accu_var = node.vars
        source = _shape(self.run(node.extra["range"], env))
        turns = source.length
        init = _shape(self.run(node.extra["init"], env))
        inner = dict(env)
        inner[iter_var] = source.element()
        inner[accu_var] = init
        before = self.cost
        self.add(ITERATION_COST)
        self.run(node.extra["cond"], inner)
        step = _shape(self.run(node.extra["step"], inner))
        per_turn = self.cost - before
        self.add(per_turn * max(turns - 1, 0))
        # the turns surely taken: all of them when the loop cannot stop early (map, filter)
        least = source.min_length if node.extra["cond"].kind == "const" else 0
        grew = Shape(
            init.size + turns * max(step.size - init.size, 0),
            init.length + turns * max(step.length - init.length, 0),
            step.text,
            None,
            step.elem,
            init.floor + least * max(step.floor - init.floor, 0),
            init.min_length + least * max(step.min_length - init.min_length, 0),
        )
        inner[accu_var] = grew
        return self.run(node.extra["result"], inner)


def estimate(tree: Node, data: dict[str, Any], budget: int) -> tuple[int, Shape]:
    """The cost bound of a program over `data` and a bound on its result; raises
    OverBudget once the bound passes `budget`."""
    meter = Meter(budget)
    result = meter.run(tree, {k: Data(v) for k, v in data.items()})
    return meter.cost, _shape(result)
