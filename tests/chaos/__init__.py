"""Fault injection against real processes: the chaos test (short, in CI) and the soak (long)."""
