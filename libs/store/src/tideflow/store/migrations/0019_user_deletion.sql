-- Users can be deleted (`DELETE /users/{id}`): the app role may delete a user and the
-- refresh tokens that reference it, inside its tenant (row-level security still applies).
GRANT DELETE ON users, refresh_tokens TO tideflow_app;
