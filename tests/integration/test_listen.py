"""Integration tests of the gateway's process, listeners and wire limits (src/server/server.c,
src/server/httpd.c, src/cmd_serve.c, src/server/admin.c): one gateway an address, signals, slow
and numerous clients, strict HTTP/1.1 framing, what the start says, the admin API's refusals and
times. Raw sockets on 127.0.0.1, ephemeral ports; run through tests/integration/run.py."""
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
from datetime import datetime, timezone

from test_gateway import ADMIN_TOKEN, RAMPART, Gateway, free_port, start, stop
from test_http import raw_exchange, responses

LISTENING = r"listening on ([\d.]+):(\d+) \(admin ([\d.]+):(\d+)\)"


def serve_args(state, listen, admin, upstream="http://127.0.0.1:9", extra=()):
    return [RAMPART, "serve", "--listen", listen, "--admin-listen", admin, "--state-dir", state,
            "--upstream", upstream, "--workers", "2", *extra]


def wait_exit(p, timeout=60):
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def logged(proc, text, timeout=10):
    """Whether the gateway wrote a line containing text to stderr (within timeout)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(text in l for l in proc.err_lines):
            return True
        time.sleep(0.1)
    return False


def metric(gw, name):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return int(re.search(r"^rampart_%s (\d+)$" % name, text, re.M).group(1))


def read_until_closed(s, limit):
    """What comes on s until the gateway closes it, or None when it is still open at limit."""
    out = b""
    s.settimeout(0.5)
    while time.time() < limit:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk
    return None


class OneGatewayAnAddress(unittest.TestCase):
    """Issue 12, item 1: SO_REUSEPORT let a second `rampart serve` bind the port of the first,
    and the kernel split the clients between them."""

    def setUp(self):
        self.dirs = [tempfile.mkdtemp(prefix="rampart-listen-") for _ in range(2)]
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            stop(p)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)

    def second(self, listen, admin):
        p = subprocess.Popen(serve_args(self.dirs[1], listen, admin), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        self.procs.append(p)
        code = wait_exit(p)
        if code is None:  # it serves: the bug
            stop(p)
        err = p.stderr.read().decode(errors="replace")
        return code, err

    def test_regression_second_serve_on_same_port_fails(self):
        port, aport = free_port(), free_port()
        first, _ = start(serve_args(self.dirs[0], "127.0.0.1:%d" % port,
                                    "127.0.0.1:%d" % aport), LISTENING)
        self.procs.append(first)
        code, err = self.second("127.0.0.1:%d" % port, "127.0.0.1:%d" % free_port())
        self.assertEqual(code, 2, err)
        self.assertIn("listen 127.0.0.1:%d is already in use" % port, err)
        self.assertIn("another rampart serve", err)
        self.assertNotIn("listening on", err)
        # The admin address is claimed the same way.
        code, err = self.second("127.0.0.1:%d" % free_port(), "127.0.0.1:%d" % aport)
        self.assertEqual(code, 2, err)
        self.assertIn("admin_listen 127.0.0.1:%d is already in use" % aport, err)
        # The first one still serves, with both of its workers on the port.
        self.assertIsNone(first.poll())
        for _ in range(8):
            out = raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close"
                                     b"\r\n\r\n")
            self.assertEqual(responses(out)[0][0], 200)

    def test_regression_second_serve_on_port_of_ephemeral_one_fails(self):
        """A gateway started on port 0 holds no lock; the probe bind still finds the port."""
        first, m = start(serve_args(self.dirs[0], "127.0.0.1:0", "127.0.0.1:0"), LISTENING)
        self.procs.append(first)
        port = int(m.group(2))
        code, err = self.second("127.0.0.1:%d" % port, "127.0.0.1:%d" % free_port())
        self.assertEqual(code, 2, err)
        self.assertIn("127.0.0.1:%d is already in use (another rampart serve?)" % port, err)

    def test_regression_two_serves_started_at_once_one_wins(self):
        port = free_port()
        procs = [subprocess.Popen(serve_args(d, "127.0.0.1:%d" % port, "127.0.0.1:%d" % free_port()),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for d in self.dirs]
        self.procs.extend(procs)
        codes = [wait_exit(p, timeout=20) for p in procs]
        # One exits at once (2); the other serves (still running).
        self.assertEqual(sorted(codes, key=lambda c: c is None), [2, None], codes)
        loser = procs[codes.index(2)]
        self.assertIn("is already in use", loser.stderr.read().decode(errors="replace"))
        # The winner's stderr is not read: nothing blocks on a full pipe before tearDown.


class Signals(unittest.TestCase):
    def test_regression_sighup_does_not_kill(self):
        """Issue 12, item 2: SIGHUP ended the gateway at once (no handler), WAL left behind."""
        gw = Gateway()
        try:
            gw.proc.send_signal(signal.SIGHUP)
            self.assertTrue(logged(gw.proc, "SIGHUP"))
            self.assertIsNone(gw.proc.poll())
            said = [l for l in gw.proc.err_lines if "SIGHUP" in l]
            self.assertEqual(len(said), 1, gw.proc.err_lines)
            self.assertIn("reload is not supported yet; ignored", said[0])
            self.assertEqual(gw.request("GET", "/healthz")[0], 200)
            # SIGTERM stays the clean stop: exit 0, the WAL checkpointed away.
            gw.proc.send_signal(signal.SIGTERM)
            self.assertEqual(gw.proc.wait(30), 0)
            self.assertFalse(os.path.exists(os.path.join(gw.state, "rampart.db-wal")))
        finally:
            gw.close()


class SlowClients(unittest.TestCase):
    """Issue 12, item 5: slowloris with few descriptors kept honest requests out, and a head
    trickled one byte at a time stayed open for ever (each byte counted as progress)."""

    def test_regression_trickled_head_closed_by_deadline(self):
        gw = Gateway("limits:\n  header_timeout: 2s\n")
        try:
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            s.setblocking(False)
            out = b""
            closed = False
            limit = time.time() + 30  # the idle timeout (120 s) would never close it
            while time.time() < limit and not closed:
                try:
                    s.send(b"a")
                except OSError:
                    pass
                time.sleep(0.3)
                try:
                    chunk = s.recv(65536)
                    out += chunk
                    closed = not chunk
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
            s.close()
            self.assertTrue(closed, "a trickled head was still open after 30 s")
            got = responses(out)
            self.assertEqual(got[0][0], 408, out)
            self.assertEqual(json.loads(got[0][2])["error"]["code"], "request_timeout")
            self.assertEqual(got[0][1].get("connection"), "close")
            # A connection that says nothing is closed too, without an answer.
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            self.assertEqual(read_until_closed(s, time.time() + 30), b"")
            s.close()
            # Requests that are whole in time are served as ever, also on a kept connection.
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
            for _ in range(2):
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertIn(b"200 OK", s.recv(65536))
                time.sleep(3)  # idle between requests is not a head: no deadline
            s.close()
            self.assertGreaterEqual(metric(gw, "header_timeouts_total"), 2)
        finally:
            gw.close()

    def test_regression_connections_capped_per_client(self):
        gw = Gateway("limits:\n  per_client:\n    connections: 20\n")
        socks = []
        try:
            for _ in range(20):
                s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertIn(b"200 OK", s.recv(65536))
                socks.append(s)
            out = raw_exchange(gw.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            got = responses(out)
            self.assertEqual(got[0][0], 429, out)
            err = json.loads(got[0][2])["error"]
            self.assertEqual(err["code"], "too_many_connections")
            self.assertIn("127.0.0.1", err["message"])
            self.assertIn("limits.per_client.connections", err["message"])
            self.assertTrue(logged(gw.proc, "refusing more (429)"))
            # The admin listener is not capped: an operator gets in during an attack.
            self.assertGreaterEqual(metric(gw, "connections_refused_total"), 1)
            # One closed makes room for one.
            socks.pop().close()
            deadline = time.time() + 10
            status = None
            while time.time() < deadline and status != 200:
                status = responses(raw_exchange(gw.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                                         b"Connection: close\r\n\r\n"))[0][0]
            self.assertEqual(status, 200)
        finally:
            for s in socks:
                s.close()
            gw.close()

    def test_regression_trusted_proxies_not_capped(self):
        gw = Gateway("limits:\n  per_client:\n    connections: 3\ntrusted_proxies: [127.0.0.1]\n")
        socks = []
        try:
            for _ in range(8):
                s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertIn(b"200 OK", s.recv(65536))
                socks.append(s)
        finally:
            for s in socks:
                s.close()
            gw.close()

    def test_regression_slowloris_few_descriptors_honest_served(self):
        import resource
        # No per-client cap and a long head deadline: the descriptor reserve alone must do it.
        gw = Gateway("limits:\n  header_timeout: 300s\n  per_client:\n    connections: 0\n")
        socks = []
        try:
            resource.prlimit(gw.proc.pid, resource.RLIMIT_NOFILE, (256, 256))
            time.sleep(1.5)  # the limit is read again each second
            for i in range(300):
                try:
                    s = socket.create_connection(("127.0.0.1", gw.port), timeout=2)
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-%d: " % i)
                    socks.append(s)
                except OSError:
                    break
            self.assertEqual(len(socks), 300)
            # An honest request now is served, while the attack still holds its connections.
            status, doc, _ = gw.request("GET", "/healthz")
            self.assertEqual(status, 200, doc)
            # The oldest trickling connections were the ones closed.
            closed = 0
            for s in socks[:16]:
                s.settimeout(0.2)
                try:
                    closed += s.recv(1) == b""
                except socket.timeout:
                    pass
                except OSError:
                    closed += 1
            self.assertGreater(closed, 0)
            self.assertGreater(metric(gw, "connections_evicted_total"), 0)
            self.assertTrue(logged(gw.proc, "oldest idle or slow ones"), gw.proc.err_lines[-5:])
        finally:
            for s in socks:
                s.close()
            gw.close()


class OutOfDescriptors(unittest.TestCase):
    def test_out_of_descriptors_with_nothing_to_close_rests(self):
        """Every descriptor taken and no client connection to close: the listener rests and
        says so once (it spun on accept() once), then serves when descriptors come back."""
        import resource
        gw = Gateway()
        try:
            was = resource.prlimit(gw.proc.pid, resource.RLIMIT_NOFILE)
            in_use = len(os.listdir("/proc/%d/fd" % gw.proc.pid))
            resource.prlimit(gw.proc.pid, resource.RLIMIT_NOFILE, (in_use, was[1]))
            socks = [socket.create_connection(("127.0.0.1", gw.port), timeout=2)
                     for _ in range(4)]
            self.assertTrue(logged(gw.proc, "cannot accept connections"))
            time.sleep(1)
            self.assertEqual(sum(1 for l in gw.proc.err_lines if "Error from accept" in l), 0)
            said = [l for l in gw.proc.err_lines if "cannot accept connections" in l]
            self.assertTrue(1 <= len(said) <= 2, said)  # once a worker in 10 s
            resource.prlimit(gw.proc.pid, resource.RLIMIT_NOFILE, was)
            for s in socks:
                s.close()
            self.assertEqual(gw.request("GET", "/healthz")[0], 200)
        finally:
            gw.close()


class StrictFraming(unittest.TestCase):
    """Issue 12, item 11: http-parser's leniencies the gateway passed on."""

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway("limits:\n  per_network:\n    signups_per_hour: 1000\n")

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def test_regression_space_before_colon_is_400(self):
        body = b'{"email": "colon@example.com"}'
        out = raw_exchange(self.gw.port, b"POST /v1/signup HTTP/1.1\r\nHost: x\r\n"
                                         b"Content-Type: application/json\r\n"
                                         b"Content-Length : %d\r\n\r\n%s" % (len(body), body))
        got = responses(out)
        self.assertEqual(len(got), 1, out)
        self.assertEqual(got[0][0], 400)
        err = json.loads(got[0][2])["error"]
        self.assertEqual(err["code"], "invalid_request")
        self.assertIn("before its colon", err["message"])
        # Nothing was signed up with the body that length framed.
        self.assertFalse(os.path.exists(os.path.join(self.gw.state, "outbox")) and
                         any("colon@example.com" in open(os.path.join(self.gw.state, "outbox", f),
                                                         errors="replace").read()
                             for f in os.listdir(os.path.join(self.gw.state, "outbox"))
                             if f.endswith(".eml")))
        # A header line that starts with a space is refused too (RFC 9112, section 2.2).
        out = raw_exchange(self.gw.port, b"GET /healthz HTTP/1.1\r\n Host: x\r\n\r\n")
        got = responses(out)
        self.assertEqual(got[0][0], 400)
        self.assertIn("starts with a space", json.loads(got[0][2])["error"]["message"])

    def test_regression_http_9_9_is_505(self):
        for version in (b"HTTP/9.9", b"HTTP/2.0", b"HTTP/0.9"):
            out = raw_exchange(self.gw.port, b"GET /healthz " + version + b"\r\nHost: x\r\n\r\n")
            got = responses(out)
            self.assertEqual(got[0][0], 505, out)
            self.assertTrue(out.startswith(b"HTTP/1.1 505 "), out)
            err = json.loads(got[0][2])["error"]
            self.assertEqual(err["code"], "http_version_not_supported")
            self.assertIn(version.decode(), err["message"])
        # A bare "GET /" (HTTP/0.9's form) as well.
        got = responses(raw_exchange(self.gw.port, b"GET /healthz\r\n\r\n"))
        self.assertEqual(got[0][0], 505)
        # A higher minor version of 1 is served as 1.1 (RFC 9110, section 2.5).
        out = raw_exchange(self.gw.port, b"GET /healthz HTTP/1.2\r\nHost: x\r\n"
                                         b"Connection: close\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 200 "), out)

    def test_regression_head_answer_has_no_body(self):
        # Two requests on one connection: a body after the HEAD answer would be read as the
        # start of the next answer.
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = read_until_closed(s, time.time() + 10)
        s.close()
        head, sep, rest = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), out)
        # The HEAD's Content-Length is what the GET's body is (/healthz's document).
        n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 "), out)
        body = rest.partition(b"\r\n\r\n")[2]
        self.assertEqual(len(body), n, out)
        self.assertEqual(json.loads(body)["status"], "ok", out)
        # An error answered to a HEAD has no body either, and the connection goes on.
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        s.sendall(b"HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"HEAD /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = read_until_closed(s, time.time() + 10)
        s.close()
        first, _, rest = out.partition(b"\r\n\r\n")
        self.assertTrue(first.startswith(b"HTTP/1.1 404 "), out)
        second, _, tail = rest.partition(b"\r\n\r\n")
        self.assertTrue(second.startswith(b"HTTP/1.1 405 "), out)
        self.assertEqual(tail, b"", out)


class StartMessages(unittest.TestCase):
    def setUp(self):
        self.state = tempfile.mkdtemp(prefix="rampart-listen-")

    def tearDown(self):
        shutil.rmtree(self.state, ignore_errors=True)

    def run_until_listening(self, env, config=""):
        cfg = os.path.join(self.state, "rampart.yaml")
        with open(cfg, "w") as f:
            f.write(config)
        p, _ = start(serve_args(self.state, "127.0.0.1:0", "127.0.0.1:0",
                                extra=("--config", cfg)), LISTENING, env=env)
        stop(p)
        p.drain.join(5)
        return p.err_lines

    def test_regression_compiling_said_before_listening(self):
        """Issue 12, item 14: the first start said nothing while the rules compiled."""
        cache = os.path.join(self.state, "cache")
        rules = os.path.join(self.state, "rules.yaml")
        with open(rules, "w") as f:
            f.write("rules:\n  - id: listen-test\n    direction: input\n    category: x\n"
                    "    score: 5\n    pattern: 'zebra\\s+crossing'\n    message: test\n")
        env = dict(os.environ, RAMPART_CACHE_DIR=cache, RAMPART_ADMIN_TOKEN=ADMIN_TOKEN)
        config = "guard:\n  default_rules: false\n  rules: [%s]\n" % rules
        lines = self.run_until_listening(env, config)
        said = [i for i, l in enumerate(lines) if "compiling the guard rule pack" in l]
        listening = [i for i, l in enumerate(lines) if "listening on" in l]
        self.assertEqual(len(said), 1, lines)
        self.assertIn("first start; cached afterwards in " + cache, lines[said[0]])
        self.assertLess(said[0], listening[0])
        self.assertTrue(any("guard rule pack compiled in" in l for l in lines), lines)
        # From the cache: nothing to say.
        lines = self.run_until_listening(env, config)
        self.assertFalse(any("compiling" in l for l in lines), lines)

    def test_regression_admin_off_said_on_stderr(self):
        """Issue 12, item 16: starting without an admin token said nothing."""
        env = {k: v for k, v in os.environ.items() if k != "RAMPART_ADMIN_TOKEN"}
        lines = self.run_until_listening(env)
        said = [l for l in lines if "admin API is off" in l]
        self.assertEqual(len(said), 1, lines)
        self.assertIn("RAMPART_ADMIN_TOKEN is not set", said[0])
        env["RAMPART_ADMIN_TOKEN"] = ADMIN_TOKEN
        self.assertFalse(any("admin API is off" in l for l in self.run_until_listening(env)))

    def test_regression_serve_help_names_env(self):
        p = subprocess.run([RAMPART, "serve", "--help"], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        for word in (b"RAMPART_ADMIN_TOKEN", b"RAMPART_CACHE_DIR", b"SSL_CERT_FILE", b"SIGHUP"):
            self.assertIn(word, p.stdout)


class AdminApi(unittest.TestCase):
    """Issue 12, item 16: one message for a wrong and a missing admin token; times only as
    numbers, seconds in accounts and milliseconds in events."""

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway("limits:\n  per_network:\n    signups_per_hour: 1000\n")

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def admin_get(self, path, headers):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.admin_port, timeout=10)
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        doc = json.loads(r.read())
        conn.close()
        return r.status, doc, r

    def test_regression_wrong_admin_token_differs_from_missing(self):
        st1, missing, r1 = self.admin_get("/admin/accounts", {})
        st2, wrong, r2 = self.admin_get("/admin/accounts", {"Authorization": "Bearer nope"})
        self.assertEqual((st1, st2), (401, 401))
        self.assertEqual(missing["error"]["code"], "missing_admin_token")
        self.assertEqual(wrong["error"]["code"], "invalid_admin_token")
        self.assertNotEqual(missing["error"]["message"], wrong["error"]["message"])
        self.assertIn("Bearer", r1.getheader("WWW-Authenticate"))
        self.assertIn('error="invalid_token"', r2.getheader("WWW-Authenticate"))
        st3, _, _ = self.admin_get("/admin/accounts", {"Authorization": "Basic eDp5"})
        self.assertEqual(st3, 401)

    def test_regression_admin_times_rfc3339(self):
        gw = self.gw
        acc = gw.new_account("times@example.com")
        aid = acc["account_id"]
        doc = gw.request("GET", "/admin/accounts/%d" % aid, admin=True)[1]

        def utc(seconds):
            return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        self.assertEqual(doc["created_utc"], utc(doc["created"]))
        self.assertEqual(doc["verified_utc"], utc(doc["verified"]))
        self.assertIsNone(doc["banned_at_utc"])  # not banned: 0 and null
        self.assertEqual(doc["banned_at"], 0)
        self.assertEqual(doc["keys"][0]["created_utc"], utc(doc["keys"][0]["created"]))
        listed = [a for a in gw.request("GET", "/admin/accounts?limit=1000", admin=True)[1]
                  ["accounts"] if a["id"] == aid][0]
        self.assertEqual(listed["created_utc"], doc["created_utc"])
        banned = gw.request("POST", "/admin/accounts/%d/ban" % aid, {"reason": "t"},
                            admin=True)[1]
        self.assertEqual(banned["banned_at_utc"], utc(banned["banned_at"]))
        events = gw.request("GET", "/admin/events?account=%d" % aid, admin=True)[1]["events"]
        self.assertTrue(events)
        for e in events:
            ms = e["time_ms"]
            want = datetime.fromtimestamp(ms // 1000, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)
            self.assertEqual(e["time_utc"], want)


if __name__ == "__main__":
    unittest.main()
