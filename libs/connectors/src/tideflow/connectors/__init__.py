"""Declarative SaaS connectors (docs/connectors.md): a YAML file per API, one node type
per operation (`github.create_issue`), registered through the `tideflow.node_types`
entry point like any plugin."""

from tideflow.connectors._auth import TokenCache
from tideflow.connectors._loader import (
    ConnectorError,
    ConnectorSettings,
    load_connector,
    node_types,
    shipped_files,
)
from tideflow.connectors._model import Auth, AuthType, Connector, Operation, Pagination
from tideflow.connectors._operation import OperationHandler, config_schema, operation_specs

__all__ = [
    "Auth",
    "AuthType",
    "Connector",
    "ConnectorError",
    "ConnectorSettings",
    "Operation",
    "OperationHandler",
    "Pagination",
    "TokenCache",
    "config_schema",
    "load_connector",
    "node_types",
    "operation_specs",
    "shipped_files",
]
