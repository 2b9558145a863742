"""Layer order (STYLE.md §4.3): ``risk`` imports ``derivatives``, never ``oracle`` or ``api``."""

from __future__ import annotations

import ast
from pathlib import Path

import risk

FORBIDDEN = ("oracle", "api")


def test_risk_never_imports_oracle_or_api() -> None:
    offenders = []
    for path in Path(risk.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
