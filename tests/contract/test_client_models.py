"""`tideflow.client`'s models mirror the API's response schemas field for field.

The client cannot import the services (libs never import services), so it keeps its own
models; this test is what keeps them in step with the gateway's and the approval
service's.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from tideflow import client
from tideflow.approval import views as approval_views
from tideflow.gateway import schemas as gateway

pytestmark = pytest.mark.unit

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


def test_error_codes_cover_the_gateway() -> None:
    from tideflow.gateway.errors import ErrorCode

    assert {c.value for c in ErrorCode} <= {c.value for c in client.ErrorCode}
