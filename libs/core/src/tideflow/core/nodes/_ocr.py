"""`ocr`: text, lines, key-value pairs and tables of a document (AWS Textract), in a worker.

Single images and pages go through the synchronous API; multi-page PDFs (in S3) start an
asynchronous job that the engine polls on durable timers, so no worker waits for it.
Output `{text, lines, keyValues, tables, pages}`.

The worker's own AWS credentials sign every request; a workflow that names its own
`endpointUrl` brings its own credentials (as secrets) unless the operator allows that
endpoint's host, so no workflow can send the worker's signature to a host it picks. An S3
document is read with the signer's permissions, so the worker's credentials read only the
locations the operator allows for the run's tenant (`TIDEFLOW_OCR_S3_BUCKETS`).
"""

from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import Field, ValidationError, model_validator

from tideflow.core._durations import Duration
from tideflow.core._errors import Problem, ProblemCode
from tideflow.core._templates import is_template
from tideflow.core.nodes._base import Execution, NodeConfig, NodeType

if TYPE_CHECKING:
    from tideflow.core._policy import PublishPolicy


class OcrConfig(NodeConfig):
    """`document`: `s3://bucket/key`, or the document's bytes in base64 (a template)."""

    document: str = Field(
        min_length=1,
        description="s3://bucket/key or base64 bytes; without the node's own credentials, "
        "S3 only in the locations the operator allows (TIDEFLOW_OCR_S3_BUCKETS)",
    )
    features: list[Literal["FORMS", "TABLES"]] = Field(
        default_factory=list, description="FORMS: key-value pairs; TABLES: tables"
    )
    mode: Literal["auto", "sync", "async"] = Field(
        default="auto", description="auto: async for PDF and TIFF objects in S3, else sync"
    )
    region: str | None = None
    endpoint_url: str | None = Field(
        default=None,
        description="another Textract endpoint: needs the workflow's own credentials "
        "(accessKeyIdSecret, secretAccessKeySecret) unless the operator allows its host "
        "(TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS)",
    )
    access_key_id_secret: str | None = Field(
        default=None, min_length=1, description="the secret holding an AWS access key id"
    )
    secret_access_key_secret: str | None = Field(
        default=None, min_length=1, description="the secret holding its secret access key"
    )
    session_token_secret: str | None = Field(
        default=None, min_length=1, description="the secret holding a session token (optional)"
    )
    poll_interval: Duration | None = Field(default=None, description="between polls (5s)")
    max_wait: Duration | None = Field(default=None, description="give an async job this long")

    @model_validator(mode="after")
    def _credentials_come_in_pairs(self) -> Self:
        """A key id without its secret (or a session token without both) cannot sign."""
        pair = (self.access_key_id_secret, self.secret_access_key_secret)
        if (pair[0] is None) != (pair[1] is None):
            msg = "accessKeyIdSecret and secretAccessKeySecret go together"
            raise ValueError(msg)
        if self.session_token_secret is not None and pair[0] is None:
            msg = "sessionTokenSecret needs accessKeyIdSecret and secretAccessKeySecret"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _async_reads_s3(self) -> Self:
        """Textract's asynchronous API reads only S3: refuse inline bytes at publish time
        rather than fail every run (a template may still resolve to an s3:// URL)."""
        literal = "{{" not in self.document and not is_template(self.document)
        if self.mode == "async" and literal and not self.document.startswith("s3://"):
            msg = "mode async needs the document in S3 (s3://bucket/key), not inline bytes"
            raise ValueError(msg)
        return self


def endpoint_problems(config: dict[str, Any], policy: "PublishPolicy") -> list[Problem]:
    """A workflow-chosen `endpointUrl` without the node's own credentials, unless the
    operator allows its host: the worker refuses it at run time (`OcrEndpointNotAllowed`),
    so it is refused when the definition is written. A templated endpoint is refused only
    when no host at all is allowed (it could resolve to an allowed one otherwise)."""
    try:
        parsed = OcrConfig.model_validate(config)
    except ValidationError:
        return []  # the config's own problems are reported by the validator
    endpoint = parsed.endpoint_url
    if not endpoint or parsed.access_key_id_secret is not None:
        return []
    templated = "{{" in endpoint or is_template(endpoint)
    hosts = policy.aws_endpoint_hosts
    if (templated and hosts) or (not templated and policy.aws_endpoint_allowed(endpoint)):
        return []
    allowed = f" (allowed: {', '.join(hosts)})" if hosts else " (the operator allows none)"
    message = (
        "a workflow-chosen endpointUrl needs the node's own credentials "
        "(accessKeyIdSecret and secretAccessKeySecret): the worker's AWS credentials are "
        "sent only to hosts the operator lists in TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS" + allowed
    )
    return [Problem(ProblemCode.OCR_ENDPOINT_NOT_ALLOWED, message, "endpointUrl")]


NODE_TYPE = NodeType(
    name="ocr",
    execution=Execution.DISPATCH,
    config_model=OcrConfig,
    policy_check=endpoint_problems,
    description="Read a document's text, key-value pairs and tables (AWS Textract).",
)
