"""A C2SP tlog-witness server (https://c2sp.org/tlog-witness): `temoin witness serve`.

It depends only on `ledger/` primitives (signed notes, cosignatures, Merkle proofs), never on
the Témoin service, so that one operator can witness another's log without running a log.
"""
