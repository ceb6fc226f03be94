-- Templates: OS templates now; application templates later (kind = 'app').
CREATE TABLE templates (
  name        TEXT PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('os', 'app')),
  source      TEXT NOT NULL,
  init        TEXT NOT NULL,            -- JSON array: argv of the container's init
  stop_signal TEXT NOT NULL,
  size_bytes  INTEGER NOT NULL DEFAULT 0,
  meta        TEXT NOT NULL DEFAULT '{}', -- JSON: build details (host-linked paths, env…)
  created_at  TEXT NOT NULL
);

CREATE TABLE containers (
  name        TEXT PRIMARY KEY,
  template    TEXT NOT NULL REFERENCES templates(name),
  hostname    TEXT NOT NULL,
  privileged  INTEGER NOT NULL DEFAULT 0,
  autostart   INTEGER NOT NULL DEFAULT 0,
  state       TEXT NOT NULL CHECK (state IN ('created', 'running', 'stopped')),
  pid         INTEGER,
  id_slot     INTEGER UNIQUE,           -- which 65536-id range the container owns (NULL when privileged)
  created_at  TEXT NOT NULL,
  started_at  TEXT,
  stopped_at  TEXT
);

CREATE TABLE events (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  time     TEXT NOT NULL,
  kind     TEXT NOT NULL,
  subject  TEXT,
  message  TEXT NOT NULL
);
