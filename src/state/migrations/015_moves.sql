-- Moves of containers between hosts (src/moves): each daemon keeps a journal of the moves it
-- takes part in, so that one that ends half-way settles them at its next start (exactly one
-- copy of the container runs afterwards).
CREATE TABLE moves (
  id           TEXT PRIMARY KEY,
  role         TEXT NOT NULL,             -- 'out': this host sends it; 'in': this host receives it
  container    TEXT NOT NULL,
  phase        TEXT NOT NULL,             -- out: syncing, stopped, finishing, committing; in: receiving, started, committed
  was_running  INTEGER NOT NULL DEFAULT 0,
  remote       TEXT,                      -- out: JSON {url, token, fingerprint} of the target, to settle with it later
  lease_until  TEXT,                      -- in: a started container not committed by then is removed again
  updated_at   TEXT NOT NULL
);
