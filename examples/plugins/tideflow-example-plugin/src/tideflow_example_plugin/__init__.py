"""Two node types, declared through the `tideflow.node_types` entry point (pyproject.toml).

`example.slugify` runs inline in the scheduler: a pure function of its rendered config.
`example.digest` runs in a worker: it may read the tenant's secrets (here a key for an
HMAC) and log into the step's log, and it fails with a `NodeError` for bad input.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Any

from tideflow.plugins import NodeContext, NodeError, NodeTypeSpec, Runs

_NOT_WORD = re.compile(r"[^a-z0-9]+")


def slugify(config: dict[str, Any]) -> dict[str, Any]:
    """`Hello, Wörld!` -> `hello-world`."""
    separator = config.get("separator", "-")
    text = unicodedata.normalize("NFKD", str(config["text"]))
    ascii_text = text.encode("ascii", "ignore").decode().lower()
    return {"slug": _NOT_WORD.sub(separator, ascii_text).strip(separator)}


async def digest(config: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
    """A hex digest of `text`; keyed (HMAC) with the secret `secret` names, when given."""
    algorithm = config.get("algorithm", "sha256")
    data = str(config["text"]).encode()
    if config.get("secret"):
        key = ctx.secret(config["secret"]).encode()
        value = hmac.new(key, data, algorithm).hexdigest()
    else:
        value = hashlib.new(algorithm, data).hexdigest()
    if config.get("expect") is not None and config["expect"] != value:
        raise NodeError("the digest does not match `expect`", type="DigestMismatch")
    ctx.logger.info("digest of %d bytes with %s", len(data), algorithm)
    return {"digest": value, "algorithm": algorithm}


SLUGIFY = NodeTypeSpec(
    name="example.slugify",
    runs=Runs.INLINE,
    handler=slugify,
    title="Slugify",
    description="Turn a text into a URL slug (evaluated by the scheduler).",
    icon="🔗",
    category="examples",
    config_schema={
        "type": "object",
        "required": ["text"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "description": "The text; templates allowed."},
            "separator": {"type": "string", "minLength": 1, "maxLength": 3, "default": "-"},
        },
    },
    output_schema={
        "type": "object",
        "required": ["slug"],
        "properties": {"slug": {"type": "string"}},
    },
)

DIGEST = NodeTypeSpec(
    name="example.digest",
    runs=Runs.WORKER,
    handler=digest,
    title="Digest",
    description="Hash a text in a worker (HMAC with a secret when one is named).",
    icon="#️⃣",
    category="examples",
    config_schema={
        "type": "object",
        "required": ["text"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string"},
            "algorithm": {"enum": ["sha256", "sha512", "md5"], "default": "sha256"},
            "secret": {"type": "string", "description": "Name of a secret to key the hash."},
            "expect": {"type": "string", "description": "Fail unless the digest equals this."},
        },
    },
    output_schema={
        "type": "object",
        "required": ["digest", "algorithm"],
        "properties": {"digest": {"type": "string"}, "algorithm": {"type": "string"}},
    },
)

NODE_TYPES = [SLUGIFY, DIGEST]
"""What the entry point names: Tideflow loads every spec in the list."""
