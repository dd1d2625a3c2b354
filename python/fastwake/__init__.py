"""FastWake toolkit in Python: run the simulator, sweep configs (locally or on Dask), draw the paper's figures.

    import fastwake
    r = fastwake.run(platform="arm")                 # configs/default.json on the ARM profile
    print(r.table())
    df = fastwake.sweep(None, {"platform": ["x86", "arm"],
                               "workload.threads_per_core": [1, 4, 16]})
    df = fastwake.sweep(None, grid, executor="dask", scheduler="tcp://host:8786")

See docs/python.md.
"""
from . import _native

_fastwake = _native.load(__path__)  # noqa: F821 - __path__ is the package's

from ._fastwake import ConfigError, DeviceError, MODEL_VERSION, VERSION  # noqa: E402
from .cache import ResultCache, default_cache_dir  # noqa: E402
from .config import canonical_json, config_hash, load_config, resolve_config  # noqa: E402
from .results import Result, frame_of, tidy  # noqa: E402
from .runner import run  # noqa: E402
from .sweeps import ClusterError, expand_grid, sweep  # noqa: E402
from .advise import Advice, advise  # noqa: E402

__version__ = VERSION


def strategies() -> list[dict]:
    """Registered strategies: name, description, wait mode, wake path, remap."""
    return _fastwake.strategies()


def platforms() -> list[str]:
    """Built-in platform profiles (configs/platforms/*.json)."""
    return _fastwake.builtin_platforms()


def default_config() -> dict:
    """The paper scenario configs/default.json (as embedded in the build)."""
    return _fastwake.default_config()


__all__ = ["ConfigError", "DeviceError", "ClusterError", "MODEL_VERSION", "VERSION", "Result",
           "ResultCache", "run", "sweep", "expand_grid", "load_config", "resolve_config",
           "config_hash", "canonical_json", "frame_of", "strategies", "platforms", "default_config",
           "default_cache_dir", "tidy"]
