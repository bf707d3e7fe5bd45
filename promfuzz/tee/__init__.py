"""promfuzz.tee: query-tee mode (issue #16) -- mirror real queries to two backends, judge
them with promfuzz's oracle, and turn every divergence into a reproducible, shrunk case.

* :mod:`~promfuzz.tee.proxy` -- the HTTP proxy (:class:`TeeServer`), status page;
* :mod:`~promfuzz.tee.core` -- sampling, bounded queues, workers (:class:`TeeCore`);
* :mod:`~promfuzz.tee.judge` -- comparing two answers (window, rules);
* :mod:`~promfuzz.tee.capture` -- the data a query read, from a backend, as a Dataset;
* :mod:`~promfuzz.tee.reproduce` -- in-process re-run, shrink, corpus or live finding;
* :mod:`~promfuzz.tee.replaylog` -- ``promfuzz replay-log`` (query logs);
* :mod:`~promfuzz.tee.metrics` -- ``/metrics``.

See docs/tee.md.
"""

from promfuzz.tee.core import TeeConfig, TeeCore
from promfuzz.tee.proxy import TeeServer

__all__ = ["TeeConfig", "TeeCore", "TeeServer"]
