-- The driver that makes a network (src/network/drivers): every network made before this column
-- was a bridge. parent: the host interface whose segment a macvlan network joins.
ALTER TABLE networks ADD COLUMN driver TEXT NOT NULL DEFAULT 'bridge';
ALTER TABLE networks ADD COLUMN parent TEXT;
