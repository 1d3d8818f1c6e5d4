"""Tests of the pytest plugin, run from the outside: each test writes a small test suite with
pytester, runs pytest on it in a subprocess, and checks the outcome, the output and what the inner
run left on the machine (processes, node homes, port reservations)."""
