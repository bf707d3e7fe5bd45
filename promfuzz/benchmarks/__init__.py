"""promfuzz.benchmarks: benchmarks that print numbers and never pass or fail."""
