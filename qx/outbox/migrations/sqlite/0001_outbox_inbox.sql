-- qx.outbox schema 1 (SQLite). Applied by the relay at start, `qxgen relay --migrate-only`
-- or qx.outbox.migrate(); or run it with your own migration tool.
-- Times are UTC "YYYY-MM-DD HH:MM:SS.ffffff" text.

-- Events waiting to be published, then kept as sent until the retention period ends.
-- `id` order is commit order: SQLite writers are serialised (qx opens BEGIN IMMEDIATE).
CREATE TABLE IF NOT EXISTS qx_outbox (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT NOT NULL UNIQUE,  -- CloudEvents id, sent as Nats-Msg-Id
    aggregate_key  TEXT,                  -- rows with one key are published in id order
    subject        TEXT NOT NULL,
    event_type     TEXT NOT NULL,         -- CloudEvents type
    event_version  INTEGER NOT NULL,      -- ce-qxversion
    source         TEXT NOT NULL,         -- CloudEvents source
    event_time     TEXT NOT NULL,         -- CloudEvents time (RFC 3339)
    correlation_id TEXT NOT NULL,
    causation_id   TEXT,
    tenant_id      TEXT,
    traceparent    TEXT,                  -- W3C trace context current at write time
    tracestate     TEXT,
    headers        TEXT NOT NULL,         -- JSON object: every wire header except trace context
    payload        TEXT NOT NULL,         -- the JSON body, byte for byte
    created_at     TEXT NOT NULL,
    sent_at        TEXT,                  -- NULL while pending
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT
);

CREATE INDEX IF NOT EXISTS qx_outbox_pending ON qx_outbox (id) WHERE sent_at IS NULL;

CREATE INDEX IF NOT EXISTS qx_outbox_key_pending ON qx_outbox (aggregate_key, id)
    WHERE sent_at IS NULL;

CREATE INDEX IF NOT EXISTS qx_outbox_sent ON qx_outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Events a handler has processed: (consumer, event id) is recorded in the handler's transaction.
CREATE TABLE IF NOT EXISTS qx_inbox (
    consumer     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE INDEX IF NOT EXISTS qx_inbox_processed ON qx_inbox (processed_at);

-- The relay lease: on SQLite one relay at a time publishes; others wait for the lease to expire.
CREATE TABLE IF NOT EXISTS qx_outbox_lease (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
