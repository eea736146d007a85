"""Fixtures of the fault suites (tests/faults, run by `tests/run faults`).

The suites run against a local stack of their own, started by tests/run
(compose/local/stack up with HOOKPIPE_RUN_DIR=.run/faults): Kafka, PostgreSQL,
a registry, a gateway, a kafka-avro sink and a postgres sink. Its connection
details arrive in the environment (the variables of stack.env). Scenarios kill
and restart those components; each leaves the stack running as it found it.
"""
import pathlib
import sys
import uuid

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
pytest.register_assert_rewrite("hookpipe_support")

from faultlib import Stack  # noqa: E402


@pytest.fixture(scope="session")
def stack():
    return Stack.from_env()


@pytest.fixture
def unique_name():
    """A fresh integration/topic-safe name per test: [a-z0-9_]."""
    return "f_" + uuid.uuid4().hex[:12]
