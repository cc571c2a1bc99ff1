"""Decoded records to verdicts: the schema first, then (only if the schema passes) the rules.

An invalid record is a normal outcome: these functions return `Invalid`, they never raise for
anything a record contains.
"""

from __future__ import annotations

from typing import Any, Final

import cel
import jsonschema_rs
from fastavro.validation import ValidationError as AvroValidationError
from fastavro.validation import validate as validate_avro_datum

from validator_pod.domain.records import VALID, ErrorType, FieldError, Invalid, Verdict
from validator_pod.validation import cel_subset
from validator_pod.validation.compiling import (
    RECORD_VARIABLE,
    CompiledAvroSchema,
    CompiledRule,
    CompiledRules,
    CompiledSchema,
)
from validator_pod.validation.pointers import format_pointer

RULE_KEYWORD: Final = "rule"
AVRO_KEYWORD: Final = "avro"
UNLISTABLE_KEYWORD: Final = "validation"
_MAX_DETAIL: Final = 300


def validate(schema: CompiledSchema, record: Any, max_errors: int) -> Verdict:
    """The verdict on one decoded record: schema errors (`SCHEMA_VIOLATION`) if any, else rule
    violations (`RULE_VIOLATION`) if any, else `VALID`. At most `max_errors` errors are kept."""
    if isinstance(schema, CompiledAvroSchema):
        avro_errors = avro_schema_errors(schema, record)
        if avro_errors:
            return Invalid(ErrorType.SCHEMA_VIOLATION, avro_errors[:max_errors])
    else:
        try:
            conforms = schema.validator.is_valid(record)
        except ValueError as exc:
            return Invalid(ErrorType.SCHEMA_VIOLATION, (_unlistable(exc),))
        if not conforms:
            return Invalid(
                ErrorType.SCHEMA_VIOLATION, json_schema_errors(schema.validator, record, max_errors)
            )
    if schema.rules.rules:
        violations = rule_violations(schema.rules, record, max_errors)
        if violations:
            return Invalid(ErrorType.RULE_VIOLATION, violations)
    return VALID


def json_schema_errors(
    validator: jsonschema_rs.Validator, record: Any, max_errors: int
) -> tuple[FieldError, ...]:
    """Up to `max_errors` JSON Schema errors of a record known to be invalid."""
    errors: list[FieldError] = []
    try:
        for error in validator.iter_errors(record):
            errors.append(
                FieldError(
                    path=format_pointer(error.instance_path),
                    keyword=error.kind.name,
                    schema_path=format_pointer(error.schema_path),
                    message=_shorten(error.message),
                )
            )
            if len(errors) >= max_errors:
                break
    except ValueError as exc:
        # jsonschema-rs converts the failing value back to Python for each error and gives up
        # beyond 255 levels of nesting; the errors listed so far still stand.
        errors.append(_unlistable(exc))
    if not errors:
        errors.append(_unlistable(ValueError("the validator reported no detail")))
    return tuple(errors[:max_errors])


def avro_schema_errors(schema: CompiledAvroSchema, datum: Any) -> tuple[FieldError, ...]:
    """The first reason a datum does not match an Avro schema, or nothing.

    A datum decoded with the schema usually matches, but not always: Avro's `int` is read as a
    variable-length long, so crafted bytes can carry values outside 32 bits.
    """
    try:
        validate_avro_datum(datum, schema.parsed, raise_errors=True)
    except AvroValidationError as exc:
        return tuple(
            FieldError(
                path="",
                keyword=AVRO_KEYWORD,
                schema_path="",
                message=f"{error.field or 'record'}: {_shorten(repr(error.datum))} is not "
                f"a valid {_shorten(str(error.schema))}",
            )
            for error in exc.errors
        ) or (FieldError(path="", keyword=AVRO_KEYWORD, schema_path="", message=str(exc)),)
    except Exception as exc:  # noqa: BLE001 - a datum of an unexpected shape is a violation
        return (
            FieldError(
                path="", keyword=AVRO_KEYWORD, schema_path="", message=_shorten(_describe(exc))
            ),
        )
    return ()


def rule_violations(rules: CompiledRules, record: Any, max_errors: int) -> tuple[FieldError, ...]:
    """The rules a record violates, in declaration order, at most `max_errors`.

    A rule is violated unless it evaluates to `true`; a rule that cannot be evaluated (a missing
    field, mismatched types) is violated too, with the evaluation error in the message.

    When every rule has a `cel_subset` evaluator they answer without building a CEL context;
    if one of them defers, the whole record goes through the CEL engine as usual.
    """
    if rules.evaluators is not None:
        fast = _fast_rule_violations(rules, rules.evaluators, record, max_errors)
        if fast is not None:
            return fast
    visible = record
    if rules.fields is not None and isinstance(record, dict):
        visible = {field: record[field] for field in rules.fields if field in record}
    try:
        context = cel.Context(variables={RECORD_VARIABLE: visible})
    except Exception as exc:  # noqa: BLE001 - a value CEL cannot represent fails every rule
        detail = f"the record cannot be given to CEL: {_describe(exc)}"
        return tuple(_rule_error(rule, detail) for rule in rules.rules[:max_errors])
    violations: list[FieldError] = []
    for rule in rules.rules:
        try:
            result = rule.program.execute(context)
        except Exception as exc:  # noqa: BLE001 - an evaluation error is a violation, not a crash
            violations.append(_rule_error(rule, f"evaluation failed: {_describe(exc)}"))
        else:
            if result is True:
                continue
            if result is False:
                violations.append(_rule_error(rule, None))
            else:
                detail = f"evaluated to {_shorten(repr(result))} instead of true or false"
                violations.append(_rule_error(rule, detail))
        if len(violations) >= max_errors:
            break
    return tuple(violations)


def _fast_rule_violations(
    rules: CompiledRules,
    evaluators: tuple[tuple[CompiledRule, cel_subset.Evaluator], ...],
    record: Any,
    max_errors: int,
) -> tuple[FieldError, ...] | None:
    """`rule_violations` by the pure-Python evaluators, or None when the engine must decide:
    an evaluator deferred, a rule gave something other than a bool (whose text the engine
    formats), or the engine could not even be handed the values the rules see."""
    if rules.fields is not None and isinstance(record, dict):
        for field in rules.fields:
            if field in record and not cel_subset.certainly_convertible(record[field]):
                return None
    elif not cel_subset.certainly_convertible(record):
        return None
    violations: list[FieldError] = []
    for rule, evaluate in evaluators:
        try:
            result = evaluate(record)
        except cel_subset.Deferral:
            return None
        if result is False:
            violations.append(_rule_error(rule, None))
            if len(violations) >= max_errors:
                break
        elif result is not True:
            return None
    return tuple(violations)


def _rule_error(rule: CompiledRule, detail: str | None) -> FieldError:
    message = rule.message if detail is None else f"{rule.message} (rule {rule.name!r}: {detail})"
    return FieldError(path="", keyword=RULE_KEYWORD, schema_path=rule.schema_path, message=message)


def _unlistable(exc: Exception) -> FieldError:
    return FieldError(
        path="",
        keyword=UNLISTABLE_KEYWORD,
        schema_path="",
        message=f"the record could not be fully validated: {_shorten(str(exc))}",
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no such key: {exc}"
    return _shorten(str(exc) or type(exc).__name__)


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "…"
