"""The one error hierarchy of promfuzz.

Every error the suite raises on purpose derives from :class:`PromfuzzError`, so a
caller (the CLI, the pytest plugin) can tell "promfuzz refused this input" from a
bug in promfuzz itself.
"""

from __future__ import annotations


class PromfuzzError(Exception):
    """Root of all errors raised deliberately by promfuzz."""


class InputError(PromfuzzError):
    """Bad input from a file or a string: says where and what was expected.

    ``source`` is a file name (or ``<string>``), ``line``/``column`` are 1-based
    (0 when unknown).
    """

    def __init__(self, message: str, source: str = "<string>", line: int = 0, column: int = 0) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.column = column
        where = source
        if line:
            where += f":{line}"
            if column:
                where += f":{column}"
        super().__init__(f"{where}: {message}")


class DatasetError(InputError):
    """A dataset file or value is malformed."""


class PromQLSyntaxError(InputError):
    """Our PromQL parser rejected a query (position is within the query text)."""


class PromQLTestFormatError(InputError):
    """A promqltest (.test) file could not be read."""


class CorpusError(InputError):
    """A corpus case (test file or JSON sidecar) is malformed."""


class EngineError(PromfuzzError):
    """An engine could not be set up or reached (not a query result)."""


class UnknownEngineError(EngineError):
    """An engine name that the registry does not know."""


class HostNotBuiltError(EngineError):
    """A Go engine host binary is missing; the message says how to build it."""


class TargetUnavailableError(EngineError):
    """A remote target refused connections or kept failing after retries."""


class ConfigError(PromfuzzError):
    """A configuration value (CLI flag, rules file) is invalid."""
