"""Registers the real-server fixtures of tests/servers.py for every test module."""

from tests.servers import stack_factory  # noqa: F401 - a fixture, registered by being imported here
