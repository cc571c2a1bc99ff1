"""The pure validation core: no I/O, no globals; every function is a function of its inputs.

- `compiling`: `compile_schema(SchemaVersion) -> CompiledSchema` (JSON Schema, Avro, CEL rules),
  raising `SchemaCompileError`; the operator uses it to refuse bad schemas.
- `decoding`: value bytes to `Decoded` or `DecodeFailure` (JSON via orjson, Avro via fastavro).
- `selecting`: which compiled schema a record gets (default, header or JSON field selector).
- `validating`: `validate(schema, record, max_errors) -> Valid | Invalid` (schema, then rules).
- `remediating`: opt-in declarative fixes of invalid JSON records, each recorded.
- `evaluating`: `RecordEvaluator.evaluate(value, headers) -> Forward | Remediated | Quarantine`,
  the one entry point for the validator's hot path.
- `pointers`: RFC 6901 JSON pointers.
"""
