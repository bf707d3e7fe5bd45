"""promfuzz.corpus"""
