"""Reading and setting a Deployment's replicas through its `scale` subresource.

The scaler touches Deployments only through `deployments/scale` (get, patch), which is all
the operator's RBAC grants on them. Responses are read as plain JSON rather than client
models, so a field the client's model marks required cannot fail a read.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException


class DeploymentNotFoundError(LookupError):
    """The WorkerPool names a Deployment that does not exist (in its namespace)."""


class KubernetesUnavailableError(ConnectionError):
    """The API server did not answer usefully; try again later."""


class Replicas(Protocol):
    """What the scaler needs from Kubernetes."""

    async def get(self, namespace: str, name: str) -> int:
        """The Deployment's `spec.replicas`."""
        ...

    async def set(self, namespace: str, name: str, replicas: int) -> None:
        """Set the Deployment's `spec.replicas`."""
        ...


class DeploymentScale:
    """`Replicas` over the Kubernetes API (kubernetes_asyncio)."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._apps = client.AppsV1Api(api_client)
        self._client = api_client

    @classmethod
    async def connect(cls, host: str | None = None) -> DeploymentScale:
        """In a pod: its service account; elsewhere: the kubeconfig; or a plain `host`."""
        configuration = client.Configuration()
        if host is not None:
            configuration.host = host
        else:
            try:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except config.ConfigException:
                try:
                    await config.load_kube_config(client_configuration=configuration)
                except (config.ConfigException, OSError) as e:
                    raise KubernetesUnavailableError(
                        "no Kubernetes credentials: not in a pod with a service account, "
                        f"and no usable kubeconfig ({e})"
                    ) from e
        return cls(client.ApiClient(configuration))

    async def close(self) -> None:
        await self._client.close()

    async def get(self, namespace: str, name: str) -> int:
        try:
            # the raw response (the typed stubs only know the parsed model)
            response: Any = await self._apps.read_namespaced_deployment_scale(
                name, namespace, _preload_content=False
            )
            body = _json(await _checked(response, namespace, name))
        except ApiException as e:
            raise _translated(e, namespace, name) from e
        except OSError as e:
            raise KubernetesUnavailableError(str(e)) from e
        return int(body.get("spec", {}).get("replicas") or 0)

    async def set(self, namespace: str, name: str, replicas: int) -> None:
        try:
            response: Any = await self._apps.patch_namespaced_deployment_scale(  # type: ignore[call-arg]
                name,
                namespace,
                {"spec": {"replicas": replicas}},
                _content_type="application/merge-patch+json",  # a plain merge patch
                _preload_content=False,
            )
            await _checked(response, namespace, name)
        except ApiException as e:
            raise _translated(e, namespace, name) from e
        except OSError as e:
            raise KubernetesUnavailableError(str(e)) from e


async def _checked(response: Any, namespace: str, name: str) -> bytes:
    """The body of a raw response; an error status raises (the raw call does not check)."""
    raw: bytes = await response.read()
    if response.status == 404:  # noqa: PLR2004
        raise DeploymentNotFoundError(f"deployment {namespace}/{name} not found")
    if not 200 <= response.status < 300:  # noqa: PLR2004
        raise KubernetesUnavailableError(
            f"deployment {namespace}/{name}: HTTP {response.status} {raw[:300]!r}"
        )
    return raw


def _json(raw: bytes) -> dict[str, Any]:
    value = json.loads(raw or b"{}")
    return value if isinstance(value, dict) else {}


def _translated(error: ApiException, namespace: str, name: str) -> Exception:
    if error.status == 404:  # noqa: PLR2004
        return DeploymentNotFoundError(f"deployment {namespace}/{name} not found")
    return KubernetesUnavailableError(f"deployment {namespace}/{name}: {error.status} {error}")
