"""Plugin objects for the registry tests, named by fake entry points."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tideflow.plugins import NodeTypeSpec, Runs


def upper(config: dict[str, Any]) -> dict[str, Any]:
    return {"text": str(config["text"]).upper()}


def crash(config: dict[str, Any]) -> Any:
    raise RuntimeError(f"cannot handle {config['text']}")


def wrong_output(config: dict[str, Any]) -> Any:
    return {"text": 42}


SCHEMA = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
UPPER = NodeTypeSpec(name="t.upper", runs=Runs.INLINE, handler=upper, config_schema=SCHEMA)
CRASH = NodeTypeSpec(name="t.crash", runs=Runs.INLINE, handler=crash, config_schema=SCHEMA)
WRONG = NodeTypeSpec(
    name="t.wrong", runs=Runs.INLINE, handler=wrong_output, config_schema=SCHEMA,
    output_schema={"type": "object", "properties": {"text": {"type": "string"}}},
)  # fmt: skip
BAD_SCHEMA = NodeTypeSpec(
    name="t.bad_schema", runs=Runs.WORKER, handler=upper, config_schema={"type": "nonsense"}
)
BAD_NAME = NodeTypeSpec(name="Bad Name", runs=Runs.WORKER, handler=upper, config_schema=SCHEMA)
TAKEN = NodeTypeSpec(name="http", runs=Runs.WORKER, handler=upper, config_schema=SCHEMA)
NOT_A_SPEC = {"name": "t.dict"}


def factory() -> list[NodeTypeSpec]:
    return [UPPER, CRASH]


def failing_factory() -> list[NodeTypeSpec]:
    raise ValueError("the factory broke")


class UnfinishedModel(BaseModel):
    """A forward reference never resolved: pydantic fails only when the model is used."""

    text: Undefined  # type: ignore[name-defined]  # noqa: F821


LIST_NAME = NodeTypeSpec(name=["t", "x"], runs=Runs.INLINE, handler=upper, config_schema=SCHEMA)  # type: ignore[arg-type]
UNFINISHED_MODEL = NodeTypeSpec(
    name="t.unfinished", runs=Runs.INLINE, handler=upper, config_model=UnfinishedModel
)
BROKEN_REF = NodeTypeSpec(
    name="t.broken_ref", runs=Runs.INLINE, handler=upper,
    config_schema={"type": "object", "properties": {"text": {"$ref": "#/$defs/txet"}},
                   "$defs": {"text": {"type": "string"}}},
)  # fmt: skip
BROKEN_OUTPUT_REF = NodeTypeSpec(
    name="t.broken_output_ref", runs=Runs.INLINE, handler=upper, config_schema=SCHEMA,
    output_schema={"$ref": "other.json"},
)  # fmt: skip
GOOD_REF = NodeTypeSpec(
    name="t.good_ref", runs=Runs.INLINE, handler=upper,
    config_schema={"$id": "https://acme.example/t.json", "type": "object",
                   "properties": {"text": {"$ref": "#/$defs/text"}},
                   "$defs": {"text": {"type": "string"}}},
)  # fmt: skip
BOTH_SCHEMAS = NodeTypeSpec(
    name="t.both", runs=Runs.INLINE, handler=upper, config_schema=SCHEMA,
    config_model=UnfinishedModel,
)  # fmt: skip
