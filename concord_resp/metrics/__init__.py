"""Counters and the INFO command's sections."""
