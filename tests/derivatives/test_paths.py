"""`derivatives.paths.engine_binary`: the configured binary wins; a missing one is a typed error."""

from __future__ import annotations

from pathlib import Path

import pytest

from derivatives.paths import BinaryNotFound, engine_binary


def test_the_configured_engine_binary_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "derivatives-engine"
    binary.write_text("")
    monkeypatch.setenv("DERIVATIVES_ENGINE_BINARY", str(binary))
    assert engine_binary() == binary


def test_a_missing_engine_binary_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DERIVATIVES_ENGINE_BINARY", str(tmp_path / "nowhere"))
    with pytest.raises(BinaryNotFound, match="make build"):
        engine_binary()
