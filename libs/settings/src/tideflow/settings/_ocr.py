"""Which S3 documents the `ocr` node may have Textract read with the worker's own AWS
credentials (`TIDEFLOW_OCR_*`).

Textract reads an S3 object with the permissions of whoever signs the request. Signed
with the worker's credentials, any workflow of any tenant could have it read (and so
read the text of) any object the worker's role can read; so the worker's credentials
read only the buckets listed here, and a workflow that needs another bucket brings its
own credentials (as secrets).
"""

import re

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_RULE = re.compile(
    r"(?:(?P<tenant>[a-z0-9][a-z0-9_-]{0,62}):)?"
    r"(?P<bucket>\*|(?:[0-9A-Za-z._-]|\{tenant\})+)"
    r"(?:/(?P<prefix>.*))?"
)


def s3_source_rule(entry: str) -> tuple[str | None, str, str]:
    """`[tenant:]bucket[/folder]` -> (tenant or None for every tenant, bucket or `*`,
    folder ending in `/`, or "" for the whole bucket); `{tenant}` stays a placeholder."""
    found = _RULE.fullmatch(entry.strip())
    if found is None:
        msg = (
            f"{entry!r} is not [tenant:]bucket[/folder] (bucket: a name, `*` or a name "
            "with {tenant}; tenant: a tenant name)"
        )
        raise ValueError(msg)
    folder = (found["prefix"] or "").strip("/")
    return found["tenant"], found["bucket"], f"{folder}/" if folder else ""


class OcrSettings(BaseSettings):
    """The S3 locations the worker's own AWS credentials may be used to read."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_OCR_", extra="ignore")

    s3_buckets: list[str] = Field(
        default_factory=list,
        description="S3 locations an `ocr` node may have Textract read with the worker's "
        "AWS credentials (JSON list): `bucket`, `tenant:bucket`, `bucket/folder`, with "
        "`{tenant}` standing for the run's tenant and `*` for any bucket. Every other "
        "document in S3 needs the node's own credentials (OcrSourceNotAllowed).",
    )

    @field_validator("s3_buckets")
    @classmethod
    def _rules_parse(cls, entries: list[str]) -> list[str]:
        """A malformed entry stops the worker at start, not every run that reads S3."""
        for entry in entries:
            s3_source_rule(entry)
        return entries
