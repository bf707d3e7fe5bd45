"""promfuzz.shrink"""
