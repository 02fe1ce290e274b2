"""The local HTTP server every download test talks to (never the network)."""

import pytest

from http_server import Server


@pytest.fixture
def server():
    with Server() as running:
        yield running
