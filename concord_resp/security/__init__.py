"""Security: what decides who may do what, pure (no I/O, no clock, no unseeded randomness).

One module per concern; import them by name (`security.peer_auth`: proving the cluster
secret in the peer handshake).
"""
