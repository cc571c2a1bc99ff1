"""A pure-Python fast path for a safe subset of CEL, with the real engine as the source of truth.

Why: handing a record to the `cel` engine (Rust cel-interpreter bindings) costs ~1.4 µs for
`cel.Context(...)` plus ~1.5 µs per field converted into CEL values, while `program.execute()`
itself is 0.25 µs; with one rule reading 2 fields, `rule_violations` was ~6-8 µs of the
validator's ~29 µs CPU per record (Google's cel-expr-python measured 3.2 µs per evaluation, no
better). Most rules are simple comparisons of a few fields, which Python closures evaluate on the
decoded record directly, without converting anything: on a 12-field record, `rule_violations`
for `record.channel != 'pos' || record.payment_method != 'paypal'` went from ~6.1 µs to ~0.6 µs,
for `record.amount > 0 && record.currency in ['EUR','USD']` from ~5.6 µs to ~0.9 µs with
`amount` 55 and from ~6.0 µs to ~0.9 µs with 55.0 (a double compared with an int literal, which
deferred at first: ~7.8 µs). A record the subset defers costs ~1.5-2 µs more than the engine
alone (timeit, best of several runs).

The subset (`compile` returns None for anything else, and the rule keeps using the engine only):

- literals: int, double, string ('…' or "…" with CEL's escapes), bool, null, and list literals
  of those;
- `record`, `record.field`, `record.a.b`, `record["field"]`, `record.list[0]`;
- `||`, `&&`, `!`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `in` (a list literal, a list or a map),
  unary `-`, `+`, `-`, `*`, `/`, `%`, `?:` and parentheses, with CEL's precedence;
- `size(x)` / `x.size()`, `has(x.f)`, and the string functions `startsWith`, `endsWith`,
  `contains`.

The deferral principle: an evaluator answers only when it is certain of what the engine
answers; otherwise it raises `Deferral` and the caller evaluates the record with the engine.
It defers on a missing field or key, an index out of range, operands of any types but two
strings, two ints (Python ints, not bools), two doubles, two bools (equality and logic), two
nulls (equality) or an int and a double (comparisons and `in` only, the int at most 2**53 in
magnitude: the engine compares the int converted to a double, exact only up to there, and has no
arithmetic between them), ints outside 64 bits (in the record or as a result), integer division
or modulo by zero or with a negative operand (CEL truncates, Python floors), double division by
zero, double `%`, ordering with NaN, `size` of a non-ASCII string (CEL counts code points,
cel-interpreter UTF-8 bytes), a non-bool operand of `!` or condition of `?:`, and a result that
is not a scalar. `&&` and `||` absorb an error or deferral on one side when the other side
decides the result (`false && error` is false, `true || error` is true, in either order), as CEL
does.

The evaluators read the record as decoded (dict, list, str, int, float, bool, None); any other
Python type makes them defer. `certainly_convertible` tells whether `cel.Context` accepts a value,
so that a fast answer is never given for a record the engine could not even be handed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

Evaluator = Callable[[Any], Any]
"""Evaluates one compiled expression on a decoded record; raises `Deferral` when unsure."""

_MIN_INT: Final = -(2**63)
_MAX_INT: Final = 2**63 - 1
_EXACT_INT: Final = 2**53
"""Ints up to this magnitude are exact doubles. The engine compares an int with a double by
converting the int to a double, Python compares them exactly: the two agree up to here."""
_MAX_DEPTH: Final = 32
"""Deeper expressions and values are left to the engine (Python recursion is limited)."""

_NONE_TYPE: Final = type(None)
_SCALAR_TYPES: Final = frozenset({bool, int, float, str, _NONE_TYPE})
_STRING_FUNCTIONS: Final = frozenset({"startsWith", "endsWith", "contains"})
_RESERVED: Final = frozenset({"true", "false", "null", "in"})
_RELATIONS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})


class Deferral(Exception):  # noqa: N818 - not an error: the engine is asked instead
    """The fast path cannot be certain of the engine's answer for this record.

    The evaluators raise one preallocated instance, its traceback reset each time (building an
    exception per deferral costs ~30 ns more): catch it by class and do not keep it.
    """


_DEFERRAL: Final = Deferral()


class _Unsupported(Exception):  # noqa: N818 - the expression is outside the subset
    """The expression is outside the subset (or is not valid CEL)."""


def compile(expression: str) -> Evaluator | None:
    """The fast evaluator of a CEL expression, or None when it is outside the subset.

    Call it only for expressions the engine compiles (`compile_rules` does): the parser reads
    the subset exactly as CEL does, but is not meant to reject every invalid expression.
    """
    try:
        node = _Parser(expression).parse()
        evaluate = _compile(node, 0)
    except _Unsupported:
        return None
    if isinstance(node, _Record | _Select | _Index | _Conditional | _List):
        return _scalar_result(evaluate)
    return evaluate


def certainly_convertible(value: Any) -> bool:
    """True when `cel.Context` surely accepts the value (False also when it cannot tell).

    The engine refuses strings with lone surrogates and ints beyond 64 bits (unsigned); ints
    beyond the signed range and types other than JSON's are refused here to stay certain.
    """
    if type(value) is str and value.isascii():  # the common case first: this runs per field
        return True
    return _convertible(value, 0)


def _convertible(value: Any, depth: int) -> bool:
    kind = type(value)
    if kind is str:
        return _utf8(value)
    if kind is int:
        return bool(_MIN_INT <= value <= _MAX_INT)
    if kind is float or kind is bool or value is None:
        return True
    if depth >= _MAX_DEPTH:
        return False
    if kind is dict:
        return all(
            type(key) is str and _convertible(key, depth) and _convertible(item, depth + 1)
            for key, item in value.items()
        )
    if kind is list:
        return all(_convertible(item, depth + 1) for item in value)
    return False


def _utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


# --- Parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class _List:
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Record:
    pass


@dataclass(frozen=True, slots=True)
class _Select:
    operand: _Node
    field: str


@dataclass(frozen=True, slots=True)
class _Index:
    operand: _Node
    key: str | int


@dataclass(frozen=True, slots=True)
class _Unary:
    symbol: str
    operand: _Node


@dataclass(frozen=True, slots=True)
class _Binary:
    symbol: str
    left: _Node
    right: _Node


@dataclass(frozen=True, slots=True)
class _Conditional:
    condition: _Node
    then: _Node
    otherwise: _Node


@dataclass(frozen=True, slots=True)
class _Call:
    function: str
    args: tuple[_Node, ...]


_Node = _Literal | _List | _Record | _Select | _Index | _Unary | _Binary | _Conditional | _Call

_TOKEN: Final = re.compile(
    r"""
    (?P<space>[ \t\n\r\f]+|//[^\n]*)
    | (?P<float>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\.\d+(?:[eE][+-]?\d+)?)
    | (?P<int>\d+)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<quote>['"])
    | (?P<op>\|\||&&|==|!=|<=|>=|[<>!+\-*/%?:.,()\[\]])
    """,
    re.VERBOSE,
)
_SIMPLE_ESCAPES: Final = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "?": "?",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_HEX_ESCAPE_DIGITS: Final = {"x": 2, "u": 4, "U": 8}
_OCTAL: Final = re.compile(r"[0-3][0-7]{2}")
_HEX: Final = re.compile(r"[0-9A-Fa-f]+")

_Token = tuple[str, Any]


def _tokens(expression: str) -> Iterator[_Token]:
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise _Unsupported(f"unexpected character at {position}")
        kind = match.lastgroup
        assert kind is not None
        position = match.end()
        if kind in ("int", "float") and _TOKEN_CONTINUES.match(expression, position):
            raise _Unsupported("number with a suffix (1u, 0x1F, 1e)")
        if kind == "space":
            continue
        if kind == "quote":
            text, position = _string(expression, position, match.group())
            yield "str", text
        elif kind == "int":
            digits = match.group().lstrip("0") or "0"
            if len(digits) > len(str(_MAX_INT)) or int(digits) > _MAX_INT:
                raise _Unsupported("int literal beyond 64 bits")
            yield "int", int(digits)
        elif kind == "float":
            number = float(match.group())
            if number in (float("inf"), float("-inf")):
                raise _Unsupported("double literal out of range")
            yield "float", number
        else:
            yield kind, match.group()
    yield "end", None


_TOKEN_CONTINUES: Final = re.compile(r"[A-Za-z0-9_.]")


def _string(expression: str, position: int, quote: str) -> tuple[str, int]:
    """A single-line string literal's value and the position after it (raw, triple-quoted and
    bytes literals are outside the subset)."""
    if expression.startswith(quote * 2, position):
        raise _Unsupported("triple-quoted string")
    chars: list[str] = []
    while position < len(expression):
        char = expression[position]
        position += 1
        if char == quote:
            return "".join(chars), position
        if char in "\r\n":
            raise _Unsupported("newline in a string literal")
        if char != "\\":
            chars.append(char)
            continue
        escape = expression[position : position + 1]
        position += 1
        if escape in _SIMPLE_ESCAPES:
            chars.append(_SIMPLE_ESCAPES[escape])
        elif escape in _HEX_ESCAPE_DIGITS:
            digits = expression[position : position + _HEX_ESCAPE_DIGITS[escape]]
            if len(digits) != _HEX_ESCAPE_DIGITS[escape] or not _HEX.fullmatch(digits):
                raise _Unsupported("malformed escape")
            chars.append(_code_point(int(digits, 16)))
            position += len(digits)
        elif _OCTAL.match(expression, position - 1):
            chars.append(_code_point(int(expression[position - 1 : position + 2], 8)))
            position += 2
        else:
            raise _Unsupported("unknown escape")
    raise _Unsupported("unterminated string")


def _code_point(value: int) -> str:
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        raise _Unsupported("not a Unicode scalar value")
    return chr(value)


class _Parser:
    """Recursive descent over CEL's grammar, one method per precedence level:
    `?:` (right-associative, the middle a disjunction) < `||` < `&&` < relations and `in` <
    `+ -` < `* / %` < unary `! -` < member access, index and calls."""

    def __init__(self, expression: str) -> None:
        self._tokens = list(_tokens(expression))
        self._position = 0
        self._depth = 0

    def parse(self) -> _Node:
        node = self._expression()
        if self._peek() != ("end", None):
            raise _Unsupported("trailing tokens")
        return node

    def _peek(self) -> _Token:
        return self._tokens[self._position]

    def _take(self) -> _Token:
        token = self._tokens[self._position]
        if token[0] != "end":
            self._position += 1
        return token

    def _accept(self, op: str) -> bool:
        if self._peek() == ("op", op):
            self._position += 1
            return True
        return False

    def _expect(self, op: str) -> None:
        if not self._accept(op):
            raise _Unsupported(f"expected {op!r}")

    def _expression(self) -> _Node:
        self._depth += 1
        if self._depth > _MAX_DEPTH:
            raise _Unsupported("nested too deeply")
        condition = self._disjunction()
        if self._accept("?"):
            then = self._disjunction()
            self._expect(":")
            condition = _Conditional(condition, then, self._expression())
        self._depth -= 1
        return condition

    def _disjunction(self) -> _Node:
        node = self._conjunction()
        while self._accept("||"):
            node = _Binary("||", node, self._conjunction())
        return node

    def _conjunction(self) -> _Node:
        node = self._relation()
        while self._accept("&&"):
            node = _Binary("&&", node, self._relation())
        return node

    def _relation(self) -> _Node:
        node = self._addition()
        while True:
            token = self._peek()
            if token[0] == "op" and token[1] in _RELATIONS:
                symbol = token[1]
            elif token == ("ident", "in"):
                symbol = "in"
            else:
                return node
            self._position += 1
            node = _Binary(symbol, node, self._addition())

    def _addition(self) -> _Node:
        node = self._multiplication()
        while self._peek() in (("op", "+"), ("op", "-")):
            node = _Binary(self._take()[1], node, self._multiplication())
        return node

    def _multiplication(self) -> _Node:
        node = self._unary()
        while self._peek() in (("op", "*"), ("op", "/"), ("op", "%")):
            node = _Binary(self._take()[1], node, self._unary())
        return node

    def _unary(self) -> _Node:
        kind, symbol = self._peek()
        if kind != "op" or symbol not in ("!", "-"):
            return self._member()
        count = 0
        while self._accept(symbol):
            count += 1
        node = self._member()
        for _ in range(count):
            if symbol == "-" and isinstance(node, _Literal) and type(node.value) in (int, float):
                node = _Literal(-node.value)  # a negative literal: -1 is a constant
            else:
                node = _Unary(symbol, node)
        return node

    def _member(self) -> _Node:
        node = self._primary()
        while True:
            if self._accept("."):
                kind, name = self._take()
                if kind != "ident" or name in _RESERVED:
                    raise _Unsupported("expected a field name")
                if self._accept("("):
                    node = self._method(node, name, self._arguments())
                else:
                    node = _Select(node, name)
            elif self._accept("["):
                key = self._expression()
                self._expect("]")
                if not isinstance(key, _Literal) or type(key.value) not in (str, int):
                    raise _Unsupported("only string and int literals index")
                node = _Index(node, key.value)
            else:
                return node

    def _method(self, target: _Node, name: str, args: tuple[_Node, ...]) -> _Node:
        if name == "size" and not args:
            return _Call("size", (target,))
        if name in _STRING_FUNCTIONS and len(args) == 1:
            return _Call(name, (target, args[0]))
        raise _Unsupported(f"method {name}")

    def _arguments(self) -> tuple[_Node, ...]:
        args: list[_Node] = []
        if self._accept(")"):
            return ()
        while True:
            args.append(self._expression())
            if self._accept(")"):
                return tuple(args)
            self._expect(",")

    def _primary(self) -> _Node:
        kind, value = self._take()
        if kind in ("int", "float", "str"):
            return _Literal(value)
        if kind == "ident":
            if value in ("true", "false"):
                return _Literal(value == "true")
            if value == "null":
                return _Literal(None)
            if self._accept("("):
                return self._function(value, self._arguments())
            if value == "record":
                return _Record()
            raise _Unsupported(f"identifier {value}")
        if (kind, value) == ("op", "("):
            node = self._expression()
            self._expect(")")
            return node
        if (kind, value) == ("op", "["):
            return self._list()
        raise _Unsupported(f"unexpected {value!r}")

    def _function(self, name: str, args: tuple[_Node, ...]) -> _Node:
        if name == "size" and len(args) == 1:
            return _Call("size", args)
        if name == "has" and len(args) == 1 and isinstance(args[0], _Select):
            return _Call("has", args)
        raise _Unsupported(f"function {name}")

    def _list(self) -> _Node:
        items: list[Any] = []
        while not self._accept("]"):
            item = self._expression()
            if not isinstance(item, _Literal):
                raise _Unsupported("list literals hold literals only")
            items.append(item.value)
            if not self._accept(","):
                self._expect("]")
                break
        return _List(tuple(items))


# --- Compiling ----------------------------------------------------------------------------------


def _compile(node: _Node, depth: int) -> Evaluator:
    if depth > _MAX_DEPTH:
        raise _Unsupported("nested too deeply")
    depth += 1
    match node:
        case _Literal(value):
            return lambda record: value
        case _List(items):
            return lambda record: list(items)
        case _Record():
            return _record
        case _Select(operand, field):
            if isinstance(operand, _Record):
                return _record_field(field)
            return _select(_compile(operand, depth), field)
        case _Index(_Record(), str() as key):
            return _record_field(key)
        case _Index(operand, str() as key):
            return _select(_compile(operand, depth), key)
        case _Index(operand, int() as position):
            return _list_item(_compile(operand, depth), position)
        case _Unary("!", operand):
            return _not(_compile(operand, depth))
        case _Unary(_, operand):
            return _negate(_compile(operand, depth))
        case _Binary("||", left, right):
            return _or(_compile(left, depth), _compile(right, depth))
        case _Binary("&&", left, right):
            return _and(_compile(left, depth), _compile(right, depth))
        case _Binary("in", left, _List(items)):
            return _in_literal(_compile(left, depth), items)
        case _Binary("in", left, right):
            return _in(_compile(left, depth), _compile(right, depth))
        case _Binary("==" | "!=" as symbol, left, right):
            return _equality(symbol == "!=", left, right, depth)
        case _Binary(symbol, left, right) if symbol in _RELATIONS:
            return _ordering(symbol, left, right, depth)
        case _Binary(symbol, left, right):
            return _ARITHMETIC[symbol](_compile(left, depth), _compile(right, depth))
        case _Conditional(condition, then, otherwise):
            return _conditional(
                _compile(condition, depth), _compile(then, depth), _compile(otherwise, depth)
            )
        case _Call("has", (_Select(operand, field),)):
            return _has(_compile(operand, depth), field)
        case _Call("size", (operand,)):
            return _size(_compile(operand, depth))
        case _Call(function, (target, argument)):
            return _string_function(function, _compile(target, depth), _compile(argument, depth))
    raise _Unsupported("not in the subset")


def _checked(value: Any) -> Any:
    """A value read from the record; ints beyond 64 bits are uint or double to the engine."""
    if type(value) is int and not _MIN_INT <= value <= _MAX_INT:
        raise _DEFERRAL.with_traceback(None)
    return value


def _record(record: Any) -> Any:
    return _checked(record)


def _scalar_result(evaluate: Evaluator) -> Evaluator:
    def scalar(record: Any) -> Any:
        value = evaluate(record)
        if type(value) not in _SCALAR_TYPES:  # containers come back from the engine converted
            raise _DEFERRAL.with_traceback(None)
        return value

    return scalar


def _record_field(field: str) -> Evaluator:
    def evaluate(record: Any) -> Any:
        if type(record) is not dict:
            raise _DEFERRAL.with_traceback(None)
        try:
            value = record[field]
        except KeyError:
            raise _DEFERRAL.with_traceback(None) from None
        if type(value) is int and not _MIN_INT <= value <= _MAX_INT:
            raise _DEFERRAL.with_traceback(None)
        return value

    return evaluate


def _select(operand: Evaluator, field: str) -> Evaluator:
    def evaluate(record: Any) -> Any:
        value = operand(record)
        if type(value) is not dict or field not in value:
            raise _DEFERRAL.with_traceback(None)
        return _checked(value[field])

    return evaluate


def _list_item(operand: Evaluator, position: int) -> Evaluator:
    def evaluate(record: Any) -> Any:
        value = operand(record)
        if type(value) is not list or not 0 <= position < len(value):
            raise _DEFERRAL.with_traceback(None)
        return _checked(value[position])

    return evaluate


def _not(operand: Evaluator) -> Evaluator:
    def evaluate(record: Any) -> Any:
        value = operand(record)
        if type(value) is not bool:
            raise _DEFERRAL.with_traceback(None)
        return not value

    return evaluate


def _negate(operand: Evaluator) -> Evaluator:
    def evaluate(record: Any) -> Any:
        value = operand(record)
        kind = type(value)
        if kind is float:
            return -value
        if kind is int and value != _MIN_INT:
            return -value
        raise _DEFERRAL.with_traceback(None)

    return evaluate


def _or(left: Evaluator, right: Evaluator) -> Evaluator:
    def evaluate(record: Any) -> Any:
        try:
            first = left(record)
        except Deferral:
            first = None  # undecided: only a true right side decides
        if first is True:
            return True
        second = right(record)
        if second is True:
            return True
        if first is False and second is False:
            return False
        raise _DEFERRAL.with_traceback(None)

    return evaluate


def _and(left: Evaluator, right: Evaluator) -> Evaluator:
    def evaluate(record: Any) -> Any:
        try:
            first = left(record)
        except Deferral:
            first = None  # undecided: only a false right side decides
        if first is False:
            return False
        second = right(record)
        if second is False:
            return False
        if first is True and second is True:
            return True
        raise _DEFERRAL.with_traceback(None)

    return evaluate


def _conditional(condition: Evaluator, then: Evaluator, otherwise: Evaluator) -> Evaluator:
    def evaluate(record: Any) -> Any:
        decided = condition(record)
        if decided is True:
            return then(record)
        if decided is False:
            return otherwise(record)
        raise _DEFERRAL.with_traceback(None)

    return evaluate


def _equality(negated: bool, left: _Node, right: _Node, depth: int) -> Evaluator:
    """`==` / `!=` when both sides have the same scalar type or are an int and a double (see
    `_int_and_double`); the common `field == literal` compares with the literal directly."""
    if isinstance(left, _Literal) and not isinstance(right, _Literal):
        left, right = right, left
    if isinstance(right, _Literal):
        return _equality_to_literal(negated, _compile(left, depth), right.value)
    first, second = _compile(left, depth), _compile(right, depth)

    def evaluate(record: Any) -> Any:
        a = first(record)
        b = second(record)
        kind = type(a)
        if (kind is not type(b) and not _int_and_double(a, b)) or kind not in _SCALAR_TYPES:
            raise _DEFERRAL.with_traceback(None)
        return (a != b) if negated else (a == b)

    return evaluate


def _equality_to_literal(negated: bool, operand: Evaluator, literal: Any) -> Evaluator:
    kind = type(literal)
    partner = _number_partner(literal)

    def evaluate(record: Any) -> Any:
        value = operand(record)
        other = type(value)
        if other is not kind and (
            other is not partner or (other is int and not -_EXACT_INT <= value <= _EXACT_INT)
        ):
            raise _DEFERRAL.with_traceback(None)
        return (value != literal) if negated else (value == literal)

    return evaluate


_ORDERINGS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_MIRRORED: Final = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ORDERED_TYPES: Final = frozenset({str, int, float})


def _ordering(comparison: str, left: _Node, right: _Node, depth: int) -> Evaluator:
    """`<`, `<=`, `>`, `>=` on two strings, two ints, two doubles or an int and a double (NaN
    excepted, which the engine cannot order); the common `field > literal` compares with the
    literal directly."""
    if isinstance(left, _Literal) and not isinstance(right, _Literal):
        left, right, comparison = right, left, _MIRRORED[comparison]
    compare = _ORDERINGS[comparison]
    if isinstance(right, _Literal) and type(right.value) in _ORDERED_TYPES:
        return _ordering_to_literal(compare, _compile(left, depth), right.value)
    first, second = _compile(left, depth), _compile(right, depth)

    def evaluate(record: Any) -> Any:
        a = first(record)
        b = second(record)
        kind = type(a)
        if (kind is not type(b) and not _int_and_double(a, b)) or kind not in _ORDERED_TYPES:
            raise _DEFERRAL.with_traceback(None)
        if a != a or b != b:
            raise _DEFERRAL.with_traceback(None)
        return compare(a, b)

    return evaluate


def _ordering_to_literal(
    compare: Callable[[Any, Any], bool], operand: Evaluator, literal: Any
) -> Evaluator:
    kind = type(literal)
    partner = _number_partner(literal)

    def evaluate(record: Any) -> Any:
        value = operand(record)
        other = type(value)
        if other is not kind and (
            other is not partner or (other is int and not -_EXACT_INT <= value <= _EXACT_INT)
        ):
            raise _DEFERRAL.with_traceback(None)
        if value != value:
            raise _DEFERRAL.with_traceback(None)
        return compare(value, literal)

    return evaluate


def _int_and_double(a: Any, b: Any) -> bool:
    """Whether a and b are an int and a double that Python compares as the engine does.

    The engine converts the int to a double, exactly only up to 2**53 (2**53 + 1 == 2.0**53 is
    true to it, false to Python). NaN is unequal to everything in both; ordering it is left to the
    engine, which errors. Bools are not numbers (`true == 1` is false to the engine, true to
    Python).
    """
    if type(a) is float:
        a, b = b, a
    return type(a) is int and type(b) is float and -_EXACT_INT <= a <= _EXACT_INT


def _number_partner(literal: Any) -> type | None:
    """The other number type a literal may be compared with (`_int_and_double`): double for an
    int up to 2**53, int for a double (then the int must be up to 2**53); None otherwise."""
    kind = type(literal)
    if kind is int:
        return float if -_EXACT_INT <= literal <= _EXACT_INT else None
    return int if kind is float else None


_WIDE_INT: Final = object()
"""The kind of an int beyond `_EXACT_INT` in `_in_literal`: it compares exactly with ints only."""


def _in_literal(operand: Evaluator, items: tuple[Any, ...]) -> Evaluator:
    """`x in [literals]`: true on an equal literal among those x compares with exactly (of x's
    type, or an int and a double, see `_int_and_double`); false only when those are all of them.
    """
    ints = [item for item in items if type(item) is int]
    doubles = [item for item in items if type(item) is float]
    exact_ints = [item for item in ints if -_EXACT_INT <= item <= _EXACT_INT]
    comparable: dict[Any, list[Any]] = {
        kind: [item for item in items if type(item) is kind] for kind in (str, bool, _NONE_TYPE)
    }
    comparable[int] = ints + doubles
    comparable[_WIDE_INT] = ints
    comparable[float] = doubles + exact_ints
    # For each kind of x: the literals it compares with exactly, and whether those are all of them.
    tables = {kind: (frozenset(same), len(same) == len(items)) for kind, same in comparable.items()}

    def evaluate(record: Any) -> Any:
        value = operand(record)
        kind: Any = type(value)
        if kind is int and not -_EXACT_INT <= value <= _EXACT_INT:
            kind = _WIDE_INT
        table = tables.get(kind)
        if table is None:
            raise _DEFERRAL.with_traceback(None)
        same, complete = table
        if value in same:
            return True
        if complete:
            return False
        raise _DEFERRAL.with_traceback(None)

    return evaluate


def _in(operand: Evaluator, container: Evaluator) -> Evaluator:
    def evaluate(record: Any) -> Any:
        value = operand(record)
        within = container(record)
        kind = type(value)
        if type(within) is dict:
            if kind is not str:
                raise _DEFERRAL.with_traceback(None)
            return value in within
        if type(within) is not list or kind not in _SCALAR_TYPES:
            raise _DEFERRAL.with_traceback(None)
        unsure = False
        for item in within:
            if type(item) is kind:
                if kind is int and not _MIN_INT <= item <= _MAX_INT:
                    unsure = True
                elif item == value:
                    return True
            elif _int_and_double(value, item):
                if item == value:
                    return True
            else:
                unsure = True
        if unsure:
            raise _DEFERRAL.with_traceback(None)
        return False

    return evaluate


def _arithmetic(
    ints: Callable[[int, int], int] | None,
    floats: Callable[[float, float], float] | None,
    strings: bool = False,
) -> Callable[[Evaluator, Evaluator], Evaluator]:
    def build(left: Evaluator, right: Evaluator) -> Evaluator:
        def evaluate(record: Any) -> Any:
            a = left(record)
            b = right(record)
            kind = type(a)
            if kind is not type(b):
                raise _DEFERRAL.with_traceback(None)
            if kind is int and ints is not None:
                result = ints(a, b)
                if _MIN_INT <= result <= _MAX_INT:
                    return result
            elif kind is float and floats is not None:
                return floats(a, b)
            elif kind is str and strings:
                return a + b
            raise _DEFERRAL.with_traceback(None)

        return evaluate

    return build


def _int_division(a: int, b: int) -> int:
    if a < 0 or b <= 0:  # CEL truncates toward zero where Python floors; zero is an error
        raise _DEFERRAL.with_traceback(None)
    return a // b


def _int_modulo(a: int, b: int) -> int:
    if a < 0 or b <= 0:
        raise _DEFERRAL.with_traceback(None)
    return a % b


def _float_division(a: float, b: float) -> float:
    if b == 0.0:
        raise _DEFERRAL.with_traceback(None)
    return a / b


_ARITHMETIC: Final[dict[str, Callable[[Evaluator, Evaluator], Evaluator]]] = {
    "+": _arithmetic(operator.add, operator.add, strings=True),
    "-": _arithmetic(operator.sub, operator.sub),
    "*": _arithmetic(operator.mul, operator.mul),
    "/": _arithmetic(_int_division, _float_division),
    "%": _arithmetic(_int_modulo, None),
}


def _has(operand: Evaluator, field: str) -> Evaluator:
    def evaluate(record: Any) -> Any:
        value = operand(record)
        if type(value) is not dict:
            raise _DEFERRAL.with_traceback(None)
        return field in value

    return evaluate


def _size(operand: Evaluator) -> Evaluator:
    def evaluate(record: Any) -> Any:
        value = operand(record)
        kind = type(value)
        if kind is list or kind is dict or (kind is str and value.isascii()):
            return len(value)
        raise _DEFERRAL.with_traceback(None)

    return evaluate


def _string_function(function: str, target: Evaluator, argument: Evaluator) -> Evaluator:
    test: Callable[[str, str], bool] = {
        "startsWith": str.startswith,
        "endsWith": str.endswith,
        "contains": str.__contains__,
    }[function]

    def evaluate(record: Any) -> Any:
        text = target(record)
        part = argument(record)
        if type(text) is not str or type(part) is not str:
            raise _DEFERRAL.with_traceback(None)
        return test(text, part)

    return evaluate
