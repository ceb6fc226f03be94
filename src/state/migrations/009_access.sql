-- Tenants, their users and API tokens, the audit log, and which tenant owns each container.
CREATE TABLE tenants (
  name          TEXT PRIMARY KEY,
  plan          TEXT NOT NULL DEFAULT '{}',  -- JSON: cpus, memory, disk, pids, containers, ports, trafficBytes, trafficPolicy
  suspended_at  TEXT,                        -- set while suspended: its containers are stopped and cannot start
  suspended_why TEXT,
  created_at    TEXT NOT NULL
);

CREATE TABLE users (
  name          TEXT PRIMARY KEY,
  tenant        TEXT REFERENCES tenants(name) ON DELETE CASCADE,  -- NULL: a host administrator
  role          TEXT NOT NULL CHECK (role IN ('admin', 'owner', 'operator', 'viewer', 'billing')),
  password_hash TEXT,                                             -- scrypt, for the panel's log-in
  created_at    TEXT NOT NULL,
  CHECK ((tenant IS NULL) = (role = 'admin'))
);

CREATE TABLE tokens (
  id           TEXT PRIMARY KEY,             -- the public half of the token, shown in lists
  user         TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
  secret_hash  TEXT NOT NULL,                -- sha256 of the secret half: the secret itself is never stored
  scopes       TEXT NOT NULL,                -- JSON array
  containers   TEXT,                         -- JSON array, or NULL: every container of the tenant
  cidrs        TEXT,                         -- JSON array, or NULL: from anywhere
  description  TEXT NOT NULL DEFAULT '',
  expires_at   TEXT,
  created_at   TEXT NOT NULL,
  last_used_at TEXT
);

CREATE TABLE audit (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  time      TEXT NOT NULL,
  actor     TEXT NOT NULL,       -- the user, or 'root' over the unix socket
  token     TEXT,                -- the token id used
  as_tenant TEXT,                -- the tenant an administrator acted as
  tenant    TEXT,                -- whose object it was
  source    TEXT NOT NULL,       -- the client's address, or 'unix'
  method    TEXT NOT NULL,
  path      TEXT NOT NULL,
  status    INTEGER NOT NULL,
  detail    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_time ON audit(time);
CREATE INDEX audit_tenant ON audit(tenant, id);

ALTER TABLE containers ADD COLUMN tenant TEXT REFERENCES tenants(name);
ALTER TABLE events ADD COLUMN tenant TEXT;
