"""promfuzz.promql"""
