"""The proof of the cluster secret: bound to the role, the cluster, both names, the version
and both nonces; checked in constant time; the secret never shown."""

from __future__ import annotations

import dataclasses

import pytest

from concord_resp.security.peer_auth import (
    MIN_SECRET_BYTES,
    NONCE_BYTES,
    PROOF_BYTES,
    ClusterSecret,
    Role,
    Transcript,
    is_nonce,
    prove,
    verify,
)

SECRET = ClusterSecret(b"0123456789abcdef" * 4)
OTHER = ClusterSecret(b"fedcba9876543210" * 4)
TRANSCRIPT = Transcript("c1", "n1", "n2", 2, b"d" * NONCE_BYTES, b"a" * NONCE_BYTES)


def test_a_proof_verifies_with_the_same_secret_role_and_transcript() -> None:
    for role in Role:
        proof = prove(SECRET, role, TRANSCRIPT)
        assert len(proof) == PROOF_BYTES
        assert verify(SECRET, role, TRANSCRIPT, proof)
        assert prove(SECRET, role, TRANSCRIPT) == proof  # deterministic: no randomness here


def test_a_proof_fails_with_another_secret_or_none() -> None:
    proof = prove(SECRET, Role.DIALER, TRANSCRIPT)
    assert not verify(OTHER, Role.DIALER, TRANSCRIPT, proof)
    assert not verify(None, Role.DIALER, TRANSCRIPT, proof)
    # Without a secret both sides agree, but that proves nothing (loopback only).
    assert verify(None, Role.DIALER, TRANSCRIPT, prove(None, Role.DIALER, TRANSCRIPT))
    assert not verify(SECRET, Role.DIALER, TRANSCRIPT, prove(None, Role.DIALER, TRANSCRIPT))


def test_a_proof_is_bound_to_every_field_and_to_its_role() -> None:
    proof = prove(SECRET, Role.DIALER, TRANSCRIPT)
    # Reflection: the dialer's proof is no acceptor's proof.
    assert not verify(SECRET, Role.ACCEPTOR, TRANSCRIPT, proof)
    changes = {
        "cluster": "c2",
        "dialer": "n3",
        "acceptor": "n3",
        "version": 3,
        "dialer_nonce": b"e" * NONCE_BYTES,  # another connection of the same dialer
        "acceptor_nonce": b"b" * NONCE_BYTES,  # a replay: the acceptor's nonce is new
    }
    for field, value in changes.items():
        other = dataclasses.replace(TRANSCRIPT, **{field: value})
        assert not verify(SECRET, Role.DIALER, other, proof), field


def test_the_transcript_is_unambiguous() -> None:
    # Moving a byte from one field to the next changes what is proved.
    one = Transcript("c1", "ab", "c", 2, b"d" * NONCE_BYTES, b"a" * NONCE_BYTES)
    two = Transcript("c1", "a", "bc", 2, b"d" * NONCE_BYTES, b"a" * NONCE_BYTES)
    assert one.message(Role.DIALER) != two.message(Role.DIALER)
    assert prove(SECRET, Role.DIALER, one) != prove(SECRET, Role.DIALER, two)


@pytest.mark.parametrize(
    "proof", [None, "text", 12, b"", b"x" * (PROOF_BYTES - 1), b"x" * (PROOF_BYTES + 1), [b"x"]]
)
def test_anything_but_a_proof_of_the_right_size_is_refused(proof: object) -> None:
    assert not verify(SECRET, Role.DIALER, TRANSCRIPT, proof)


def test_nonces_must_be_bytes_of_the_full_size() -> None:
    assert is_nonce(b"n" * NONCE_BYTES)
    for value in (b"n" * (NONCE_BYTES - 1), b"", "n" * NONCE_BYTES, None, bytearray(NONCE_BYTES)):
        assert not is_nonce(value)


def test_the_secret_is_never_shown_and_must_be_long_enough() -> None:
    key = b"s3cr3t-" * 8
    secret = ClusterSecret(key)
    for shown in (repr(secret), str(secret), f"{secret}", repr([secret])):
        assert "s3cr3t" not in shown
        assert "hidden" in shown
    with pytest.raises(ValueError, match=f"at least {MIN_SECRET_BYTES} bytes") as refused:
        ClusterSecret(b"short-but-secret")
    assert "short-but-secret" not in str(refused.value)
