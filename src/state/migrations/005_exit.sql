-- How a container's init last ended: JSON {"status": N|null, "signal": "SIGX"|null,
-- "at": ISO time, "byItself": true when nobody asked Strata to stop it}. NULL: never ended yet.
ALTER TABLE containers ADD COLUMN last_exit TEXT;
