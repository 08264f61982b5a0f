"""Integration tests of `rampart serve`: the real gateway in front of `rampart-demo-model`, both on
127.0.0.1 with ephemeral ports, driven over HTTP as a client would (Python stdlib only).

Run through tests/integration/run.py, which sets RAMPART_BIN."""
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

RAMPART = os.environ.get("RAMPART_BIN", "build/rampart")
DEMO_MODEL = os.environ.get("RAMPART_DEMO_MODEL_BIN",
                            os.path.join(os.path.dirname(RAMPART), "rampart-demo-model"))
ADMIN_TOKEN = "test-admin-token"


def start(args, pattern, env=None, timeout=15):
    """Starts a process and waits for a stderr line matching pattern; returns (proc, match)."""
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + timeout
    lines = []
    while time.time() < deadline:
        line = p.stderr.readline().decode(errors="replace")
        if not line:
            break
        lines.append(line)
        # A first start compiles the guard rule pack: under ASan on a busy machine that takes a
        # minute or more (CI's cache starts empty), and the gateway listens only after it.
        if "compiling the guard rule pack" in line:
            deadline = max(deadline, time.time() + 300)
        m = re.search(pattern, line)
        if m:
            # Keep draining stderr so the process never blocks on a full pipe; keep the lines
            # (sanitizer reports come at exit).
            p.err_lines = lines

            def drain():
                for raw in p.stderr:
                    lines.append(raw.decode(errors="replace"))

            p.drain = threading.Thread(target=drain, daemon=True)
            p.drain.start()
            return p, m
    p.kill()
    raise RuntimeError("did not start: %s\n%s" % (" ".join(args), "".join(lines)))


def stop(p):
    if p and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Gateway:
    """A demo model and a gateway in front of it, in a fresh state directory."""

    def __init__(self, config="", model_args=(), upstream=None, state=None):
        self.state = state or tempfile.mkdtemp(prefix="rampart-gw-")
        self.model = None
        if upstream is None:
            self.model, m = start([DEMO_MODEL, "--listen", "127.0.0.1:0", *model_args],
                                  r"listening on ([\d.]+):(\d+)")
            upstream = "http://127.0.0.1:%s" % m.group(2)
        self.upstream = upstream
        self.config_text = config
        try:
            self.start()
        except Exception:
            stop(self.model)
            raise

    def start(self):
        cfg = os.path.join(self.state, "rampart.yaml")
        with open(cfg, "w") as f:
            f.write(self.config_text)
        env = dict(os.environ, RAMPART_ADMIN_TOKEN=ADMIN_TOKEN)
        self.proc, m = start([RAMPART, "serve", "--config", cfg, "--listen", "127.0.0.1:0",
                              "--admin-listen", "127.0.0.1:0", "--state-dir", self.state,
                              "--upstream", self.upstream, "--workers", "2"],
                             r"listening on ([\d.]+):(\d+) \(admin ([\d.]+):(\d+)\)", env=env)
        self.port = int(m.group(2))
        self.admin_port = int(m.group(4))

    def close(self):
        stop(self.proc)
        stop(self.model)
        shutil.rmtree(self.state, ignore_errors=True)
        # Under the sanitizers (make test), the gateway must exit without a report.
        self.proc.drain.join(5)
        log = "".join(self.proc.err_lines)
        for word in ("AddressSanitizer", "LeakSanitizer", "runtime error"):
            if word in log:
                raise AssertionError("the gateway reported %s:\n%s" % (word, log[-3000:]))

    def request(self, method, path, body=None, key=None, headers=None, admin=False, raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port if admin else self.port,
                                          timeout=30)
        h = dict(headers or {})
        if key:
            h["Authorization"] = "Bearer " + key
        if admin:
            h["Authorization"] = "Bearer " + ADMIN_TOKEN
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read()
        conn.close()
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        return r.status, doc, r

    def signup(self, email):
        status, doc, _ = self.request("POST", "/v1/signup", {"email": email})
        assert status == 202, (status, doc)
        return self.token_for(email)

    def token_for(self, email):
        for path in sorted(glob.glob(os.path.join(self.state, "outbox", "*.eml")),
                           key=os.path.getmtime, reverse=True):
            text = open(path, encoding="utf-8").read()
            if "To: <%s>" % email in text:
                return re.search(r"/v1/verify\?token=([A-Za-z0-9_-]+)", text).group(1)
        raise AssertionError("no mail for " + email)

    def verify(self, token):
        """POST /v1/verify as a program does: the key, or the error."""
        return self.request("POST", "/v1/verify", {"token": token})

    def new_account(self, email):
        token = self.signup(email)
        status, doc, _ = self.verify(token)
        assert status == 200, (status, doc)
        return doc


def chat(text="hello", stream=False, **kw):
    body = {"model": "rampart-echo", "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    body.update(kw)
    return body


class SignupAndProxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway("limits:\n  per_key:\n    requests_per_minute: 1000\n"
                         "  per_network:\n    signups_per_hour: 1000\n")

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def test_signup_verify_chat(self):
        gw = self.gw
        acc = gw.new_account("alice@example.com")
        self.assertTrue(acc["api_key"].startswith("rp-"))
        self.assertIn("account_id", acc)
        status, doc, _ = gw.request("POST", "/v1/chat/completions", chat("hi there"),
                                    key=acc["api_key"])
        self.assertEqual(status, 200, doc)
        self.assertIn("hi there", doc["choices"][0]["message"]["content"])
        self.assertGreater(doc["usage"]["total_tokens"], 0)

    def test_mail_is_rfc5322(self):
        self.gw.signup("mailcheck@example.com")
        path = max(glob.glob(os.path.join(self.gw.state, "outbox", "*.eml")),
                   key=os.path.getmtime)
        import email
        msg = email.message_from_bytes(open(path, "rb").read())
        self.assertEqual(msg["To"], "<mailcheck@example.com>")
        self.assertTrue(msg["Date"] and msg["Message-ID"] and msg["Subject"])
        self.assertIn("/v1/verify?token=", msg.get_payload())
        # The link points where the gateway really listens (it was started on port 0).
        self.assertIn("http://127.0.0.1:%d/v1/verify?token=" % self.gw.port, msg.get_payload())

    def test_token_single_use(self):
        token = self.gw.signup("once@example.com")
        self.assertEqual(self.gw.verify(token)[0], 200)
        status, doc, _ = self.gw.verify(token)
        self.assertEqual(status, 400)
        self.assertEqual(doc["error"]["code"], "invalid_token")
        self.assertEqual(self.gw.verify("nope")[0], 400)
        self.assertEqual(self.gw.request("POST", "/v1/verify", {})[0], 400)
        # The link's page (GET) is for people: without a token it says so, in HTML.
        status, _, r = self.gw.request("GET", "/v1/verify")
        self.assertEqual(status, 400)
        self.assertTrue(r.getheader("Content-Type").startswith("text/html"))

    def test_bad_signups(self):
        for body in ({"email": "no-at-sign"}, {"email": ""}, {"email": "a@b"}, {"mail": "x@y.z"},
                     {"email": "x" * 10000 + "@example.com"}, {"email": 5}):
            status, doc, _ = self.gw.request("POST", "/v1/signup", body)
            self.assertEqual(status, 400, body)
            self.assertEqual(doc["error"]["code"], "invalid_email")

    def test_models(self):
        acc = self.gw.new_account("models@example.com")
        status, doc, _ = self.gw.request("GET", "/v1/models", key=acc["api_key"])
        self.assertEqual(status, 200)
        self.assertEqual(doc["data"][0]["id"], "rampart-echo")

    def test_embeddings_and_completions(self):
        key = self.gw.new_account("emb@example.com")["api_key"]
        status, doc, _ = self.gw.request("POST", "/v1/embeddings",
                                         {"model": "rampart-echo", "input": "hello"}, key=key)
        self.assertEqual(status, 200, doc)
        self.assertTrue(doc["data"][0]["embedding"])
        status, doc, _ = self.gw.request("POST", "/v1/completions",
                                         {"model": "rampart-echo", "prompt": "say this"}, key=key)
        self.assertEqual(status, 200, doc)

    def test_keys(self):
        acc = self.gw.new_account("keys@example.com")
        status, doc, _ = self.gw.request("POST", "/v1/keys", key=acc["api_key"])
        self.assertEqual(status, 201, doc)
        second = doc["api_key"]
        self.assertNotEqual(second, acc["api_key"])
        self.assertEqual(self.gw.request("POST", "/v1/chat/completions", chat(), key=second)[0], 200)
        status, doc, _ = self.gw.request("DELETE", "/v1/keys/%d" % doc["key_id"], key=acc["api_key"])
        self.assertEqual(status, 200, doc)
        status, doc, _ = self.gw.request("POST", "/v1/chat/completions", chat(), key=second)
        self.assertEqual(status, 401)
        self.assertEqual(doc["error"]["code"], "invalid_api_key")
        self.assertEqual(self.gw.request("DELETE", "/v1/keys/999999", key=acc["api_key"])[0], 404)
        self.assertEqual(self.gw.request("DELETE", "/v1/keys/abc", key=acc["api_key"])[0], 400)

    def test_errors_are_openai_shaped(self):
        key = self.gw.new_account("errors@example.com")["api_key"]
        cases = [
            (dict(method="POST", path="/v1/chat/completions", body=chat()), 401, "invalid_api_key"),
            (dict(method="POST", path="/v1/chat/completions", body=chat(), key="rp-wrong"), 401,
             "invalid_api_key"),
            (dict(method="POST", path="/v1/chat/completions", raw=b"{not json", key=key), 400,
             "invalid_json"),
            (dict(method="POST", path="/v1/chat/completions", raw=b"[1,2]", key=key), 400,
             "invalid_json"),
            (dict(method="POST", path="/v1/chat/completions", raw=b'{"a": "\xff\xfe"}', key=key),
             400, "invalid_json"),
            (dict(method="GET", path="/v1/nope", key=key), 404, "not_found"),
            (dict(method="GET", path="/v1/chat/completions", key=key), 405, "method_not_allowed"),
        ]
        for kw, status, code in cases:
            got, doc, _ = self.gw.request(**kw)
            self.assertEqual(got, status, kw)
            self.assertEqual(doc["error"]["code"], code, kw)
            self.assertIn("message", doc["error"])
            self.assertIn("type", doc["error"])

    def test_body_over_limit(self):
        key = self.gw.new_account("big@example.com")["api_key"]
        s = socket.create_connection(("127.0.0.1", self.gw.port))
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + key.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: "
                  + str(4 << 20).encode() + b"\r\n\r\n{")
        reply = s.recv(65536)
        s.close()
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply[:80])
        # Just over the limit: refused in OpenAI's shape.
        status, doc, _ = self.gw.request("POST", "/v1/chat/completions",
                                         raw=b'{"x": "' + b"a" * (1 << 20) + b'"}', key=key)
        self.assertEqual(status, 413)
        self.assertEqual(doc["error"]["code"], "request_too_large")
        # The gateway is still up.
        self.assertEqual(self.gw.request("POST", "/v1/chat/completions", chat(), key=key)[0], 200)

    def test_long_fields(self):
        key = self.gw.new_account("long@example.com")["api_key"]
        text = "word " * 2000
        status, doc, _ = self.gw.request("POST", "/v1/chat/completions", chat(text), key=key)
        self.assertEqual(status, 200)
        self.assertIn(text.strip()[:100], doc["choices"][0]["message"]["content"])

    def test_streaming(self):
        key = self.gw.new_account("stream@example.com")["api_key"]
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=30)
        conn.request("POST", "/v1/chat/completions", json.dumps(chat("one two three four", True)),
                     {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/event-stream"))
        body = r.read().decode()
        events = [l[6:] for l in body.splitlines() if l.startswith("data: ")]
        self.assertEqual(events[-1], "[DONE]")
        text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "")
                       for e in events[:-1] if json.loads(e).get("choices"))
        self.assertIn("one two three four", text)
        # The usage in the stream's last event was counted.
        aid = self.gw.request("GET", "/admin/accounts", admin=True)[1]["accounts"]
        aid = [a["id"] for a in aid if a["email"] == "stream@example.com"][0]
        events = self.gw.request("GET", "/admin/events?account=%d" % aid, admin=True)[1]["events"]
        req = [e for e in events if e["kind"] == "request"][0]
        self.assertGreater(req["completion_tokens"], 0)
        self.assertTrue(req["detail"]["stream"])

    def test_admin(self):
        gw = self.gw
        acc = gw.new_account("admin-view@example.com")
        aid = acc["account_id"]
        conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=10)
        conn.request("GET", "/admin/accounts", headers={"Authorization": "Bearer wrong"})
        r = conn.getresponse()
        self.assertEqual(r.status, 401)
        self.assertEqual(json.loads(r.read())["error"]["code"], "invalid_admin_token")
        status, doc, _ = gw.request("GET", "/admin/accounts", admin=True)
        self.assertEqual(status, 200)
        self.assertIn(aid, [a["id"] for a in doc["accounts"]])
        status, doc, _ = gw.request("GET", "/admin/accounts/%d" % aid, admin=True)
        self.assertEqual(doc["email"], "admin-view@example.com")
        self.assertNotIn("hash", json.dumps(doc))
        self.assertEqual(gw.request("GET", "/admin/accounts/999999", admin=True)[0], 404)
        status, doc, _ = gw.request("POST", "/admin/accounts/%d/ban" % aid,
                                    {"reason": "testing bans"}, admin=True)
        self.assertEqual(status, 200, doc)
        status, doc, _ = gw.request("POST", "/v1/chat/completions", chat(), key=acc["api_key"])
        self.assertEqual(status, 403)
        self.assertEqual(doc["error"]["code"], "account_banned")
        self.assertEqual(gw.request("POST", "/admin/accounts/%d/unban" % aid, {}, admin=True)[0], 200)
        self.assertEqual(gw.request("POST", "/v1/chat/completions", chat(),
                                    key=acc["api_key"])[0], 200)
        status, doc, _ = gw.request("GET", "/admin/events?account=%d" % aid, admin=True)
        kinds = [e["kind"] for e in doc["events"]]
        for k in ("signup", "verify", "ban", "unban", "request"):
            self.assertIn(k, kinds)

    def test_metrics_and_health(self):
        status, _, r = self.gw.request("GET", "/metrics", admin=True)
        self.assertEqual(status, 200)
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.admin_port, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        self.assertIn("rampart_requests_total", text)
        self.assertEqual(self.gw.request("GET", "/healthz", admin=True)[1]["status"], "ok")


class Limits(unittest.TestCase):
    def test_requests_per_minute(self):
        gw = Gateway("limits:\n  per_key:\n    requests_per_minute: 3\n")
        try:
            key = gw.new_account("rl@example.com")["api_key"]
            codes = [gw.request("POST", "/v1/chat/completions", chat(), key=key)[0]
                     for _ in range(4)]
            self.assertEqual(codes, [200, 200, 200, 429])
            status, doc, r = gw.request("POST", "/v1/chat/completions", chat(), key=key)
            self.assertEqual(status, 429)
            self.assertEqual(doc["error"]["code"], "rate_limit_exceeded")
            self.assertGreaterEqual(int(r.getheader("Retry-After")), 1)
        finally:
            gw.close()

    def test_signups_per_network(self):
        gw = Gateway("limits:\n  per_network:\n    signups_per_hour: 2\n")
        try:
            codes = [gw.request("POST", "/v1/signup", {"email": "n%d@example.com" % i})[0]
                     for i in range(3)]
            self.assertEqual(codes, [202, 202, 429])
        finally:
            gw.close()

    def test_forwarded_for_only_from_trusted_proxies(self):
        gw = Gateway("trusted_proxies: [\"127.0.0.1/32\"]\n"
                     "limits:\n  per_network:\n    signups_per_hour: 1\n")
        try:
            ok = [gw.request("POST", "/v1/signup", {"email": "f%d@example.com" % i},
                             headers={"X-Forwarded-For": "198.51.%d.7" % i})[0] for i in range(3)]
            self.assertEqual(ok, [202, 202, 202])
            same = gw.request("POST", "/v1/signup", {"email": "g@example.com"},
                              headers={"X-Forwarded-For": "198.51.0.99"})[0]
            self.assertEqual(same, 429)
        finally:
            gw.close()

    def test_tokens_per_minute(self):
        gw = Gateway("limits:\n  per_key:\n    tokens_per_minute: 20\n")
        try:
            key = gw.new_account("tok@example.com")["api_key"]
            self.assertEqual(gw.request("POST", "/v1/chat/completions",
                                        chat("w " * 40), key=key)[0], 200)
            status, doc, _ = gw.request("POST", "/v1/chat/completions", chat(), key=key)
            self.assertEqual(status, 429)
        finally:
            gw.close()


    def test_tokens_counted_on_answers_over_64k(self):
        """Only the end of a plain answer is kept for its usage: a 100 KB answer still counts."""
        gw = Gateway("limits:\n  per_key:\n    tokens_per_minute: 1000\n"
                     "  max_body_bytes: 1MiB\n")
        try:
            key = gw.new_account("bigtok@example.com")["api_key"]
            status, doc, _ = gw.request("POST", "/v1/chat/completions", chat("word " * 20000),
                                        key=key)
            self.assertEqual(status, 200)
            self.assertGreater(len(doc["choices"][0]["message"]["content"]), 64 * 1024)
            status, doc, _ = gw.request("POST", "/v1/chat/completions", chat(), key=key)
            self.assertEqual(status, 429)
        finally:
            gw.close()


class Upstream(unittest.TestCase):
    def test_upstream_down(self):
        gw = Gateway(upstream="http://127.0.0.1:%d" % free_port())
        try:
            key = gw.new_account("down@example.com")["api_key"]
            status, doc, _ = gw.request("POST", "/v1/chat/completions", chat(), key=key)
            self.assertEqual(status, 502)
            self.assertEqual(doc["error"]["code"], "upstream_unavailable")
            # /healthz tells the truth: the failure makes the gateway try the upstream.
            deadline = time.time() + 10
            while time.time() < deadline and gw.request("GET", "/healthz")[0] != 503:
                time.sleep(0.1)
            status, doc, _ = gw.request("GET", "/healthz")
            self.assertEqual(status, 503)
            self.assertEqual(doc["upstream"], {"reachable": False,
                                               "problem": "upstream_unreachable"})
            self.assertTrue(doc["store"]["writable"])
            # The operator sees the outage in the log, once, not once a request.
            for _ in range(3):
                gw.request("POST", "/v1/chat/completions", chat(), key=key)
            time.sleep(0.2)
            said = [l for l in gw.proc.err_lines if "failed or is unreachable" in l]
            self.assertEqual(len(said), 1, gw.proc.err_lines)
        finally:
            gw.close()

    def test_upstream_timeout(self):
        gw = Gateway("upstream:\n  timeout: 1\n", model_args=("--delay-ms", "3000"))
        try:
            key = gw.new_account("slow@example.com")["api_key"]
            status, doc, _ = gw.request("POST", "/v1/chat/completions", chat(), key=key)
            self.assertEqual(status, 504)
            self.assertEqual(doc["error"]["code"], "upstream_timeout")
        finally:
            gw.close()

    def test_stream_arrives_as_it_is_made(self):
        gw = Gateway(model_args=("--delay-ms", "150"))
        try:
            key = gw.new_account("live@example.com")["api_key"]
            s = socket.create_connection(("127.0.0.1", gw.port))
            body = json.dumps(chat("a b c d e f", True)).encode()
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      + key.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body)
            times, buf = [], b""
            while b"[DONE]" not in buf:
                data = s.recv(65536)
                if not data:
                    break
                times.append(time.time())
                buf += data
            s.close()
            self.assertIn(b"[DONE]", buf)
            # Pieces arrived over time, not all at once at the end.
            self.assertGreater(times[-1] - times[0], 0.5)
            self.assertGreater(len(times), 3)
        finally:
            gw.close()

    def test_upstream_dies_mid_stream(self):
        gw = Gateway(model_args=("--die-after-chunks", "2", "--delay-ms", "50"))
        try:
            key = gw.new_account("cut@example.com")["api_key"]
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
            conn.request("POST", "/v1/chat/completions", json.dumps(chat("a b c d e f g", True)),
                         {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
            r = conn.getresponse()
            try:
                body = r.read().decode()
            except http.client.IncompleteRead as e:
                body = e.partial.decode()
            self.assertNotIn("[DONE]", body)
            self.assertIn("upstream_failed", body)
            self.assertEqual(gw.request("GET", "/healthz")[0], 200)
        finally:
            gw.close()

    def test_client_leaves_before_the_answer(self):
        """A client that hangs up while the model still works stops that generation."""
        gw = Gateway(model_args=("--delay-ms", "1000"))
        try:
            key = gw.new_account("gone@example.com")["api_key"]
            s = socket.create_connection(("127.0.0.1", gw.port))
            body = json.dumps(chat("a b c d e f g h")).encode()
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      + key.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body)
            time.sleep(0.3)
            s.close()

            def metric(name):
                conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=10)
                conn.request("GET", "/metrics")
                text = conn.getresponse().read().decode()
                return int(re.search(r"^%s (\d+)" % name, text, re.M).group(1))

            deadline = time.time() + 3
            while time.time() < deadline and metric("rampart_client_aborts_total") < 1:
                time.sleep(0.05)
            self.assertEqual(metric("rampart_client_aborts_total"), 1)
            self.assertEqual(metric("rampart_in_flight"), 0)
            # The key's concurrency slot was given back: the next request goes through.
            self.assertEqual(gw.request("POST", "/v1/chat/completions", chat(), key=key)[0], 200)
        finally:
            gw.close()

    def test_client_leaving_mid_stream_does_not_leak(self):
        """Regression: the request of a client that left mid-stream was never freed."""
        gw = Gateway(model_args=("--delay-ms", "100"))
        try:
            key = gw.new_account("leak@example.com")["api_key"]
            for _ in range(3):
                s = socket.create_connection(("127.0.0.1", gw.port))
                body = json.dumps(chat("a b c d e f g h i j", True)).encode()
                s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: "
                          b"Bearer " + key.encode() + b"\r\nContent-Type: application/json\r\n"
                          b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                s.recv(4096)  # the answer has started
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
            time.sleep(0.8)
            stop(gw.proc)
            gw.proc.drain.join(5)
            log = "".join(gw.proc.err_lines)
            self.assertNotIn("LeakSanitizer", log)
            self.assertNotIn("AddressSanitizer", log)
        finally:
            gw.close()

    def test_slow_client(self):
        """A client that stops reading does not stop the gateway serving others."""
        gw = Gateway(model_args=("--chunk-words", "1", "--threads", "2"))
        try:
            key = gw.new_account("lazy@example.com")["api_key"]
            s = socket.create_connection(("127.0.0.1", gw.port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            body = json.dumps(chat("word " * 3000, True)).encode()
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      + key.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body)
            time.sleep(1.0)
            other = gw.new_account("busy@example.com")["api_key"]
            t = time.time()
            self.assertEqual(gw.request("POST", "/v1/chat/completions", chat(), key=other)[0], 200)
            self.assertLess(time.time() - t, 3.0)
            s.close()
        finally:
            gw.close()


class Durability(unittest.TestCase):
    def test_restart_after_kill_9(self):
        gw = Gateway()
        try:
            acc = gw.new_account("durable@example.com")
            banned = gw.new_account("banned@example.com")
            self.assertEqual(gw.request("POST", "/admin/accounts/%d/ban" % banned["account_id"],
                                        {"reason": "abuse"}, admin=True)[0], 200)
            gw.proc.send_signal(signal.SIGKILL)
            gw.proc.wait()
            gw.start()
            self.assertEqual(gw.request("POST", "/v1/chat/completions", chat(),
                                        key=acc["api_key"])[0], 200)
            status, doc, _ = gw.request("POST", "/v1/chat/completions", chat(),
                                        key=banned["api_key"])
            self.assertEqual(status, 403)
            status, doc, _ = gw.request("GET", "/admin/accounts/%d" % banned["account_id"],
                                        admin=True)
            self.assertEqual(doc["ban_reason"], "abuse")
            # The admin's action was in the audit trail before the answer: kill -9 kept it.
            evs = gw.request("GET", "/admin/events?account=%d" % banned["account_id"],
                             admin=True)[1]["events"]
            bans = [e for e in evs if e["kind"] == "ban"]
            self.assertEqual(len(bans), 1, evs)
            self.assertEqual(bans[0]["detail"], {"by": "admin", "reason": "abuse"})
        finally:
            gw.close()


class SmtpSink:
    """A minimal SMTP server on 127.0.0.1 that keeps what it receives."""

    def __init__(self, port=0):
        import socketserver
        sink = self
        self.messages = []

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"220 sink ready\r\n")
                rcpt, data = [], None
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    if data is not None:
                        if line == b".\r\n":
                            sink.messages.append((rcpt, b"".join(data)))
                            data = None
                            self.wfile.write(b"250 ok\r\n")
                        else:
                            data.append(line[1:] if line.startswith(b"..") else line)
                        continue
                    cmd = line[:4].upper()
                    if cmd == b"RCPT":
                        rcpt.append(line.decode().strip())
                    if cmd == b"DATA":
                        data = []
                        self.wfile.write(b"354 go on\r\n")
                    elif cmd == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Mail(unittest.TestCase):
    def wait_for(self, cond, seconds=8):
        deadline = time.time() + seconds
        while time.time() < deadline and not cond():
            time.sleep(0.1)
        return cond()

    def test_smtp_delivery(self):
        sink = SmtpSink()
        gw = Gateway("smtp:\n  url: smtp://127.0.0.1:%d\n" % sink.port)
        try:
            self.assertEqual(gw.request("POST", "/v1/signup", {"email": "smtp@example.com"})[0], 202)
            self.assertTrue(self.wait_for(lambda: sink.messages))
            rcpt, data = sink.messages[0]
            self.assertEqual(rcpt, ["RCPT TO:<smtp@example.com>"])
            self.assertIn(b"/v1/verify?token=", data)
            self.assertTrue(self.wait_for(
                lambda: glob.glob(os.path.join(gw.state, "outbox", "sent", "*.eml"))))
            self.assertEqual(glob.glob(os.path.join(gw.state, "outbox", "*.eml")), [])
        finally:
            gw.close()
            sink.close()

    def test_smtp_down_keeps_the_mail(self):
        port = free_port()
        gw = Gateway("smtp:\n  url: smtp://127.0.0.1:%d\n" % port)
        try:
            self.assertEqual(gw.request("POST", "/v1/signup", {"email": "later@example.com"})[0],
                             202)
            time.sleep(1.5)
            self.assertEqual(len(glob.glob(os.path.join(gw.state, "outbox", "*.eml"))), 1)
            sink = SmtpSink(port)
            try:
                self.assertTrue(self.wait_for(lambda: sink.messages))
            finally:
                sink.close()
        finally:
            gw.close()


class TlsForwarder:
    """A TLS server on 127.0.0.1 (self-signed certificate for IP 127.0.0.1, made with the openssl
    command) that passes each connection on to a plain upstream."""

    def __init__(self, upstream_port):
        import ssl
        self.dir = tempfile.mkdtemp(prefix="rampart-tls-")
        self.cert = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", self.cert], check=True, capture_output=True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.upstream_port = upstream_port
        self.ctx = ctx
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        try:
            t = self.ctx.wrap_socket(c, server_side=True)
        except OSError:
            c.close()
            return
        u = socket.create_connection(("127.0.0.1", self.upstream_port))

        def pump(a, b):
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(u, t), daemon=True).start()
        pump(t, u)

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class HttpsUpstream(unittest.TestCase):
    def test_https_upstream_verified(self):
        model, m = start([DEMO_MODEL, "--listen", "127.0.0.1:0"],
                         r"listening on ([\d.]+):(\d+)")
        tls = TlsForwarder(int(m.group(2)))
        try:
            url = "https://127.0.0.1:%d" % tls.port
            gw = Gateway("upstream:\n  ca_file: %s\n" % tls.cert, upstream=url)
            try:
                key = gw.new_account("tls@example.com")["api_key"]
                for _ in range(3):
                    status, doc, _ = gw.request("POST", "/v1/chat/completions", chat("over tls"),
                                                key=key)
                    self.assertEqual(status, 200, doc)
                    self.assertIn("over tls", doc["choices"][0]["message"]["content"])
            finally:
                gw.close()
            # Without the CA the certificate is refused: no answer from an unverified model.
            gw = Gateway(upstream=url)
            try:
                key = gw.new_account("tls2@example.com")["api_key"]
                status, doc, _ = gw.request("POST", "/v1/chat/completions", chat(), key=key)
                self.assertEqual(status, 502)
            finally:
                gw.close()
        finally:
            tls.close()
            stop(model)


class OfficialClient(unittest.TestCase):
    """The official OpenAI client (npm package `openai`, installed by `make test` into
    build/npm) pointed at rampart's base URL."""

    def test_openai_node_client(self):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        module = os.path.join(root, "build", "npm", "node_modules", "openai")
        if not shutil.which("node") or not os.path.isdir(module):
            self.skipTest("the npm package openai is not in build/npm (make test installs it)")
        gw = Gateway()
        try:
            key = gw.new_account("sdk@example.com")["api_key"]
            p = subprocess.run(["node", os.path.join(os.path.dirname(__file__), "openai_client.js")],
                               capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, OPENAI_MODULE=module, KEY=key,
                                        BASE_URL="http://127.0.0.1:%d/v1" % gw.port))
            self.assertEqual(p.returncode, 0, p.stderr)
            seen = json.loads(p.stdout)
            self.assertIn("hello client", seen["content"])
            self.assertGreater(seen["usage"]["total_tokens"], 0)
            self.assertIn("stream me please", seen["streamed"])
            self.assertEqual(seen["models"], ["rampart-echo"])
            self.assertEqual(seen["moderation"], [[True, True], [False, False]])
            self.assertEqual(seen["err"]["status"], 401)
            self.assertEqual(seen["err"]["code"], "invalid_api_key")
        finally:
            gw.close()


class Screening(unittest.TestCase):
    DISPOSABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                              "shared", "data", "email", "disposable_email_blocklist.conf")

    def test_disposable_domains_rejected(self):
        gw = Gateway("signup:\n  disposable_domains: %s\n" % self.DISPOSABLE)
        try:
            for email in ("x@mailinator.com", "x@MAILINATOR.com", "y@mx.mailinator.com"):
                status, doc, _ = gw.request("POST", "/v1/signup", {"email": email})
                self.assertEqual(status, 403, email)
                self.assertEqual(doc["error"]["code"], "signup_rejected")
                self.assertIn("mailinator.com", doc["error"]["message"])
            self.assertFalse(os.path.isdir(os.path.join(gw.state, "outbox")) and
                             os.listdir(os.path.join(gw.state, "outbox")))
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": "z@example.com"})
            self.assertEqual(status, 202)
            evs = []
            for _ in range(50):
                evs = gw.request("GET", "/admin/events", admin=True)[1]["events"]
                if any(e["kind"] == "signup_rejected" for e in evs):
                    break
                time.sleep(0.1)
            rej = [e for e in evs if e["kind"] == "signup_rejected"]
            self.assertTrue(rej)
            self.assertEqual(rej[0]["detail"]["code"], "disposable-domain")
        finally:
            gw.close()

    def test_linked_to_banned_account(self):
        """A variant of a banned (verified) account's address is held for review, not refused
        (issue 12, item 13: the person may never have misbehaved)."""
        gw = Gateway("limits:\n  per_network:\n    signups_per_hour: 1000\n")
        try:
            doc = gw.new_account("alice.smith@example.com")
            accounts = gw.request("GET", "/admin/accounts", admin=True)[1]["accounts"]
            aid = [a["id"] for a in accounts if a["email"] == "alice.smith@example.com"][0]
            self.assertEqual(gw.request("POST", "/admin/accounts/%d/ban" % aid,
                                        {"reason": "abuse"}, admin=True)[0], 200)
            for email in ("alicesmith+new@example.com", "Alice.Smith2@example.com",
                          "a.l.i.c.e.smith@mail.example.com"):
                status, doc, _ = gw.request("POST", "/v1/signup", {"email": email})
                self.assertEqual(status, 202, email)
                self.assertEqual(doc["status"], "held_for_review", email)
            holds = gw.request("GET", "/admin/holds", admin=True)[1]["holds"]
            self.assertEqual(len(holds), 3)
            self.assertTrue(all("linked-to-banned" in h["held_for_review"] for h in holds))
            # The banned address itself gets the answer any existing address gets.
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": "alice.smith@example.com"})
            self.assertEqual(status, 202)
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": "alice.jones@example.com"})
            self.assertEqual(status, 202)
            # Unbanned, the look-alikes may sign up again.
            gw.request("POST", "/admin/accounts/%d/unban" % aid, {}, admin=True)
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": "alicesmith+x@example.com"})
            self.assertEqual(status, 202)
        finally:
            gw.close()

    def test_lookalike_held_then_decided(self):
        gw = Gateway()
        try:
            # Only a verified account's address links (issue 12, item 13).
            gw.new_account("carol.king@example.com")
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": "carolking+2@example.com"})
            self.assertEqual(status, 202)
            self.assertEqual(doc["status"], "held_for_review")
            # No mail for the held address, however often it asks.
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": "carolking+2@example.com"})
            self.assertEqual(doc["status"], "held_for_review")
            with self.assertRaises(AssertionError):
                gw.token_for("carolking+2@example.com")
            holds = gw.request("GET", "/admin/holds", admin=True)[1]["holds"]
            self.assertEqual([h["email"] for h in holds], ["carolking+2@example.com"])
            self.assertIn("lookalike-address", holds[0]["held_for_review"])
            hid = holds[0]["id"]
            status, doc, _ = gw.request("POST", "/admin/holds/%d/approve" % hid, {}, admin=True)
            self.assertEqual(status, 200)
            token = gw.token_for("carolking+2@example.com")
            status, doc, _ = gw.verify(token)
            self.assertEqual(status, 200)
            self.assertEqual(gw.request("GET", "/admin/holds", admin=True)[1]["holds"], [])
            # A second look-alike, rejected: its account is banned.
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": "c.a.r.o.l.king@example.com"})
            self.assertEqual(doc["status"], "held_for_review")
            hid = gw.request("GET", "/admin/holds", admin=True)[1]["holds"][0]["id"]
            status, doc, _ = gw.request("POST", "/admin/holds/%d/reject" % hid, {}, admin=True)
            self.assertEqual(status, 200)
            self.assertEqual(doc["status"], "banned")
            self.assertEqual(gw.request("POST", "/admin/holds/%d/reject" % hid, {}, admin=True)[0],
                             404)
            evs = gw.request("GET", "/admin/events", admin=True)[1]["events"]
            kinds = [e["kind"] for e in evs]
            for k in ("signup_held", "hold_approved", "hold_rejected"):
                self.assertIn(k, kinds)
        finally:
            gw.close()

    def test_banned_network_held(self):
        gw = Gateway("trusted_proxies: [127.0.0.1/32]\n")
        try:
            def signup(email, ip):
                return gw.request("POST", "/v1/signup", {"email": email},
                                  headers={"X-Forwarded-For": ip})[1]
            self.assertEqual(signup("dave@example.com", "10.1.1.5")["status"],
                             "pending_verification")
            accounts = gw.request("GET", "/admin/accounts", admin=True)[1]["accounts"]
            aid = [a["id"] for a in accounts if a["email"] == "dave@example.com"][0]
            gw.request("POST", "/admin/accounts/%d/ban" % aid, {"reason": "abuse"}, admin=True)
            self.assertEqual(signup("erin@example.org", "10.1.1.77")["status"], "held_for_review")
            self.assertEqual(signup("frank@example.org", "10.2.2.2")["status"],
                             "pending_verification")
            holds = gw.request("GET", "/admin/holds", admin=True)[1]["holds"]
            self.assertEqual([h["email"] for h in holds], ["erin@example.org"])
            self.assertIn("banned-network", holds[0]["held_for_review"])
        finally:
            gw.close()

    def test_bad_list_file(self):
        d = tempfile.mkdtemp()
        try:
            lst = os.path.join(d, "d.conf")
            with open(lst, "w") as f:
                f.write("ok.com\nnot a domain\n")
            cfg = os.path.join(d, "r.yaml")
            with open(cfg, "w") as f:
                f.write("signup:\n  disposable_domains: %s\n" % lst)
            p = subprocess.run([RAMPART, "serve", "--check", "--config", cfg],
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 2)
            self.assertIn("%s:2: 'not a domain' is not a domain name" % lst, p.stderr.decode())
        finally:
            shutil.rmtree(d, ignore_errors=True)


class Check(unittest.TestCase):
    def test_check_ok_and_errors(self):
        d = tempfile.mkdtemp()
        try:
            good = os.path.join(d, "good.yaml")
            with open(good, "w") as f:
                f.write("listen: 127.0.0.1:9000\nupstream:\n  url: http://127.0.0.1:8000\n")
            p = subprocess.run([RAMPART, "serve", "--check", "--config", good], capture_output=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            bad = os.path.join(d, "bad.yaml")
            with open(bad, "w") as f:
                f.write("listen: 127.0.0.1:9000\nlimits:\n  per_key:\n    requests_per_minut: 5\n")
            p = subprocess.run([RAMPART, "serve", "--check", "--config", bad], capture_output=True)
            self.assertEqual(p.returncode, 2)
            self.assertIn(bad + ":4:", p.stderr.decode())
            p = subprocess.run([RAMPART, "serve", "--check", "--upstream", "ftp://x"],
                               capture_output=True)
            self.assertEqual(p.returncode, 2)
            for args, words in ((["--workers", "abc"], "whole number"),
                                (["stray"], "unexpected argument 'stray'"),
                                (["--bogus"], "usage: rampart serve")):
                p = subprocess.run([RAMPART, "serve", "--check", *args], capture_output=True)
                self.assertEqual(p.returncode, 2, args)
                self.assertIn(words, p.stderr.decode())
            # Port 0 is for listening; an upstream URL needs a real port.
            p = subprocess.run([RAMPART, "serve", "--check", "--upstream", "http://127.0.0.1:0"],
                               capture_output=True)
            self.assertEqual(p.returncode, 2)
            self.assertIn("1..65535", p.stderr.decode())
            # A state directory that cannot be made stops the start with a clear message.
            p = subprocess.run([RAMPART, "serve", "--state-dir", "/proc/rampart-none",
                                "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
                               capture_output=True, timeout=10)
            self.assertEqual(p.returncode, 2)
            self.assertIn("/proc/rampart-none", p.stderr.decode())
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
