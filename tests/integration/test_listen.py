"""Integration tests of the gateway's listeners and wire limits (src/server/httpd.c,
src/server/server.c): slow and numerous clients, strict HTTP/1.1 framing. Raw sockets on
127.0.0.1, ephemeral ports; run through tests/integration/run.py."""
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
            # One closed makes room for one.
            socks.pop().close()
            deadline = time.time() + 10
            status = None
            while time.time() < deadline and status != 200:
                status = responses(raw_exchange(gw.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                                         b"Connection: close\r\n\r\n"))[0][0]
            self.assertEqual(status, 200)
            self.assertGreaterEqual(metric(gw, "connections_refused_total"), 1)
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
        self.assertIn(b"Content-Length: 16", head)  # what the GET's body is
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 "), out)
        self.assertTrue(rest.endswith(b'{"status":"ok"}\n'), out)
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


if __name__ == "__main__":
    unittest.main()
