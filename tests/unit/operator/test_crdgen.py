"""The generated CRDs: committed, structural, and consistent with their printer columns."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from quarantine_operator import crdgen
from quarantine_operator.api import v1alpha1

CRDS_DIR = Path(__file__).resolve().parents[3] / "crds"

# Fields of apiextensions.k8s.io/v1 JSONSchemaProps that the generator may emit.
ALLOWED_KEYS = {
    "description",
    "type",
    "format",
    "default",
    "enum",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "multipleOf",
    "required",
    "properties",
    "items",
    "additionalProperties",
    "anyOf",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
}
INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]
SCALAR_TYPES = {"string", "integer", "number", "boolean"}


def all_crds() -> list[dict[str, Any]]:
    return [crdgen.validation_schema_crd(), crdgen.quarantine_pipeline_crd()]


def root_schema(crd: Mapping[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def nodes(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every schema node that describes a value (not junctor branches), with its path."""
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}")
    if isinstance(schema.get("items"), Mapping):
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


def conforms(value: Any, schema: Mapping[str, Any]) -> bool:
    """A small OpenAPI check, enough to see that every default fits its own schema."""
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, int | str)
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return isinstance(value, dict)
    expected = schema["type"]
    checks = {
        "string": lambda: isinstance(value, str),
        "integer": lambda: isinstance(value, int) and not isinstance(value, bool),
        "number": lambda: isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": lambda: isinstance(value, bool),
        "array": lambda: (
            isinstance(value, list) and all(conforms(item, schema["items"]) for item in value)
        ),
        "object": lambda: (
            isinstance(value, dict)
            and all(
                name in schema.get("properties", {}) and conforms(item, schema["properties"][name])
                for name, item in value.items()
            )
            and set(schema.get("required", ())) <= set(value)
        ),
    }
    if not checks[expected]():
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    return not ("pattern" in schema and re.search(schema["pattern"], value) is None)


def walk_json_path(schema: Mapping[str, Any], json_path: str) -> Mapping[str, Any]:
    """Follow a printer column's simple JSONPath through the schema."""
    node = schema
    for step in re.findall(r"\.(\w+)|\[\?\(@\.\w+==\"\w+\"\)\]", json_path):
        # An empty step is a filter: it descends into the list's items.
        node = node["items"] if step == "" else node["properties"][step]
    return node


@pytest.mark.parametrize("name", sorted(crdgen.render_crds()))
def test_committed_crds_match_the_models(name: str) -> None:
    committed = (CRDS_DIR / name).read_text(encoding="utf-8")
    assert committed == crdgen.render_crds()[name], "run python -m quarantine_operator.crdgen"


def test_check_mode_reports_no_drift_for_the_committed_crds() -> None:
    assert crdgen.main(["--check", "--out", str(CRDS_DIR)]) == 0


def test_check_mode_exits_1_with_a_diff_when_a_file_drifted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert crdgen.main(["--out", str(tmp_path)]) == 0
    target = tmp_path / "quarantinepipelines.dataquarantine.io.yaml"
    target.write_text(target.read_text().replace("shortNames:\n    - qp", "shortNames:\n    - q"))

    assert crdgen.main(["--check", "--out", str(tmp_path)]) == 1
    assert "+    - qp" in capsys.readouterr().out


def test_check_mode_reports_a_missing_file_as_drift(tmp_path: Path) -> None:
    assert crdgen.main(["--check", "--out", str(tmp_path)]) == 1


def test_the_yaml_has_no_anchors_and_parses_back_to_the_crd() -> None:
    for crd in all_crds():
        text = crdgen.render_crds()[f"{crd['metadata']['name']}.yaml"]
        assert "&id" not in text
        assert "*id" not in text
        assert yaml.safe_load(text) == crd


@pytest.mark.parametrize("crd", all_crds(), ids=lambda crd: crd["spec"]["names"]["kind"])
class TestStructuralSchema:
    def test_every_specified_node_has_a_type_or_an_exception(self, crd: dict[str, Any]) -> None:
        for path, node in nodes(root_schema(crd)):
            if path == ".metadata.name":
                continue
            exempt = node.get("x-kubernetes-int-or-string") or node.get(
                "x-kubernetes-preserve-unknown-fields"
            )
            assert "type" in node or exempt, path
            assert node.get("type") != "null", path

    def test_only_openapi_v3_keywords_are_used(self, crd: dict[str, Any]) -> None:
        for path, node in nodes(root_schema(crd)):
            assert set(node) <= ALLOWED_KEYS, (path, set(node) - ALLOWED_KEYS)

    def test_junctors_appear_only_as_the_int_or_string_pattern(self, crd: dict[str, Any]) -> None:
        for path, node in nodes(root_schema(crd)):
            assert not {"allOf", "oneOf", "not"} & set(node), path
            if "anyOf" in node:
                assert node["anyOf"] == INT_OR_STRING_ANY_OF, path
                assert node.get("x-kubernetes-int-or-string") is True, path
                assert "type" not in node, path

    def test_properties_and_additional_properties_never_meet(self, crd: dict[str, Any]) -> None:
        for path, node in nodes(root_schema(crd)):
            assert not ("properties" in node and "additionalProperties" in node), path
            assert node.get("additionalProperties") is not False, path

    def test_arrays_have_items_and_lists_have_valid_list_types(self, crd: dict[str, Any]) -> None:
        for path, node in nodes(root_schema(crd)):
            if node.get("type") != "array":
                assert "x-kubernetes-list-type" not in node, path
                continue
            items = node["items"]
            list_type = node.get("x-kubernetes-list-type")
            if list_type == "set":
                assert items["type"] in SCALAR_TYPES, path
            if list_type == "map":
                assert items["type"] == "object", path
                for key in node["x-kubernetes-list-map-keys"]:
                    assert key in items.get("required", ()) or "default" in items["properties"][key]

    def test_exclusive_bounds_use_the_openapi_v3_boolean_form(self, crd: dict[str, Any]) -> None:
        for path, node in nodes(root_schema(crd)):
            for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
                if key in node:
                    assert node[key] is True, path
                    assert bound in node, path

    def test_required_fields_are_declared_properties(self, crd: dict[str, Any]) -> None:
        for path, node in nodes(root_schema(crd)):
            for name in node.get("required", ()):
                assert name in node["properties"], (path, name)

    def test_patterns_compile_without_features_that_go_re2_lacks(self, crd: dict[str, Any]) -> None:
        for path, node in nodes(root_schema(crd)):
            if "pattern" in node:
                pattern = node["pattern"]
                re.compile(pattern)
                assert not re.search(r"\(\?[=!<]|\\[1-9]", pattern), (path, pattern)

    def test_every_default_conforms_to_its_own_schema(self, crd: dict[str, Any]) -> None:
        for path, node in nodes(root_schema(crd)):
            if "default" in node:
                assert conforms(node["default"], node), (path, node["default"])

    def test_metadata_only_restricts_the_name(self, crd: dict[str, Any]) -> None:
        metadata = root_schema(crd)["properties"]["metadata"]
        assert set(metadata) == {"type", "properties"}
        assert set(metadata["properties"]) == {"name"}
        assert set(metadata["properties"]["name"]) <= {"type", "maxLength", "pattern"}

    def test_the_root_is_an_object_that_requires_a_spec(self, crd: dict[str, Any]) -> None:
        root = root_schema(crd)
        assert root["type"] == "object"
        assert root["required"] == ["spec"]
        assert {"apiVersion", "kind", "metadata", "spec", "status"} == set(root["properties"])

    def test_printer_columns_point_at_declared_fields_and_age_comes_last(
        self, crd: dict[str, Any]
    ) -> None:
        version = crd["spec"]["versions"][0]
        columns = version["additionalPrinterColumns"]
        assert columns[-1] == {
            "name": "Age",
            "type": "date",
            "jsonPath": ".metadata.creationTimestamp",
            "description": "Time since creation",
        }
        for column in columns[:-1]:
            target = walk_json_path(root_schema(crd), column["jsonPath"])
            assert "type" in target or target.get("x-kubernetes-int-or-string"), column

    def test_names_categories_and_status_subresource(self, crd: dict[str, Any]) -> None:
        names = crd["spec"]["names"]
        assert names["categories"] == ["dataquarantine"]
        assert names["listKind"] == f"{names['kind']}List"
        assert crd["metadata"]["name"] == f"{names['plural']}.dataquarantine.io"
        assert crd["spec"]["scope"] == "Namespaced"
        version = crd["spec"]["versions"][0]
        assert version["name"] == "v1alpha1"
        assert version["served"] is version["storage"] is True
        assert version["subresources"]["status"] == {}


def test_pipelines_have_a_scale_subresource_backed_by_declared_fields() -> None:
    crd = crdgen.quarantine_pipeline_crd()
    scale = crd["spec"]["versions"][0]["subresources"]["scale"]
    assert scale == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    root = root_schema(crd)
    assert walk_json_path(root, scale["specReplicasPath"])["type"] == "integer"
    assert walk_json_path(root, scale["statusReplicasPath"])["type"] == "integer"
    assert walk_json_path(root, scale["labelSelectorPath"])["type"] == "string"


def test_short_names_are_vs_and_qp_and_the_wide_column_is_invalid_per_second() -> None:
    schema_crd, pipeline_crd = all_crds()
    assert schema_crd["spec"]["names"]["shortNames"] == ["vs"]
    assert pipeline_crd["spec"]["names"]["shortNames"] == ["qp"]
    vs_columns = [c["name"] for c in schema_crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    qp_columns = pipeline_crd["spec"]["versions"][0]["additionalPrinterColumns"]
    assert vs_columns == ["Type", "Latest", "Compatibility", "Ready", "Age"]
    assert [c["name"] for c in qp_columns] == [
        "Source",
        "Schema",
        "Replicas",
        "Ready",
        "Invalid/s",
        "Quarantined",
        "Age",
    ]
    assert [c["name"] for c in qp_columns if c.get("priority") == 1] == ["Invalid/s"]


def test_the_schema_document_is_a_free_form_object() -> None:
    spec = root_schema(crdgen.validation_schema_crd())["properties"]["spec"]
    assert spec["properties"]["schema"] == {
        "description": spec["properties"]["schema"]["description"],
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }


def test_descriptions_are_unwrapped_paragraphs() -> None:
    for crd in all_crds():
        for path, node in nodes(root_schema(crd)):
            if "description" in node:
                assert "\n" not in node["description"], path


def test_every_field_of_the_api_is_described() -> None:
    for crd in all_crds():
        for path, node in nodes(root_schema(crd)):
            is_field = not path.endswith(("[]", "{}"))
            if is_field and path.count(".") >= 2 and not path.startswith(".metadata"):
                assert node.get("description"), path


class Recursive(BaseModel):
    child: Recursive | None = None


class TwoTypes(BaseModel):
    value: int | str


class TupleTyped(BaseModel):
    pair: tuple[int, str]


@pytest.mark.parametrize("model", [Recursive, TwoTypes, TupleTyped])
def test_constructs_a_crd_cannot_express_are_refused(model: type[BaseModel]) -> None:
    with pytest.raises(crdgen.SchemaConversionError):
        crdgen.structural_schema(model)


def test_a_pipeline_name_longer_than_the_service_name_allows_is_refused_at_admission() -> None:
    name_schema = root_schema(crdgen.quarantine_pipeline_crd())["properties"]["metadata"]
    assert name_schema["properties"]["name"]["maxLength"] == len("x" * 63) - len("-api")
    assert v1alpha1.PIPELINE_NAME_MAX_LENGTH == 59


def test_crds_is_a_kustomize_base_listing_every_crd() -> None:
    files = crdgen.render_files()
    kustomization = yaml.safe_load(files[crdgen.KUSTOMIZATION])
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["resources"] == sorted(crdgen.render_crds())
    assert (CRDS_DIR / crdgen.KUSTOMIZATION).read_text(encoding="utf-8") == files[
        crdgen.KUSTOMIZATION
    ]
