-- Networks (src/network): bridges with an IPv4 subnet, container adapters with
-- their stable addresses, published ports, bandwidth limits, cumulative traffic
-- counters and the journal of host changes each network made.
CREATE TABLE networks (
  name        TEXT PRIMARY KEY,
  idx         INTEGER NOT NULL UNIQUE,        -- names the bridge and nft tables of this root
  subnet      TEXT NOT NULL,                  -- CIDR, e.g. 10.77.0.0/24
  gateway     TEXT NOT NULL,                  -- address of the bridge
  nat         INTEGER NOT NULL DEFAULT 1,
  isolated    INTEGER NOT NULL DEFAULT 0,
  bridge      TEXT NOT NULL UNIQUE,
  created_at  TEXT NOT NULL
);

-- One row per container that has a network plan (also --no-net ones).
CREATE TABLE net_containers (
  container   TEXT PRIMARY KEY,
  no_net      INTEGER NOT NULL DEFAULT 0,
  net_in      INTEGER,                        -- bits/s the container may receive; NULL: unlimited
  net_out     INTEGER,                        -- bits/s the container may send; NULL: unlimited
  netns       TEXT,                           -- pinned namespace path while attached
  -- counters of ended veth lifetimes, from the container's point of view
  rx_bytes    INTEGER NOT NULL DEFAULT 0,
  tx_bytes    INTEGER NOT NULL DEFAULT 0,
  rx_packets  INTEGER NOT NULL DEFAULT 0,
  tx_packets  INTEGER NOT NULL DEFAULT 0
);

-- Adapters: the address lease is the row; it lives from plan to release.
CREATE TABLE net_adapters (
  container    TEXT NOT NULL REFERENCES net_containers(container) ON DELETE CASCADE,
  network      TEXT NOT NULL REFERENCES networks(name),
  ifname       TEXT NOT NULL,
  ip           INTEGER NOT NULL,              -- the address as a number (for allocation)
  address      TEXT NOT NULL,                 -- CIDR
  mac          TEXT NOT NULL,
  host_ifname  TEXT NOT NULL UNIQUE,
  attached     INTEGER NOT NULL DEFAULT 0,
  cni_result   TEXT,                          -- JSON result of the last ADD (prevResult of DEL)
  -- last counters seen on the live veth (identified by its ifindex), container's view
  seen_ifindex INTEGER,
  seen_rx_bytes   INTEGER NOT NULL DEFAULT 0,
  seen_tx_bytes   INTEGER NOT NULL DEFAULT 0,
  seen_rx_packets INTEGER NOT NULL DEFAULT 0,
  seen_tx_packets INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (container, network),
  UNIQUE (network, ip),
  UNIQUE (container, ifname)
);

CREATE TABLE net_ports (
  container       TEXT NOT NULL REFERENCES net_containers(container) ON DELETE CASCADE,
  proto           TEXT NOT NULL CHECK (proto IN ('tcp', 'udp')),
  host_port       INTEGER NOT NULL,
  container_port  INTEGER NOT NULL,
  PRIMARY KEY (proto, host_port)
);

-- What a network changed on the host, undone in reverse order when it is removed.
CREATE TABLE net_host_changes (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  network     TEXT NOT NULL REFERENCES networks(name) ON DELETE CASCADE,
  kind        TEXT NOT NULL CHECK (kind IN ('link', 'nft-tables', 'sysctl')),
  name        TEXT NOT NULL,
  detail      TEXT NOT NULL DEFAULT '',       -- sysctl: the value before Strata set it
  created_at  TEXT NOT NULL
);
