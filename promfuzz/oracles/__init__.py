"""promfuzz.oracles"""
