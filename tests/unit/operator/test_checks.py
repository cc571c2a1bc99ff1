"""Pipeline problems are found before rendering and explained to the user."""

from __future__ import annotations

from quarantine_operator.api.v1alpha1 import QuarantinePipelineSpec
from quarantine_operator.checks import (
    Problem,
    find_schema_problems,
    find_secret_problems,
    find_spec_problems,
    parse_spec,
    referenced_schema_names,
    secret_uses,
    summarize,
)
from quarantine_operator.status import Reason

from .builders import pipeline_document, pipeline_spec

ALL_SECRETS = {
    "kafka-creds": {"sasl.username", "sasl.password"},
    "s3-creds": {"accessKey", "secretKey"},
    "pg-creds": {"dsn"},
    "api-tokens": {"tokens"},
}


def messages(problems: list[Problem]) -> list[str]:
    return [problem.message for problem in problems]


def test_a_sound_pipeline_has_no_problems() -> None:
    spec = pipeline_spec()
    assert find_spec_problems("orders", spec) == []
    assert find_schema_problems(spec, {"orders": {1}}) == []
    assert find_secret_problems(spec, ALL_SECRETS) == []


def test_a_bad_retention_is_an_invalid_spec_naming_the_field() -> None:
    document = pipeline_document()
    document["quarantine"]["retention"] = "1 week"
    spec, problems = parse_spec(QuarantinePipelineSpec, document)
    assert spec is None
    assert [p.reason for p in problems] == [Reason.INVALID_SPEC]
    assert problems[0].message.startswith("spec.quarantine.retention: ")
    assert "ISO-8601" in problems[0].message


def test_a_zero_retention_is_an_invalid_spec() -> None:
    document = pipeline_document()
    document["quarantine"]["retention"] = "PT0S"
    spec, _ = parse_spec(QuarantinePipelineSpec, document)
    assert spec is not None
    assert messages(find_spec_problems("orders", spec)) == [
        "quarantine.retention must be longer than zero"
    ]


def test_every_parse_error_becomes_a_problem() -> None:
    document = pipeline_document(replicas=-1, mode="loud")
    del document["sinks"]
    _, problems = parse_spec(QuarantinePipelineSpec, document)
    fields = sorted(problem.message.split(":")[0] for problem in problems)
    assert fields == ["spec.mode", "spec.replicas", "spec.sinks"]


def test_sinks_equal_to_sources_are_refused_because_records_would_loop() -> None:
    spec = pipeline_spec(
        source={"topics": ["orders.raw", "orders.valid"]},
        sinks={"validTopic": "orders.valid", "quarantineTopic": "orders.raw"},
    )
    assert messages(find_spec_problems("orders", spec)) == [
        "sinks.validTopic 'orders.valid' is also a source topic: records would loop",
        "sinks.quarantineTopic 'orders.raw' is also a source topic: records would loop",
    ]


def test_the_valid_and_quarantine_topics_must_differ() -> None:
    spec = pipeline_spec(sinks={"validTopic": "same", "quarantineTopic": "same"})
    assert messages(find_spec_problems("orders", spec)) == [
        "sinks.validTopic and sinks.quarantineTopic must differ"
    ]


def test_shadow_mode_needs_a_candidate() -> None:
    problems = find_spec_problems("orders", pipeline_spec(mode="shadow"))
    assert [p.reason for p in problems] == [Reason.INVALID_SPEC]
    assert "schemaSelection.candidate" in problems[0].message


def test_a_field_selector_needs_a_json_pointer() -> None:
    spec = pipeline_spec(
        schemaSelection={
            "schemaRef": {"name": "orders"},
            "selector": {"source": "field", "key": "type", "mapping": {"a": {"name": "a"}}},
        }
    )
    assert "must be a JSON pointer" in messages(find_spec_problems("orders", spec))[0]


def test_a_name_too_long_for_the_api_service_is_refused() -> None:
    problems = find_spec_problems("x" * 60, pipeline_spec())
    assert "at most 59 characters" in problems[0].message
    assert find_spec_problems("9lives", pipeline_spec())  # a Service name starts with a letter


def test_a_selector_mapping_to_missing_schemas_lists_each_one() -> None:
    spec = pipeline_spec(
        schemaSelection={
            "schemaRef": {"name": "orders", "version": 4},
            "selector": {
                "source": "header",
                "key": "type",
                "mapping": {"refund": {"name": "refunds"}, "void": {"name": "voids"}},
            },
        }
    )
    problems = find_schema_problems(spec, {"orders": {1, 2, 3}, "voids": set()})
    assert {p.reason for p in problems} == {Reason.SCHEMA_NOT_FOUND}
    assert messages(problems) == [
        "schemaSelection.schemaRef: ValidationSchema 'orders' has no version 4 "
        "(published: 1, 2, 3)",
        "schemaSelection.selector.mapping['refund']: ValidationSchema 'refunds' does not exist",
        "schemaSelection.selector.mapping['void']: ValidationSchema 'voids' has no published "
        "version yet",
    ]


def test_the_candidate_must_exist_only_in_shadow_mode() -> None:
    selection = {"schemaRef": {"name": "orders"}, "candidate": {"name": "next"}}
    assert find_schema_problems(pipeline_spec(schemaSelection=selection), {"orders": {1}}) == []
    shadow = pipeline_spec(schemaSelection=selection, mode="shadow")
    assert messages(find_schema_problems(shadow, {"orders": {1}})) == [
        "schemaSelection.candidate: ValidationSchema 'next' does not exist"
    ]
    assert referenced_schema_names(shadow) == ("orders", "next")


def test_missing_secrets_and_keys_are_reported_as_secret_not_found() -> None:
    secrets = {"kafka-creds": set(), "s3-creds": {"accessKey"}, "api-tokens": {"tokens"}}
    problems = find_secret_problems(pipeline_spec(), secrets)
    assert {p.reason for p in problems} == {Reason.SECRET_NOT_FOUND}
    assert messages(problems) == [
        "quarantine.storage.secretRef: Secret 's3-creds' lacks the key(s) secretKey",
        "quarantine.database.secretRef: Secret 'pg-creds' does not exist",
    ]


def test_kafka_keys_are_optional_and_the_api_secret_counts_only_when_enabled() -> None:
    uses = {use.field: use for use in secret_uses(pipeline_spec())}
    assert uses["kafka.secretRef"].required_keys == ()
    assert uses["api.auth.secretRef"].required_keys == ("tokens",)
    disabled = pipeline_spec(api={"enabled": False, "auth": {"secretRef": {"name": "gone"}}})
    assert "api.auth.secretRef" not in {use.field for use in secret_uses(disabled)}


def test_several_problems_summarize_into_one_message() -> None:
    problems = [Problem(Reason.INVALID_SPEC, "a"), Problem(Reason.INVALID_SPEC, "b")]
    assert summarize(problems) == "a; b"
