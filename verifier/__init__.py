"""The offline bundle verifier (`temoin verify BUNDLE.zip`): a bundle and a key in, checks out.

It runs with nothing but the bundle and, optionally, the key and trust anchors the reader
obtained elsewhere: it imports nothing from `api/` or `projections/` and nothing of the
ledger that touches a database (only the pure formats: entries, Merkle proofs, signed notes,
commitments, RFC 3161 tokens, cosignatures). tests/test_verifier_imports.py holds it to that.
"""
