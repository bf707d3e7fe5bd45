"""promfuzz.generators"""
