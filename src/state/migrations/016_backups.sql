-- Backups kept by the daemon for a container (src/backups): files in the container's directory
-- (containers/NAME/backups/NAME.backup), listed, downloaded, restored and removed by whoever may
-- change the container; counted in its tenant's disk; they go with the container.
CREATE TABLE backups (
  container   TEXT NOT NULL,
  name        TEXT NOT NULL,
  bytes       INTEGER NOT NULL,
  digest      TEXT NOT NULL,             -- the backup digest (sha256 of its manifest)
  parent      TEXT,                      -- the stored backup it is incremental on, or NULL
  templates   TEXT NOT NULL,             -- JSON [name@version…] of the templates it carries
  created_at  TEXT NOT NULL,
  PRIMARY KEY (container, name)
);
