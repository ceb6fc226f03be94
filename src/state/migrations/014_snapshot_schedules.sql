-- Snapshot schedules (src/containers/snapshots.ts): a snapshot of the container every
-- `every_seconds`, named auto-…, the newest `keep` of them kept.
CREATE TABLE snapshot_schedules (
  container      TEXT PRIMARY KEY,
  every_seconds  INTEGER NOT NULL,
  keep           INTEGER NOT NULL,
  last_at        TEXT                     -- when the last scheduled snapshot was taken (or tried)
);
