"""Signed webhooks, absorbed retries and the rest of the lock (issue 8), over
real HTTP against the real broker.

Signatures are computed here with Python's hmac/hashlib/base64, independently
of the gateway's C code. Each test starts its own gateway(s) with a fresh
HOOKPIPE_SECRET_KEY; hookpipectl gets the same key through the environment.
"""
import base64
import hashlib
import hmac
import json
import os
import time
import uuid

import pytest
import requests

from hookpipe_support import (JSON, ROOT, Ctl, Gateway, check_error, free_port, headers_of, metric,
                              post, read_topic, run)

DELIVERY_NS = uuid.UUID("5e0b6c1a-8f3d-4b27-9c45-d21a7e6f0b93")
KEY_ENV = "HOOKPIPE_SECRET_KEY"


def delivery_key(integration, delivery_id, index=0):
    """The documented key of a no-primary-key record with a delivery id."""
    return str(uuid.uuid5(DELIVERY_NS, f"{integration}\n{delivery_id}\n{index}"))


@pytest.fixture(scope="module")
def secret_key():
    """A fresh sealing key, in this process's environment for hookpipectl
    and the gateways started by the tests of this module."""
    old = os.environ.get(KEY_ENV)
    key = os.urandom(32).hex()
    os.environ[KEY_ENV] = key
    yield key
    if old is None:
        os.environ.pop(KEY_ENV, None)
    else:
        os.environ[KEY_ENV] = old


@pytest.fixture(scope="module")
def sgw(bin_dir, bootstrap, tmp_path_factory, secret_key):
    """A gateway holding the module's key."""
    g = Gateway(bin_dir, bootstrap, tmp_path_factory.mktemp("sgw") / "gateway.log")
    g.wait_ready()
    yield g
    assert g.stop() == 0, g.tail()


def secret_file(tmp_path, text):
    p = tmp_path / ("secret-" + uuid.uuid4().hex)
    p.write_text(text + "\n")
    p.chmod(0o600)
    return str(p)


def hmac256(secret, data):
    return hmac.new(secret, data, hashlib.sha256).digest()


def assert_not_authorized(r):
    body = check_error(r, 401)
    # the same answer as a bad token: nothing about why
    assert body["message"] == "Not Authorized", body
    assert set(body) == {"status", "message", "request_id"}, body


# --- Standard Webhooks ----------------------------------------------------------

def standard_headers(secret, msg_id, ts, body, extra_sigs=()):
    key = base64.b64decode(secret.split("_", 1)[1])
    sig = base64.b64encode(hmac256(key, f"{msg_id}.{ts}.".encode() + body)).decode()
    return dict(JSON, **{"webhook-id": msg_id, "webhook-timestamp": str(ts),
                         "webhook-signature": " ".join([*extra_sigs, "v1," + sig])})


def test_standard_webhooks(sgw, hookpipectl, bootstrap, unique_name, tmp_path):
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    env = dict(os.environ, STD_SECRET=secret)
    url = hookpipectl.create(unique_name, "--signature", "standard",
                             "--secret-env", "STD_SECRET", env=env, base_url=sgw.base)
    url = sgw.url(url)
    body = b'{"type":"invoice.paid","n":123456789012345678901234567890}'
    msg_id = "msg_" + uuid.uuid4().hex
    now = int(time.time())
    # an old signature first (key rotation): any matching v1 is enough
    h = standard_headers(secret, msg_id, now, body, extra_sigs=["v1,AAAA", "v2,ignored"])
    r = post(url, body, headers=h)
    assert r.status_code == 200, r.text

    refused = [
        dict(h, **{"webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}),
        standard_headers(secret, msg_id, now - 3600, body),             # too old
        standard_headers(secret, msg_id, now, body + b" "),              # other bytes
        {k: v for k, v in h.items() if k != "webhook-signature"},        # unsigned
        standard_headers("whsec_" + base64.b64encode(b"k" * 24).decode(), msg_id, now, body),
    ]
    for hdrs in refused:
        assert_not_authorized(post(url, body, headers=hdrs, retry=()))

    (m,) = read_topic(bootstrap, "webhooks." + unique_name, 1)
    hd = headers_of(m)
    assert m.value() == body
    assert hd["hookpipe-signature"] == "standard"
    assert hd["hookpipe-delivery-id"] == msg_id
    assert m.key().decode() == delivery_key(unique_name, msg_id)
    assert metric(sgw.metrics, "hookpipe_gateway_signature_failures_total",
                  integration=unique_name, reason="mismatch") == 3
    assert metric(sgw.metrics, "hookpipe_gateway_signature_failures_total",
                  integration=unique_name, reason="timestamp") == 1
    assert metric(sgw.metrics, "hookpipe_gateway_signature_failures_total",
                  integration=unique_name, reason="missing") == 1
    # the reason is in the log, never in the answer
    log = open(sgw.log_path).read()
    assert f"integration {unique_name}: standard signature refused (timestamp)" in log


def test_secret_is_stored_sealed(sgw, hookpipectl, bootstrap, unique_name, tmp_path, secret_key):
    secret = "gh-" + uuid.uuid4().hex
    hookpipectl.create(unique_name, "--signature", "github",
                       "--secret-file", secret_file(tmp_path, secret), base_url=sgw.base)
    shown = hookpipectl("integration", "show", unique_name)
    rec = json.loads(shown)
    assert secret not in shown
    sealed = rec["signature"]["secret"]
    assert sealed.startswith("A256GCM.")
    assert rec["signature"]["scheme"] == "github"
    # the raw topic holds no clear text either
    msgs = read_topic(bootstrap, "hookpipe.integrations")
    assert unique_name.encode() in [m.key() for m in msgs]
    for m in msgs:
        assert secret.encode() not in (m.value() or b"")
    # hookpipectl refuses to seal without a key, and never takes a secret inline
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    r = hookpipectl.run("signature", "set", unique_name, "--signature", "github",
                        "--secret-file", secret_file(tmp_path, "x"), env=env)
    assert r.returncode == 1 and KEY_ENV in r.stderr, r.stderr
    r = hookpipectl.run("signature", "set", unique_name, "--signature", "github",
                        "--secret", "inline")
    assert r.returncode == 2, r.stderr


# --- GitHub, Stripe, Shopify, generic HMAC ---------------------------------------

def test_github(sgw, hookpipectl, bootstrap, unique_name, tmp_path):
    secret = "It's a Secret to Everybody"
    url = sgw.url(hookpipectl.create(unique_name, "--signature", "github",
                                     "--secret-file", secret_file(tmp_path, secret),
                                     base_url=sgw.base))
    # the known answer, over real HTTP
    known = {"X-Hub-Signature-256":
             "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}
    assert hmac256(secret.encode(), b"Hello, World!").hex() == known["X-Hub-Signature-256"][7:]
    body = b'[{"action":"opened","n":1},{"action":"closed","n":2}]'
    sig = "sha256=" + hmac256(secret.encode(), body).hex()
    delivery = str(uuid.uuid4())
    h = dict(JSON, **{"X-Hub-Signature-256": sig, "X-GitHub-Delivery": delivery})
    assert post(url, body, headers=h).status_code == 200
    assert_not_authorized(post(url, body, headers=dict(h, **known), retry=()))
    assert_not_authorized(post(url, body, headers=dict(JSON, **{"X-GitHub-Delivery": delivery}),
                               retry=()))
    assert_not_authorized(post(url, body, headers=dict(h, **{"X-Hub-Signature-256": sig[7:]}),
                               retry=()))
    ms = read_topic(bootstrap, "webhooks." + unique_name, 2)
    assert sorted(m.key().decode() for m in ms) == sorted(
        delivery_key(unique_name, delivery, i) for i in range(2))
    for m in ms:
        assert headers_of(m)["hookpipe-signature"] == "github"
        assert headers_of(m)["hookpipe-delivery-id"] == delivery


def test_stripe_delivery_id_from_the_event(sgw, hookpipectl, bootstrap, unique_name, tmp_path):
    secret = "whsec_" + uuid.uuid4().hex
    url = sgw.url(hookpipectl.create(unique_name, "--signature", "stripe",
                                     "--secret-file", secret_file(tmp_path, secret),
                                     "--signature-tolerance", "60", base_url=sgw.base))
    evt = "evt_" + uuid.uuid4().hex[:24]
    body = json.dumps({"id": evt, "object": "event", "type": "charge.succeeded"}).encode()
    t = int(time.time())
    v1 = hmac256(secret.encode(), f"{t}.".encode() + body).hex()
    h = dict(JSON, **{"Stripe-Signature": f"t={t},v1={'0' * 64},v1={v1},v0=abc"})
    assert post(url, body, headers=h).status_code == 200
    old = t - 120
    v1_old = hmac256(secret.encode(), f"{old}.".encode() + body).hex()
    assert_not_authorized(post(url, body, headers=dict(JSON, **{
        "Stripe-Signature": f"t={old},v1={v1_old}"}), retry=()))
    assert_not_authorized(post(url, body, headers=dict(JSON, **{
        "Stripe-Signature": f"v1={v1}"}), retry=()))
    (m,) = read_topic(bootstrap, "webhooks." + unique_name, 1)
    assert headers_of(m)["hookpipe-signature"] == "stripe"
    assert headers_of(m)["hookpipe-delivery-id"] == evt
    assert m.key().decode() == delivery_key(unique_name, evt)


def test_shopify(sgw, hookpipectl, bootstrap, unique_name, tmp_path):
    secret = "shpss_" + uuid.uuid4().hex
    url = sgw.url(hookpipectl.create(unique_name, "--signature", "shopify",
                                     "--secret-file", secret_file(tmp_path, secret),
                                     base_url=sgw.base))
    body = '{"id":820982911946154508,"email":"jon@example.com","note":"caf\u00e9"}'.encode()
    sig = base64.b64encode(hmac256(secret.encode(), body)).decode()
    wid = str(uuid.uuid4())
    h = dict(JSON, **{"X-Shopify-Hmac-Sha256": sig, "X-Shopify-Webhook-Id": wid})
    assert post(url, body, headers=h).status_code == 200
    assert_not_authorized(post(url, body, headers=dict(h, **{
        "X-Shopify-Hmac-Sha256": hmac256(secret.encode(), body).hex()}), retry=()))
    (m,) = read_topic(bootstrap, "webhooks." + unique_name, 1)
    assert m.value() == body
    assert headers_of(m)["hookpipe-signature"] == "shopify"
    assert headers_of(m)["hookpipe-delivery-id"] == wid


def test_generic_hmac_and_configured_delivery_header(sgw, hookpipectl, bootstrap, unique_name,
                                                     tmp_path):
    secret = uuid.uuid4().hex
    url = sgw.url(hookpipectl.create(unique_name, "--primary-key", "id",
                                     "--signature", "hmac", "--signature-header", "X-Signature",
                                     "--signature-encoding", "base64", "--signature-prefix", "v1=",
                                     "--secret-file", secret_file(tmp_path, secret),
                                     "--delivery-id-header", "X-Event-Id", base_url=sgw.base))
    body = b'{"id":42,"x":"y"}'
    sig = "v1=" + base64.b64encode(hmac256(secret.encode(), body)).decode()
    h = dict(JSON, **{"X-Signature": sig, "X-Event-Id": "ev-42", "webhook-id": "ignored"})
    assert post(url, body, headers=h).status_code == 200
    assert_not_authorized(post(url, body, headers=dict(h, **{"X-Signature": sig[3:]}),
                               retry=()))
    (m,) = read_topic(bootstrap, "webhooks." + unique_name, 1)
    assert m.key() == b"42"          # a primary key is kept as the key
    assert headers_of(m)["hookpipe-signature"] == "hmac"
    assert headers_of(m)["hookpipe-delivery-id"] == "ev-42"
    # signature clear: the URL token alone again, no signature header on records
    hookpipectl("signature", "clear", unique_name)
    r = post(url, b'{"id":43}', timeout=10)       # 401 until the gateway has the change
    assert r.status_code == 200, r.text
    ms = read_topic(bootstrap, "webhooks." + unique_name, 2)
    (last,) = [m for m in ms if m.value() == b'{"id":43}']
    assert "hookpipe-signature" not in headers_of(last)


# --- retries ----------------------------------------------------------------------

def test_retried_delivery_keeps_its_key(sgw, hookpipectl, bootstrap, unique_name, tmp_path):
    """The same signed delivery posted three times: three Kafka messages with
    one key, which the sink's no-primary-key upsert (by __sdc_primary_key)
    loads as one row."""
    secret = uuid.uuid4().hex
    url = sgw.url(hookpipectl.create(unique_name, "--signature", "github",
                                     "--secret-file", secret_file(tmp_path, secret),
                                     base_url=sgw.base))
    body = b'{"action":"created","comment":{"id":1}}'
    h = dict(JSON, **{"X-Hub-Signature-256": "sha256=" + hmac256(secret.encode(), body).hex(),
                      "X-GitHub-Delivery": str(uuid.uuid4())})
    for _ in range(3):
        assert post(url, body, headers=h).status_code == 200
    # and one other delivery of the same body: a row of its own
    h2 = dict(h, **{"X-GitHub-Delivery": str(uuid.uuid4())})
    assert post(url, body, headers=h2).status_code == 200
    ms = read_topic(bootstrap, "webhooks." + unique_name, 4)
    keys = [m.key().decode() for m in ms]
    assert len(keys) == 4
    assert keys.count(delivery_key(unique_name, h["X-GitHub-Delivery"])) == 3
    assert keys.count(delivery_key(unique_name, h2["X-GitHub-Delivery"])) == 1


def test_delivery_field_and_no_id(sgw, hookpipectl, bootstrap, unique_name):
    url = sgw.url(hookpipectl.create(unique_name, "--delivery-id-field", "event_id",
                                     base_url=sgw.base))
    body = b'[{"event_id":"e1","v":1},{"event_id":7,"v":2},{"v":3},{"event_id":{"x":1}}]'
    assert post(url, body).status_code == 200
    ms = read_topic(bootstrap, "webhooks." + unique_name, 4)
    by_v = {json.loads(m.value())["v"] if "v" in json.loads(m.value()) else 4: m for m in ms}
    assert by_v[1].key().decode() == delivery_key(unique_name, "e1", 0)
    assert headers_of(by_v[1])["hookpipe-delivery-id"] == "e1"
    assert by_v[2].key().decode() == delivery_key(unique_name, "7", 1)
    for v in (3, 4):                  # no usable id: a random UUID v4, no header
        assert by_v[v].key().decode()[14] == "4"
        assert "hookpipe-delivery-id" not in headers_of(by_v[v])


# --- the sealing key ----------------------------------------------------------------

def test_gateway_without_or_with_another_key_answers_503(hookpipectl, bin_dir, bootstrap,
                                                         unique_name, tmp_path, secret_key, sgw):
    secret = uuid.uuid4().hex
    url = hookpipectl.create(unique_name, "--signature", "github",
                             "--secret-file", secret_file(tmp_path, secret), base_url=sgw.base)
    body = b'{"a":1}'
    h = dict(JSON, **{"X-Hub-Signature-256": "sha256=" + hmac256(secret.encode(), body).hex()})
    assert post(sgw.url(url), body, headers=h).status_code == 200
    gws = []
    try:
        for i, key in enumerate([None, os.urandom(32).hex()]):
            env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
            if key:
                env[KEY_ENV] = key
            g = Gateway(bin_dir, bootstrap, tmp_path / f"nokey{i}.log", env=env)
            gws.append(g)
            g.wait_ready()
            r = post(g.url(url), body, headers=h)
            body_json = check_error(r, 503, "signature verification unavailable")
            assert r.headers["Retry-After"].isdigit()
            assert "Not Authorized" not in body_json["message"]
            g.stop()
            log = g.tail()
            assert unique_name in log and KEY_ENV in log, log
            assert ("has no " + KEY_ENV) in log if key is None else "is key" in log
        # a malformed key stops the gateway at start with a clear line
        env = dict(os.environ, **{KEY_ENV: "too-short", "KAFKA_BOOTSTRAP_SERVERS": bootstrap})
        r = run([str(bin_dir / "hookpipe-gateway"), "--listen=127.0.0.1:0"], check=False,
                timeout=30, env=env)
        assert r.returncode == 2 and KEY_ENV in r.stderr and "too-short" not in r.stderr
    finally:
        for g in gws:
            g.stop()


# --- rate limit -------------------------------------------------------------------

def test_rate_limit_429_with_retry_after(sgw, hookpipectl, bootstrap, unique_name):
    url = sgw.url(hookpipectl.create(unique_name, "--rate-limit", "1/m",
                                     "--burst", "2", base_url=sgw.base))
    codes = []
    r = post(url, b'{"a":0}')                  # waits until the gateway knows it
    codes.append(r.status_code)
    for i in range(3):
        r = requests.post(url, data=b'{"a":1}', headers=JSON, timeout=10)
        codes.append(r.status_code)
    assert codes == [200, 200, 429, 429], codes
    body = check_error(r, 429, "rate limit")
    assert 1 <= int(r.headers["Retry-After"]) <= 60, r.headers
    assert body["message"] == "rate limit exceeded, retry later"
    # lifted: accepted again at once
    hookpipectl("integration", "update", unique_name, "--rate-limit", "off")
    assert post(url, b'{"a":2}', retry=(429,), timeout=10).status_code == 200
    r = hookpipectl.run("integration", "update", unique_name, "--rate-limit", "fast")
    assert r.returncode == 1 and "--rate-limit" in r.stderr


# --- TLS ------------------------------------------------------------------------------

def test_tls_listener(hookpipectl, bin_dir, bootstrap, unique_name, tmp_path, secret_key):
    cert, key = tmp_path / "gw.crt", tmp_path / "gw.key"
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)])
    g = Gateway(bin_dir, bootstrap, tmp_path / "tls.log", f"--tls.cert={cert}",
                f"--tls.key={key}")
    try:
        g.wait_ready()
        https = g.base.replace("http://", "https://")
        url = hookpipectl.create(unique_name, base_url=g.base).replace("http://", "https://")
        assert url.startswith(https)
        r = post(url, b'{"tls":true}', timeout=10, verify=str(cert))
        assert r.status_code == 200, r.text
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(url, data=b'{}', headers=JSON, timeout=10)   # not trusted
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.post(url.replace("https://", "http://"), data=b'{}', headers=JSON,
                          timeout=10)
        (m,) = read_topic(bootstrap, "webhooks." + unique_name, 1)
        assert m.value() == b'{"tls":true}'
    finally:
        assert g.stop() == 0, g.tail()


# --- Kafka over SASL ------------------------------------------------------------------

@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory, pg_url):
    """(sasl bootstrap, plaintext bootstrap, user, password) of a broker with
    the stack's opt-in SASL/PLAIN listener: the running stack's when it was
    started with HOOKPIPE_STACK_SASL_PORT, else a Kafka-only stack of our own
    (compose/local/stack with no programs and the running PostgreSQL), so
    the listener is tested in every run."""
    if os.environ.get("HOOKPIPE_STACK_SASL_BOOTSTRAP"):
        yield (os.environ["HOOKPIPE_STACK_SASL_BOOTSTRAP"], os.environ["KAFKA_BOOTSTRAP_SERVERS"],
               os.environ["HOOKPIPE_STACK_SASL_USER"], os.environ["HOOKPIPE_STACK_SASL_PASSWORD"])
        return
    run_dir = tmp_path_factory.mktemp("sasl-stack")
    empty = tmp_path_factory.mktemp("no-programs")
    env = {k: v for k, v in os.environ.items()
           if k != "KAFKA_BOOTSTRAP_SERVERS" and not k.startswith("HOOKPIPE_STACK_")}
    env.update(HOOKPIPE_RUN_DIR=str(run_dir), HOOKPIPE_BIN=str(empty), HOOKPIPE_PG_URL=pg_url,
               HOOKPIPE_STACK_KAFKA_PORT=str(free_port()),
               HOOKPIPE_STACK_CONTROLLER_PORT=str(free_port()),
               HOOKPIPE_STACK_SASL_PORT=str(free_port()), HOOKPIPE_STACK_KAFKA_HEAP="384m")
    stack = str(ROOT / "compose" / "local" / "stack")
    try:
        r = run([stack, "up"], check=False, timeout=180, env=env)
        assert r.returncode == 0, r.stderr
        conf = dict(line.split("=", 1) for line in
                    (run_dir / "stack.env").read_text().splitlines() if "=" in line)
        yield (conf["HOOKPIPE_STACK_SASL_BOOTSTRAP"], conf["KAFKA_BOOTSTRAP_SERVERS"],
               conf["HOOKPIPE_STACK_SASL_USER"], conf["HOOKPIPE_STACK_SASL_PASSWORD"])
    finally:
        run([stack, "down", "--purge"], check=False, timeout=120, env=env)


def test_sasl_plain_listener(bin_dir, unique_name, tmp_path, sasl_broker):
    sasl, bootstrap, user, password = sasl_broker
    x = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN",
         "-X", f"sasl.username={user}"]
    # the password through the environment, as an operator would (not in ps)
    env = dict(os.environ, HOOKPIPE_KAFKA_SASL_PASSWORD=password)
    ctl = Ctl(bin_dir, sasl, *x)
    r = ctl.run("--timeout", "5000", "integration", "list",
                env=dict(os.environ, HOOKPIPE_KAFKA_SASL_PASSWORD="wrong"))
    assert r.returncode == 1, r.stdout
    g = Gateway(bin_dir, sasl, tmp_path / "sasl.log", *x, env=env)
    try:
        g.wait_ready()
        resp = post(g.url(ctl.create(unique_name, base_url=g.base, env=env)), b'{"over":"sasl"}')
        assert resp.status_code == 200, resp.text
        (m,) = read_topic(bootstrap, "webhooks." + unique_name, 1)
        assert m.value() == b'{"over":"sasl"}'
    finally:
        assert g.stop() == 0, g.tail()
