"""fastwake.run(): simulate one config (every strategy) and get its result document, optionally with per-request samples."""
from __future__ import annotations

from typing import Iterable

from . import _fastwake
from ._fastwake import ConfigError
from .config import ConfigLike, load_config, set_value
from .results import Result


def run(config: ConfigLike = None, *, platform: str | None = None, sets: Iterable[str] = (),
        samples: bool = False, force: bool = False) -> Result:
    """Simulates `config` (a dict, a JSON file path, or None for the paper
    scenario configs/default.json) with each of its strategies.

    platform  built-in profile name, like `fastwake-sim --platform`
    sets      'PATH=VALUE' overrides, like `fastwake-sim --set`
    samples   keep every measured request (sets run.record_samples):
              Result.samples[strategy] = {"latency_ns", "done_ns", "thread", "irq_core"}

    force     run even when the pre-run guard refuses (estimated events or
              memory over the limits, an open-loop backlog that cannot drain;
              docs/config.md "Run-size guard"), like `fastwake-sim --force`

    Returns a Result: .doc is the result document `fastwake-sim --json`
    writes. Raises fastwake.ConfigError naming the offending key (or giving
    the estimate of a refused run).
    """
    if not isinstance(force, bool):
        raise ConfigError(f"force: expected True or False, got {force!r}")
    if not isinstance(samples, bool):
        raise ConfigError(f"samples: expected True or False, got {samples!r}")
    doc = load_config(config, platform=platform, sets=sets)
    if samples:
        doc = set_value(doc, "run.record_samples", True)
    result_doc, sample_arrays, wall = _fastwake.simulate(doc, force)
    return Result(doc=result_doc, samples=dict(sample_arrays), wall_s=wall)
