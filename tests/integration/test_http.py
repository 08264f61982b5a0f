"""Integration tests of the gateway's own HTTP/1.1 (src/server/httpd.c, src/server/upstream.c):
what clients send on the wire and what upstreams answer, beyond what test_gateway.py's clients do.
Raw sockets on 127.0.0.1, ephemeral ports; run through tests/integration/run.py."""
import contextlib
import http.client
import json
import socket
import socketserver
import threading
import time
import unittest

from test_gateway import Gateway, chat, stop


def raw_exchange(port, data, timeout=10, until_close=True, want=None):
    """Sends data on a new connection and returns what comes back: until the gateway closes the
    connection, or until want (bytes) has arrived."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        out += chunk
        if want is not None and out.count(want) >= 1 and not until_close:
            break
    s.close()
    return out


def post(key, body, extra=b"", path=b"/v1/chat/completions"):
    data = json.dumps(body).encode()
    return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(data)).encode()
            + b"\r\n" + extra + b"\r\n" + data)


def responses(data):
    """Splits a byte stream of HTTP/1.1 responses with Content-Length bodies."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(b":")
            headers[k.strip().lower().decode()] = v.strip().decode()
        n = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    return out


class Client(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway()
        cls.key = cls.gw.new_account("wire@example.com")["api_key"]

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def test_pipelined_requests_answered_in_order(self):
        data = (post(self.key, chat("first")) + post(self.key, chat("second"))
                + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = responses(raw_exchange(self.gw.port, data))
        self.assertEqual([r[0] for r in got], [200, 200, 200])
        self.assertIn("first", json.loads(got[0][2])["choices"][0]["message"]["content"])
        self.assertIn("second", json.loads(got[1][2])["choices"][0]["message"]["content"])
        self.assertEqual(got[2][1].get("connection"), "close")

    def test_pipelined_burst_answered_whole(self):
        """Regression: a burst of pipelined requests whose answers filled the output bound stalled
        once the socket took them (no writable edge came to pick up the rest)."""
        data = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2000
                + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = raw_exchange(self.gw.port, data, timeout=20)
        self.assertEqual(out.count(b"HTTP/1.1 200"), 2001)

    def test_expect_100_continue(self):
        body = json.dumps(chat("waited")).encode()
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + self.key.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\nExpect: 100-continue\r\n\r\n")
        interim = s.recv(4096)
        self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim)
        s.sendall(body)
        out = b""
        while b"waited" not in out:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        s.close()
        self.assertTrue(out.startswith(b"HTTP/1.1 200"), out[:80])

    def test_chunked_request_body(self):
        body = json.dumps(chat("in pieces")).encode()
        half = len(body) // 2
        chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half,
                                                         body[half:])
        data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + self.key.encode() + b"\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked)
        got = responses(raw_exchange(self.gw.port, data))
        self.assertEqual(got[0][0], 200)
        self.assertIn("in pieces", json.loads(got[0][2])["choices"][0]["message"]["content"])

    def test_length_and_chunked_together_refused(self):
        """Request smuggling: a body framed two ways is refused, and the connection closed."""
        data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n")
        got = responses(raw_exchange(self.gw.port, data))
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0][0], 400)
        self.assertEqual(json.loads(got[0][2])["error"]["code"], "invalid_request")

    def test_upgrade_request_with_a_body_is_answered(self):
        """Regression: an Upgrade request whose body was already waiting was never routed."""
        body = json.dumps(chat("x" * 20000)).encode()
        data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + self.key.encode() + b"\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
                b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\n\r\n" + body)
        t = time.time()
        got = responses(raw_exchange(self.gw.port, data))
        self.assertLess(time.time() - t, 5)
        self.assertEqual(got[0][0], 200)
        self.assertEqual(got[0][1].get("connection"), "close")

    def test_trailers_are_not_headers(self):
        """Regression: a chunked body's trailers were taken for headers (and moved the head)."""
        body = json.dumps(chat("trailed")).encode()
        data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + self.key.encode() + b"\r\nTransfer-Encoding: chunked\r\nConnection: close"
                b"\r\n\r\n%x\r\n%s\r\n0\r\nAuthorization: Bearer rp-wrong\r\nX-Pad: %s\r\n\r\n"
                % (len(body), body, b"p" * 5000))
        got = responses(raw_exchange(self.gw.port, data))
        self.assertEqual(got[0][0], 200)
        self.assertIn("trailed", json.loads(got[0][2])["choices"][0]["message"]["content"])

    def test_garbage_refused_in_openai_shape(self):
        got = responses(raw_exchange(self.gw.port, b"\x16\x03\x01\x02\x00hello\r\n\r\n"))
        self.assertEqual(got[0][0], 400)
        self.assertEqual(json.loads(got[0][2])["error"]["type"], "invalid_request_error")
        self.assertEqual(got[0][1].get("connection"), "close")

    def test_head_over_the_limit(self):
        data = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (70 * 1024)
                + b"\r\n\r\n")
        got = responses(raw_exchange(self.gw.port, data))
        self.assertEqual(got[0][0], 431)
        self.assertEqual(json.loads(got[0][2])["error"]["code"],
                         "request_header_fields_too_large")
        self.assertEqual(self.gw.request("GET", "/healthz")[0], 200)

    def test_http_1_0(self):
        out = raw_exchange(self.gw.port, b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.0 200"), out[:80])
        self.assertIn(b"Connection: close", out)
        # With keep-alive asked for, the connection stays for a second request.
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        for _ in range(2):
            s.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            head = s.recv(4096)
            self.assertTrue(head.startswith(b"HTTP/1.0 200"), head[:80])
            self.assertIn(b"Connection: keep-alive", head)
        s.close()

    def test_stream_to_http_1_0_client_ends_with_the_connection(self):
        body = json.dumps(chat("old client", True)).encode()
        data = (b"POST /v1/chat/completions HTTP/1.0\r\nAuthorization: Bearer " + self.key.encode()
                + b"\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)
        out = raw_exchange(self.gw.port, data)
        head, _, rest = out.partition(b"\r\n\r\n")
        self.assertNotIn(b"Transfer-Encoding", head)
        self.assertIn(b"data: [DONE]", rest)


class Shutdown(unittest.TestCase):
    def test_requests_in_flight_at_sigterm_answered_and_freed(self):
        """Regression: proxies of requests still waiting for the model at SIGTERM leaked."""
        gw = Gateway(model_args=("--delay-ms", "3000"))
        try:
            key = gw.new_account("late@example.com")["api_key"]
            out = {}

            def ask(i):
                try:
                    out[i] = raw_exchange(gw.port, post(key, chat("wait %d" % i)), timeout=10)
                except OSError as e:
                    out[i] = repr(e).encode()

            threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            time.sleep(0.8)
            stop(gw.proc)
            for t in threads:
                t.join(15)
            for i in range(4):
                got = responses(out[i])
                self.assertEqual(got[0][0], 503, out[i][:200])
                self.assertEqual(json.loads(got[0][2])["error"]["code"], "shutting_down")
        finally:
            gw.close()  # fails on any sanitizer report (a leak) in the gateway's log


class Descriptors(unittest.TestCase):
    def test_out_of_descriptors_rests_and_recovers(self):
        """Regression: with its open files used up, the gateway retried accept() at once, in a
        loop (all of a CPU, and a libevent warning each time: 850,000 lines in 2 s)."""
        import resource
        gw = Gateway()
        socks = []
        try:
            resource.prlimit(gw.proc.pid, resource.RLIMIT_NOFILE, (100, 100))
            for _ in range(150):
                try:
                    socks.append(socket.create_connection(("127.0.0.1", gw.port), timeout=2))
                except OSError:
                    break
            time.sleep(2)
            # Counted, not searched: on failure the log holds hundreds of thousands of lines.
            spins = sum(1 for l in gw.proc.err_lines if "Error from accept" in l)
            self.assertEqual(spins, 0)
            # Since issue 12 (item 5) idle connections make room for new ones rather than the
            # listener resting (test_listen.py has the rest, when nothing can be closed).
            said = [l for l in gw.proc.err_lines if "oldest idle or slow ones" in l]
            self.assertTrue(1 <= len(said) <= 2, said)  # once in 10 s
            for c in socks:
                c.close()
            socks = []
            deadline = time.time() + 10
            status = None
            while time.time() < deadline and status != 200:
                try:
                    status = gw.request("GET", "/healthz")[0]
                except OSError:
                    time.sleep(0.2)
            self.assertEqual(status, 200)
        finally:
            for c in socks:
                c.close()
            gw.close()


class OneShotUpstream(socketserver.ThreadingTCPServer):
    """A model upstream that answers one request a connection without saying it will close
    (no Connection: close), keeps the connection open, and closes it without an answer when a
    second request comes on it: what a kept-alive connection that the upstream timed out looks
    like to the gateway. With eof_body, answers have no length and end with the connection."""
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, eof_body=False, answer=None):
        self.eof_body = eof_body
        self.answer = answer
        self.connections = 0
        self.dropped = 0
        super().__init__(("127.0.0.1", 0), OneShotHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class OneShotHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.connections += 1
        self.answer_one()
        if not self.server.eof_body:
            # The second request on this connection: dropped unanswered.
            if self.request.recv(65536):
                self.server.dropped += 1
        self.request.close()

    def answer_one(self):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        while len(body) < n:
            body += self.request.recv(65536)
        answer = self.server.answer or json.dumps({"object": "chat.completion", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "from the one-shot model"},
             "finish_reason": "stop"}], "usage": {"prompt_tokens": 1,
                                                  "completion_tokens": 4}}).encode()
        if self.server.eof_body:
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Connection: close\r\n\r\n" + answer)
        else:
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: " + str(len(answer)).encode() + b"\r\n\r\n"
                                 + answer)


CARD = "4111 1111 1111 1111"


@contextlib.contextmanager
def behind(upstream):
    """A gateway in front of upstream (a OneShotUpstream) and a key of its; both stopped after."""
    gw = Gateway(upstream="http://127.0.0.1:%d" % upstream.server_address[1])
    try:
        yield gw, gw.new_account("oneshot@example.com")["api_key"]
    finally:
        gw.close()
        upstream.shutdown()
        upstream.server_close()


class Upstreams(unittest.TestCase):
    def five_answers(self, up):
        with behind(up) as (gw, key):
            for _ in range(5):
                status, doc, _ = gw.request("POST", "/v1/chat/completions", chat(), key=key)
                self.assertEqual(status, 200, doc)
                self.assertEqual(doc["choices"][0]["message"]["content"],
                                 "from the one-shot model")

    def test_closed_keep_alive_connection_retried(self):
        up = OneShotUpstream()
        self.five_answers(up)
        # Each answer came on a connection of its own; of the 5 requests, all but the first of
        # each of the 2 workers met a kept connection that was dropped, and were sent again on
        # a new one.
        self.assertEqual(up.connections, 5)
        self.assertGreaterEqual(up.dropped, 3)

    def test_answer_with_a_repeated_key_and_a_text_to_withhold(self):
        """An answer whose text is to be redacted, in one of two copies of a key, is not
        relayed: the tree that would redact it sees only one copy, a client might read the
        other."""
        answer = ('{"object":"chat.completion","choices":[{"index":0,"message":{"role":'
                  '"assistant","content":"pay with %s","content":"fine"}}],'
                  '"usage":{"prompt_tokens":1,"completion_tokens":2}}' % CARD).encode()
        with behind(OneShotUpstream(answer=answer)) as (gw, key):
            status, doc, _ = gw.request("POST", "/v1/chat/completions", chat(), key=key)
            self.assertEqual(status, 502)
            self.assertEqual(doc["error"]["code"], "answer_unreadable")
            self.assertNotIn(CARD, json.dumps(doc))
        # Repeated keys with nothing to change go out as the model wrote them.
        benign = answer.replace(b"pay with " + CARD.encode(), b"hello")
        with behind(OneShotUpstream(answer=benign)) as (gw, key):
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
            conn.request("POST", "/v1/chat/completions", json.dumps(chat()),
                         {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read(), benign)

    def test_answer_delimited_by_the_connection(self):
        self.five_answers(OneShotUpstream(eof_body=True))

if __name__ == "__main__":
    unittest.main()
