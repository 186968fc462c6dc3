"""What the operator allows a definition to ask of the workers, checked when it is saved
or published.

A definition can be well-formed and still ask for something the deployment refuses: an
`ocr` node naming its own `endpointUrl` without its own credentials, where the worker
would have to send its AWS signature to a host the workflow picked. The worker refuses
that at run time (defence in depth); refusing it at publish tells the author at once,
with the node and the field, instead of at the first run.

The check is separate from `validate_definition` on purpose: a version published under
an earlier policy must still parse wherever it is read (the scheduler, the trigger
service), so the policy applies where definitions are written, and the worker applies it
again to every attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tideflow.core._errors import Problem, ProblemCode
from tideflow.core.nodes import BUILTIN_NODE_TYPES, Execution, NodeTypes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tideflow.core.nodes import NodeType


@dataclass(frozen=True, slots=True)
class PublishPolicy:
    """The operator's settings a definition is checked against when it is written."""

    aws_endpoint_hosts: tuple[str, ...] = ()
    """Hosts a workflow's own AWS `endpointUrl` may name and still be signed with the
    worker's credentials (`TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS`), as the operator wrote them."""
    aws_endpoint_allowed: Callable[[str], bool] = field(default=lambda _url: False)
    """Whether a URL's host is one of them: the worker's own matcher
    (`EgressSettings.aws_endpoint_allowed`), which parses URLs (IO-free, but outside the
    core's allowed imports), so publish and run time read the list the same way."""
    topic_prefix: str = "tideflow"
    """The platform's topic prefix (`TIDEFLOW_KAFKA_TOPIC_PREFIX`): its topics carry every
    tenant's commands and run events, so no event trigger may read them."""


def policy_problems(
    document: Any, policy: PublishPolicy, types: NodeTypes = BUILTIN_NODE_TYPES
) -> list[Problem]:
    """What `document` (a definition mapping) asks that `policy` refuses; [] when nothing.

    Reads the raw mapping defensively: a malformed node is `validate_definition`'s to
    report, and is skipped here.
    """
    problems: list[Problem] = []
    for node, path, node_id in _checked_nodes(document, types):
        problems += _node_problems(node, path, node_id, policy, types)
    for index, trigger, topic in _event_triggers(document):
        if reserved_topic(topic, policy.topic_prefix):
            problems.append(Problem(
                ProblemCode.RESERVED_TOPIC,
                f"trigger {trigger.get('id')!r}: {topic!r} is one of the platform's own "
                f"topics (under {policy.topic_prefix!r}.), which carry every tenant's "
                "commands and run events; subscribe to a topic of your own, or to run "
                "events through /subscriptions",
                f"spec.triggers[{index}].topic",
            ))  # fmt: skip
    return problems


def policy_applies(document: Any, types: NodeTypes = BUILTIN_NODE_TYPES) -> bool:
    """Whether any part of `document` is one a policy checks (a node whose type has a
    policy check, an event trigger): an offline check reads the operator's settings only
    then, so validating the common definition stays as light as parsing it."""
    return any(True for _ in _checked_nodes(document, types)) or any(
        True for _ in _event_triggers(document)
    )


def _spec(document: Any) -> dict[str, Any]:
    spec = document.get("spec") if isinstance(document, dict) else None
    return spec if isinstance(spec, dict) else {}


def _checked_nodes(
    document: Any, types: NodeTypes
) -> Iterator[tuple[dict[str, Any], str, str | None]]:
    """(node, its path, its id) of every node, a foreach's own node included, whose
    type has a policy check."""
    nodes = _spec(document).get("nodes")
    for index, node in enumerate(nodes if isinstance(nodes, list) else []):
        if not isinstance(node, dict):
            continue
        node_id = node.get("id") if isinstance(node.get("id"), str) else None
        path = f"spec.nodes[{index}]"
        if _has_policy_check(node, types):
            yield node, path, node_id
        kind, config = node.get("type"), node.get("config")
        node_type = types.get(kind) if isinstance(kind, str) else None
        if node_type is not None and node_type.execution is Execution.FOREACH:
            child = config.get("node") if isinstance(config, dict) else None
            if isinstance(child, dict) and _has_policy_check(child, types):
                yield child, f"{path}.config.node", node_id


def _has_policy_check(node: dict[str, Any], types: NodeTypes) -> bool:
    kind = node.get("type")
    node_type = types.get(kind) if isinstance(kind, str) else None
    return node_type is not None and node_type.policy_check is not None


def _event_triggers(document: Any) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(index, trigger, topic) of every event trigger naming a topic."""
    triggers = _spec(document).get("triggers")
    for index, trigger in enumerate(triggers if isinstance(triggers, list) else []):
        if not isinstance(trigger, dict):
            continue
        topic = trigger.get("topic")
        if trigger.get("type") == "event" and isinstance(topic, str):
            yield index, trigger, topic


def reserved_topic(topic: str, prefix: str) -> bool:
    """Whether `topic` is one of the platform's own (`<prefix>.runs`, `<prefix>.events`, …)."""
    return topic.startswith(f"{prefix}.")


def _node_problems(
    node: dict[str, Any], path: str, node_id: str | None, policy: PublishPolicy, types: NodeTypes
) -> list[Problem]:
    kind = node.get("type")
    node_type: NodeType | None = types.get(kind) if isinstance(kind, str) else None
    config = node.get("config", {})
    if node_type is None or node_type.policy_check is None or not isinstance(config, dict):
        return []
    found = []
    for problem in node_type.policy_check(config, policy):
        where = f"{path}.config.{problem.path}" if problem.path else f"{path}.config"
        message = problem.message
        if node_id is not None and f"node {node_id!r}" not in message:
            message = f"node {node_id!r}: {message}"
        found.append(replace(problem, path=where, message=message, node=node_id))
    return found
