"""The CEL subset against the real engine: same violations, same messages, same values.

Each expression of the corpus runs on the same deterministic records (seeded random: missing
fields, wrong types, bools for ints, ints beyond 64 bits, ints and doubles around 2**53, NaN and
infinities, empty and non-ASCII strings) once with the fast evaluators and once with the engine
only.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable
from typing import Any, Final

import cel
import pytest

from validator_pod.domain.schemas import Rule
from validator_pod.validation.cel_subset import Deferral
from validator_pod.validation.compiling import CompiledRules, compile_rules
from validator_pod.validation.validating import RECORD_VARIABLE, rule_violations

EXPRESSIONS: Final = (
    # ints and their arithmetic
    "record.a > 0",
    "record.a >= record.b",
    "record.a < 10 && record.b <= 5",
    "record.a == record.b",
    "record.a != 3",
    "record.a + record.b > 7",
    "record.a - record.b == 0",
    "record.a * record.b < 100",
    "record.a / record.b == 2",
    "record.a % record.b == 1",
    "record.a / 3 == 1 || record.a % 3 == 2",
    "-record.a < 0",
    "record.a - 1 < record.a",
    "record.a >= -5 && record.a <= 9223372036854775807",
    "record.a + record.b * 2 > 10 - record.a",
    "1 + 2 * 3 == 7 && (1 + 2) * 3 == 9 && 10 - 4 - 3 == 3",
    "record.a + 1",
    "record.a / record.b",
    "record.a % record.b",
    "7 / record.b == -3 || record.a % 3 == 1",
    # doubles
    "record.f > 0.5",
    "record.f + record.g < 10.0",
    "record.f * 2.0 >= record.g",
    "record.f / record.g > 1.0",
    "record.f - record.g <= -1.5e1",
    "-record.f == record.g",
    "record.f == record.f",
    "record.f != record.g",
    "record.f * record.g",
    # an int and a double (exact up to 2**53; `num` is either)
    "record.a == record.f",
    "record.f != record.a",
    "record.a < record.f",
    "record.f <= record.b",
    "record.a > record.g",
    "record.g >= record.a",
    "record.f > 0",
    "record.f == 0",
    "record.f != 1",
    "0 <= record.f",
    "record.a >= 0.5",
    "record.a == 2.0",
    "record.a < -0.0",
    "record.f == 9007199254740992",
    "record.f >= 9007199254740993",
    "-9007199254740992 < record.f",
    "record.a <= 9007199254740992.0",
    "record.a == 9007199254740993.0",
    "record.num > 0 && record.s in ['EUR','USD']",
    "record.num == record.a",
    "record.num >= record.f",
    "record.a in [1.0, 2.5, -0.0]",
    "record.f in [0, 2, 3]",
    "record.f in [1, 9007199254740993]",
    "record.num in [55, 55.0, 'EUR']",
    "record.num in [2, 9007199254740992.0]",
    "record.num in record.l",
    "record.f in record.l",
    "record.f + 1 > 0",
    "record.a * 1.5 > 0.0",
    # strings
    "record.s == 'pos'",
    'record.s != "paypal"',
    "record.s < record.t",
    "record.s >= 'a'",
    "record.s + record.t == 'ab'",
    "record.s + '-' + record.t",
    "record.s.startsWith('p')",
    "record.s.endsWith(record.t)",
    "record.s.contains('a') || record.t.contains(record.s)",
    "size(record.s) > 2",
    "record.t.size() == 0",
    "record.s == '\\u00e9' || record.s == '\\U0001F600' || record.s == 'tab\\t'",
    "record.s.size() > 0 && record.s.startsWith('p') && !record.s.endsWith('x')",
    "record.s != 'pos' || record.t != 'paypal'",
    # bools and null
    "record.flag",
    "!record.flag",
    "record.flag == record.ok",
    "record.flag != true",
    "record.flag && record.ok",
    "record.flag || record.a > 0",
    "record.z == null",
    "null == record.z",
    "record.z != null",
    # in
    "record.s in ['EUR', 'USD']",
    "record.a > 0 && record.s in ['EUR','USD']",
    "record.a in [1, 2, 3]",
    "record.a in [1, 'one']",
    "record.f in [1.5, -0.0]",
    "record.flag in [true]",
    "record.s in record.l",
    "record.a in record.l",
    "'k' in record.m",
    "record.s in record.m",
    "'a' in record",
    # size of containers
    "size(record.l) >= 1",
    "size(record.m) == 2",
    "record.l.size() + size(record.m) > 1",
    # nested access
    "has(record.n)",
    "has(record.n.k)",
    "has(record.n.inner.deep)",
    "record.n.k == 1",
    "record.n['k'] == 'x'",
    "record['s'] == 'pos'",
    "record.n.inner.deep == 'x'",
    "record.l[0] == 1",
    "record.l[1] == 'b'",
    "record.m.a > 0",
    "record.event_type != 'order.cancelled' || has(record.note)",
    # short-circuits and error absorption
    "record.missing > 1 || record.flag",
    "record.flag && record.missing",
    "record.a / 0 > 1 || true",
    "false && record.a / 0 == 1",
    "record.f / 0.0 > 0.0 || record.flag",
    "record.a > 0 || record.s == 'x'",
    "!(record.a > 0) || record.b < 0",
    "record.a < 1 == record.flag",
    # ternary
    "record.flag ? record.a > 0 : record.s == 'x'",
    "record.a > 0 ? 'positive' : 'not'",
    "record.flag ? record.a : record.f",
    "record.flag ? record.l : record.m",
    # plain reads
    "record.s",
    "record.l",
)

INTS: Final = (
    *(0, 1, 2, 3, 5, 7, 10, 55, -1, -7, 2**62, 2**63 - 1, -(2**63), 2**63, 2**64, 10**30),
    *(2**53 - 1, 2**53, 2**53 + 1, -(2**53), -(2**53) - 1),
)
FLOATS: Final = (
    *(0.0, -0.0, 0.5, 1.0, -1.0, 1.5, 2.0, 3.0, -2.5, 55.0, 1e308, 5e-324),
    *(2.0**53, 2.0**53 + 2, -(2.0**53), 2.0**63, math.nan, math.inf, -math.inf),
)
STRINGS: Final = (
    *("", "a", "ab", "b", "p", "x", "k", "pos", "paypal", "EUR", "USD", "order.cancelled"),
    *("é", "😀", "tab\t", "pos\x00", "\uffff", "\ud800"),
)
OTHERS: Final = (True, False, None)
ODD: Final = (b"a", (1, 2), {1: "a"})
"""Not JSON: the Avro path can hand over bytes; tuples and int keys check the type guards."""

Generator = Callable[[random.Random, int], Any]


def any_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.12 and depth < 3:
        return [any_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if roll < 0.22 and depth < 3:
        keys = rng.sample(("a", "b", "k", "inner", "deep", "x"), rng.randrange(4))
        return {key: any_value(rng, depth + 1) for key in keys}
    if roll < 0.24:
        return rng.choice(ODD)
    return rng.choice(rng.choice((INTS, FLOATS, STRINGS, OTHERS)))


def from_(values: tuple[Any, ...]) -> Generator:
    return lambda rng, depth: rng.choice(values)


def nested(rng: random.Random, depth: int) -> Any:
    inner = {"deep": rng.choice(("x", "y", 1, True))} if rng.random() < 0.7 else {}
    node: dict[str, Any] = {"inner": inner if rng.random() < 0.8 else any_value(rng, 1)}
    if rng.random() < 0.7:
        node["k"] = rng.choice(("x", 1, 1.0, True, None))
    return node


def a_list(rng: random.Random, depth: int) -> Any:
    pool = (1, 2, "b", "pos", "EUR", 1.0, 2.0, -0.0, True, None, 2**63, math.nan, [1], {})
    pool += (55, 2**53 + 1, 2.0**53, math.inf)
    return [rng.choice(pool) for _ in range(rng.randrange(4))]


def a_map(rng: random.Random, depth: int) -> Any:
    keys = rng.sample(("a", "b", "k", "pos", "EUR", "é"), rng.randrange(4))
    return {key: rng.choice((1, 0, -1, 1.5, "a", True, None)) for key in keys}


FIELDS: Final[dict[str, Generator]] = {
    "a": from_(INTS),
    "b": from_(INTS),
    "f": from_(FLOATS),
    "g": from_(FLOATS),
    "num": from_(INTS + FLOATS),
    "s": from_(STRINGS),
    "t": from_(STRINGS),
    "flag": from_((True, False)),
    "ok": from_((True, False)),
    "z": from_((None, None, 0, "")),
    "l": a_list,
    "m": a_map,
    "n": nested,
    "event_type": from_(("order.created", "order.cancelled")),
    "note": from_(("why", "")),
}


def records(seed: int, count: int) -> list[Any]:
    """Records of the corpus: each field usually of its own type, sometimes of any type,
    sometimes missing; now and then a record that is not an object."""
    rng = random.Random(seed)
    made: list[Any] = []
    for _ in range(count):
        if rng.random() < 0.02:
            made.append(any_value(rng))
            continue
        record: dict[str, Any] = {}
        for name, generate in FIELDS.items():
            roll = rng.random()
            if roll < 0.12:
                continue
            record[name] = generate(rng, 0) if roll < 0.8 else any_value(rng)
        made.append(record)
    return made


RECORDS: Final = records(seed=20260301, count=400)


def engine_only(rules: CompiledRules) -> CompiledRules:
    """The same rules without their fast evaluators: what the validator did before them."""
    return CompiledRules(
        rules=tuple(dataclasses.replace(rule, evaluator=None) for rule in rules.rules),
        fields=rules.fields,
    )


def same_value(fast: Any, engine: Any) -> bool:
    """Equal, of the same type, and for doubles the same text (NaN and -0.0 included)."""
    if type(fast) is not type(engine):
        return False
    if type(fast) is float:
        return repr(fast) == repr(engine)
    return bool(fast == engine)


def visible(rules: CompiledRules, record: Any) -> Any:
    if rules.fields is not None and isinstance(record, dict):
        return {field: record[field] for field in rules.fields if field in record}
    return record


def holds_a_map(value: Any) -> bool:
    if isinstance(value, dict):
        return len(value) > 1 or any(holds_a_map(item) for item in value.values())
    return isinstance(value, list) and any(holds_a_map(item) for item in value)


def engine_formats_a_map(rules: CompiledRules, record: Any) -> bool:
    """Whether a rule evaluates to a map of several entries, which the engine returns in hash
    order: its "evaluated to {...}" detail then differs from one run of the engine to the next."""
    try:
        context = cel.Context(variables={RECORD_VARIABLE: visible(rules, record)})
    except ValueError:
        return False
    for rule in rules.rules:
        try:
            result = rule.program.execute(context)
        except Exception:
            continue
        if holds_a_map(result):
            return True
    return False


@pytest.fixture
def contexts(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The CEL contexts built, in order (rule_violations builds one when the engine decides)."""
    built: list[Any] = []
    context = cel.Context

    def counted(**kwargs: Any) -> Any:
        built.append(kwargs)
        return context(**kwargs)

    monkeypatch.setattr(cel, "Context", counted)
    return built


def assert_same_violations(
    rules: CompiledRules, record: Any, max_errors: int, contexts: list[Any]
) -> bool:
    """Assert the fast path gives the engine's violations; True when it answered by itself."""
    contexts.clear()
    fast = rule_violations(rules, record, max_errors)
    answered = not contexts
    engine = rule_violations(engine_only(rules), record, max_errors)
    if fast != engine:
        # Only the engine's own map ordering may differ, and then the engine decided both.
        assert not answered, (record, fast, engine)
        assert engine_formats_a_map(rules, record), (record, fast, engine)
    return answered


def test_the_corpus_is_large_and_all_in_the_subset() -> None:
    assert len(EXPRESSIONS) >= 40
    assert len(set(EXPRESSIONS)) == len(EXPRESSIONS)
    for expression in EXPRESSIONS:
        (rule,) = compile_rules([Rule(name="r", expression=expression, message="m")]).rules
        assert rule.evaluator is not None, expression


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_the_fast_path_gives_the_engines_violations_and_values(
    expression: str, contexts: list[Any]
) -> None:
    rules = compile_rules([Rule(name="rule", expression=expression, message="broken")])
    (rule,) = rules.rules
    assert rule.evaluator is not None
    answered = 0
    for record in RECORDS:
        assert_same_violations(rules, record, 20, contexts)
        try:
            value = rule.evaluator(record)
        except Deferral:
            continue
        try:
            context = cel.Context(variables={RECORD_VARIABLE: visible(rules, record)})
        except ValueError:
            continue  # the engine cannot be handed the record: rule_violations does not ask
        engine = rule.program.execute(context)
        assert same_value(value, engine), (record, value, engine)
        answered += 1
    assert answered > 0, "the fast path never answered: the corpus does not exercise it"


@pytest.mark.parametrize("max_errors", [1, 2, 100])
@pytest.mark.parametrize("whole_record", [False, True], ids=["fields", "whole record"])
def test_several_rules_give_the_engines_violations_in_order(
    max_errors: int, whole_record: bool, contexts: list[Any]
) -> None:
    answered = 0
    for start in range(0, len(EXPRESSIONS), 4):
        expressions = EXPRESSIONS[start : start + 4]
        if whole_record:
            expressions += ("size(record) > 3",)
        rules = compile_rules(
            Rule(name=f"rule-{number}", expression=expression, message=f"message {number}")
            for number, expression in enumerate(expressions)
        )
        assert rules.fields is None or not whole_record
        assert rules.evaluators is not None
        answered += sum(
            assert_same_violations(rules, record, max_errors, contexts) for record in RECORDS
        )
    assert answered > len(RECORDS)


def test_the_benchmark_rule_answers_fast_for_realistic_records(contexts: list[Any]) -> None:
    rules = compile_rules(
        [Rule(name="pos", expression="record.s != 'pos' || record.t != 'paypal'", message="m")]
    )
    (rule,) = rules.rules
    assert rule.evaluator is not None
    rng = random.Random(7)
    for _ in range(200):
        record = {"s": rng.choice(("web", "pos")), "t": rng.choice(("card", "paypal"))}
        expected = not (record["s"] == "pos" and record["t"] == "paypal")
        assert rule.evaluator(record) is expected
        assert assert_same_violations(rules, record, 20, contexts)
