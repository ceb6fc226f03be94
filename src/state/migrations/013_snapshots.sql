-- Snapshots of containers' private areas (src/containers/snapshots.ts): an instant subvolume
-- snapshot where the disk's driver makes them (btrfs), else a copy of the files beside the
-- container. The attached application templates are kept with it: a restore needs the same ones.
CREATE TABLE snapshots (
  container   TEXT NOT NULL,
  name        TEXT NOT NULL,
  method      TEXT NOT NULL,             -- 'volume' (the disk driver's snapshot) or 'copy'
  apps        TEXT NOT NULL,             -- JSON [{template, version}], bottom first
  size_bytes  INTEGER NOT NULL,          -- the files' size (a copy's disk use; shared extents for 'volume')
  frozen_ms   REAL,                      -- how long a running container was frozen for it; NULL: it was not running
  created_at  TEXT NOT NULL,
  PRIMARY KEY (container, name)
);
