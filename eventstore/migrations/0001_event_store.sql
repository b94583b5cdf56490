-- The event store: every event exactly once, in one global order, with its causality.
--
-- position is gapless and commits in order: appends hold an EXCLUSIVE lock on the table while they
-- assign max(position) + 1 ..., so a subscriber reading `WHERE position > $last` never skips a row that
-- commits later with a smaller number (the trap of a plain sequence).
-- (aggregate_id, aggregate_version) is unique: optimistic concurrency per aggregate for free.
-- event_data is the event as published (envelope included, so it decodes on its own; older schema
-- versions are upcast on read; jsonb keeps its content, not its bytes); metadata says where the store got it (topic, partition, offset).
CREATE TABLE event_store (
    event_id uuid PRIMARY KEY,
    position bigint NOT NULL,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    "timestamp" timestamptz NOT NULL,
    correlation_id uuid NOT NULL,
    causation_id uuid,
    aggregate_id text NOT NULL,
    aggregate_version bigint NOT NULL CHECK (aggregate_version > 0),
    event_data jsonb NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT event_store_position_key UNIQUE (position),
    CONSTRAINT event_store_aggregate_version_key UNIQUE (aggregate_id, aggregate_version)
);
CREATE INDEX event_store_correlation_idx ON event_store (correlation_id, position);
CREATE INDEX event_store_timestamp_idx ON event_store ("timestamp");

-- Effectively-once consumers: the next Kafka offset to read, written in the same transaction as the
-- events consumed up to it. On partition assignment the sink seeks here, not to Kafka's committed offset.
CREATE TABLE event_sink_offsets (
    consumer text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL CHECK (next_offset >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);
