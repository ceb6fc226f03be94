-- Monthly traffic quotas (src/access/traffic.ts, src/daemon/traffic.ts): what was done to a tenant
-- over its plan's traffic, so that it is lifted (at the month's turn, or when the plan grows) by
-- what took it and by nothing else; and a ceiling on a container's rates while it is throttled,
-- kept apart from the rates its owner set (those come back as they were).
ALTER TABLE tenants ADD COLUMN traffic_action TEXT;        -- 'throttle' or 'suspend' while in force
ALTER TABLE tenants ADD COLUMN traffic_month TEXT;         -- YYYY-MM it was taken in
ALTER TABLE net_containers ADD COLUMN rate_cap INTEGER;    -- bits/s no rate of the container exceeds; NULL: none
