DROP TABLE legacy_imports;
DROP INDEX audit_events_at_idx;
