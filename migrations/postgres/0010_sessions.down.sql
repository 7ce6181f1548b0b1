DROP INDEX refresh_tokens_user_id_idx;
DROP TABLE sessions;
