-- A pipeline is its namespace and its name: two QuarantinePipelines of the same name in different
-- namespaces may share one database, and must neither see nor collide with each other's records.
-- The source key and every pipeline-leading index become (namespace, pipeline, ...), and the
-- tables of 0001/0002 that were scoped by pipeline name alone get the namespace too.
--
-- `replays.namespace` and `quarantine_events.namespace` have no default: every writer names the
-- namespace, and a writer that does not (an API older than this migration) fails rather than file
-- rows under a namespace no pipeline reads. The validator of an older release keeps working: it
-- has always written `quarantine_records.namespace`.
--
-- Existing rows are filled from what quarantine_records says about them, else 'default' (the
-- Kubernetes namespace of objects created without one):
-- - a replay: the namespace of the records its events touched, if they agree; else the
--   namespace of its pipeline's records, if the name is used in one namespace only;
-- - an event: its record's namespace while the record exists; else its replay's; else, as for a
--   replay, its pipeline's only namespace.
-- A pipeline name used in several namespaces before this migration leaves the replays and events
-- that cannot be attributed under 'default': kept, but shown only to a pipeline of that name in
-- the namespace 'default'.

CREATE TEMP TABLE dq_0003_sole_namespace ON COMMIT DROP AS
    SELECT pipeline, min(namespace) AS namespace
    FROM (SELECT DISTINCT pipeline, namespace FROM quarantine_records) AS pairs
    GROUP BY pipeline
    HAVING count(*) = 1;

ALTER TABLE replays ADD COLUMN namespace text;
UPDATE replays r SET namespace = coalesce(
    (SELECT min(q.namespace)
       FROM quarantine_events e JOIN quarantine_records q ON q.id = e.record_id
      WHERE e.replay_id = r.id
     HAVING count(DISTINCT q.namespace) = 1),
    (SELECT s.namespace FROM dq_0003_sole_namespace s WHERE s.pipeline = r.pipeline),
    'default');
ALTER TABLE replays ALTER COLUMN namespace SET NOT NULL;

ALTER TABLE quarantine_events ADD COLUMN namespace text;
-- The events are append-only; filling the new column is the one update they get.
ALTER TABLE quarantine_events DISABLE TRIGGER quarantine_events_append_only;
UPDATE quarantine_events e SET namespace = coalesce(
    (SELECT q.namespace FROM quarantine_records q WHERE q.id = e.record_id),
    (SELECT r.namespace FROM replays r WHERE r.id = e.replay_id),
    (SELECT s.namespace FROM dq_0003_sole_namespace s WHERE s.pipeline = e.pipeline),
    'default');
ALTER TABLE quarantine_events ENABLE TRIGGER quarantine_events_append_only;
ALTER TABLE quarantine_events ALTER COLUMN namespace SET NOT NULL;

-- One row per source record of one pipeline. Ids of new rows include the namespace too.
ALTER TABLE quarantine_records DROP CONSTRAINT quarantine_records_source_key;
ALTER TABLE quarantine_records ADD CONSTRAINT quarantine_records_source_key
    UNIQUE (namespace, pipeline, source_topic, kafka_partition, kafka_offset);

-- The API's filters: every query is scoped to one (namespace, pipeline).
DROP INDEX quarantine_records_pipeline_created;
CREATE INDEX quarantine_records_pipeline_created
    ON quarantine_records (namespace, pipeline, created_at, id);
DROP INDEX quarantine_records_pipeline_status;
CREATE INDEX quarantine_records_pipeline_status
    ON quarantine_records (namespace, pipeline, status, created_at, id);
DROP INDEX quarantine_records_pipeline_error_type;
CREATE INDEX quarantine_records_pipeline_error_type
    ON quarantine_records (namespace, pipeline, error_type, created_at, id);
DROP INDEX quarantine_records_pipeline_schema;
CREATE INDEX quarantine_records_pipeline_schema
    ON quarantine_records (namespace, pipeline, schema_name, schema_version, created_at, id);
DROP INDEX quarantine_records_pipeline_claimed;
CREATE INDEX quarantine_records_pipeline_claimed
    ON quarantine_records (namespace, pipeline, replay_claimed_at) WHERE replay_attempt IS NOT NULL;
DROP INDEX quarantine_records_pipeline_topic;
CREATE INDEX quarantine_records_pipeline_topic
    ON quarantine_records (namespace, pipeline, source_topic, created_at, id);

DROP INDEX replays_pipeline_created;
CREATE INDEX replays_pipeline_created ON replays (namespace, pipeline, created_at, id);
DROP INDEX quarantine_events_pipeline_created;
CREATE INDEX quarantine_events_pipeline_created
    ON quarantine_events (namespace, pipeline, created_at, id);
