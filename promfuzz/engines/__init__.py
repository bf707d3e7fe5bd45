"""promfuzz.engines"""
