"""promfuzz: fuzz and differential correctness suite for PromQL engines."""

__version__ = "0.1.0"
