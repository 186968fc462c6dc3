"""`database`: one parameterised SQL statement on PostgreSQL (asyncpg), in a worker.

The statement is fixed text with `$1, $2, ...` placeholders; values (templates allowed)
go in `params` and are bound by the server, never spliced into the SQL. A template in
the statement itself is refused at publish time. Output `{rows, rowCount, command}`.
"""

from typing import Any

from pydantic import Field, field_validator

from tideflow.core._durations import Duration
from tideflow.core._templates import is_template
from tideflow.core.nodes._base import Execution, NodeConfig, NodeType
from tideflow.core.nodes._llm import SECRET_NAME

MAX_ROWS = 10_000


class DatabaseConfig(NodeConfig):
    """`connectionSecret` names a secret holding a `postgresql://` URL."""

    connection_secret: str = Field(pattern=SECRET_NAME, description="secret with the DSN")
    statement: str = Field(min_length=1, description="SQL with $1, $2, ... placeholders")
    params: list[Any] = Field(default_factory=list, description="values for $1, $2, ...")
    max_rows: int = Field(default=1000, ge=1, le=MAX_ROWS)
    timeout: Duration | None = None

    @field_validator("statement")
    @classmethod
    def _no_templates(cls, value: str) -> str:
        if "{{" in value or is_template(value):
            msg = (
                "the statement may not hold templates (that would build SQL from strings); "
                "use $1, $2, ... placeholders and pass the values in params"
            )
            raise ValueError(msg)
        return value


NODE_TYPE = NodeType(
    name="database",
    execution=Execution.DISPATCH,
    config_model=DatabaseConfig,
    description="Run one parameterised SQL statement on PostgreSQL in a transaction.",
)
