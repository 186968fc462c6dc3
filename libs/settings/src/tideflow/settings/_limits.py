"""Size and shape limits on what the platform accepts, one place for every service.

`TIDEFLOW_LIMITS_*`: the gateway refuses a request beyond them (413/422 with a stable
code) before anything is stored; the engine applies its own (step output, event size,
foreach, subworkflow depth) from the same class, so an operator finds every limit under
one prefix. Sizes accept bytes or units (`64KiB`, `1MiB`, `8MB`).
"""

from datetime import timedelta

from pydantic import ByteSize, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tideflow.settings._duration import Duration

KIB = 1024
MIB = 1024 * KIB


class LimitsSettings(BaseSettings):
    """What one request, definition, input or answer may be at most."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_LIMITS_", extra="ignore")

    request_bytes: ByteSize = Field(
        default=ByteSize(8 * MIB),
        gt=0,
        description="Largest request body; refused from Content-Length or while streaming.",
    )
    json_depth: int = Field(
        default=64, ge=2, le=200, description="Deepest nesting of any JSON value accepted."
    )
    definition_bytes: ByteSize = Field(
        default=ByteSize(1 * MIB), gt=0, description="Largest workflow definition (as JSON)."
    )
    definition_nodes: int = Field(default=500, ge=1, description="Most nodes in a definition.")
    input_bytes: ByteSize = Field(
        default=ByteSize(1 * MIB), gt=0, description="Largest run input (as JSON)."
    )
    signal_bytes: ByteSize = Field(
        default=ByteSize(256 * KIB), gt=0, description="Largest signal data (as JSON)."
    )
    view_value_bytes: ByteSize = Field(
        default=ByteSize(64 * KIB),
        gt=0,
        description="A value (input, output, error) larger than this is shown truncated in "
        "a run answer, with a link to the whole value.",
    )
    view_bytes: ByteSize = Field(
        default=ByteSize(4 * MIB),
        gt=0,
        description="Budget of values in one run answer; beyond it values are links only.",
    )
    value_bytes: ByteSize = Field(
        default=ByteSize(16 * MIB),
        gt=0,
        description="Largest single value the API answers with (the link of a truncated one).",
    )
    # -- engine side: what a run may write into its own log ------------------------------
    output_bytes: ByteSize = Field(
        default=ByteSize(1 * MIB),
        gt=0,
        description="Largest step output (worker result or inline node) stored in the log.",
    )
    event_bytes: ByteSize = Field(
        default=ByteSize(4 * MIB),
        gt=0,
        description="Largest rendered step config and `spec.vars`; with the output, "
        "input, signal and foreach limits it bounds every event a run writes.",
    )
    foreach_items: int = Field(
        default=10_000, ge=1, description="Most items one foreach step may run."
    )
    foreach_output_bytes: ByteSize = Field(
        default=ByteSize(4 * MIB),
        gt=0,
        description="Largest combined output (the list of item outputs) of a foreach step.",
    )
    subworkflow_depth: int = Field(
        default=10,
        ge=1,
        description="Deepest nesting of child runs; a deeper subworkflow step fails.",
    )
    expression_bytes: ByteSize = Field(
        default=ByteSize(1 * MIB),
        gt=0,
        description="Largest value one expression or template may produce (as JSON).",
    )
    expression_work_bytes: ByteSize = Field(
        default=ByteSize(64 * MIB),
        gt=0,
        description="Budget of bytes one expression may build while it is evaluated "
        "(strings and lists inside comprehensions); beyond it the step fails.",
    )
    schedule_to_start_timeout: Duration = Field(
        default=timedelta(minutes=10),
        description="How long a dispatched step may wait for a worker to start it before it "
        "fails (`ScheduleToStartTimeout`); a node's `scheduleToStartTimeout` overrides it.",
    )
