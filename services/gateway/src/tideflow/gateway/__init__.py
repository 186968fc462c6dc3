"""The gateway: REST API, auth, workflow definitions, run queries and live streams.

`create_app(settings=, store=, bus=)` builds the FastAPI app; `run_gateway(..., stop=)`
serves it until `stop` is set (what `tide serve gateway` and `tide dev` call).
"""

from tideflow.gateway.app import create_app, run_gateway
from tideflow.gateway.auth import Authenticator, Principal, Role
from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.gateway.settings import GatewaySettings

__all__ = [
    "ApiError",
    "Authenticator",
    "ErrorCode",
    "GatewaySettings",
    "Principal",
    "Role",
    "create_app",
    "run_gateway",
]
