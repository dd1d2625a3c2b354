"""Shared pytest fixtures for the Python package: short configs, a private cache, paths to the build."""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "python") not in sys.path:
    sys.path.insert(0, str(REPO / "python"))
os.environ.setdefault("MPLBACKEND", "Agg")

import fastwake  # noqa: E402  (fails loudly when the module is not built: no silent skip)


def numbers(doc: dict) -> dict:
    """A result document without its "meta" (tool, date, host: who and when, not the model's
    numbers), for comparing two runs' documents."""
    return {k: v for k, v in doc.items() if k != "meta"}


def build_dir() -> Path:
    from fastwake import _fastwake, _native

    return Path(_native.module_dir(_fastwake))


@pytest.fixture
def quick_base() -> dict:
    """The paper scenario, shortened to 5 ms (+1 ms warm-up) and 3 strategies."""
    doc = fastwake.default_config()
    doc["run"].update({"duration_ms": 5, "warmup_ms": 1})
    doc["strategies"] = ["busy_poll", "fastwake_poll", "interrupt"]
    return doc


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def _no_repo_cache(tmp_path, monkeypatch):
    """Tests never write into the repository's .cache/ (default_cache_dir)."""
    monkeypatch.setenv("FASTWAKE_CACHE", str(tmp_path / "default-cache"))
