"""Counters, as a leaf registry every layer can count into (see `registry`)."""

from .registry import CommandStats, ErrorStats, Metrics

__all__ = ["CommandStats", "ErrorStats", "Metrics"]
