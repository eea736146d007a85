"""hookpipectl against a real broker: the records it writes to
hookpipe.integrations, the topics it creates, its output and exit codes."""
import hashlib
import json
import os
import re
import subprocess

import pytest

from hookpipe_support import Ctl, read_topic, topic_config, topic_partitions

INTEG_TOPIC = "hookpipe.integrations"
URL_RE = re.compile(r"^(?P<base>.+)/v1/clients/(?P<client>[^/]+)/token/(?P<token>[0-9a-f]{64})$")


@pytest.fixture
def ctl(hookpipectl):
    """Runs hookpipectl against the broker; returns the CompletedProcess."""
    def call(*args, env_extra=None, env_drop=()):
        env = dict(os.environ)
        for k in env_drop:
            env.pop(k, None)
        env.update(env_extra or {})
        return hookpipectl.run(*args, env=env)
    return call


@pytest.fixture
def created(ctl, unique_name):
    """Integrations made by a test, deleted afterwards (their topics stay)."""
    names = []
    yield names
    for name in names:
        ctl("delete", name)


def read_integrations(bootstrap):
    """Every (key, value) of the integrations topic, in log order, up to its
    end (hookpipectl writes in transactions: the end is known by the
    end-of-partition event, as the last offset is often a commit marker)."""
    assert topic_partitions(bootstrap, INTEG_TOPIC) == 1
    return [(m.key(), m.value())
            for m in read_topic(bootstrap, INTEG_TOPIC, **{"fetch.wait.max.ms": 10})]


def current(bootstrap, name):
    """The last value written for key `name` (None: tombstone), or KeyError."""
    last = {}
    for k, v in read_integrations(bootstrap):
        if k is not None:
            last[k.decode("utf-8", "replace")] = v
    return last[name]


def create(ctl, created, display, *args, **kw):
    r = ctl("integration", "create", display, *args, **kw)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    m = URL_RE.match(lines[0])
    assert m, lines[0]
    return m


def show(ctl, name):
    r = ctl("integration", "show", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_create_writes_record_topics_and_prints_url(ctl, bootstrap, unique_name, created):
    display = unique_name.upper().replace("_", "-") + " Events!"
    name = unique_name + "_events"
    created.append(name)
    m = create(ctl, created, display, "--primary-key", "id,ts", "--partitions", "2",
               "--max-body", "1m", env_drop=["HOOKPIPE_GATEWAY_URL"])
    assert m["base"] == "http://127.0.0.1:8080"
    assert re.fullmatch(r"[1-9][0-9]{7}", m["client"])
    token = m["token"]

    value = current(bootstrap, name)
    rec = json.loads(value)
    assert rec["name"] == name
    assert rec["display_name"] == display
    assert rec["client_id"] == m["client"]
    assert rec["topic"] == "webhooks." + name
    assert rec["rejected_topic"] == "webhooks." + name + ".rejected"
    assert rec["primary_key"] == ["id", "ts"]
    assert rec["status"] == "active"
    assert rec["max_body"] == 1 << 20
    assert [t["sha256"] for t in rec["tokens"]] == [hashlib.sha256(token.encode()).hexdigest()]
    assert re.fullmatch(r"[0-9a-f]{12}", rec["tokens"][0]["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", rec["created_at"])

    # only the hash is stored: the raw token is nowhere in the topic
    assert not any(v and token.encode() in v for _, v in read_integrations(bootstrap))

    assert topic_partitions(bootstrap, "webhooks." + name) == 2
    assert topic_partitions(bootstrap, "webhooks." + name + ".rejected") == 2
    assert topic_partitions(bootstrap, INTEG_TOPIC) == 1
    assert topic_config(bootstrap, INTEG_TOPIC, "cleanup.policy") == "compact"

    assert show(ctl, name) == rec
    assert show(ctl, display) == rec    # a display name finds it too


def test_defaults_and_base_url(ctl, bootstrap, unique_name, created):
    created.append(unique_name)
    m = create(ctl, created, unique_name, "--client-id", "acct-7",
               env_extra={"HOOKPIPE_GATEWAY_URL": "https://hooks.example.com/"})
    assert m["base"] == "https://hooks.example.com"
    assert m["client"] == "acct-7"
    assert topic_partitions(bootstrap, "webhooks." + unique_name) == 3
    rec = show(ctl, unique_name)
    assert rec["primary_key"] == []
    assert rec["max_body"] == 0

    other = unique_name + "_x"
    created.append(other)
    m = create(ctl, created, other, "--base-url", "http://gw:9000", "--topic-prefix", "wh.",
               env_extra={"HOOKPIPE_GATEWAY_URL": "https://ignored.example.com"})
    assert m["base"] == "http://gw:9000"
    assert show(ctl, other)["topic"] == "wh." + other
    assert topic_partitions(bootstrap, "wh." + other) == 3


def test_list_tokens_pause_resume_delete(ctl, bootstrap, unique_name, created):
    created.append(unique_name)
    first = create(ctl, created, unique_name, "--primary-key", "order_id")

    r = ctl("integration", "list")
    assert r.returncode == 0, r.stderr
    mine = [l.split("\t") for l in r.stdout.splitlines() if l.split("\t")[0] == unique_name]
    assert mine == [[unique_name, "active", "webhooks." + unique_name, "order_id", "1"]]
    r = ctl("integration", "list", "--json")
    assert r.returncode == 0, r.stderr
    recs = [x for x in json.loads(r.stdout) if x["name"] == unique_name]
    assert recs == [show(ctl, unique_name)]

    # a second token: same client id, another token; a third is refused
    r = ctl("token", "add", unique_name)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1
    second = URL_RE.match(r.stdout.strip())
    assert second and second["client"] == first["client"]
    assert second["token"] != first["token"]
    rec = show(ctl, unique_name)
    hashes = [t["sha256"] for t in rec["tokens"]]
    assert hashes == [hashlib.sha256(u["token"].encode()).hexdigest() for u in (first, second)]
    r = ctl("token", "add", unique_name)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("hookpipectl: ") and "2 active tokens" in r.stderr
    assert len(show(ctl, unique_name)["tokens"]) == 2

    # revoke the first: only the second stays
    first_id = rec["tokens"][0]["id"]
    r = ctl("token", "revoke", unique_name, first_id)
    assert r.returncode == 0, r.stderr
    rec = show(ctl, unique_name)
    assert [t["sha256"] for t in rec["tokens"]] == [hashes[1]]
    r = ctl("token", "revoke", unique_name, first_id)
    assert r.returncode == 1 and "no active token" in r.stderr
    r = ctl("token", "add", unique_name)
    assert r.returncode == 0, r.stderr
    assert len(show(ctl, unique_name)["tokens"]) == 2

    # pause and resume (twice is harmless)
    for cmd, status in (("pause", "paused"), ("pause", "paused"), ("resume", "active"),
                        ("resume", "active")):
        r = ctl(cmd, unique_name)
        assert r.returncode == 0, r.stderr
        assert show(ctl, unique_name)["status"] == status
        assert json.loads(current(bootstrap, unique_name))["status"] == status
    r = ctl("pause", unique_name)
    r = ctl("integration", "list")
    assert (unique_name + "\tpaused\t") in r.stdout

    # delete: a tombstone; the topics stay
    r = ctl("delete", unique_name)
    assert r.returncode == 0, r.stderr
    assert current(bootstrap, unique_name) is None
    r = ctl("integration", "show", unique_name)
    assert r.returncode == 1 and "no integration named" in r.stderr
    assert unique_name + "\t" not in ctl("integration", "list").stdout
    assert topic_partitions(bootstrap, "webhooks." + unique_name) == 3
    assert topic_partitions(bootstrap, "webhooks." + unique_name + ".rejected") == 3

    # the name is free again; the kept topics are reused
    again = create(ctl, created, unique_name)
    assert again["token"] not in (first["token"], second["token"])


def test_duplicate_refused(ctl, bootstrap, unique_name, created):
    created.append(unique_name)
    create(ctl, created, unique_name)
    before = current(bootstrap, unique_name)
    for display in (unique_name, unique_name.upper(), unique_name.replace("_", "-")):
        r = ctl("integration", "create", display)
        assert r.returncode == 1, display
        assert r.stdout == ""
        assert r.stderr.startswith("hookpipectl: ") and "already exists" in r.stderr
    assert current(bootstrap, unique_name) == before


@pytest.mark.parametrize("display", ["", "   ", "!!!", "123abc", "日本", "x" * 60])
def test_bad_names_refused(ctl, bootstrap, display):
    r = ctl("integration", "create", display)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("hookpipectl: invalid integration name")
    assert len(r.stderr.splitlines()) == 1


def test_primary_key_rules(ctl, bootstrap, unique_name, created):
    for pk, why in (("a" * 51, "at most 50"), ("user.id", "top-level"), ("id,", "empty"),
                    ("id,id", "twice")):
        r = ctl("integration", "create", unique_name, "--primary-key", pk)
        assert r.returncode == 1, pk
        assert r.stdout == ""
        assert r.stderr.startswith("hookpipectl: ") and why in r.stderr
    # nothing was written for the refused attempts
    with pytest.raises(KeyError):
        current(bootstrap, unique_name)
    created.append(unique_name)
    create(ctl, created, unique_name, "--primary-key", "b" * 50)
    assert show(ctl, unique_name)["primary_key"] == ["b" * 50]


@pytest.mark.parametrize("cmd", [["integration", "show"], ["token", "add"], ["pause"],
                                 ["resume"], ["delete"]])
def test_unknown_name(ctl, unique_name, cmd):
    r = ctl(*cmd, unique_name)
    assert r.returncode == 1
    assert r.stderr == f"hookpipectl: no integration named '{unique_name}' " \
                       "(see: hookpipectl integration list)\n"
    r = ctl("token", "revoke", unique_name, "0123456789ab")
    assert r.returncode == 1


@pytest.mark.parametrize("args", [[], ["frob"], ["integration"], ["integration", "frob"],
                                  ["integration", "create"], ["integration", "list", "x"],
                                  ["token", "revoke", "a"], ["pause"],
                                  ["integration", "list", "--partitions", "2"],
                                  ["integration", "list", "--nope", "1"],
                                  ["integration", "create", "x", "--partitions", "many"]])
def test_usage_errors(ctl, args):
    r = ctl(*args)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    assert r.stderr.startswith("hookpipectl: ")
    assert len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["integration", "--help"],
                                  ["integration", "create", "--help"], ["integration", "list", "-h"],
                                  ["integration", "show", "--help"], ["token", "--help"],
                                  ["token", "add", "--help"], ["token", "revoke", "--help"],
                                  ["pause", "--help"], ["resume", "--help"], ["delete", "--help"]])
def test_help(ctl, args):
    r = ctl(*args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: hookpipectl")
    if args[0] == "delete":
        assert "never deletes data" in r.stdout


def test_no_broker(bin_dir):
    r = Ctl(bin_dir, "127.0.0.1:1").run("--timeout", "1000", "integration", "list")
    assert r.returncode == 1
    assert r.stderr.startswith("hookpipectl: ") and len(r.stderr.splitlines()) == 1


def run_parallel(hookpipectl, n, *args):
    """Starts n identical hookpipectl runs at once; their (exit code, stdout, stderr)."""
    procs = [subprocess.Popen(hookpipectl.argv + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=60)
        out.append((p.returncode, stdout, stderr))
    return out


def test_concurrent_token_add_never_loses_a_token(ctl, hookpipectl, unique_name, created):
    """Only one slot is free: at most one run succeeds, and the URL it printed works
    (its token's hash is stored) — no run prints a URL whose token was overwritten."""
    created.append(unique_name)
    create(ctl, created, unique_name)
    results = run_parallel(hookpipectl, 4, "token", "add", unique_name)
    ok = [URL_RE.match(out.strip()) for rc, out, _ in results if rc == 0]
    assert len(ok) <= 1, results
    for rc, out, err in results:
        if rc != 0:
            assert rc == 1 and out == "", (rc, out, err)
            assert "at the same time" in err or "2 active tokens" in err, err
    stored = [t["sha256"] for t in show(ctl, unique_name)["tokens"]]
    assert len(stored) == 1 + len(ok)
    for m in ok:
        assert hashlib.sha256(m["token"].encode()).hexdigest() in stored


def test_concurrent_create_one_winner(ctl, hookpipectl, unique_name, created):
    created.append(unique_name)
    results = run_parallel(hookpipectl, 4, "integration", "create", unique_name)
    ok = [URL_RE.match(out.strip()) for rc, out, _ in results if rc == 0]
    assert len(ok) <= 1, results
    for rc, out, err in results:
        if rc != 0:
            assert rc == 1 and out == "", (rc, out, err)
            assert "at the same time" in err or "already exists" in err, err
    if ok:
        stored = [t["sha256"] for t in show(ctl, unique_name)["tokens"]]
        assert stored == [hashlib.sha256(ok[0]["token"].encode()).hexdigest()]


def test_topic_collision_refused(ctl, bootstrap, unique_name, created):
    """Kafka treats '.' and '_' alike in topic names: "<name>_rejected" would
    collide with the dead-letter topic "<name>.rejected". The create fails on
    the topic, before any record is written."""
    created.append(unique_name)
    create(ctl, created, unique_name)
    r = ctl("integration", "create", unique_name + "_rejected")
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("hookpipectl: cannot create topic") and "collides" in r.stderr
    with pytest.raises(KeyError):
        current(bootstrap, unique_name + "_rejected")
