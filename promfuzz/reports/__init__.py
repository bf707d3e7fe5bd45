"""promfuzz.reports"""
