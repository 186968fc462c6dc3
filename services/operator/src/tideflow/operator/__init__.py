"""The Kubernetes operator: Workflow resources <-> the gateway; executor scaling by lag.

Built on kopf. `tideflow.operator.crds` generates the CRDs from the models,
`tideflow.operator.scaling` is the pure replica decision.
"""
