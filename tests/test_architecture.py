"""The architecture as a contract (pyproject's [tool.importlinter]): layers, a torch-free edge runtime, no
import cycles. Checked by import-linter on the package laid out as it installs (conversion/, calibration/
and runtimes/ inside edge_vasa/), since grimp finds subpackages by walking the package's folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("importlinter")


def installed_layout(dest: Path) -> Path:
    """The package's .py files as a wheel lays them out, under DEST."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {"edge_vasa": ROOT / "edge_vasa"} | {
        package: ROOT / folder for package, folder in config["package-dir"].items()
    }
    for package, folder in folders.items():
        for src in folder.rglob("*.py"):
            target = dest.joinpath(*package.split("."), src.relative_to(folder))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
    return dest


def lint_imports(layout: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(layout))
    run = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    command = [sys.executable, "-c", run, str(ROOT / "pyproject.toml"), "--no-cache"]
    return subprocess.run(command, cwd=layout, env=env, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold(tmp_path):
    result = lint_imports(installed_layout(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken" in result.stdout, result.stdout


def test_a_runtime_module_importing_training_code_breaks_the_contract(tmp_path):
    layout = installed_layout(tmp_path)
    selector = layout / "edge_vasa" / "runtimes" / "selector.py"
    selector.write_text(selector.read_text() + "\nfrom edge_vasa.training import loop  # noqa\n")
    result = lint_imports(layout)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "edge_vasa.runtimes.selector -> edge_vasa.training" in result.stdout
