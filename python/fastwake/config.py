"""Config documents: load from a dict, a JSON file or the embedded default; apply overrides; resolve and hash."""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Iterable, Mapping, Union

from . import _fastwake
from ._fastwake import ConfigError

ConfigLike = Union[None, Mapping[str, Any], str, "os.PathLike[str]"]


#: Deepest nesting a config document may have (the C++ loader's kMaxJsonDepth).
MAX_DEPTH = 64


def plain(value: Any, _path: str = "config", _depth: int = 0) -> Any:
    """The value with numpy/pandas scalars and arrays turned into plain Python
    (what JSON and the C++ module accept). Raises ConfigError, naming the
    place, for nesting deeper than MAX_DEPTH (never a RecursionError)."""
    if _depth > MAX_DEPTH:
        raise ConfigError(f"{_path}: nested deeper than {MAX_DEPTH} levels (a config needs a handful)")
    if isinstance(value, Mapping):
        return {str(k): plain(v, f"{_path}.{k}" if _path != "config" else str(k), _depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, f"{_path}[{i}]", _depth + 1) for i, v in enumerate(value)]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return plain(value.tolist(), _path, _depth + 1)
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
        # plain() builds new containers all the way down: a copy (deepcopy would
        # recurse without bound on a hostile document).
        doc = plain(dict(config))
    elif isinstance(config, (str, os.PathLike)):
        doc = _fastwake.load_json_file(os.fspath(config))
    else:
        raise ConfigError(f"config: expected a dict, a JSON file path or None, got {type(config).__name__}")
    if platform is not None:
        if not isinstance(platform, (str, os.PathLike)):
            raise ConfigError(f"platform: expected a platform name or a profile .json path, "
                              f"got {type(platform).__name__} {platform!r}")
        platform = os.fspath(platform)
        _fastwake.builtin_platform(platform)  # ConfigError naming the known ones
        if not isinstance(doc, dict):
            raise ConfigError(f"config: expected an object, got {type(doc).__name__}")
        doc["platform"] = platform
    if isinstance(sets, str):
        sets = [sets]
    if not isinstance(sets, Iterable) or isinstance(sets, (bytes, Mapping)):
        raise ConfigError(f"sets: expected a list of 'PATH=VALUE' strings, got {type(sets).__name__}")
    for i, s in enumerate(sets):
        if not isinstance(s, str):
            raise ConfigError(f"sets[{i}]: expected a 'PATH=VALUE' string, got {type(s).__name__} {s!r}")
        doc = _fastwake.apply_set(doc, s)
    return doc


def set_value(doc: dict, path: str, value: Any) -> dict:
    """A copy of `doc` with PATH set to a Python value (apply_set semantics:
    sections created, built-in platforms inlined when a path goes into them)."""
    try:
        text = json.dumps(plain(value, path), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: cannot be written as JSON: {value!r} ({e})") from None
    return _fastwake.apply_set(doc, f"{path}={text}")


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
