"""Config documents: load from a dict, a JSON file or the embedded default; apply overrides; resolve and hash."""
from __future__ import annotations

import copy
import hashlib
import json
import os
from typing import Any, Iterable, Mapping, Union

from . import _fastwake
from ._fastwake import ConfigError

ConfigLike = Union[None, Mapping[str, Any], str, "os.PathLike[str]"]


def plain(value: Any) -> Any:
    """The value with numpy/pandas scalars and arrays turned into plain Python
    (what JSON and the C++ module accept)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return plain(value.tolist())
    return value


def load_config(config: ConfigLike = None, *, platform: str | None = None,
                sets: Iterable[str] = ()) -> dict:
    """A config document (not yet validated): `config` is a dict, a path to a
    JSON file, or None for the embedded paper scenario (configs/default.json).
    `platform` names a built-in profile (like fastwake-sim --platform); each of
    `sets` is a 'PATH=VALUE' override (fastwake-sim --set, docs/config.md)."""
    if config is None:
        doc = _fastwake.default_config()
    elif isinstance(config, Mapping):
        doc = plain(copy.deepcopy(dict(config)))
    elif isinstance(config, (str, os.PathLike)):
        doc = _fastwake.load_json_file(os.fspath(config))
    else:
        raise ConfigError(f"config: expected a dict, a JSON file path or None, got {type(config).__name__}")
    if platform is not None:
        _fastwake.builtin_platform(platform)  # ConfigError naming the known ones
        if not isinstance(doc, dict):
            raise ConfigError(f"config: expected an object, got {type(doc).__name__}")
        doc["platform"] = platform
    if isinstance(sets, str):
        sets = [sets]
    for s in sets:
        doc = _fastwake.apply_set(doc, s)
    return doc


def set_value(doc: dict, path: str, value: Any) -> dict:
    """A copy of `doc` with PATH set to a Python value (apply_set semantics:
    sections created, built-in platforms inlined when a path goes into them)."""
    return _fastwake.apply_set(doc, f"{path}={json.dumps(plain(value))}")


def resolve_config(config: ConfigLike = None, *, platform: str | None = None,
                   sets: Iterable[str] = ()) -> dict:
    """Validates a config and returns it resolved (every default filled in,
    the platform profile inlined): what result documents carry. Raises
    fastwake.ConfigError naming the offending key."""
    return _fastwake.resolve_config(load_config(config, platform=platform, sets=sets))


def canonical_json(doc: Any) -> str:
    """Key-sorted compact JSON: equal configs give equal text."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def config_hash(resolved: Mapping[str, Any]) -> str:
    """sha256 of the resolved config and the model version: the cache key of a
    sweep point (a model change never reuses old numbers)."""
    text = canonical_json(resolved) + "\n" + _fastwake.MODEL_VERSION
    return hashlib.sha256(text.encode()).hexdigest()
