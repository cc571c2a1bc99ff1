-- Quarantined records: where each came from, why it was quarantined, and where its payload is.
-- One row per source record, idempotent on (pipeline, source_topic, kafka_partition, kafka_offset);
-- the id is derived from the same four values (uuid5), so a retried batch produces the same id.
CREATE TABLE quarantine_records (
    id              uuid        PRIMARY KEY,
    pipeline        text        NOT NULL,
    namespace       text        NOT NULL,
    source_topic    text        NOT NULL,
    kafka_partition integer     NOT NULL CHECK (kafka_partition >= 0),
    kafka_offset    bigint      NOT NULL CHECK (kafka_offset >= 0),
    kafka_timestamp timestamptz,
    record_key      bytea,
    schema_name     text,
    schema_version  integer,
    error_type      text        NOT NULL CHECK (error_type IN (
                        'deserialization_error', 'schema_violation', 'rule_violation',
                        'unknown_schema')),
    error_message   text        NOT NULL,
    errors          jsonb       NOT NULL DEFAULT '[]'::jsonb,
    storage_uri     text        NOT NULL,
    byte_offset     bigint      NOT NULL CHECK (byte_offset >= 0),
    byte_length     integer     NOT NULL CHECK (byte_length >= 0),
    status          text        NOT NULL DEFAULT 'quarantined' CHECK (status IN (
                        'quarantined', 'remediated', 'replayed', 'resolved', 'discarded')),
    replay_count    integer     NOT NULL DEFAULT 0 CHECK (replay_count >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quarantine_records_source_key
        UNIQUE (pipeline, source_topic, kafka_partition, kafka_offset)
);

-- The API's filters; every query is scoped to one pipeline and pages by (created_at, id).
CREATE INDEX quarantine_records_pipeline_created
    ON quarantine_records (pipeline, created_at, id);
CREATE INDEX quarantine_records_pipeline_status
    ON quarantine_records (pipeline, status, created_at, id);
CREATE INDEX quarantine_records_pipeline_error_type
    ON quarantine_records (pipeline, error_type, created_at, id);
CREATE INDEX quarantine_records_pipeline_schema
    ON quarantine_records (pipeline, schema_name, schema_version, created_at, id);
-- Field-path filters: errors @> '[{"path": "/amount"}]'.
CREATE INDEX quarantine_records_errors
    ON quarantine_records USING gin (errors jsonb_path_ops);

CREATE FUNCTION dataquarantine_touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER quarantine_records_touch_updated_at
    BEFORE UPDATE ON quarantine_records
    FOR EACH ROW EXECUTE FUNCTION dataquarantine_touch_updated_at();

-- Bulk replays started through the API: the filter, progress and result counts.
CREATE TABLE replays (
    id          uuid        PRIMARY KEY,
    pipeline    text        NOT NULL,
    filter      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    dry_run     boolean     NOT NULL DEFAULT false,
    rate_limit  integer     CHECK (rate_limit IS NULL OR rate_limit > 0),
    state       text        NOT NULL DEFAULT 'pending' CHECK (state IN (
                    'pending', 'running', 'succeeded', 'failed', 'cancelled')),
    counts      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    cursor      jsonb,
    error       text,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);

CREATE INDEX replays_pipeline_created ON replays (pipeline, created_at, id);

CREATE TRIGGER replays_touch_updated_at
    BEFORE UPDATE ON replays
    FOR EACH ROW EXECUTE FUNCTION dataquarantine_touch_updated_at();

-- Append-only audit of what people did to quarantined records (replays, discards): who, when,
-- result. No foreign keys on purpose: retention may delete a record or a replay, its history stays.
CREATE TABLE quarantine_events (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline   text        NOT NULL,
    record_id  uuid,
    replay_id  uuid,
    actor      text        NOT NULL,
    action     text        NOT NULL,
    result     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX quarantine_events_record ON quarantine_events (record_id, created_at);
CREATE INDEX quarantine_events_replay ON quarantine_events (replay_id, created_at);
CREATE INDEX quarantine_events_pipeline_created ON quarantine_events (pipeline, created_at, id);

CREATE FUNCTION dataquarantine_refuse_event_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'quarantine_events is append-only';
END;
$$;

CREATE TRIGGER quarantine_events_append_only
    BEFORE UPDATE ON quarantine_events
    FOR EACH ROW EXECUTE FUNCTION dataquarantine_refuse_event_update();
