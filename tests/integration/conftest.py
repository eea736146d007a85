"""Shared fixtures for the integration suites.

The suites run against the real local stack started by tests/run
(compose/local/stack up), whose connection details arrive in the environment
(the variables of .run/<dir>/stack.env):

  KAFKA_BOOTSTRAP_SERVERS  the broker
  HOOKPIPE_GATEWAY_URL     the stack's gateway (webhook listener)
  HOOKPIPE_METRICS_URL     the stack's gateway metrics/health listener
  HOOKPIPE_REGISTRY_URL    the stack's schema registry
  HOOKPIPE_PG_URL          the stack's PostgreSQL
  HOOKPIPE_BIN             where the programs are (default build/bin)
"""
import os
import pathlib
import subprocess
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        pytest.fail(f"{name} is not set: run the suites through tests/run")
    return value


@pytest.fixture(scope="session")
def bootstrap():
    return _env("KAFKA_BOOTSTRAP_SERVERS")


@pytest.fixture(scope="session")
def bin_dir():
    return pathlib.Path(_env("HOOKPIPE_BIN", str(ROOT / "build" / "bin")))


@pytest.fixture(scope="session")
def gateway_url():
    return _env("HOOKPIPE_GATEWAY_URL")


@pytest.fixture(scope="session")
def metrics_url():
    return _env("HOOKPIPE_METRICS_URL")


@pytest.fixture(scope="session")
def registry_url():
    return _env("HOOKPIPE_REGISTRY_URL")


@pytest.fixture(scope="session")
def pg_url():
    return _env("HOOKPIPE_PG_URL")


@pytest.fixture
def unique_name():
    """A fresh integration/topic-safe name per test: [a-z0-9_]."""
    return "t_" + uuid.uuid4().hex[:12]


def run(cmd, check=True, **kw):
    """Runs a command, returning CompletedProcess with text output."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=check, **kw)
