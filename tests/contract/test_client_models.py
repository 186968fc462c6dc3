"""`tideflow.client`'s models mirror the API's response schemas field for field.

The client cannot import the services (libs never import services), so it keeps its own
models; this test is what keeps them in step with the gateway's and the approval
service's. The error codes are not mirrored: both sides import `tideflow.contract`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from tideflow import client
from tideflow.approval import views as approval_views
from tideflow.gateway import schemas as gateway

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

PAIRS: list[tuple[type[BaseModel], type[BaseModel]]] = [
    (client.WorkflowSummary, gateway.WorkflowSummary),
    (client.Workflow, gateway.Workflow),
    (client.WorkflowVersion, gateway.WorkflowVersion),
    (client.VersionList, gateway.VersionList),
    (client.Published, gateway.Published),
    (client.StepView, gateway.StepView),
    (client.Run, gateway.Run),
    (client.RunSummary, gateway.RunSummary),
    (client.RunState, gateway.RunState),
    (client.Event, gateway.Event),
    (client.EventPage, gateway.EventPage),
    (client.Accepted, gateway.Accepted),
    (client.Problem, gateway.ProblemView),
    (client.ValidationResult, gateway.ValidationResult),
    (client.Page[client.RunSummary], gateway.Page[gateway.RunSummary]),
    (client.Approval, approval_views.Approval),
    (client.Vote, approval_views.Vote),
]


def wire_fields(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=lambda m: m.__name__)
def test_fields_match(ours: type[BaseModel], theirs: type[BaseModel]) -> None:
    assert wire_fields(ours) == wire_fields(theirs)


def test_the_client_and_the_gateway_share_one_list_of_error_codes() -> None:
    """One enum (tideflow.contract), so a code the gateway adds is one the client knows."""
    from tideflow.contract import ErrorCode
    from tideflow.gateway.errors import ErrorCode as GatewayCode

    assert client.ErrorCode is ErrorCode
    assert GatewayCode is ErrorCode


def test_every_code_a_service_answers_is_in_the_contract() -> None:
    """Services other than the gateway still spell some codes as literals; each must be one
    of the contract's, or a client could not name it."""
    from tideflow.contract import ErrorCode

    sources = [
        *(ROOT / "services").glob("*/src/**/*.py"),
        *(ROOT / "libs/runtime/src").rglob("*.py"),
    ]
    used = {
        code
        for path in sources
        for code in re.findall(r'\(\s*[1-5]\d\d,\s*"([A-Z][A-Z_]+)"', path.read_text())
    }
    assert {"APPROVAL_CLOSED", "FORBIDDEN", "WORKFLOW_NOT_FOUND"} <= used  # the scan works
    assert used - {c.value for c in ErrorCode} == set()
