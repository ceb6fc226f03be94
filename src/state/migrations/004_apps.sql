-- Application templates: each capture or import under one name is a new version.
-- The manifest column holds what attach needs (bases, deletions, opaque directories,
-- key changes of the system databases, totals), as in docs/template-format.md.
CREATE TABLE template_versions (
  template    TEXT NOT NULL REFERENCES templates(name) ON DELETE CASCADE,
  version     INTEGER NOT NULL,
  digest      TEXT NOT NULL,
  manifest    TEXT NOT NULL,
  size_bytes  INTEGER NOT NULL DEFAULT 0,
  created_at  TEXT NOT NULL,
  PRIMARY KEY (template, version)
);

-- The application templates attached to each container, bottom (position 0) to top.
-- live: attached while running, files copied through the merged root until the next start.
-- applied: JSON of what attach changed (keys as applied, id remaps, conflicts).
CREATE TABLE container_apps (
  container   TEXT NOT NULL REFERENCES containers(name) ON DELETE CASCADE,
  template    TEXT NOT NULL,
  version     INTEGER NOT NULL,
  position    INTEGER NOT NULL,
  live        INTEGER NOT NULL DEFAULT 0,
  applied     TEXT NOT NULL DEFAULT '{}',
  attached_at TEXT NOT NULL,
  PRIMARY KEY (container, template),
  FOREIGN KEY (template, version) REFERENCES template_versions(template, version)
);

-- Throw-away containers of template captures: removed if a crash leaves one behind.
ALTER TABLE containers ADD COLUMN scratch INTEGER NOT NULL DEFAULT 0;
