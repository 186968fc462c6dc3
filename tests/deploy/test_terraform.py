"""The Terraform modules are formatted, parse, and fit together and with the chart.

Providers cannot be downloaded here, so `terraform init/validate` cannot run. What can:
`terraform fmt -check`, parsing every file (python-hcl2), and the checks `validate` would
do across modules: every `var.`, `local.` and `module.<name>.<output>` reference exists,
module calls pass only declared variables and every required one, each resource's provider
is required by its module, and the values the tideflow module gives the chart exist in
the chart's values.schema.json.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest

from .chart import CHART

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "deploy" / "terraform"
# Arguments of a module block that are not variables of the module.
META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
REFERENCE = re.compile(
    r"(?<![\w.])(var|local|module)\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?(?:\.([A-Za-z_]\w*))?"
)


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps HCL quotes and adds bookkeeping keys; drop both."""
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


@dataclass
class Module:
    """One Terraform module folder, parsed."""

    path: Path
    blocks: dict[str, list[Any]] = field(default_factory=dict)

    def named(self, kind: str) -> dict[str, dict[str, Any]]:
        """Blocks with one label (variable, output, module) by name."""
        return {name: body for block in self.blocks.get(kind, []) for name, body in block.items()}

    def locals(self) -> dict[str, Any]:
        return {
            name: value for block in self.blocks.get("locals", []) for name, value in block.items()
        }

    def resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for kind in ("resource", "data"):
            for block in self.blocks.get(kind, []):
                for type_, named in block.items():
                    for name, body in named.items():
                        yield type_, name, body

    def required_providers(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for block in self.blocks.get("terraform", []):
            for providers in block.get("required_providers", []):
                found |= providers
        return found


def load_module(path: Path) -> Module:
    module = Module(path)
    for file in sorted(path.glob("*.tf")):
        with file.open() as handle:
            parsed = _unquote(hcl2.load(handle))
        for kind, blocks in parsed.items():
            module.blocks.setdefault(kind, []).extend(blocks)
    return module


def module_dirs() -> list[Path]:
    return sorted({file.parent for file in TERRAFORM.rglob("*.tf")})


@pytest.fixture(scope="module")
def modules() -> dict[Path, Module]:
    return {path: load_module(path) for path in module_dirs()}


def test_there_are_the_modules_the_docs_name() -> None:
    names = {path.relative_to(TERRAFORM).as_posix() for path in module_dirs()}
    assert names == {
        "aws",
        "modules/tideflow",
        "modules/aws-kms",
        "modules/aws-s3",
        "modules/aws-msk",
        "modules/aws-rds-postgres",
        "modules/aws-elasticache",
        "modules/aws-client-access",
    }


def test_terraform_fmt_is_clean() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail("terraform is not installed (the deploy checks run `terraform fmt`)")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, (
        f"run `terraform fmt -recursive deploy/terraform`:\n{result.stdout}"
    )


def test_variables_and_outputs_are_typed_and_described(modules: dict[Path, Module]) -> None:
    for path, module in modules.items():
        for name, body in module.named("variable").items():
            assert body.get("description"), f"{path.name}: variable {name} has no description"
            assert "type" in body, f"{path.name}: variable {name} has no type"
        for name, body in module.named("output").items():
            assert body.get("description"), f"{path.name}: output {name} has no description"
        assert module.blocks.get("terraform"), f"{path.name}: no terraform block (versions)"


def test_references_resolve(modules: dict[Path, Module]) -> None:
    for path, module in modules.items():
        variables = set(module.named("variable"))
        local_names = set(module.locals())
        calls = module.named("module")
        # `moved` names addresses in state, not values (checked by the test below)
        expressions = {kind: blocks for kind, blocks in module.blocks.items() if kind != "moved"}
        for text in _strings(expressions):
            for kind, name, attribute in REFERENCE.findall(text):
                where = f"{path.relative_to(TERRAFORM)}: {kind}.{name}"
                if kind == "var":
                    assert name in variables, f"{where} is not a declared variable"
                elif kind == "local":
                    assert name in local_names, f"{where} is not a declared local"
                else:
                    assert name in calls, f"{where} is not a module call"
                    callee = modules[(path / calls[name]["source"]).resolve()]
                    assert attribute in callee.named("output"), (
                        f"{where}.{attribute}: no such output"
                    )


def test_module_calls_match_the_callee_variables(modules: dict[Path, Module]) -> None:
    checked = 0
    for path, module in modules.items():
        for name, call in module.named("module").items():
            source = (path / call["source"]).resolve()
            assert source in modules, f"{path.name}: module {name} has no source {source}"
            declared = modules[source].named("variable")
            passed = set(call) - META_ARGUMENTS
            assert passed <= set(declared), f"{name}: unknown {passed - set(declared)}"
            required = {v for v, body in declared.items() if "default" not in body}
            assert required <= passed, f"{name}: missing {required - passed}"
            checked += 1
    assert checked >= 6


def test_resources_use_required_providers(modules: dict[Path, Module]) -> None:
    for path, module in modules.items():
        required = set(module.required_providers())
        for type_, name, _ in module.resources():
            provider = type_.split("_", 1)[0]
            assert provider in required, f"{path.name}: {type_}.{name} needs provider {provider}"
        for provider, spec in module.required_providers().items():
            assert spec["source"] == f"hashicorp/{provider}"
            assert spec["version"], f"{path.name}: provider {provider} is not constrained"


def _check_against_schema(values: Any, schema: dict[str, Any], where: str) -> int:
    """Every key of `values` must be a property of `schema`; returns how many were checked."""
    if not isinstance(values, dict):
        return 0
    properties = schema.get("properties")
    if properties is None:
        return 0  # a free-form map (annotations, extra values)
    checked = 0
    for key, value in values.items():
        assert key in properties, f"the chart has no value {where}{key}"
        checked += 1 + _check_against_schema(value, properties[key], f"{where}{key}.")
    return checked


def test_tideflow_module_sets_values_the_chart_has(modules: dict[Path, Module]) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    local_values = modules[TERRAFORM / "modules" / "tideflow"].locals()
    assert _check_against_schema(local_values["chart_values"], schema, "") >= 20
    # the admin-token values are built by a filtered `for`: check its keys from the text
    auth = re.findall(r"(\w+)\s*=", local_values["auth_values"])
    assert {"auth", "existingSecret", "existingSecretKey"} <= set(auth)
    assert set(schema["properties"]["auth"]["properties"]) >= {
        "existingSecret",
        "existingSecretKey",
    }


def test_tideflow_module_installs_this_chart(modules: dict[Path, Module]) -> None:
    module = modules[TERRAFORM / "modules" / "tideflow"]
    path = module.locals()["chart_path"]
    relative = re.search(r"\$\{path\.module\}/([^\"]+)", path)
    assert relative is not None
    assert (module.path / relative.group(1)).resolve() == CHART.resolve()
    (release,) = [body for type_, _, body in module.resources() if type_ == "helm_release"]
    assert release["atomic"] is True
    assert release["wait"] is True


def test_moved_blocks_keep_existing_resources_in_place(modules: dict[Path, Module]) -> None:
    """A resource that moved into a shared module is moved in state, not destroyed.

    MSK, RDS and ElastiCache took their security group and ingress rules from
    modules/aws-client-access; without `moved` blocks an upgrade would replace the groups
    under running databases.
    """
    access = modules[TERRAFORM / "modules" / "aws-client-access"]
    shared = {f"{type_}.{name}" for type_, name, _ in access.resources()}
    callers = 0
    for path, module in modules.items():
        calls = {
            name
            for name, call in module.named("module").items()
            if (path / call["source"]).resolve() == access.path.resolve()
        }
        if not calls:
            continue
        callers += 1
        moves = {
            (
                m["from"].removeprefix("${").removesuffix("}"),
                m["to"].removeprefix("${").removesuffix("}"),
            )
            for m in module.blocks.get("moved", [])
        }
        (call,) = calls
        assert moves == {(address, f"module.{call}.{address}") for address in shared}, path.name
    assert callers == 3


def test_the_data_services_share_one_network_value(modules: dict[Path, Module]) -> None:
    """The root passes MSK, RDS and ElastiCache one `network` object, not six arguments each."""
    root = modules[TERRAFORM / "aws"]
    calls = root.named("module")
    for name in ("msk", "postgres", "redis"):
        assert set(calls[name]) - META_ARGUMENTS == {"network"}, name
        assert calls[name]["network"] == "${local.network}"
