"""`ocr` nodes: AWS Textract through aioboto3.

A document in base64 (or an image in S3) is read with the synchronous API in one attempt.
A PDF or TIFF in S3 (or `mode: async`) starts an asynchronous job; the attempt returns
`StepPending` with the job id, and the engine runs the node again on a durable timer until
the job has finished, so no worker waits for Textract. The job is started with a client
request token derived from the run and the node, so an attempt that runs twice does not
start a second job.

Throttling, Textract's server errors and lost connections are retryable; a document
Textract cannot read, a bad parameter, missing credentials and a failed job are not.

Requests are signed with the worker's own AWS credentials unless the node brings its
own (secrets named by `accessKeyIdSecret` and `secretAccessKeySecret`). An `endpointUrl`
chosen by the workflow receives those signed requests, so it is only used with the
node's own credentials, or when the operator allows its host
(`TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS`); otherwise the step fails with
`OcrEndpointNotAllowed` before any request is made. A signature is not the key, but it
is a replayable authorization for a while, and it tells who the worker is.

Textract reads an S3 document with the permissions of the request's signer. Signed with
the worker's credentials, a workflow of any tenant could read the text of any object the
worker's role can read; so the worker's credentials read only the S3 locations the
operator allows for the run's tenant (`TIDEFLOW_OCR_S3_BUCKETS`), and any other S3
document needs the node's own credentials, or the attempt fails with
`OcrSourceNotAllowed` before any request (every attempt, polls of a running job too).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from tideflow.nodes._egress import EgressDenied, EgressPolicy, check_url
from tideflow.nodes._handler import StepFailure, StepOutcome, StepPending, StepSuccess, TaskSpec
from tideflow.nodes._ocr_sources import S3Sources
from tideflow.nodes._textract import read_blocks
from tideflow.settings import EgressSettings, OcrSettings, host_allowed, parse_duration

if TYPE_CHECKING:
    from collections.abc import Iterable

    import aioboto3
    from aiobotocore.config import AioConfig

    from tideflow.nodes._llm import SecretLookup

DEFAULT_POLL = timedelta(seconds=5)
DEFAULT_MAX_WAIT = timedelta(minutes=30)
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
"""Textract's limit for documents sent inline."""
ASYNC_SUFFIXES = (".pdf", ".tif", ".tiff")
BUCKET = re.compile(r"[0-9A-Za-z._-]{1,255}")
"""Textract's pattern for `S3Object.Bucket`: a name, never an ARN or an access point."""
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException", "ProvisionedThroughputExceededException",
        "InternalServerError", "LimitExceededException", "ServiceUnavailable",
        "RequestTimeout", "RequestTimeoutException",
    }
)  # fmt: skip


@cache
def client_config() -> AioConfig:
    """No retries inside the client: the node's retry policy retries, durably and visibly."""
    from aiobotocore.config import AioConfig  # noqa: PLC0415 - see `_new_session`

    return AioConfig(
        retries={"mode": "standard", "max_attempts": 1}, connect_timeout=10, read_timeout=60
    )


def _new_session() -> aioboto3.Session:
    """A boto session, imported on first use: importing aioboto3 takes seconds, and every
    executor (and `tide dev`) would pay it at start even when no workflow reads a document."""
    import aioboto3  # noqa: PLC0415

    return aioboto3.Session()


MAX_RESULT_PAGES = 1000
"""NextToken pages read of one job's result (a guard against a token that never ends)."""


class OcrHandler:
    node_type = "ocr"

    def __init__(
        self,
        *,
        policy: EgressPolicy | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: aioboto3.Session | None = None,
        secrets: SecretLookup | None = None,
        endpoint_hosts: Iterable[str] | None = None,
        s3_buckets: Iterable[str] | None = None,
    ) -> None:
        """`endpoint_url` is the operator's (trusted); `endpoint_hosts` the hosts a
        workflow's own `endpointUrl` may name with the worker's credentials; `s3_buckets`
        the S3 locations (`TIDEFLOW_OCR_S3_BUCKETS` entries) they may read."""
        settings = EgressSettings()
        self._policy = policy or EgressPolicy.from_settings(settings)
        self._region = region
        self._endpoint_url = endpoint_url
        self._session = session
        self._secrets = secrets
        hosts = settings.aws_endpoint_hosts if endpoint_hosts is None else endpoint_hosts
        self._endpoint_hosts = tuple(hosts)
        buckets = OcrSettings().s3_buckets if s3_buckets is None else s3_buckets
        self._sources = S3Sources.parse(buckets)

    async def run(self, task: TaskSpec) -> StepOutcome:
        try:
            return await self._run(task)
        except _RefusedError as e:
            return StepFailure(e.error_type, str(e), retryable=False)
        except EgressDenied as e:
            return StepFailure("EgressDenied", f"endpointUrl: {e}", retryable=False)
        except ClientError as e:
            return _client_failure(e)
        except (NoCredentialsError, NoRegionError) as e:
            return _configuration_failure(e)
        except BotoCoreError as e:  # connection and endpoint trouble
            return StepFailure("OcrConnectionError", str(e), retryable=True)

    async def _run(self, task: TaskSpec) -> StepOutcome:
        config = task.config
        credentials = await self._credentials(task)
        document = _document(str(config.get("document", "")))
        if "S3Object" in document and not credentials:
            self._check_worker_may_read(task.tenant_id, document["S3Object"])
        chosen = config.get("endpointUrl") or None
        if chosen is not None and not credentials:
            self._check_worker_may_sign_for(str(chosen))
        endpoint = chosen or self._endpoint_url
        if endpoint:
            await check_url(self._policy, str(endpoint))
        if self._session is None:
            self._session = _new_session()
        async with self._session.client(
            "textract", region_name=config.get("region") or self._region,
            endpoint_url=endpoint or None, config=client_config(),
            aws_access_key_id=credentials.get("aws_access_key_id"),
            aws_secret_access_key=credentials.get("aws_secret_access_key"),
            aws_session_token=credentials.get("aws_session_token"),
        ) as client:  # fmt: skip
            if task.poll_state:
                return await _poll(client, task)
            if _is_async(config, document):
                return await _start(client, task, document)
            return await _sync(client, config, document)

    async def _credentials(self, task: TaskSpec) -> dict[str, str]:
        """The node's own AWS credentials as client arguments; {} for the worker's."""
        config = task.config
        names = {
            "aws_access_key_id": config.get("accessKeyIdSecret"),
            "aws_secret_access_key": config.get("secretAccessKeySecret"),
            "aws_session_token": config.get("sessionTokenSecret"),
        }
        if not any(names.values()):
            return {}
        found = await self._secrets.secrets(task.tenant_id) if self._secrets else {}
        credentials: dict[str, str] = {}
        for argument, name in names.items():
            if not name:
                continue
            value = found.get(str(name))
            if value is None:
                msg = f"there is no secret named {name!r}"
                raise _RefusedError("SecretNotFound", msg)
            credentials[argument] = value
        if "aws_secret_access_key" not in credentials or "aws_access_key_id" not in credentials:
            msg = "accessKeyIdSecret and secretAccessKeySecret go together"
            raise _RefusedError("OcrInvalidConfig", msg)
        return credentials

    def _check_worker_may_read(self, tenant: str, location: dict[str, str]) -> None:
        """Refuse an S3 document the worker's credentials may not read for this tenant:
        Textract would read it with the worker's permissions, not the workflow's."""
        bucket, key = location["Bucket"], location["Name"]
        if self._sources.allows(tenant, bucket, key):
            return
        msg = (
            f"s3://{bucket}/{key}: the worker's AWS credentials read only the S3 locations "
            f"the operator allows for tenant {tenant!r} (TIDEFLOW_OCR_S3_BUCKETS); give the "
            "node its own credentials (accessKeyIdSecret, secretAccessKeySecret) to read it"
        )
        raise _RefusedError("OcrSourceNotAllowed", msg)

    def _check_worker_may_sign_for(self, endpoint: str) -> None:
        """Refuse a workflow-chosen endpoint the worker's own signature may not go to."""
        if host_allowed(endpoint, self._endpoint_hosts):
            return
        msg = (
            "endpointUrl: a workflow-chosen endpoint needs the node's own credentials "
            "(accessKeyIdSecret, secretAccessKeySecret), or its host in "
            "TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS; the worker's credentials are not sent there"
        )
        raise _RefusedError("OcrEndpointNotAllowed", msg)


class _RefusedError(Exception):
    """A config the worker will not run as given; retrying cannot change that."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class _InvalidError(_RefusedError):
    """A document Textract cannot be given."""

    def __init__(self, message: str) -> None:
        super().__init__("OcrInvalidDocument", message)


def _configuration_failure(error: NoCredentialsError | NoRegionError) -> StepFailure:
    """The worker's AWS setup is incomplete: retrying cannot help, so neither is retried."""
    if isinstance(error, NoCredentialsError):
        return StepFailure("OcrNoCredentials", str(error), retryable=False)
    msg = f"{error} (set the node's region, or AWS_REGION for the worker)"
    return StepFailure("OcrNoRegion", msg, retryable=False)


def _document(value: str) -> dict[str, Any]:
    """Textract's `Document`: an S3 object, or bytes from base64."""
    if value.startswith("s3://"):
        bucket, _, key = value.removeprefix("s3://").partition("/")
        if not BUCKET.fullmatch(bucket) or not key:
            msg = f"{value!r} is not s3://bucket/key"
            raise _InvalidError(msg)
        return {"S3Object": {"Bucket": bucket, "Name": key}}
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        msg = f"document is neither s3://bucket/key nor base64: {e}"
        raise _InvalidError(msg) from e
    if not data:
        msg = "the document is empty"
        raise _InvalidError(msg)
    if len(data) > MAX_DOCUMENT_BYTES:
        msg = f"a document sent inline may be at most {MAX_DOCUMENT_BYTES} bytes; use S3"
        raise _InvalidError(msg)
    return {"Bytes": data}


def _is_async(config: dict[str, Any], document: dict[str, Any]) -> bool:
    mode = config.get("mode", "auto")
    if mode == "async" and "S3Object" not in document:
        msg = "mode async needs the document in S3 (s3://bucket/key)"
        raise _InvalidError(msg)
    if mode != "auto":
        return bool(mode == "async")
    name = str(document.get("S3Object", {}).get("Name", "")).lower()
    return name.endswith(ASYNC_SUFFIXES)


async def _sync(client: Any, config: dict[str, Any], document: dict[str, Any]) -> StepOutcome:
    features = list(config.get("features") or [])
    if features:
        answer = await client.analyze_document(Document=document, FeatureTypes=features)
    else:
        answer = await client.detect_document_text(Document=document)
    return StepSuccess(read_blocks(list(answer.get("Blocks", []))))


async def _start(client: Any, task: TaskSpec, document: dict[str, Any]) -> StepOutcome:
    location = {"S3Object": document["S3Object"]}
    token = hashlib.sha256(f"{task.run_id}/{task.node_id}".encode()).hexdigest()[:64]
    features = list(task.config.get("features") or [])
    if features:
        started = await client.start_document_analysis(
            DocumentLocation=location, FeatureTypes=features, ClientRequestToken=token,
        )  # fmt: skip
    else:
        started = await client.start_document_text_detection(
            DocumentLocation=location, ClientRequestToken=token,
        )  # fmt: skip
    state = {
        "jobId": started["JobId"],
        "api": "analysis" if features else "text",
        "startedAt": datetime.now(UTC).isoformat(),
        "polls": 0,
    }
    return StepPending(_interval(task.config), state)


async def _poll(client: Any, task: TaskSpec) -> StepOutcome:
    state = dict(task.poll_state)
    job = str(state["jobId"])
    get = (
        client.get_document_analysis
        if state.get("api") == "analysis"
        else client.get_document_text_detection
    )
    blocks: list[Any] = []
    token: str | None = None
    for _ in range(MAX_RESULT_PAGES):
        page = await get(JobId=job, **({"NextToken": token} if token else {}))
        status = page.get("JobStatus")
        if status == "IN_PROGRESS":
            return _still_running(task, state)
        if status == "FAILED":
            message = page.get("StatusMessage") or "no reason given"
            return StepFailure(
                "OcrJobFailed", f"Textract job {job} failed: {message}", retryable=False
            )
        blocks += page.get("Blocks", [])
        token = page.get("NextToken")
        if not token:
            break
    output = read_blocks(blocks)
    output["jobId"] = job
    return StepSuccess(output)


def _still_running(task: TaskSpec, state: dict[str, Any]) -> StepOutcome:
    started = datetime.fromisoformat(str(state["startedAt"]))
    waited = datetime.now(UTC) - started
    most = _duration(task.config.get("maxWait"), DEFAULT_MAX_WAIT)
    if waited > most:
        return StepFailure(
            "OcrTimeout",
            f"Textract job {state['jobId']} still runs after {waited} (maxWait {most})",
            retryable=False,
        )
    state["polls"] = int(state.get("polls", 0)) + 1
    return StepPending(_interval(task.config), state)


def _interval(config: dict[str, Any]) -> timedelta:
    return _duration(config.get("pollInterval"), DEFAULT_POLL)


def _duration(value: Any, default: timedelta) -> timedelta:
    parsed = parse_duration(value) if value is not None else None
    return parsed if isinstance(parsed, timedelta) else default


def _client_failure(error: ClientError) -> StepFailure:
    code = str(error.response.get("Error", {}).get("Code", "ClientError"))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    retryable = code in RETRYABLE_CODES or status >= 500  # noqa: PLR2004 - 5xx
    return StepFailure(f"Textract{code.removesuffix('Exception')}", str(error), retryable)
