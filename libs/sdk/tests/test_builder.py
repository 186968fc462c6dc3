"""The Python builder emits the documents of examples/*.yaml, and the same rules judge it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tideflow.core import parse_definition
from tideflow.sdk import Retry, Tool, Workflow, WorkflowBuildError

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def hello() -> Workflow:
    return (
        Workflow("hello", annotations={
            "tideflow.io/description": "Greet someone and count the letters of their name."})
        .input_schema({"type": "object", "required": ["name"],
                       "properties": {"name": {"type": "string"}}})
        .transform("greet", value="Hello, {{ input.name }}!")
        .transform("measure", after="greet", value={
            "greeting": "{{ nodes.greet.output }}", "letters": "{{ size(input.name) }}"})
        .log("note", after="measure", message="greeted {{ input.name }}")
        .output("{{ nodes.measure.output }}")
    )  # fmt: skip


def book_trip() -> Workflow:
    flow = Workflow("book-trip")
    previous = None
    for what in ("flight", "hotel", "car"):
        flow.function(what, name=f"book_{what}", input="{{ input }}",
                      compensate=f"cancel-{what}", after=previous)  # fmt: skip
        previous = what
    flow.node("charge", "http", retry=Retry(max_attempts=2, non_retryable=["CardDeclined"]),
              config={"method": "POST", "url": "https://payments.example.com/charges",
                      "body": {"flight": "{{ nodes.flight.output.id }}",
                               "hotel": "{{ nodes.hotel.output.id }}"}},
              after="car")  # fmt: skip
    for what in ("flight", "hotel", "car"):
        flow.function(f"cancel-{what}", name=f"cancel_{what}",
                      input={"id": f"{{{{ nodes.{what}.output.id }}}}"})  # fmt: skip
    return flow


def thumbnails() -> Workflow:
    return (
        Workflow("thumbnails")
        .input_schema({"type": "object", "required": ["images"]})
        .vars(size=128)
        .foreach("resize", items="{{ input.images }}", concurrency=3, node_type="function",
                 item_queue="images", item_retry=Retry(max_attempts=2),
                 config={"name": "resize", "input": {"url": "{{ item }}",
                         "position": "{{ index }}", "size": "{{ vars.size }}"}})
        .set("count", vars={"done": "{{ size(nodes.resize.output) }}"}, after="resize")
        .output({"thumbnails": "{{ nodes.resize.output }}", "done": "{{ vars.done }}"})
    )  # fmt: skip


def github_repo() -> Workflow:
    return (
        Workflow("github-repo")
        .input_schema({"type": "object", "required": ["repo"]})
        .http("fetch", method="GET", url="https://api.github.com/repos/{{ input.repo }}",
              headers={"Authorization": "Bearer {{ secrets.github_token }}",
                       "Accept": "application/vnd.github+json"},
              queue="http", timeout="30s",
              retry=Retry(max_attempts=5, initial_interval="1s", backoff_coefficient=2,
                          max_interval=timedelta(minutes=1)))
        .transform("summary", after="fetch", value={
            "stars": "{{ nodes.fetch.output.body.stargazers_count }}",
            "popular": "{{ nodes.fetch.output.body.stargazers_count > 1000 }}"})
    )  # fmt: skip


def order_approval() -> Workflow:
    refuse = "order of {{ input.total }} refused: {{ nodes.approve.output.comment }}"
    return (
        Workflow("order-approval")
        .input_schema({"type": "object", "required": ["total"],
                       "properties": {"total": {"type": "number"}}})
        .condition("big", expr="input.total > 1000")
        .approval("approve", after="big", when="true", title="Order of {{ input.total }}",
                  description="Orders over 1000 need an approver.", role="approver",
                  wait_timeout="72h", on_timeout="reject")
        .log("auto", after="big", when="false", message="auto-approved {{ input.total }}")
        .function("book", join="any", after={"approve": "approve"}, name="book_order",
                  input={"total": "{{ input.total }}"})
        .log("refuse", after={"approve": "reject"}, message=refuse)
        .edge("auto", "book")
    )  # fmt: skip


def await_payment() -> Workflow:
    return (
        Workflow("await-payment")
        .function("invoice", name="send_invoice", input="{{ input }}")
        .signal("paid", name="payment-received", wait_timeout="24h",
                after="invoice")
        .delay("cool-off", duration="5m", after="paid")
        .function("receipt", name="send_receipt", after="cool-off",
                  input={"amount": "{{ nodes.paid.output.amount }}"})
    )  # fmt: skip


def invoice_intake() -> Workflow:
    invoice = "nodes.extract.output.json"
    fields = {name: f"{{{{ {invoice}.{name} }}}}" for name in ("number", "vendor", "amount",
                                                                "currency")}  # fmt: skip
    schema = {
        "type": "object", "required": ["number", "vendor", "amount", "currency"],
        "additionalProperties": False,
        "properties": {"number": {"type": "string", "minLength": 1},
                       "vendor": {"type": "string", "minLength": 1},
                       "amount": {"type": "number", "minimum": 0},
                       "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}},
    }  # fmt: skip
    insert = (
        "INSERT INTO invoices (number, vendor, amount, currency, document, run_id) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (number) DO UPDATE SET amount = "
        "EXCLUDED.amount, run_id = EXCLUDED.run_id RETURNING id"
    )
    system = (
        "You read invoices. Amounts are plain numbers: no currency sign, no thousands "
        "separator, a dot before the cents. Currencies are ISO 4217 codes."
    )
    prompt = (
        "Extract the invoice number, the vendor, the total amount and the currency.\n\n"
        "{{ nodes.scan.output.text }}"
    )
    saved_id = "{{ nodes.save.output.rows[0].id }}"
    return (
        Workflow("invoice-intake")
        .input_schema({"type": "object", "required": ["document", "erpUrl"],
                       "properties": {"document": {"type": "string", "pattern": "^s3://"},
                                      "erpUrl": {"type": "string"}}})
        .node("scan", "ocr", {"document": "{{ input.document }}", "features": ["FORMS"],
                              "pollInterval": "5s", "maxWait": "30m"})
        .llm("extract", after="scan", retry=Retry(max_attempts=3), model="openai/gpt-4o-mini",
             api_key_secret="openai", temperature=0, repair_attempts=2, system=system,
             prompt=prompt, output_schema=schema)
        .condition("big", after="extract", expr=f"double({invoice}.amount) > 1000.0")
        .approval("approve", after="big", when="true",
                  title=f"Invoice {fields['number']} from {fields['vendor']}",
                  description=f"{fields['amount']} {fields['currency']}",
                  wait_timeout="72h", on_timeout="reject")
        .database("save", join="any", compensate="unsave", after={"big": "false"},
                  connection_secret="books", statement=insert,
                  params=[*fields.values(), "{{ input.document }}", "{{ run.id }}"])
        .http("tell-erp", after="save", retry=Retry(max_attempts=3, initial_interval="2s"),
              method="POST", url="{{ input.erpUrl }}",
              body={"id": saved_id, "invoice": f"{{{{ {invoice} }}}}"})
        .log("refused", after={"approve": "reject"},
             message="invoice refused: {{ nodes.approve.output.comment }}")
        .database("unsave", connection_secret="books",
                  statement="DELETE FROM invoices WHERE id = $1", params=[saved_id])
        .edge("approve", "save", when="approve")
    )  # fmt: skip


BUILT = {
    "invoice-intake.yaml": invoice_intake,
    "hello.yaml": hello,
    "saga.yaml": book_trip,
    "foreach.yaml": thumbnails,
    "http-call.yaml": github_repo,
    "order-approval.yaml": order_approval,
    "signal-wait.yaml": await_payment,
}


@pytest.mark.parametrize("example", sorted(BUILT))
def test_building_an_example_gives_its_document(example: str) -> None:
    written = yaml.safe_load((EXAMPLES / example).read_text())
    built = BUILT[example]().to_definition()
    assert built == written
    assert parse_definition(built) == parse_definition(written)


def test_every_yaml_example_has_a_python_twin() -> None:
    """A new example gets its builder version here, so the builder keeps up with them."""
    workflows = {p.name for p in EXAMPLES.glob("*.yaml")
                 if yaml.safe_load(p.read_text()).get("kind") == "Workflow"}  # fmt: skip
    assert workflows - set(BUILT) == set()


def test_problems_are_the_validators_and_name_the_node() -> None:
    flow = (
        Workflow("broken")
        .transform("a", value=1)
        .node("b", "nope", after="a")
        .condition("c", expr="input.x >", after="a")
        .edge("c", "ghost", when=True)
    )
    with pytest.raises(WorkflowBuildError) as raised:
        flow.to_definition()
    codes = {p.code for p in raised.value.problems}
    assert {"UNKNOWN_NODE_TYPE", "DANGLING_EDGE"} <= codes
    assert "workflow 'broken' is not valid:" in str(raised.value)
    assert flow.validate() == raised.value.problems
    assert flow.to_definition(types=None)["spec"]["edges"][-1] == {
        "from": "c", "to": "ghost", "when": "true"}  # fmt: skip


def test_a_node_id_is_taken_once() -> None:
    flow = Workflow("twice").transform("a", value=1)
    with pytest.raises(ValueError, match="already has a node 'a'"):
        flow.log("a", message="again")


def test_node_options_and_triggers_use_the_document_names() -> None:
    doc: dict[str, Any] = (
        Workflow("opts", description="d", labels={"team": "x"})
        .webhook("upload", secret="HOOK", idempotency_key="{{ body.id }}")
        .cron("nightly", "0 2 * * *", timezone="Europe/Berlin")
        .function("f", name="t", heartbeat_timeout=timedelta(seconds=30), title="F",
                  schedule_to_start_timeout="1m", idempotency_key="{{ run.id }}")
        .llm("ask", model="openai/gpt-4o-mini", prompt="hi {{ input }}", after="f",
             output_schema={"type": "object"}, max_tokens=20)
        .to_definition()
    )  # fmt: skip
    assert doc["metadata"] == {"name": "opts", "description": "d", "labels": {"team": "x"}}
    assert doc["spec"]["triggers"] == [
        {"id": "upload", "type": "webhook", "secret": "HOOK", "idempotencyKey": "{{ body.id }}"},
        {"id": "nightly", "type": "cron", "schedule": "0 2 * * *", "timezone": "Europe/Berlin"},
    ]
    function, ask = doc["spec"]["nodes"]
    assert function == {"id": "f", "type": "function", "name": "F",
                        "config": {"name": "t", "heartbeatTimeout": "30s"},
                        "scheduleToStartTimeout": "1m",
                        "idempotencyKey": "{{ run.id }}"}  # fmt: skip
    assert ask["config"] == {"model": "openai/gpt-4o-mini", "prompt": "hi {{ input }}",
                             "outputSchema": {"type": "object"}, "maxTokens": 20}  # fmt: skip


def test_an_agent_with_tools() -> None:
    doc = (
        Workflow("helper")
        .agent("ask", model="openai/m", prompt="{{ input.q }}", max_iterations=4,
               time_budget=timedelta(minutes=2), tools=[
                   Tool("look", "Look it up.", {"type": "object"}, task="lookup"),
                   {"name": "sub", "description": "Run it.", "workflow": "child"}])
        .to_definition()
    )  # fmt: skip
    config = doc["spec"]["nodes"][0]["config"]
    assert config["tools"][0] == {"name": "look", "description": "Look it up.",
                                  "inputSchema": {"type": "object"}, "task": "lookup"}  # fmt: skip
    assert (config["maxIterations"], config["timeBudget"]) == (4, "2m")
