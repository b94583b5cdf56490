"""The packages' layers: the pure core imports no I/O package, nothing below the CLI imports the CLI, and
`runtime` (what every process imports) imports none of the packages built on it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from runtime.settings import REPO_ROOT

# Each package and the top-level packages of this repository it must never import.
SERVICES = ("agents", "bridge", "eventstore", "hatchet_workflows", "api", "venues", "marketreplay", "reports")
FORBIDDEN = {
    "trading": {"zvt", "runtime", "agents", "api", "bridge", "eventstore", "hatchet_workflows", "venues"},
    "strategies": {"zvt", "runtime", "agents", "api", "bridge", "eventstore", "hatchet_workflows", "venues"},
    # schemas.signing reads where the keyring is from runtime.settings, which imports nothing of ours.
    "schemas": {"zvt", "agents", "api", "bridge", "eventstore", "hatchet_workflows"},
    "topics": {"zvt", "agents", "api", "bridge", "eventstore", "hatchet_workflows"},
    "runtime": {"zvt", *SERVICES},
    **{package: {"zvt"} for package in SERVICES},
}


def imported_packages(path: Path) -> set[str]:
    """The top-level names `path` imports, at module level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_no_layer_above_it(package: str) -> None:
    offences = {
        str(path.relative_to(REPO_ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
    }
    assert {path: names for path, names in offences.items() if names} == {}


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text("def f():\n    from zvt.cli import app\n    import agents.stage\n")
    assert imported_packages(module) == {"zvt", "agents"}
