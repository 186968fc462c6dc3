"""Where worker nodes and plugins may send requests, and how much of an answer they read.

`TIDEFLOW_EGRESS_*`. The defaults refuse what a workflow author should never reach from
inside the platform: its own listeners (gateway, Postgres, Kafka, Redis), link-local and
cloud metadata addresses, loopback (except under `tide dev`, where local services are the
point), and addresses that are not destinations at all (unspecified, multicast).
"""

from pydantic import ByteSize, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tideflow.settings._hosts import host_allowed

MIB = 1024 * 1024


class EgressSettings(BaseSettings):
    """Operators' allow/deny lists and the response cap of outgoing requests."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_EGRESS_", extra="ignore")

    allow_cidrs: list[str] = Field(
        default_factory=list,
        description="Networks reachable even when a default rule denies them (JSON list).",
    )
    deny_cidrs: list[str] = Field(
        default_factory=list, description="Networks never reachable; wins over every allow."
    )
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="Host names (`api.example.com`, `*.corp.example`) reachable whatever "
        "they resolve to, except denied networks and the platform's own listeners.",
    )
    deny_hosts: list[str] = Field(
        default_factory=list, description="Host names never reachable (same patterns)."
    )
    allow_loopback: bool = Field(
        default=False, description="Reach 127.0.0.0/8 and ::1 (`tide dev` turns this on)."
    )
    allow_private: bool = Field(
        default=True, description="Reach private networks (10/8, 172.16/12, 192.168/16, fc00::/7)."
    )
    protected: list[str] = Field(
        default_factory=list,
        description="More `host:port` listeners of this deployment to refuse, besides the "
        "database, Kafka, Redis and gateway addresses the settings name.",
    )
    response_bytes: ByteSize = Field(
        default=ByteSize(4 * MIB),
        ge=64 * 1024,
        description="Largest response body read through the egress-guarded transport, by "
        "every node and plugin (`ctx.http`, connectors, llm and agent providers, notify, "
        "webhook deliveries), counted as it streams, compressed and decoded; reading past it "
        "fails with `HttpResponseTooLarge` (`LlmResponseTooLarge` for a model call). At "
        "least 64 KiB; readers that keep only an answer's start (notify, webhook deliveries) "
        "keep what they read before it and do not fail.",
    )
    max_redirects: int = Field(default=5, ge=0, le=20)
    aws_endpoint_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts (`textract.vpce.example`, `*.corp.example`, `host:port`) a "
        "workflow's own `endpointUrl` (ocr) may name and still have its requests signed "
        "with the worker's AWS credentials; any other workflow-chosen endpoint needs the "
        "workflow's own credentials (as secrets).",
    )

    def aws_endpoint_allowed(self, url: str) -> bool:
        """Whether a workflow-chosen AWS endpoint may get the worker's signature."""
        return host_allowed(url, self.aws_endpoint_hosts)
