"""A schema spec becomes a new version only when it is new, compiles and is compatible."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from quarantine_operator.api.v1alpha1 import ValidationSchemaSpec
from quarantine_operator.checks import Problem
from quarantine_operator.publishing import (
    Outcome,
    Publication,
    PublishedVersion,
    decide_publication,
    published_version_from_config_map,
    same_content,
    schema_status,
)
from quarantine_operator.render import (
    render_schema_version_config_map,
    schema_owner,
    schema_version_from_spec,
)
from quarantine_operator.status import Reason, load_conditions
from validator_pod.domain.schemas import SchemaVersion

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
ORDER = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "string"}, "amount": {"type": "number"}},
}


def spec(document: dict[str, Any] | None = None, **fields: Any) -> ValidationSchemaSpec:
    return ValidationSchemaSpec.model_validate(
        {"type": "JSON_SCHEMA", "schema": document or ORDER, **fields}
    )


def published(*specs: ValidationSchemaSpec) -> list[SchemaVersion]:
    return [schema_version_from_spec("orders", n, s) for n, s in enumerate(specs, start=1)]


def with_property(name: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    document = {**ORDER, "properties": {**ORDER["properties"], name: schema}}
    if required:
        document["required"] = [*ORDER["required"], name]
    return document


def test_the_first_spec_that_compiles_becomes_version_1() -> None:
    publication = decide_publication("orders", spec(), [])
    assert publication.outcome is Outcome.PUBLISH
    assert publication.version is not None
    assert (publication.version.name, publication.version.version) == ("orders", 1)


def test_a_compatible_change_becomes_the_next_version() -> None:
    history = published(spec(), spec(with_property("note", {"type": "string"})))
    changed = spec(with_property("channel", {"type": "string"}))
    publication = decide_publication("orders", changed, history)
    assert publication.outcome is Outcome.PUBLISH
    assert publication.version is not None
    assert publication.version.version == 3


def test_a_spec_identical_to_the_latest_version_publishes_nothing() -> None:
    history = published(spec())
    reordered = dict(reversed(list(ORDER.items())))
    publication = decide_publication("orders", spec(reordered), history)
    assert publication == Publication(Outcome.UNCHANGED, version=history[0])


def test_a_spec_identical_to_an_older_version_publishes_nothing_either() -> None:
    newer = spec(with_property("note", {"type": "string"}))
    history = published(spec(), newer)
    publication = decide_publication("orders", spec(), history)
    assert publication.outcome is Outcome.UNCHANGED
    assert publication.version == history[0]


def test_a_change_of_rules_alone_is_a_new_version_with_the_same_fingerprint() -> None:
    history = published(spec())
    rules = [{"name": "positive", "expression": "record.amount > 0", "message": "positive"}]
    publication = decide_publication("orders", spec(rules=rules), history)
    assert publication.outcome is Outcome.PUBLISH
    assert publication.version is not None
    assert publication.version.fingerprint == history[0].fingerprint
    assert not same_content(publication.version, history[0])


def test_an_incompatible_change_is_refused_with_every_reason() -> None:
    history = published(spec())
    breaking = spec(with_property("currency", {"type": "string"}, required=True))
    publication = decide_publication("orders", breaking, history)
    assert publication.outcome is Outcome.REFUSE
    assert publication.problem is not None
    assert publication.problem.reason is Reason.INCOMPATIBLE_SCHEMA
    assert publication.problem.message.startswith("the change breaks BACKWARD compatibility: ")
    assert "BACKWARD against version 1" in publication.problem.message
    assert "currency" in publication.problem.message


def test_compatibility_none_accepts_any_change() -> None:
    history = published(spec())
    breaking = spec(
        with_property("currency", {"type": "string"}, required=True), compatibility="NONE"
    )
    assert decide_publication("orders", breaking, history).outcome is Outcome.PUBLISH


def test_a_long_list_of_incompatibilities_is_cut_and_counted() -> None:
    properties = {f"f{index}": {"type": "string"} for index in range(15)}
    old = {"type": "object", "properties": properties}
    new = {
        "type": "object",
        "properties": {name: {"type": "integer"} for name in properties},
    }
    history = [schema_version_from_spec("orders", 1, spec(old))]
    publication = decide_publication("orders", spec(new), history)
    assert publication.problem is not None
    assert publication.problem.message.endswith("(and 5 more)")


def test_a_schema_that_is_not_json_schema_is_refused_as_invalid() -> None:
    publication = decide_publication("orders", spec({"type": "no-such-type"}), [])
    assert publication.outcome is Outcome.REFUSE
    assert publication.problem is not None
    assert publication.problem.reason is Reason.INVALID_SCHEMA
    assert publication.problem.message.startswith("version 1 does not compile: ")


def test_a_rule_that_is_not_cel_is_refused_naming_the_rule() -> None:
    rules = [{"name": "positive", "expression": "record.amount >", "message": "positive"}]
    publication = decide_publication("orders", spec(rules=rules), published(spec()))
    assert publication.problem is not None
    assert publication.problem.reason is Reason.INVALID_SCHEMA
    assert "version 2 does not compile: rule 'positive' is not valid CEL" in (
        publication.problem.message
    )


def test_an_avro_schema_that_does_not_parse_is_refused_as_invalid() -> None:
    broken = ValidationSchemaSpec.model_validate(
        {"type": "AVRO", "schema": {"type": "record", "name": "Order"}}
    )
    publication = decide_publication("orders", broken, [])
    assert publication.problem is not None
    assert publication.problem.reason is Reason.INVALID_SCHEMA


def test_a_version_config_map_reads_back_with_its_publication_time() -> None:
    version = published(spec())[0]
    config_map = render_schema_version_config_map(
        schema_owner("orders", "shop", "uid-1"), version, "2026-03-01T12:00:00Z"
    )
    read = published_version_from_config_map(config_map)
    assert read == PublishedVersion(version, T0)


def test_a_version_config_map_without_the_annotation_uses_its_creation_time() -> None:
    version = published(spec())[0]
    config_map = render_schema_version_config_map(
        schema_owner("orders", "shop", "uid-1"), version, "ignored"
    )
    del config_map["metadata"]["annotations"]
    config_map["metadata"]["creationTimestamp"] = "2026-03-01T12:00:00Z"
    assert published_version_from_config_map(config_map).created_at == T0


class TestStatus:
    def versions(self) -> list[PublishedVersion]:
        return [PublishedVersion(v, T0) for v in published(spec(), spec(with_property("n", {})))]

    def test_a_published_version_is_ready_and_listed_oldest_first(self) -> None:
        history = self.versions()
        status = schema_status(
            published=list(reversed(history)),
            publication=Publication(Outcome.PUBLISH, version=history[1].schema),
            problems=[],
            previous_status={},
            generation=4,
            now=T0,
        )
        assert status["latestVersion"] == 2
        assert status["observedGeneration"] == 4
        assert [entry["version"] for entry in status["versions"]] == [1, 2]
        assert status["versions"][0] == {
            "version": 1,
            "fingerprint": history[0].schema.fingerprint,
            "createdAt": "2026-03-01T12:00:00Z",
        }
        ready = {c.type: c for c in load_conditions(status["conditions"])}
        assert ready["Ready"].status.value == "True"
        assert ready["Ready"].reason == "SchemaPublished"
        assert ready["Ready"].message == "version 2 is live"
        assert ready["Stalled"].status.value == "False"

    def test_a_spec_matching_an_older_version_says_so(self) -> None:
        history = self.versions()
        status = schema_status(
            published=history,
            publication=Publication(Outcome.UNCHANGED, version=history[0].schema),
            problems=[],
            previous_status={},
            generation=5,
            now=T0,
        )
        (ready,) = [c for c in load_conditions(status["conditions"]) if c.type == "Ready"]
        assert ready.message == (
            "the spec is identical to version 1, so no new version was published; "
            "version 2 stays the latest"
        )

    def test_a_refused_change_stalls_and_keeps_the_history(self) -> None:
        history = self.versions()
        problem = Problem(Reason.INCOMPATIBLE_SCHEMA, "the change breaks BACKWARD compatibility")
        status = schema_status(
            published=history,
            publication=Publication(Outcome.REFUSE, problem=problem),
            problems=[],
            previous_status={},
            generation=6,
            now=T0,
        )
        conditions = {c.type: c for c in load_conditions(status["conditions"])}
        assert conditions["Ready"].status.value == "False"
        assert conditions["Ready"].reason == "IncompatibleSchema"
        assert conditions["Stalled"].status.value == "True"
        assert status["latestVersion"] == 2
        assert len(status["versions"]) == 2

    def test_an_unparsable_spec_stalls_without_versions(self) -> None:
        status = schema_status(
            published=[],
            publication=None,
            problems=[Problem(Reason.INVALID_SPEC, "spec.type: bad")],
            previous_status={},
            generation=1,
            now=T0,
        )
        assert "latestVersion" not in status
        assert status["versions"] == []
        (ready,) = [c for c in load_conditions(status["conditions"]) if c.type == "Ready"]
        assert (ready.reason, ready.message) == ("InvalidSpec", "spec.type: bad")
