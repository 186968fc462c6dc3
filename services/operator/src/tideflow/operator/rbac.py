"""Exactly which Kubernetes API calls the operator makes, as RBAC rules.

The Helm chart's ClusterRole for the operator copies `deploy/rbac/operator-clusterrole.yaml`
(generated from `RULES` by `tide k8s generate`). The kmock tests record every request the
operator sends and fail when one is not allowed by these rules, so the list stays complete;
it also stays least-privilege because nothing is in it that a test did not need.

- Workflows and WorkerPools: kopf lists and watches them, patches them (its finalizer and
  progress annotations) and patches their status subresource.
- Deployments: the scaler reads and patches the `scale` subresource only.
- Events: kopf posts core v1 events about handler outcomes to the resources.
- Peering (several replicas, one active; `peering.py`): kopf watches its KopfPeering or
  ClusterKopfPeering object and patches its own keep-alive into the status.
- Nothing else cluster-scoped: resource scanning is off (the CRDs are known), so the
  operator needs no access to CustomResourceDefinitions or Namespaces.
"""

from __future__ import annotations

from typing import Any

from tideflow.operator.resources import GROUP, PEERING_GROUP

RULES: tuple[dict[str, Any], ...] = (
    {
        "apiGroups": [GROUP],
        "resources": ["workflows", "workerpools"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    {
        "apiGroups": [GROUP],
        "resources": ["workflows/status", "workerpools/status"],
        "verbs": ["get", "patch"],
    },
    {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "patch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    {
        "apiGroups": [PEERING_GROUP],
        "resources": ["kopfpeerings", "clusterkopfpeerings"],
        "verbs": ["get", "list", "watch", "patch"],
    },
)


def allows(api_group: str, resource: str, verb: str) -> bool:
    """Whether RULES grant `verb` on `resource` (`name/subresource`) in `api_group`."""
    return any(
        api_group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
        for rule in RULES
    )


def cluster_role(name: str = "tideflow-operator") -> dict[str, Any]:
    """The rules as a ClusterRole (bind it cluster-wide, or per namespace with RoleBindings)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "tideflow"}},
        "rules": [dict(rule) for rule in RULES],
    }
