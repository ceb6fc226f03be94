-- The storage driver that holds a container's volume (its disk): NULL when it has none. Every
-- volume made before this column was loop-ext4's.
ALTER TABLE containers ADD COLUMN volume_driver TEXT;
UPDATE containers SET volume_driver = 'loop-ext4' WHERE volume = 1;
