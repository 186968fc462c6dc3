"""`ocr`: text, lines, key-value pairs and tables of a document (AWS Textract), in a worker.

Single images and pages go through the synchronous API; multi-page PDFs (in S3) start an
asynchronous job that the engine polls on durable timers, so no worker waits for it.
Output `{text, lines, keyValues, tables, pages}`.
"""

from typing import Literal, Self

from pydantic import Field, model_validator

from tideflow.core._durations import Duration
from tideflow.core._templates import is_template
from tideflow.core.nodes._base import Execution, NodeConfig, NodeType


class OcrConfig(NodeConfig):
    """`document`: `s3://bucket/key`, or the document's bytes in base64 (a template)."""

    document: str = Field(min_length=1, description="s3://bucket/key or base64 bytes")
    features: list[Literal["FORMS", "TABLES"]] = Field(
        default_factory=list, description="FORMS: key-value pairs; TABLES: tables"
    )
    mode: Literal["auto", "sync", "async"] = Field(
        default="auto", description="auto: async for PDF and TIFF objects in S3, else sync"
    )
    region: str | None = None
    endpoint_url: str | None = Field(default=None, description="another Textract endpoint")
    poll_interval: Duration | None = Field(default=None, description="between polls (5s)")
    max_wait: Duration | None = Field(default=None, description="give an async job this long")

    @model_validator(mode="after")
    def _async_reads_s3(self) -> Self:
        """Textract's asynchronous API reads only S3: refuse inline bytes at publish time
        rather than fail every run (a template may still resolve to an s3:// URL)."""
        literal = "{{" not in self.document and not is_template(self.document)
        if self.mode == "async" and literal and not self.document.startswith("s3://"):
            msg = "mode async needs the document in S3 (s3://bucket/key), not inline bytes"
            raise ValueError(msg)
        return self


NODE_TYPE = NodeType(
    name="ocr",
    execution=Execution.DISPATCH,
    config_model=OcrConfig,
    description="Read a document's text, key-value pairs and tables (AWS Textract).",
)
