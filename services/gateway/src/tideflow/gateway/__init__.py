"""The gateway: REST API, auth, workflow definitions, run queries and live streams."""
