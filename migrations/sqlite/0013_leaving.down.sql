DROP TABLE quarantined_usernames;
DROP INDEX deleted_accounts_user_id_hash_idx;
DROP TABLE deleted_accounts;
