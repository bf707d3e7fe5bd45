"""promfuzz.engines: every engine behind one small protocol.

* :class:`Engine` -- ``load(dataset)``, ``query(text, params, timeout_s)``,
  ``query_many(items)``, ``versions()``, ``dump()``, ``close()``; a context manager.
  Query-time failures are Results (``engine_failure`` / ``timeout``), never exceptions.
* :func:`open_engine` / :class:`EngineRegistry` -- by name: ``prometheus``, ``mqe``,
  ``mimir-prometheus``, ``thanos``, ``thanos-prometheus`` (Go hosts), ``prometheus-live``
  (a real server loaded by remote write), ``http:<url>[?loader=...]`` (any target).
* :func:`available_engines` -- what is built here, with versions (``promfuzz engines``).
"""

from promfuzz.engines.base import Engine, EngineInfo, EngineLoadError, LoadInfo
from promfuzz.engines.host import HostEngine, HostProcess
from promfuzz.engines.http import DatasetNotLoadableError, HttpEngine
from promfuzz.engines.live import LiveEngine
from promfuzz.engines.registry import EngineRegistry, available_engines, known_engine_names, open_engine

__all__ = [
    "DatasetNotLoadableError",
    "Engine",
    "EngineInfo",
    "EngineLoadError",
    "EngineRegistry",
    "HostEngine",
    "HostProcess",
    "HttpEngine",
    "LiveEngine",
    "LoadInfo",
    "available_engines",
    "known_engine_names",
    "open_engine",
]
