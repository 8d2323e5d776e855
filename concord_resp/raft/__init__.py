"""Raft: the pure core (`core`) and the I/O it asks for (`driver`)."""
