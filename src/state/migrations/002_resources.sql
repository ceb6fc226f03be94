-- Resource limits of a container (JSON, see src/resources/limits.ts) and whether its
-- private area is a size-limited volume of the storage pool.
ALTER TABLE containers ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
ALTER TABLE containers ADD COLUMN volume INTEGER NOT NULL DEFAULT 0;

-- Usage of runs that ended: the cgroup dies with each run, Strata keeps the sums.
CREATE TABLE usage_totals (
  container        TEXT PRIMARY KEY REFERENCES containers(name) ON DELETE CASCADE,
  cpu_ns           INTEGER NOT NULL DEFAULT 0,
  io_read_bytes    INTEGER NOT NULL DEFAULT 0,
  io_write_bytes   INTEGER NOT NULL DEFAULT 0,
  io_read_ops      INTEGER NOT NULL DEFAULT 0,
  io_write_ops     INTEGER NOT NULL DEFAULT 0,
  oom_kills        INTEGER NOT NULL DEFAULT 0,
  memory_peak      INTEGER NOT NULL DEFAULT 0
);
