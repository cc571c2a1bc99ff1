-- What the REST API needs to replay quarantined records exactly once.

-- The record's original Kafka headers, in order: a JSON list of [name, base64 value or null].
-- NULL when the writer did not record them (rows written before this migration).
ALTER TABLE quarantine_records ADD COLUMN record_headers jsonb;

-- A replay claim: set (in its own committed transaction) before a record is produced to the valid
-- topic, cleared together with the switch to 'replayed'. While it is set no one else replays,
-- discards or purges the record. `replay_claim` holds the valid topic and its partitions' end
-- offsets taken before producing, so that a claim left behind by a crash can be settled by
-- scanning the topic from there for the record's `dataquarantine.replayed-from` header.
ALTER TABLE quarantine_records ADD COLUMN replay_attempt uuid;
ALTER TABLE quarantine_records ADD COLUMN replay_claimed_at timestamptz;
ALTER TABLE quarantine_records ADD COLUMN replay_claim jsonb;
ALTER TABLE quarantine_records ADD CONSTRAINT quarantine_records_claim_complete CHECK (
    (replay_attempt IS NULL) = (replay_claimed_at IS NULL)
    AND (replay_attempt IS NULL) = (replay_claim IS NULL));

CREATE INDEX quarantine_records_pipeline_claimed
    ON quarantine_records (pipeline, replay_claimed_at) WHERE replay_attempt IS NOT NULL;
CREATE INDEX quarantine_records_pipeline_topic
    ON quarantine_records (pipeline, source_topic, created_at, id);
-- Retention removes a segment once no row points into it.
CREATE INDEX quarantine_records_storage_uri ON quarantine_records (storage_uri);

-- A bulk replay may validate against a requested schema version instead of the current one.
ALTER TABLE replays ADD COLUMN schema_version integer CHECK (schema_version IS NULL OR schema_version >= 1);
