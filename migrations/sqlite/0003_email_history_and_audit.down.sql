DROP TABLE audit_events;
DROP TABLE identity_emails;
