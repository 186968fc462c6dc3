"""Node handlers that do IO, run by executors: one module per node type.

The core decides *what* runs and evaluates pure nodes itself; a handler here gets a task
whose templates are already resolved and returns an outcome. A failure says whether a
retry can help, so the core's retry policy decides the rest.
"""

from tideflow.nodes._agent import AgentTurnHandler
from tideflow.nodes._capped import ResponseTooLarge
from tideflow.nodes._database import DatabaseHandler
from tideflow.nodes._egress import EgressDenied, EgressPolicy, GuardedTransport
from tideflow.nodes._function import FunctionHandler
from tideflow.nodes._handler import (
    HandlerRegistry,
    NodeHandler,
    StepFailure,
    StepOutcome,
    StepPending,
    StepSuccess,
    TaskSpec,
)
from tideflow.nodes._http import HttpHandler
from tideflow.nodes._llm import OUTPUT_INVALID, LlmHandler, SecretLookup
from tideflow.nodes._llm_call import (
    ModelCallError,
    ModelReply,
    ModelRequest,
    ToolCall,
    Usage,
    call_model,
)
from tideflow.nodes._notify import NotifyHandler
from tideflow.nodes._ocr import OcrHandler
from tideflow.nodes._plugin import PluginHandler, config_problem

__all__ = [
    "OUTPUT_INVALID",
    "AgentTurnHandler",
    "DatabaseHandler",
    "EgressDenied",
    "EgressPolicy",
    "FunctionHandler",
    "GuardedTransport",
    "HandlerRegistry",
    "HttpHandler",
    "LlmHandler",
    "ModelCallError",
    "ModelReply",
    "ModelRequest",
    "NodeHandler",
    "NotifyHandler",
    "OcrHandler",
    "PluginHandler",
    "ResponseTooLarge",
    "SecretLookup",
    "StepFailure",
    "StepOutcome",
    "StepPending",
    "StepSuccess",
    "TaskSpec",
    "ToolCall",
    "Usage",
    "call_model",
    "config_problem",
]
