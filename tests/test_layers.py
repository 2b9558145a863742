"""Layer order of the Python packages (STYLE.md §4.3), checked on every import statement (lazy
ones inside functions included):

- ``derivatives``: the engine binding, codec, bus, persistence, configuration and the process
  supervisor (``derivatives.topology``, which starts the other packages' processes by module name);
  imports no other package of ours, except ``derivatives.cli``, whose benchmark commands run the
  API's benchmarks;
- ``oracle`` and ``risk``: services over the engine; import ``derivatives`` only (never each
  other, never ``api``);
- ``api``: the gateway; imports ``derivatives``, ``oracle`` and ``risk``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"derivatives": ROOT / "python" / "derivatives", "oracle": ROOT / "oracle", "risk": ROOT / "risk",
            "api": ROOT / "api"}
ALLOWED = {
    "derivatives": {"derivatives"},
    "oracle": {"derivatives", "oracle"},
    "risk": {"derivatives", "risk"},
    "api": {"derivatives", "oracle", "risk", "api"},
}
COMPOSITION_ROOTS = {PACKAGES["derivatives"] / "cli.py"}


def imported_packages(path: Path) -> set[str]:
    """Top-level names of our packages that `path` imports (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {name.split(".")[0] for name in names} & set(PACKAGES)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_imports_only_the_layers_below(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {sorted(imported_packages(path) - ALLOWED[package])}"
        for path in sorted(PACKAGES[package].rglob("*.py"))
        if path not in COMPOSITION_ROOTS and imported_packages(path) - ALLOWED[package]
    ]
    assert offenders == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f() -> None:\n    from api.main import create_app\n    import oracle.index\n")
    assert imported_packages(module) == {"api", "oracle"}
