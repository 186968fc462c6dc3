-- A credential that changes notifies `tideflow_credential_changed` (payload `token:<id>` or
-- `user:<id>`): an API token revoked or deleted, a user given another role, disabled or
-- deleted. Sessions proven once and kept open (collaboration rooms) check their credential
-- again at the commit instead of at their next periodic check. NOTIFY is transactional:
-- delivered when (and only if) the writing transaction commits, whichever process wrote it.

CREATE FUNCTION tideflow_notify_credential_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV: the key's kind, and the column holding the credential's id
    PERFORM pg_notify('tideflow_credential_changed',
                      TG_ARGV[0] || ':' || (to_jsonb(OLD) ->> TG_ARGV[1]));
    RETURN NULL;
END
$$;

CREATE TRIGGER api_tokens_notify_changed
    AFTER UPDATE OF revoked_at, role, tenant_id OR DELETE ON api_tokens
    FOR EACH ROW
    EXECUTE FUNCTION tideflow_notify_credential_changed('token', 'token_id');

CREATE TRIGGER users_notify_changed
    AFTER UPDATE OF role, disabled, tenant_id OR DELETE ON users
    FOR EACH ROW
    EXECUTE FUNCTION tideflow_notify_credential_changed('user', 'user_id');
