"""The CEL subset evaluated in Python: what it parses, what it answers, and when it defers."""

from __future__ import annotations

import itertools
import math
import traceback
from typing import Any

import cel
import pytest

from validator_pod.domain.records import FieldError
from validator_pod.domain.schemas import Rule
from validator_pod.validation import cel_subset
from validator_pod.validation.cel_subset import Deferral, certainly_convertible
from validator_pod.validation.compiling import compile_rules
from validator_pod.validation.validating import rule_violations

MAX_INT = 2**63 - 1
MIN_INT = -(2**63)
EXACT = 2**53


def evaluate(expression: str, record: Any = None) -> Any:
    evaluator = cel_subset.compile(expression)
    assert evaluator is not None, f"{expression!r} should be in the subset"
    return evaluator(record if record is not None else {})


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def defers(expression: str, record: Any) -> bool:
    try:
        evaluate(expression, record)
    except Deferral:
        return True
    return False


# --- Parsing and compiling ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("42", 42),
        ("007", 7),
        ("0000000000000000000000000042", 42),
        ("-9223372036854775807", -MAX_INT),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("2.5e-1", 0.25),
        ("-2.0", -2.0),
        ("--3", 3),
        ("'single'", "single"),
        ('"double"', "double"),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        ("'\\\\ \\' \\\" \\` \\?'", "\\ ' \" ` ?"),
        ("'\\a\\b\\f\\n\\r\\t\\v'", "\a\b\f\n\r\t\v"),
        ("'\\x41\\101\\u00e9\\U0001F600'", "AAé😀"),
        ("'é 😀'", "é 😀"),
        ("''", ""),
        ("true", True),
        ("false", False),
        ("null", None),
        ("size([1, 'a', 2.5, true, null])", 5),
        ("size([])", 0),
        ("size([1, 2,])", 2),
    ],
)
def test_literals_evaluate_to_their_python_values(expression: str, value: Any) -> None:
    result = evaluate(expression)
    assert type(result) is type(value)
    assert result == value


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("100 / 10 / 5", 2),
        ("7 % 4 * 2", 6),
        ("-2 * 3", -6),
        ("true || false && false", True),
        ("(true || false) && false", False),
        ("false && true || true", True),
        ("1 < 2 == true", True),
        ("!true == false", True),
        ("!!true", True),
        ("1 + 2 in [3]", True),
        ("1 == 1 in [true]", True),
        ("true ? 1 : false ? 2 : 3", 1),
        ("false ? 1 : false ? 2 : 3", 3),
        ("false ? 1 : 2 + 3", 5),
        ("1 < 2 ? 'yes' : 'no'", "yes"),
        ("1 < 2 // a comment\n && 2 < 3", True),
        ("\t1\n<\r\n2 ", True),
    ],
)
def test_operators_follow_cel_precedence_and_associativity(expression: str, value: Any) -> None:
    assert evaluate(expression) == value
    assert cel.evaluate(expression) == value


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("record.a", 1),
        ("record.n.k", "x"),
        ("record.n.inner.deep", True),
        ("record['a']", 1),
        ('record["n"]["k"]', "x"),
        ("record.n['inner'].deep", True),
        ("record.l[0]", "first"),
        ("record.l[1].k", 2),
        ("has(record.a)", True),
        ("has(record.b)", False),
        ("has(record.n.inner.deep)", True),
        ("has(record.n.inner.other)", False),
        ("size(record.l)", 2),
        ("record.l.size()", 2),
        ("size(record.n)", 2),
        ("size(record.n.k)", 1),
        ("size(record)", 3),
        ("'a' in record", True),
        ("'k' in record.n", True),
        ("'first' in record.l", True),
        ("record.n.k.startsWith('x')", True),
        ("record.n.k.endsWith('y')", False),
        ("'text'.contains(record.n.k)", True),
    ],
)
def test_the_record_is_read_by_field_key_and_index(expression: str, value: Any) -> None:
    record = {"a": 1, "n": {"k": "x", "inner": {"deep": True}}, "l": ["first", {"k": 2}]}
    assert evaluate(expression, record) == value
    assert cel.compile(expression).execute({"record": record}) == value


@pytest.mark.parametrize(
    "expression",
    [
        "record.items.all(i, i > 0)",
        "record.items.exists(i, i > 0)",
        "record.items.map(i, i * 2) == [2]",
        "record.items.filter(i, i > 0) == []",
        "record.name.matches('^a')",
        "timestamp(record.at) > timestamp('2026-01-01T00:00:00Z')",
        "duration('1s') > duration('0s')",
        "record.count > 1u",
        "record.data == b'abc'",
        "int(record.x) > 0",
        "double(record.x) > 0.0",
        "string(record.x) == '1'",
        "unknown(record.x)",
        "record.name.lowerAscii() == 'a'",
        "record.name.startsWith('a', 'b')",
        "size(record.a, record.b)",
        "r'raw' == record.x",
        "'''triple''' == record.x",
        "{'a': 1} == record.x",
        "record.l[record.i] == 1",
        "record.l[1u] == 1",
        "[record.x] == [1]",
        "[[1]] == record.x",
        "0x1F == record.x",
        "9223372036854775807 + 9223372036854775808 > 0",
        "1" + "0" * 5000 + " > record.x",
        "-9223372036854775808 < record.x",
        "1e400 > record.x",
        "other.x > 0",
        "record.?x",
        "record.x ?? 1",
        "record.x = 1",
        "record.x > 0 record.y",
        "(" * 60 + "true" + ")" * 60,
        " + ".join(["record.a"] * 60) + " > 0",
        "'unterminated",
        "'\\ud800' == record.x",
        "'\\q' == record.x",
    ],
)
def test_expressions_outside_the_subset_do_not_compile(expression: str) -> None:
    assert cel_subset.compile(expression) is None


def test_a_compiled_rule_carries_its_evaluator_and_the_rules_carry_them_all() -> None:
    rules = compile_rules(
        [
            Rule(name="positive", expression="record.amount > 0", message="m"),
            Rule(name="known", expression="record.currency in ['EUR', 'USD']", message="m"),
        ]
    )
    assert all(rule.evaluator is not None for rule in rules.rules)
    assert rules.evaluators is not None
    assert len(rules.evaluators) == 2


def test_one_rule_outside_the_subset_keeps_all_rules_on_the_engine() -> None:
    rules = compile_rules(
        [
            Rule(name="positive", expression="record.amount > 0", message="m"),
            Rule(name="all", expression="record.items.all(i, i > 0)", message="m"),
        ]
    )
    assert rules.rules[0].evaluator is not None
    assert rules.rules[1].evaluator is None
    assert rules.evaluators is None


# --- Answers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "record", "value"),
    [
        ("record.a + record.b", {"a": 2, "b": 3}, 5),
        ("record.a - record.b", {"a": 2, "b": 3}, -1),
        ("record.a * record.b", {"a": -2, "b": 3}, -6),
        ("record.a / record.b", {"a": 7, "b": 2}, 3),
        ("record.a % record.b", {"a": 7, "b": 2}, 1),
        ("record.a + 1", {"a": MAX_INT - 1}, MAX_INT),
        ("record.a - 1", {"a": MIN_INT + 1}, MIN_INT),
        ("-record.a", {"a": MAX_INT}, -MAX_INT),
        ("record.f + record.g", {"f": 0.5, "g": 0.25}, 0.75),
        ("record.f / record.g", {"f": 1.0, "g": 4.0}, 0.25),
        ("record.f * record.g", {"f": 1e308, "g": 10.0}, math.inf),
        ("-record.f", {"f": 0.0}, -0.0),
        ("record.s + record.t", {"s": "a", "t": "é"}, "aé"),
        ("record.s < record.t", {"s": "\uffff", "t": "😀"}, True),
        ("record.s <= record.t", {"s": "b", "t": "a"}, False),
        ("record.a > record.b", {"a": 2, "b": 1}, True),
        ("record.a >= record.b", {"a": 1, "b": 1}, True),
        ("record.f < record.g", {"f": -math.inf, "g": 0.0}, True),
        ("record.f == record.f", {"f": math.nan}, False),
        ("record.f != record.f", {"f": math.nan}, True),
        ("record.f == -0.0", {"f": 0.0}, True),
        ("record.x == record.y", {"x": True, "y": True}, True),
        ("record.x != false", {"x": True}, True),
        ("record.x == null", {"x": None}, True),
        ("null != record.x", {"x": None}, False),
        ("record.s in ['EUR', 'USD']", {"s": "USD"}, True),
        ("record.s in ['EUR', 'USD']", {"s": "GBP"}, False),
        ("record.s in []", {"s": "GBP"}, False),
        ("record.f in [0.0]", {"f": -0.0}, True),
        ("record.f in record.l", {"f": math.nan, "l": [math.nan]}, False),
        ("record.a in [1, 'one']", {"a": 1}, True),
        ("record.a in record.l", {"a": 2, "l": [1, 2]}, True),
        ("record.s in record.m", {"s": "k", "m": {"k": 1}}, True),
        ("record.s in record.m", {"s": "j", "m": {"k": 1}}, False),
        ("has(record.m.k)", {"m": {"k": None}}, True),
        ("size(record.s)", {"s": "ascii"}, 5),
        ("record.s.contains('')", {"s": ""}, True),
    ],
)
def test_the_subset_answers_as_the_engine(expression: str, record: Any, value: Any) -> None:
    result = evaluate(expression, record)
    expected = cel.compile(expression).execute(cel.Context(variables={"record": record}))
    assert type(result) is type(value) is type(expected)
    assert repr(result) == repr(value) == repr(expected)


@pytest.mark.parametrize(
    ("expression", "record", "value"),
    [
        ("record.missing > 1 || true", {}, True),
        ("true || record.missing > 1", {}, True),
        ("record.missing > 1 && false", {}, False),
        ("false && record.missing > 1", {}, False),
        ("record.a / 0 > 1 || record.ok", {"a": 1, "ok": True}, True),
        ("record.ok && record.a + 1 > 0", {"a": MAX_INT, "ok": False}, False),
        ("record.x || true", {"x": 1}, True),
        ("record.x && false", {"x": "text"}, False),
        ("false || record.ok", {"ok": True}, True),
        ("true && record.ok", {"ok": False}, False),
        ("true ? 1 : record.missing", {}, 1),
        ("false ? record.missing : 2", {}, 2),
    ],
)
def test_and_or_absorb_an_undecided_side_when_the_other_decides(
    expression: str, record: Any, value: Any
) -> None:
    assert evaluate(expression, record) == value
    assert cel.compile(expression).execute({"record": record}) == value


@pytest.mark.parametrize(
    ("expression", "record"),
    [
        ("record.missing > 1 || false", {}),
        ("false || record.missing > 1", {}),
        ("record.missing > 1 && true", {}),
        ("true && record.missing > 1", {}),
        ("record.missing > 1 || record.other > 1", {}),
        ("record.x || false", {"x": 1}),
        ("record.x && true", {"x": 1}),
        ("true && record.x", {"x": "yes"}),
    ],
)
def test_and_or_defer_when_no_side_decides(expression: str, record: Any) -> None:
    assert defers(expression, record)


# --- Deferrals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "record"),
    [
        pytest.param("record.x == 1", {}, id="missing field"),
        pytest.param("record.a.b == 1", {"a": {}}, id="missing nested key"),
        pytest.param("record['x'] == 1", {}, id="missing key"),
        pytest.param("record.a.b == 1", {"a": "text"}, id="field of a string"),
        pytest.param("record.a.b == 1", {"a": None}, id="field of null"),
        pytest.param("record.x == 1", [1], id="field of a record that is a list"),
        pytest.param("record.l[1] == 1", {"l": [1]}, id="index out of range"),
        pytest.param("record.l[-1] == 1", {"l": [1]}, id="negative index"),
        pytest.param("record.m[0] == 1", {"m": {"0": 1}}, id="int index into a map"),
        pytest.param("record.l['0'] == 1", {"l": [1]}, id="string index into a list"),
        pytest.param("record.s[0] == 'a'", {"s": "abc"}, id="index into a string"),
    ],
)
def test_missing_fields_keys_and_indexes_defer(expression: str, record: Any) -> None:
    assert defers(expression, record)


@pytest.mark.parametrize(
    ("expression", "record"),
    [
        pytest.param("record.x + 1 > 0", {"x": 1.0}, id="double + int"),
        pytest.param("record.x == 1", {"x": True}, id="bool == int"),
        pytest.param("record.x + 1 == 2", {"x": True}, id="bool + int"),
        pytest.param("record.x < true", {"x": False}, id="bool ordering"),
        pytest.param("record.x == 'a'", {"x": 1}, id="int == string"),
        pytest.param("record.x == null", {"x": 1}, id="int == null"),
        pytest.param("record.x == record.y", {"x": [1], "y": [1]}, id="list == list"),
        pytest.param("record.x == record.y", {"x": {}, "y": {}}, id="map == map"),
        pytest.param("record.x < record.y", {"x": None, "y": None}, id="null ordering"),
        pytest.param("size(record.x + record.y) > 0", {"x": [1], "y": [2]}, id="list + list"),
        pytest.param("record.x * 2 == 'aa'", {"x": "a"}, id="string * int"),
        pytest.param("record.x - record.y == ''", {"x": "a", "y": "a"}, id="string - string"),
        pytest.param("record.x in ['a', 1]", {"x": "b"}, id="in a mixed list without a match"),
        pytest.param("record.x in record.l", {"x": [1], "l": [[1]]}, id="list in a list"),
        pytest.param("1 in record.m", {"m": {"1": 1}}, id="int in a map"),
        pytest.param("'a' in record.s", {"s": "abc"}, id="in a string"),
        pytest.param("record.x == 'a'", {"x": b"a"}, id="bytes"),
        pytest.param("size(record.x) == 1", {"x": (1,)}, id="tuple"),
    ],
)
def test_uncertain_operand_types_defer(expression: str, record: Any) -> None:
    assert defers(expression, record)


@pytest.mark.parametrize(
    ("expression", "record"),
    [
        pytest.param("record.x + 1 > 0", {"x": MAX_INT}, id="int addition overflows"),
        pytest.param("record.x - 1 < 0", {"x": MIN_INT}, id="int subtraction overflows"),
        pytest.param("record.x * 2 > 0", {"x": 2**62}, id="int multiplication overflows"),
        pytest.param("-record.x > 0", {"x": MIN_INT}, id="int negation overflows"),
        pytest.param("record.x > 0", {"x": 2**63}, id="uint-sized int in the record"),
        pytest.param("record.x < 0", {"x": MIN_INT - 1}, id="int below 64 bits in the record"),
        pytest.param("record.x > 0", {"x": 10**30}, id="huge int in the record"),
        pytest.param("1 in record.l", {"l": [2**64]}, id="huge int in a record list"),
        pytest.param("record.l[0] > 0", {"l": [2**63]}, id="huge int read by index"),
    ],
)
def test_ints_beyond_64_bits_defer(expression: str, record: Any) -> None:
    assert defers(expression, record)


@pytest.mark.parametrize(
    ("expression", "record"),
    [
        pytest.param("record.x / 0 > 0", {"x": 7}, id="int division by zero"),
        pytest.param("record.x % 0 > 0", {"x": 7}, id="int modulo by zero"),
        pytest.param("record.x / 2 < 0", {"x": -7}, id="negative dividend"),
        pytest.param("7 / record.x < 0", {"x": -2}, id="negative divisor"),
        pytest.param("record.x % 2 < 0", {"x": -7}, id="negative modulo"),
        pytest.param("record.x / 0.0 > 0.0", {"x": 1.0}, id="double division by zero"),
        pytest.param("record.x % 2.0 > 0.0", {"x": 7.0}, id="double modulo"),
        pytest.param("record.x < 1.0", {"x": math.nan}, id="NaN ordering"),
        pytest.param("1.0 >= record.x", {"x": math.nan}, id="NaN ordering on the right"),
    ],
)
def test_arithmetic_cel_and_python_disagree_on_defers(expression: str, record: Any) -> None:
    assert defers(expression, record)


@pytest.mark.parametrize(
    ("expression", "record"),
    [
        pytest.param("!record.x", {"x": 1}, id="not of an int"),
        pytest.param("record.x ? true : false", {"x": "yes"}, id="condition of a string"),
        pytest.param("record.x ? true : false", {}, id="condition deferred"),
        pytest.param("size(record.x) == 1", {"x": "é"}, id="size of a non-ASCII string"),
        pytest.param("size(record.x) == 1", {"x": 5}, id="size of an int"),
        pytest.param("has(record.a.b)", {}, id="has with a missing parent"),
        pytest.param("has(record.a.b)", {"a": [1]}, id="has on a list"),
        pytest.param("record.x.startsWith('a')", {"x": 1}, id="startsWith on an int"),
        pytest.param("record.x.endsWith(record.y)", {"x": "a", "y": 1}, id="endsWith an int"),
        pytest.param("record.x.contains('a')", {"x": ["a"]}, id="contains on a list"),
        pytest.param("record.m", {"m": {"a": 1}}, id="map result"),
        pytest.param("record.l", {"l": [1]}, id="list result"),
        pytest.param("[1, 2]", {}, id="list literal result"),
        pytest.param("true ? record.l : 1", {"l": []}, id="list result of a conditional"),
    ],
)
def test_other_uncertain_cases_defer(expression: str, record: Any) -> None:
    assert defers(expression, record)


def test_repeated_deferrals_do_not_pile_up_tracebacks() -> None:
    evaluator = cel_subset.compile("record.x > 0 && record.y > 0")
    assert evaluator is not None
    lengths: list[int] = []
    for _ in range(3):
        with pytest.raises(Deferral) as deferred:
            evaluator({})
        lengths.append(len(traceback.extract_tb(deferred.value.__traceback__)))
    assert lengths[0] == lengths[1] == lengths[2] <= 4


# --- Ints and doubles -------------------------------------------------------------------------

INTS_UP_TO_2_53 = (0, 1, -1, 55, EXACT - 1, EXACT, -EXACT)
DOUBLES = (0.0, -0.0, 1.0, 55.0, 55.5, -0.5, 2.0**53, 2.0**53 + 2, -(2.0**53), 1e308, 5e-324)
NOT_FINITE = (math.inf, -math.inf, math.nan)


def engine_answer(expression: str, record: Any) -> Any:
    """The engine's value, or the exception it raises."""
    try:
        return cel.compile(expression).execute(cel.Context(variables={"record": record}))
    except Exception as exc:  # the engine's errors are answers to compare too
        return exc


def written(number: float) -> str:
    """A number as a CEL literal."""
    return repr(number) if type(number) is int else repr(float(number))


@pytest.mark.parametrize("symbol", ["==", "!=", "<", "<=", ">", ">="])
def test_an_int_up_to_2_53_and_a_double_compare_as_the_engine_compares_them(symbol: str) -> None:
    """Every pair, both ways round, read from the record or written as a literal: the fast path
    answers the engine's value, and defers exactly where the engine errors (ordering NaN)."""
    for number, double in itertools.product(INTS_UP_TO_2_53, DOUBLES + NOT_FINITE):
        for left, right in ((number, double), (double, number)):
            record = {"x": left, "y": right}
            expressions = [f"record.x {symbol} record.y"]
            if math.isfinite(right):
                expressions.append(f"record.x {symbol} {written(right)}")
            if math.isfinite(left):
                expressions.append(f"{written(left)} {symbol} record.y")
            for expression in expressions:
                expected = engine_answer(expression, record)
                if isinstance(expected, Exception):
                    assert math.isnan(double), expression
                    assert symbol not in ("==", "!="), expression
                    assert defers(expression, record), (expression, record)
                else:
                    assert evaluate(expression, record) is expected, (expression, record)


@pytest.mark.parametrize(
    ("expression", "record", "value"),
    [
        ("record.amount > 0", {"amount": 55.0}, True),
        ("record.amount > 0", {"amount": -0.0}, False),
        ("record.amount >= 0", {"amount": -0.0}, True),
        ("record.amount == 0", {"amount": -0.0}, True),
        ("record.amount != 1", {"amount": math.nan}, True),
        ("record.amount == record.limit", {"amount": math.nan, "limit": 0}, False),
        ("record.amount <= record.limit", {"amount": EXACT, "limit": math.inf}, True),
        ("record.amount < 0.5", {"amount": 0}, True),
        ("-record.amount < 0", {"amount": 0.5}, True),
        ("record.amount + 0.5 > 1", {"amount": 0.5}, False),
        ("record.amount in [1.0, 2.5]", {"amount": 1}, True),
        ("record.amount in [0, 2, 3]", {"amount": 2.0}, True),
        ("record.amount in [0, 2, 3]", {"amount": 2.5}, False),
        ("record.amount in [0, 2, 3]", {"amount": math.nan}, False),
        ("record.amount in [0, 2, 3]", {"amount": -math.inf}, False),
        ("record.amount in [-0.0]", {"amount": 0}, True),
        ("record.amount in [1, 9007199254740993]", {"amount": 1.0}, True),
        ("record.amount in [9007199254740993, 1.0]", {"amount": EXACT + 1}, True),
        ("record.amount in record.l", {"amount": 1, "l": [0.5, 1.0]}, True),
        ("record.amount in record.l", {"amount": 1.0, "l": [0, 2]}, False),
        ("record.amount in record.l", {"amount": math.inf, "l": [1, 2.0]}, False),
        ("1 in record.l", {"l": [1.0]}, True),
        (
            "record.amount > 0 && record.currency in ['EUR','USD']",
            {"amount": 55.0, "currency": "EUR"},
            True,
        ),
    ],
)
def test_an_int_and_a_double_compare_in_expressions_as_in_the_engine(
    expression: str, record: Any, value: Any
) -> None:
    assert evaluate(expression, record) is value
    assert engine_answer(expression, record) is value


def test_beyond_2_53_the_engine_rounds_the_int_where_python_compares_exactly() -> None:
    assert cel.evaluate("9007199254740993 == 9007199254740992.0") is True
    assert cel.evaluate("9007199254740993 > 9007199254740992.0") is False
    assert cel.evaluate("9223372036854775807 == 9223372036854775808.0") is True
    assert EXACT + 1 != 2.0**53
    assert EXACT + 1 > 2.0**53


@pytest.mark.parametrize(
    ("expression", "record"),
    [
        pytest.param("record.x == record.y", {"x": EXACT + 1, "y": 2.0**53}, id="int beyond 2**53"),
        pytest.param("record.x > record.y", {"x": -EXACT - 1, "y": -(2.0**53)}, id="below -2**53"),
        pytest.param("record.x > 9007199254740992.0", {"x": EXACT + 1}, id="with a literal"),
        pytest.param("record.x < 9007199254740993", {"x": 2.0**53}, id="literal beyond 2**53"),
        pytest.param("record.x != 1.5", {"x": MAX_INT}, id="the largest int"),
        pytest.param("record.x in [9007199254740992.0]", {"x": EXACT + 1}, id="in doubles"),
        pytest.param("record.x in [2, 9007199254740993]", {"x": 1.0}, id="in a wide int"),
        pytest.param("record.x in [9007199254740993, 2.0]", {"x": EXACT + 3}, id="wide in doubles"),
        pytest.param("record.x in record.l", {"x": EXACT + 1, "l": [2.0**53]}, id="in a list"),
        pytest.param("record.x in record.l", {"x": 2.0**53, "l": [EXACT + 1]}, id="list of wide"),
        pytest.param("record.x < 1", {"x": math.nan}, id="NaN ordered with an int"),
        pytest.param("record.x >= record.y", {"x": 1, "y": math.nan}, id="int ordered with NaN"),
        pytest.param("record.x == 1.0", {"x": True}, id="bool == double"),
        pytest.param("record.x < 1.0", {"x": False}, id="bool < double"),
        pytest.param("record.x in [1, 2.0]", {"x": True}, id="bool in numbers"),
        pytest.param("record.x in record.l", {"x": 1.0, "l": [True]}, id="double in bools"),
        pytest.param("record.x in [1, 'a']", {"x": 2.0}, id="in a list with a string"),
        pytest.param("record.x - 1 == 0.0", {"x": 1.0}, id="double - int"),
        pytest.param("record.x * record.y > 0", {"x": 2, "y": 0.5}, id="int * double"),
    ],
)
def test_int_and_double_comparisons_the_engine_rounds_or_refuses_defer(
    expression: str, record: Any
) -> None:
    assert defers(expression, record)


# --- What the engine can be handed -------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        MAX_INT,
        MIN_INT,
        math.nan,
        "",
        "é😀",
        [1, "a", None, [2.5, {"k": False}]],
        {"a": {"b": [1, {"c": "d"}]}, "é": 1},
    ],
)
def test_json_values_are_certainly_convertible(value: Any) -> None:
    assert certainly_convertible(value)
    cel.Context(variables={"record": value})


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("\ud800", id="lone surrogate"),
        pytest.param({"\udfff": 1}, id="lone surrogate in a key"),
        pytest.param([1, {"a": "\ud800"}], id="nested lone surrogate"),
        pytest.param(10**30, id="int beyond 64 bits"),
        pytest.param(2**63, id="int beyond the signed range"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param((1, 2), id="tuple"),
        pytest.param({1: 2}, id="non-string key"),
        pytest.param(nested(100), id="nesting beyond the limit"),
    ],
)
def test_other_values_are_not_certainly_convertible(value: Any) -> None:
    assert not certainly_convertible(value)


# --- rule_violations --------------------------------------------------------------------------


def test_rules_in_the_subset_build_no_cel_context(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = compile_rules(
        [
            Rule(
                name="pos-paypal",
                expression="record.c != 'pos' || record.p != 'paypal'",
                message="m",
            ),
            Rule(name="positive", expression="record.amount > 0", message="must be positive"),
        ]
    )

    def no_context(**kwargs: Any) -> Any:
        raise AssertionError("the fast path built a CEL context")

    monkeypatch.setattr(cel, "Context", no_context)
    assert rule_violations(rules, {"c": "pos", "p": "card", "amount": 3, "x": 1}, 20) == ()
    assert rule_violations(rules, {"c": "pos", "p": "paypal", "amount": 0}, 20) == (
        FieldError(path="", keyword="rule", schema_path="/rules/pos-paypal", message="m"),
        FieldError(
            path="", keyword="rule", schema_path="/rules/positive", message="must be positive"
        ),
    )
    assert len(rule_violations(rules, {"c": "pos", "p": "paypal", "amount": 0}, 1)) == 1


def test_a_deferral_sends_the_whole_record_to_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = compile_rules(
        [
            Rule(name="known", expression="record.currency in ['EUR', 'USD']", message="currency"),
            Rule(name="positive", expression="record.amount > 0.0", message="amount"),
        ]
    )
    contexts: list[Any] = []

    def counted(**kwargs: Any) -> Any:
        contexts.append(kwargs)
        return context(**kwargs)

    context = cel.Context
    monkeypatch.setattr(cel, "Context", counted)
    # An int beyond 2**53 compared with a double: the fast path defers, the engine answers.
    record = {"currency": "GBP", "amount": -EXACT - 1, "x": 1}
    (currency, amount) = rule_violations(rules, record, 20)
    assert (currency.message, amount.message) == ("currency", "amount")
    assert contexts == [{"variables": {"record": {"currency": "GBP", "amount": -EXACT - 1}}}]
    (currency,) = rule_violations(rules, {"currency": "GBP", "amount": EXACT + 1}, 20)
    assert currency.message == "currency"
    (missing,) = rule_violations(rules, {"currency": "EUR"}, 20)
    assert missing.message == "amount (rule 'positive': evaluation failed: no such key: 'amount')"
    assert len(contexts) == 3
    assert rule_violations(rules, {"currency": "EUR", "amount": 2}, 20) == ()
    assert len(contexts) == 3


def test_decimal_amounts_compared_with_int_literals_build_no_cel_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = compile_rules(
        [
            Rule(
                name="order",
                expression="record.amount > 0 && record.currency in ['EUR','USD']",
                message="m",
            )
        ]
    )

    def no_context(**kwargs: Any) -> Any:
        raise AssertionError("the fast path built a CEL context")

    monkeypatch.setattr(cel, "Context", no_context)
    for amount in (55.0, 0.01, 1e308, math.inf):
        assert rule_violations(rules, {"amount": amount, "currency": "EUR"}, 20) == ()
    for amount in (0.0, -0.0, -2.5, -math.inf):
        (error,) = rule_violations(rules, {"amount": amount, "currency": "EUR"}, 20)
        assert error.message == "m"


def test_a_rule_that_is_not_boolean_keeps_the_engine_detail() -> None:
    rules = compile_rules([Rule(name="amount", expression="record.amount", message="condition")])
    assert cel_subset.compile("record.amount") is not None
    (error,) = rule_violations(rules, {"amount": 3}, 20)
    assert error.message == "condition (rule 'amount': evaluated to 3 instead of true or false)"


def test_a_record_the_engine_cannot_be_given_fails_every_rule_as_before() -> None:
    rules = compile_rules([Rule(name="named", expression="record.name != ''", message="named")])
    assert rule_violations(rules, {"name": "ok", "other": "\ud800"}, 20) == ()
    (error,) = rule_violations(rules, {"name": "\ud800"}, 20)
    assert error.message.startswith("named (rule 'named': the record cannot be given to CEL")
    whole = compile_rules([Rule(name="named", expression="record['name'] != ''", message="n")])
    (error,) = rule_violations(whole, {"name": "ok", "other": "\ud800"}, 20)
    assert error.message.startswith("n (rule 'named': the record cannot be given to CEL")
