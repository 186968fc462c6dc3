"""Which S3 objects the `ocr` node may hand to Textract signed with the worker's own AWS
credentials: the operator's `TIDEFLOW_OCR_S3_BUCKETS`, per tenant.

Textract reads an S3 object with the signer's permissions, so an object read with the
worker's credentials is one any workflow could ask for; only the locations the operator
lists for the run's tenant are. A folder rule matches whole path segments
(`docs/acme` allows `docs/acme/x`, not `docs/acme-old/x`), and a key with a `.` or `..`
segment never matches one, whatever a service in between might make of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tideflow.settings import s3_source_rule

if TYPE_CHECKING:
    from collections.abc import Iterable

TENANT = "{tenant}"


@dataclass(frozen=True, slots=True)
class S3Rule:
    """One entry: for `tenant` (None: every tenant), `bucket` (`*`: any), keys under
    `folder` ("" : the whole bucket); `{tenant}` is replaced by the run's tenant."""

    tenant: str | None
    bucket: str
    folder: str

    def allows(self, tenant: str, bucket: str, key: str) -> bool:
        if self.tenant is not None and self.tenant != tenant:
            return False
        if self.bucket != "*" and self.bucket.replace(TENANT, tenant) != bucket:
            return False
        if not self.folder:
            return True
        inside = key.startswith(self.folder.replace(TENANT, tenant))
        return inside and not {".", ".."} & set(key.split("/"))


@dataclass(frozen=True, slots=True)
class S3Sources:
    """The operator's rules; `allows` answers for one run's tenant and one object."""

    rules: tuple[S3Rule, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> S3Sources:
        """Raises ValueError naming a malformed entry."""
        return cls(tuple(S3Rule(*s3_source_rule(entry)) for entry in entries))

    def allows(self, tenant: str, bucket: str, key: str) -> bool:
        return any(rule.allows(tenant, bucket, key) for rule in self.rules)
