"""Contract suites of the store Protocols (ledger/store/protocols.py): one abstract class per
Protocol (`contracts_*.py`), subclassed per backend (`test_sqlite.py`, `test_postgres.py`), as
eventsourcing tests its recorders."""
