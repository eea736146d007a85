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

What the tests use besides fixtures is in tests/support/hookpipe_support.py.
"""
import os
import pathlib
import sys
import uuid

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
pytest.register_assert_rewrite("hookpipe_support")

from hookpipe_support import (ROOT, Ctl, Gateway, Lite, Pg, Registry, Sink,  # noqa: E402
                              unique_schemas_topic)


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


@pytest.fixture(scope="session")
def hookpipectl(bin_dir, bootstrap):
    """hookpipectl against the stack's broker."""
    return Ctl(bin_dir, bootstrap)


@pytest.fixture
def gateways(bin_dir, bootstrap, tmp_path):
    """gateways(*args, ready=True, env=None) -> a Gateway of this test (ready
    unless told); each must exit 0 on SIGTERM at the end."""
    started = []

    def start(*args, ready=True, env=None):
        gw = Gateway(bin_dir, bootstrap, tmp_path / f"gateway{len(started)}.log", *args, env=env)
        started.append(gw)
        return gw.wait_ready() if ready else gw

    yield start
    codes = [gw.stop() for gw in started]
    assert codes == [0] * len(codes), [gw.tail() for gw in started]


@pytest.fixture
def replicas(bin_dir, bootstrap, tmp_path):
    """replicas(n, topic=None, extra=()) -> n started registry replicas
    sharing one topic (default: a fresh one)."""
    started = []

    def make(n=1, topic=None, extra=()):
        topic = topic or unique_schemas_topic()
        out = []
        for _ in range(n):
            r = Registry(bin_dir, bootstrap, topic, tmp_path / f"r{len(started)}.log", *extra)
            started.append(r)
            out.append(r.start(wait=False))
        for r in out:
            r.wait_ready()
        return out

    yield make
    for r in started:
        r.stop()


@pytest.fixture(scope="module")
def pg(pg_url):
    """The stack's PostgreSQL, as its postgres sink loads it."""
    return Pg(pg_url)


@pytest.fixture(scope="module")
def lite(bin_dir, bootstrap, tmp_path_factory):
    """A sqlite sink of the module, in its own consumer group: its Lite (with .sink)."""
    d = tmp_path_factory.mktemp("sqlite")
    group = "test-sqlite-" + uuid.uuid4().hex[:8]
    s = Sink(bin_dir, bootstrap, d / "sink.log", "--target", "sqlite",
             "--sqlite.path", str(d / "wh.db"), "--group.id", group)
    yield Lite(d / "wh.db", group, sink=s)
    assert s.stop() == 0, s.tail()


@pytest.fixture(params=["postgres", "sqlite"])
def wh(request, pg):
    """Each warehouse in turn: the stack's PostgreSQL, the module's sqlite sink."""
    return pg if request.param == "postgres" else request.getfixturevalue("lite")
