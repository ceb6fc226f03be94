-- Metering (src/metering, src/state/metering.ts): what each container used, in rollup tiers.
-- One row per tier, bucket, container and the tenant that owned it when the readings were
-- taken ('' for the host's own containers). Counters are deltas (usage within the bucket), so a
-- destroyed container's usage stays with its tenant; gauges are sums over samples and maxima.
CREATE TABLE meter_points (
  tier              INTEGER NOT NULL,            -- bucket length in seconds: 10, 60, 3600, 86400
  at                INTEGER NOT NULL,            -- bucket start, Unix seconds (UTC)
  container         TEXT NOT NULL,
  tenant            TEXT NOT NULL DEFAULT '',
  samples           INTEGER NOT NULL DEFAULT 0,  -- readings of the running container in the bucket
  seconds           REAL NOT NULL DEFAULT 0,     -- running time the readings cover
  cpu_ns            INTEGER NOT NULL DEFAULT 0,
  cpu_pct_max       REAL NOT NULL DEFAULT 0,     -- the highest CPU % between two readings
  mem_sum           INTEGER NOT NULL DEFAULT 0,  -- Σ memory bytes over samples
  mem_max           INTEGER NOT NULL DEFAULT 0,
  mem_byte_seconds  REAL NOT NULL DEFAULT 0,     -- ∫ memory dt
  disk_samples      INTEGER NOT NULL DEFAULT 0,
  disk_sum          INTEGER NOT NULL DEFAULT 0,
  disk_max          INTEGER NOT NULL DEFAULT 0,
  disk_byte_seconds REAL NOT NULL DEFAULT 0,
  io_read_bytes     INTEGER NOT NULL DEFAULT 0,
  io_write_bytes    INTEGER NOT NULL DEFAULT 0,
  io_read_ops       INTEGER NOT NULL DEFAULT 0,
  io_write_ops      INTEGER NOT NULL DEFAULT 0,
  net_rx_bytes      INTEGER NOT NULL DEFAULT 0,
  net_tx_bytes      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tier, container, at, tenant)
) WITHOUT ROWID;
CREATE INDEX meter_points_by_tenant ON meter_points (tier, tenant, at);
CREATE INDEX meter_points_by_age ON meter_points (tier, at);

-- The last cumulative reading of each container: the next delta is taken from it, also after a
-- daemon restart (a gap is covered by the first delta after it, never lost).
CREATE TABLE meter_last (
  container       TEXT PRIMARY KEY,
  since           TEXT NOT NULL,                 -- the container's creation time: a new one under the name counts from zero
  at              INTEGER NOT NULL,              -- Unix milliseconds
  running         INTEGER NOT NULL,
  cpu_ns          INTEGER NOT NULL,
  io_read_bytes   INTEGER NOT NULL,
  io_write_bytes  INTEGER NOT NULL,
  io_read_ops     INTEGER NOT NULL,
  io_write_ops    INTEGER NOT NULL,
  net_rx_bytes    INTEGER NOT NULL,
  net_tx_bytes    INTEGER NOT NULL,
  oom_kills       INTEGER NOT NULL
);
