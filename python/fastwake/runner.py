"""fastwake.run(): simulate one config (every strategy) and get its result document, optionally with per-request samples."""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Union

from . import _fastwake
from ._fastwake import ConfigError
from .config import ConfigLike, load_config, plain, set_value
from .results import Result

#: Overrides: {"workload.threads_per_core": 8} or ["workload.threads_per_core=8"] (fastwake-sim --set).
Sets = Union[Mapping[str, Any], Iterable[str], str]


def set_strings(sets: Sets = (), overrides: Mapping[str, Any] | None = None) -> list[str]:
    """Overrides as the 'PATH=JSON' strings fastwake-sim --set takes. `sets` is a dict
    {PATH: value} (Python values: numbers, strings, lists, dicts), a list of 'PATH=VALUE' strings,
    or one such string; `overrides` are keyword arguments with "__" for the dots
    (workload__threads_per_core=8), applied after `sets`."""
    out: list[str] = []

    def add(path: Any, value: Any, where: str) -> None:
        if not isinstance(path, str) or not path:
            raise ConfigError(f"{where}: keys are config paths such as 'workload.threads_per_core', got {path!r}")
        try:
            text = json.dumps(plain(value, path), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{path}: cannot be written as JSON: {value!r} ({e})") from None
        out.append(f"{path}={text}")

    if isinstance(sets, Mapping):
        for k, v in sets.items():
            add(k, v, "sets")
    elif isinstance(sets, str):
        out.append(sets)
    elif isinstance(sets, Iterable) and not isinstance(sets, bytes):
        for i, s in enumerate(sets):
            if isinstance(s, str):
                out.append(s)
            elif isinstance(s, tuple) and len(s) == 2:
                add(s[0], s[1], f"sets[{i}]")
            else:
                raise ConfigError(f"sets[{i}]: expected a 'PATH=VALUE' string or a (PATH, value) pair, "
                                  f"got {type(s).__name__} {s!r}")
    else:
        raise ConfigError(f"sets: expected a dict {{PATH: value}} or a list of 'PATH=VALUE' strings, "
                          f"got {type(sets).__name__}")
    for k, v in (overrides or {}).items():
        add(k.replace("__", "."), v, "keyword override")
    return out


def run(config: ConfigLike = None, *, platform: str | None = None, sets: Sets = (),
        samples: bool = False, force: bool = False, **overrides: Any) -> Result:
    """Simulates `config` (a dict, a JSON file path, or None for the paper
    scenario configs/default.json) with each of its strategies.

    platform  built-in profile name, like `fastwake-sim --platform`
    sets      overrides: a dict {"workload.threads_per_core": 8}, or a list of
              'PATH=VALUE' strings like `fastwake-sim --set`
    **overrides  the same as keyword arguments, "__" for each dot:
              fastwake.run(workload__threads_per_core=8, run__duration_ms=20)
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
    doc = load_config(config, platform=platform, sets=set_strings(sets, overrides))
    if samples:
        doc = set_value(doc, "run.record_samples", True)
    result_doc, sample_arrays, wall = _fastwake.simulate(doc, force)
    return Result(doc=result_doc, samples=dict(sample_arrays), wall_s=wall)
