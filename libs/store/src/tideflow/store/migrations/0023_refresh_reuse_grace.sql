-- A used refresh token remembers its one successor, sealed with a key only the used token's
-- own secret opens (the store keeps just that secret's hash). Presenting the used token again
-- within the reuse grace window (a page reloaded while its refresh was in flight) hands the
-- same successor back instead of revoking the family; a family never branches.
ALTER TABLE refresh_tokens
    ADD COLUMN successor_id text,
    ADD COLUMN successor_sealed bytea;
