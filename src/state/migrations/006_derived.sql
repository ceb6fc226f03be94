-- The set of application templates (name@digest, bottom first, comma-separated) the container's
-- derived files (/etc/ld.so.cache …, see templates/merge/derived.ts) were last computed for;
-- '' for none, which is the OS template's own.
ALTER TABLE containers ADD COLUMN derived_for TEXT NOT NULL DEFAULT '';
