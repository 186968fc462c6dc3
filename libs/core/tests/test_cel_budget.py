"""The expression budget: bytes built, result size and numbers JSON cannot hold, all
checked deterministically (the same data fails the same way on every machine)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tideflow.core import ExpressionError, LimitCode, Limits
from tideflow.core._cel import Context, Scope, compile_expression, evaluate_expression
from tideflow.core._cel_cost import OverBudget, estimate, program_tree
from tideflow.core._templates import render

pytestmark = pytest.mark.unit

NOISY = {"l": list(range(20)), "s": "x" * 100_000, "zero": 0.0, "one": 1.0}


def failure(source: str, data: dict[str, Any], limits: Limits | None = None) -> ExpressionError:
    context = Context({"input": data}, None, limits)
    with pytest.raises(ExpressionError) as caught:
        evaluate_expression(source, context)
    return caught.value


@pytest.mark.parametrize(
    "source",
    [
        # 8,000 references to a 100 KB string: cheap for cel-cpp, 800 MB to copy out
        "input.l.map(a, input.l.map(b, input.l.map(c, input.s)))",
        # 8,000 copies of a 200 KB string: refused before it runs
        "input.l.map(a, input.l.map(b, input.l.map(c, input.s + input.s)))",
        # doubling through chained maps
        "[input.s]" + ".map(a, a + a)" * 10,
        # a long chain of concatenations
        " + ".join(["input.s"] * 12),
    ],
)
def test_expressions_that_build_too_much_fail_with_the_budget_code(source: str) -> None:
    assert failure(source, NOISY).code == LimitCode.EXPRESSION_BUDGET


@pytest.mark.parametrize(
    "source", ["input.one / input.zero", "-(input.one / input.zero)", "input.zero / input.zero"]
)
def test_nan_and_infinity_fail_with_a_stable_code(source: str) -> None:
    assert failure(source, NOISY).code == LimitCode.NON_FINITE_NUMBER


def test_a_nan_inside_a_list_fails_too() -> None:
    assert failure("[1.0, input.zero / input.zero]", NOISY).code == LimitCode.NON_FINITE_NUMBER


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("input.items.map(i, i.name + '-' + i.sku)", ["n0-s", "n1-s", "n2-s"]),
        ("input.items.filter(i, i.name.startsWith('n1')).size()", 1),
        ("size(input.s + 'a')", 100_001),
        ("input.l.map(x, x * 2).size()", 20),
    ],
)
def test_ordinary_expressions_over_large_data_still_evaluate(source: str, expected: Any) -> None:
    items = [{"name": f"n{i}", "sku": "s", "body": "b" * 200_000} for i in range(3)]
    data = {**NOISY, "items": items}
    assert evaluate_expression(source, Context({"input": data}, None)) == expected


@pytest.mark.parametrize(
    "source",
    [
        # 3 x 20 x 200 turns: under the byte bound, over cel-cpp's own iteration budget
        "[1, 2, 3].map(x, input.l.map(y, input.big.map(z, z)))",
        # nesting past cel-cpp's recursion limit, while planning and while parsing
        "(" * 200 + "1" + ")" * 200,
        "[" * 100 + "1" + "]" * 100,
        "1" + " + 1" * 1000,
        "input" + ".l" * 500,
    ],
)
def test_the_runtimes_own_limits_are_the_budget_too(source: str) -> None:
    caught = failure(source, {**NOISY, "big": list(range(200))})
    assert caught.code == LimitCode.EXPRESSION_BUDGET
    assert caught.reason.startswith("expression over its budget (")
    assert "INTERNAL" not in caught.reason
    assert "CANCELLED" not in caught.reason


def test_limits_come_from_the_context() -> None:
    small = Limits(expression_bytes=1000)
    assert failure("input.s", {"s": "x" * 1001}, small).code == LimitCode.EXPRESSION_BUDGET
    assert evaluate_expression("input.s", Context({"input": {"s": "x" * 1001}}, None)) == "x" * 1001


def test_a_template_of_many_parts_is_bounded_as_a_whole() -> None:
    context = Context({"input": {"s": "x" * 400_000}}, None)
    with pytest.raises(ExpressionError) as caught:
        render("{{ input.s }}{{ input.s }}{{ input.s }}", context)
    assert caught.value.code == LimitCode.EXPRESSION_BUDGET


def test_the_bound_is_deterministic_and_cheap() -> None:
    tree = program_tree(
        compile_expression(
            "input.l.map(a, input.l.map(b, input.s + input.s))", Scope.RUN
        ).serialize()
    )
    data = {"input": NOISY}
    first, _ = estimate(tree, data, 10**12)
    assert estimate(tree, data, 10**12)[0] == first
    with pytest.raises(OverBudget):
        estimate(tree, data, first - 1)


@pytest.mark.parametrize(
    ("source", "at_least"),
    [
        ("input.l.map(a, input.l.map(b, input.l.map(c, input.s)))", 8000 * 100_000),
        ("[input.s, input.s] + [input.s]", 300_000),
        ("input.l.filter(x, x > 100)", 0),  # may keep nothing
        ("input.l.exists(x, x == 1)", 0),
    ],
)
def test_the_lower_bound_never_exceeds_the_real_result(source: str, at_least: int) -> None:
    tree = program_tree(compile_expression(source, Scope.RUN).serialize())
    _, shape = estimate(tree, {"input": NOISY}, 10**15)
    assert shape.floor >= at_least
    if at_least < 1_000_000:
        real = len(orjson.dumps(evaluate_expression(source, Context({"input": NOISY}, None))))
        assert shape.floor <= real <= shape.size


@pytest.mark.parametrize(
    ("source", "expected"),
    [("{true: 1, false: 2}", {"true": 1, "false": 2}), ("{1: 'a', 2u: 'b'}", {"1": "a", "2": "b"}),
     ("input.l.map(x, {x > 1: x})", [{"false": 1}, {"true": 2}])],
)  # fmt: skip
def test_map_keys_become_json_keys(source: str, expected: Any) -> None:
    """A bool key came out as Python's "True" instead of JSON's "true"."""
    assert evaluate_expression(source, Context({"input": {"l": [1, 2]}}, None)) == expected
