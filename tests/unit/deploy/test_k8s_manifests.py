"""deploy/k8s stays in step with the code: every container runs a real `zvt` command, every configured
variable is one the settings read, and every scraped port is the one the process serves metrics on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from agents.settings import AgentSettings
from runtime.settings import REPO_ROOT, Settings
from zvt.cli import app

K8S = REPO_ROOT / "deploy" / "k8s"


def manifests() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def containers() -> list[dict[str, Any]]:
    found = []
    for doc in manifests():
        if doc["kind"] in ("Deployment", "Job"):
            found += doc["spec"]["template"]["spec"]["containers"]
    return found


def known_variables() -> set[str]:
    names = set()
    for model in (Settings, AgentSettings):
        for name, field in model.model_fields.items():
            names.add(
                field.validation_alias if isinstance(field.validation_alias, str) else f"ZVT_{name.upper()}"
            )
    return names


@pytest.mark.parametrize("container", containers(), ids=lambda c: str(c["name"]))
def test_each_container_runs_a_real_zvt_command(container: dict[str, Any]) -> None:
    command = container["command"]
    assert command[0] == "zvt"
    group: Any = typer.main.get_command(app)  # typer vendors its own click: duck-typed here
    words = [word for word in command[1:] if not word.startswith("-")]
    for word in words:
        if not hasattr(group, "commands"):
            break  # the rest are arguments
        assert word in group.commands, f"no `zvt ... {word}` command"
        group = group.commands[word]
    options = {opt for param in group.params for opt in getattr(param, "opts", ())}
    assert {word for word in command if word.startswith("--")} <= options


def test_configured_variables_are_read_by_the_settings() -> None:
    (config,) = [doc for doc in manifests() if doc["kind"] == "ConfigMap"]
    assert set(config["data"]) <= known_variables()


def test_scraped_ports_are_the_ones_served() -> None:
    # The defaults, not this shell's overrides (a second stack on other ports sets them).
    settings, agent = Settings.model_fields, AgentSettings.model_fields
    served = {
        "worker": agent["web_port"].default,
        "bridge": settings["bridge_metrics_port"].default,
        "sink": settings["sink_metrics_port"].default,
        "workflows": settings["workflows_metrics_port"].default,
    }
    for doc in manifests():
        if doc["kind"] != "Deployment":
            continue
        template = doc["spec"]["template"]
        (container,) = template["spec"]["containers"]
        port = int(template["metadata"]["annotations"]["prometheus.io/port"])
        assert port == served[container["command"][1]], doc["metadata"]["name"]


def test_manifests_are_all_in_the_zvt_namespace() -> None:
    for doc in manifests():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "zvt", doc["metadata"]["name"]


def test_the_readme_names_every_manifest() -> None:
    readme = (K8S / "README.md").read_text()
    for path in K8S.glob("*.yaml"):
        if path.name not in ("namespace.yaml", "config.yaml"):
            assert f"`{path.name}`" in readme, path.name
    assert Path(K8S / "namespace.yaml").exists()
