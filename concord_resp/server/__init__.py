"""The trio edge: listeners, connections, the dispatch pipeline, connection-level handlers, INFO.

`app.Server` is the lifecycle (start-up, serve, graceful shutdown); everything that awaits,
touches a socket or reads the clock for a client lives in this package (see
docs/architecture.md).
"""
