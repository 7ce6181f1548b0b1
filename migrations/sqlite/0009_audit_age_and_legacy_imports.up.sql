-- Audit events are purged once older than `audit_retention`: the purge looks them up by age.
CREATE INDEX audit_events_at_idx ON audit_events (at);
