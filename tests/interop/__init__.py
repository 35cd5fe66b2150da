"""Interop oracle: Go's reference signed-note and tlog code, driven from pytest."""
