-- Operations (src/operations): long work run in the daemon's background, listed, followed and
-- cancelled by id. Kept after they end (pruned after a retention time) so that a daemon restart
-- does not lose them; one still 'running' at a start was interrupted by the previous daemon.
CREATE TABLE operations (
  id            TEXT PRIMARY KEY,
  kind          TEXT NOT NULL,            -- template-build, template-import, container-create…
  subject       TEXT,                     -- what it works on: a template or container name
  state         TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
  owner         TEXT,                     -- who started it (opaque; null: the host administrator)
  progress      TEXT,                     -- JSON: the last progress {line, step, done, total}
  result        TEXT,                     -- JSON: what the work answered
  error_code    TEXT,
  error_message TEXT,
  log_dropped   INTEGER NOT NULL DEFAULT 0, -- log lines dropped at the front (the log keeps the last ones)
  created_at    TEXT NOT NULL,
  started_at    TEXT,
  finished_at   TEXT
);
CREATE INDEX operations_state ON operations (state);
CREATE INDEX operations_finished ON operations (finished_at);

CREATE TABLE operation_log (
  operation TEXT NOT NULL REFERENCES operations(id) ON DELETE CASCADE,
  seq       INTEGER NOT NULL,
  time      TEXT NOT NULL,
  line      TEXT NOT NULL,
  PRIMARY KEY (operation, seq)
);
