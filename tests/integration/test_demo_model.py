#!/usr/bin/env python3
"""Integration tests of `rampart-demo-model`, the echoing OpenAI-compatible upstream (stdlib only).

usage: tests/integration/test_demo_model.py --rampart build/test/rampart [-k PATTERN]
The demo model is $RAMPART_DEMO_MODEL_BIN, by default rampart-demo-model beside rampart.
Each server runs on 127.0.0.1 with an ephemeral port. The last line printed is
"N passed, N failed".
"""
import base64
import http.client
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RAMPART = os.environ.get("RAMPART_BIN", "build/rampart")
DEMO_MODEL = os.environ.get("RAMPART_DEMO_MODEL_BIN",
                            os.path.join(os.path.dirname(RAMPART), "rampart-demo-model"))
START_TIMEOUT = 20
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class Server:
    """A `rampart-demo-model` process; stop() checks that it exits 0 without sanitizer reports."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [DEMO_MODEL, "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines = []
        ready = threading.Event()
        self.port = None

        def drain():
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines.append(line)
                if line.startswith("demo-model listening on ") and not ready.is_set():
                    self.port = int(line.rsplit(":", 1)[1])
                    ready.set()
            ready.set()

        self.thread = threading.Thread(target=drain, daemon=True)
        self.thread.start()
        if not ready.wait(START_TIMEOUT) or self.port is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("demo-model did not start: %s" % "\n".join(self.lines))

    def stderr(self):
        return "\n".join(self.lines)

    def stop(self, sig=signal.SIGTERM):
        """Stops the server with sig; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("demo-model did not stop on %s" % sig)
        self.thread.join(5)
        return code

    def check_stop(self, test, sig=signal.SIGTERM):
        code = self.stop(sig)
        test.assertEqual(code, 0, self.stderr())
        for mark in SANITIZER_MARKS:
            test.assertNotIn(mark, self.stderr())


def request(port, method, path, body=None, headers=None, timeout=20):
    """One request on a new connection; returns (status, headers dict, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        h = {"Content-Type": "application/json", "Authorization": "Bearer sk-test"}
        h.update(headers or {})
        c.request(method, path, data, h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def post_json(port, path, body):
    status, headers, data = request(port, "POST", path, body)
    return status, headers, json.loads(data)


class RawStream:
    """A request on a raw socket whose chunked answer is read as it arrives, so that tests see
    when each server-sent event came and whether the body was ended properly."""

    def __init__(self, port, path, body, timeout=20):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        data = json.dumps(body).encode()
        self.sock.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                          % (path.encode(), len(data)) + data)
        self.buf = b""
        self.eof = False
        self.complete = False  # the terminating zero-length chunk arrived
        head = self._until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip()
                        for l in lines[1:] if ":" in l}

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
        self.buf += data
        return data

    def _until(self, sep):
        while sep not in self.buf:
            if not self._recv():
                raise EOFError("connection closed before %r" % sep)
        head, self.buf = self.buf.split(sep, 1)
        return head

    def events(self):
        """Yields (arrival time, event text) for each `data: ...` event, until the body ends or
        the connection closes."""
        sse = b""
        try:
            while True:
                size_line = self._until(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    if not self._recv():
                        raise EOFError("connection closed inside a chunk")
                chunk, self.buf = self.buf[:size], self.buf[size + 2:]
                if size == 0:
                    self.complete = True
                    return
                sse += chunk
                now = time.monotonic()
                while b"\n\n" in sse:
                    event, sse = sse.split(b"\n\n", 1)
                    yield now, event.decode("utf-8")
        except EOFError:
            return
        finally:
            self.sock.close()

    def close(self):
        self.sock.close()


def parse_events(texts):
    """The JSON objects of `data:` events and whether [DONE] came last."""
    objs, done_last = [], False
    for i, t in enumerate(texts):
        assert t.startswith("data: "), t
        payload = t[len("data: "):]
        if payload == "[DONE]":
            done_last = i == len(texts) - 1
        else:
            objs.append(json.loads(payload))
    return objs, done_last


def words(s):
    return len(s.split())


CHAT = {"model": "rampart-echo",
        "messages": [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "first question"},
                     {"role": "assistant", "content": "first answer"},
                     {"role": "user", "content": "hello there, world"}]}


class Cli(unittest.TestCase):
    def run_cli(self, *args):
        p = subprocess.run([DEMO_MODEL, *args], capture_output=True, timeout=20)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_help(self):
        code, out, _ = self.run_cli("--help")
        self.assertEqual(code, 0)
        self.assertIn("usage: rampart-demo-model", out)
        self.assertIn("--die-after-chunks", out)

    def test_usage_errors_exit_2(self):
        for args in (["--bogus"], ["--threads", "0"], ["--threads", "x"], ["--delay-ms", "-1"],
                     ["--chunk-words", "0"], ["--listen", "nohost"], ["--listen", "1.2.3.4:99999"],
                     ["--listen", "::1:80"], ["extra"]):
            code, _, err = self.run_cli(*args)
            self.assertEqual(code, 2, "%s: %s" % (args, err))
            self.assertTrue(err, args)

    def test_port_in_use_fails(self):
        s = Server()
        try:
            code, _, err = self.run_cli("--listen", "127.0.0.1:%d" % s.port)
            self.assertEqual(code, 2, err)
            self.assertIn("unable to listen on '127.0.0.1:%d'" % s.port, err)
        finally:
            s.check_stop(self)


class Endpoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, cls.server.stderr()
        for mark in SANITIZER_MARKS:
            assert mark not in cls.server.stderr(), cls.server.stderr()

    def test_listening_line_shows_real_port(self):
        self.assertNotEqual(self.port, 0)
        self.assertIn("demo-model listening on 127.0.0.1:%d" % self.port, self.server.stderr())

    def test_models(self):
        status, headers, body = request(self.port, "GET", "/v1/models")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("application/json"))
        doc = json.loads(body)
        self.assertEqual(doc["object"], "list")
        self.assertEqual(len(doc["data"]), 1)
        m = doc["data"][0]
        self.assertEqual((m["id"], m["object"], m["owned_by"]),
                         ("rampart-echo", "model", "rampart"))
        self.assertIsInstance(m["created"], int)

    def test_health(self):
        status, _, body = request(self.port, "GET", "/health")
        self.assertEqual((status, json.loads(body)), (200, {"status": "ok"}))

    def test_chat_echoes_last_user_message(self):
        status, headers, doc = post_json(self.port, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("application/json"))
        self.assertEqual(doc["object"], "chat.completion")
        self.assertTrue(doc["id"].startswith("chatcmpl-"))
        self.assertEqual(doc["model"], "rampart-echo")
        self.assertIsInstance(doc["created"], int)
        self.assertEqual(len(doc["choices"]), 1)
        ch = doc["choices"][0]
        self.assertEqual(ch["index"], 0)
        self.assertEqual(ch["finish_reason"], "stop")
        self.assertEqual(ch["message"]["role"], "assistant")
        self.assertEqual(ch["message"]["content"], "You said: hello there, world")
        # Tokens are whitespace-separated words: every message of the prompt, the whole answer.
        prompt = sum(words(m["content"]) for m in CHAT["messages"])
        self.assertEqual(doc["usage"], {"prompt_tokens": prompt, "completion_tokens": 5,
                                        "total_tokens": prompt + 5})

    def test_chat_content_parts_and_model_echo(self):
        body = {"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "part one"},
                                         {"type": "image_url", "image_url": {"url": "x"}},
                                         {"type": "text", "text": "part two"}]}]}
        status, _, doc = post_json(self.port, "/v1/chat/completions", body)
        self.assertEqual(status, 200)
        self.assertEqual(doc["model"], "gpt-4o-mini")
        self.assertEqual(doc["choices"][0]["message"]["content"], "You said: part one\npart two")

    def test_chat_ids_differ(self):
        ids = {post_json(self.port, "/v1/chat/completions", CHAT)[2]["id"] for _ in range(5)}
        self.assertEqual(len(ids), 5)

    def test_chat_max_tokens_cuts_with_length(self):
        body = dict(CHAT, max_tokens=3)
        status, _, doc = post_json(self.port, "/v1/chat/completions", body)
        self.assertEqual(status, 200)
        self.assertEqual(doc["choices"][0]["message"]["content"], "You said: hello")
        self.assertEqual(doc["choices"][0]["finish_reason"], "length")
        self.assertEqual(doc["usage"]["completion_tokens"], 3)

    def test_chat_stream(self):
        body = dict(CHAT, stream=True)
        s = RawStream(self.port, "/v1/chat/completions", body)
        self.assertEqual(s.status, 200)
        self.assertTrue(s.headers["content-type"].startswith("text/event-stream"))
        texts = [t for _, t in s.events()]
        self.assertTrue(s.complete, "the chunked body did not end")
        objs, done_last = parse_events(texts)
        self.assertTrue(done_last, texts[-2:])
        self.assertEqual(texts[-1], "data: [DONE]")
        for o in objs:
            self.assertEqual(o["object"], "chat.completion.chunk")
            self.assertEqual(o["id"], objs[0]["id"])
            self.assertEqual(o["model"], "rampart-echo")
        content = objs[:-1]
        # One chunk a word by default; the first carries the role.
        self.assertEqual(len(content), 5)
        self.assertEqual(content[0]["choices"][0]["delta"]["role"], "assistant")
        text = "".join(o["choices"][0]["delta"]["content"] for o in content)
        self.assertEqual(text, "You said: hello there, world")
        for o in content:
            self.assertIsNone(o["choices"][0]["finish_reason"])
            self.assertNotIn("usage", o)
        last = objs[-1]
        self.assertEqual(last["choices"][0]["finish_reason"], "stop")
        self.assertEqual(last["choices"][0]["delta"], {})
        prompt = sum(words(m["content"]) for m in CHAT["messages"])
        self.assertEqual(last["usage"], {"prompt_tokens": prompt, "completion_tokens": 5,
                                         "total_tokens": prompt + 5})

    def test_stream_and_whole_answers_share_a_connection(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            for stream in (True, False, True):
                c.request("POST", "/v1/chat/completions", json.dumps(dict(CHAT, stream=stream)))
                r = c.getresponse()
                data = r.read()
                self.assertEqual(r.status, 200)
                if stream:
                    self.assertTrue(data.endswith(b"data: [DONE]\n\n"))
                else:
                    self.assertEqual(json.loads(data)["object"], "chat.completion")
        finally:
            c.close()

    def test_bad_json_is_400(self):
        for raw in (b'{"messages": [', b"", b"not json", b'{"a":1}{'):
            status, headers, body = request(self.port, "POST", "/v1/chat/completions", raw)
            self.assertEqual(status, 400, raw)
            self.assertTrue(headers["content-type"].startswith("application/json"))
            err = json.loads(body)["error"]
            self.assertEqual(err["type"], "invalid_request_error")
            self.assertIsNone(err["code"])
            self.assertIn("parse the JSON body", err["message"])

    def test_invalid_requests_are_400(self):
        cases = [("/v1/chat/completions", []),
                 ("/v1/chat/completions", {}),
                 ("/v1/chat/completions", {"messages": []}),
                 ("/v1/chat/completions", {"messages": ["hi"]}),
                 ("/v1/chat/completions", {"messages": [{"role": "user", "content": 5}]}),
                 ("/v1/chat/completions", dict(CHAT, model=7)),
                 ("/v1/chat/completions", dict(CHAT, stream="yes")),
                 ("/v1/chat/completions", dict(CHAT, max_tokens=0)),
                 ("/v1/completions", {"prompt": 5}),
                 ("/v1/completions", {"prompt": []}),
                 ("/v1/embeddings", {"input": [1, 2]}),
                 ("/v1/embeddings", {"input": "x", "encoding_format": "hex"})]
        for path, body in cases:
            status, _, doc = post_json(self.port, path, body)
            self.assertEqual(status, 400, (path, body))
            self.assertEqual(doc["error"]["type"], "invalid_request_error")
            self.assertTrue(doc["error"]["message"])

    def test_unknown_path_404_and_wrong_method_405(self):
        status, _, body = request(self.port, "GET", "/v1/nothing")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["error"]["code"], "unknown_url")
        status, _, body = request(self.port, "GET", "/v1/chat/completions")
        self.assertEqual(status, 405)
        self.assertEqual(json.loads(body)["error"]["type"], "invalid_request_error")
        status, _, _ = request(self.port, "GET", "/v1/models?limit=1")
        self.assertEqual(status, 200)

    def test_completions(self):
        status, _, doc = post_json(self.port, "/v1/completions",
                                   {"model": "rampart-echo", "prompt": "once upon a time"})
        self.assertEqual(status, 200)
        self.assertEqual(doc["object"], "text_completion")
        self.assertTrue(doc["id"].startswith("cmpl-"))
        self.assertEqual(doc["choices"], [{"text": "You said: once upon a time", "index": 0,
                                           "logprobs": None, "finish_reason": "stop"}])
        self.assertEqual(doc["usage"], {"prompt_tokens": 4, "completion_tokens": 6,
                                        "total_tokens": 10})

    def test_completions_prompt_list(self):
        status, _, doc = post_json(self.port, "/v1/completions", {"prompt": ["a b", "c"]})
        self.assertEqual(status, 200)
        self.assertEqual([c["text"] for c in doc["choices"]], ["You said: a b", "You said: c"])
        self.assertEqual([c["index"] for c in doc["choices"]], [0, 1])
        self.assertEqual(doc["usage"]["completion_tokens"], 7)

    def test_completions_stream(self):
        s = RawStream(self.port, "/v1/completions", {"prompt": "x y", "stream": True})
        self.assertEqual(s.status, 200)
        texts = [t for _, t in s.events()]
        objs, done_last = parse_events(texts)
        self.assertTrue(done_last and s.complete)
        self.assertTrue(all(o["object"] == "text_completion" for o in objs))
        self.assertEqual("".join(o["choices"][0]["text"] for o in objs), "You said: x y")
        self.assertEqual(objs[-1]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(objs[-1]["usage"]["total_tokens"], 6)

    def test_embeddings(self):
        status, _, doc = post_json(self.port, "/v1/embeddings",
                                   {"model": "rampart-echo", "input": ["alpha beta", "gamma"]})
        self.assertEqual(status, 200)
        self.assertEqual(doc["object"], "list")
        self.assertEqual(doc["usage"], {"prompt_tokens": 3, "total_tokens": 3})
        self.assertEqual([d["index"] for d in doc["data"]], [0, 1])
        vecs = [d["embedding"] for d in doc["data"]]
        for v in vecs:
            self.assertEqual(len(v), 8)
            self.assertAlmostEqual(math.sqrt(sum(x * x for x in v)), 1.0, places=5)
        self.assertNotEqual(vecs[0], vecs[1])
        # Deterministic: the same string gives the same vector, alone or in a list.
        _, _, again = post_json(self.port, "/v1/embeddings", {"input": "gamma"})
        self.assertEqual(again["data"][0]["embedding"], vecs[1])

    def test_embeddings_base64(self):
        _, _, f = post_json(self.port, "/v1/embeddings", {"input": "gamma"})
        status, _, b = post_json(self.port, "/v1/embeddings",
                                 {"input": "gamma", "encoding_format": "base64"})
        self.assertEqual(status, 200)
        floats = struct.unpack("<8f", base64.b64decode(b["data"][0]["embedding"]))
        for x, y in zip(floats, f["data"][0]["embedding"]):
            self.assertAlmostEqual(x, y, places=6)

    def test_oversized_body_is_refused(self):
        big = json.dumps({"messages": [{"role": "user", "content": "x" * (9 << 20)}]}).encode()
        try:
            status, _, _ = request(self.port, "POST", "/v1/chat/completions", big)
            self.assertEqual(status, 413)
        except (ConnectionError, http.client.HTTPException):
            pass  # closing the connection is a refusal too
        self.assertEqual(request(self.port, "GET", "/health")[0], 200)


class Options(unittest.TestCase):
    def test_stream_chunks_arrive_separately_with_delay(self):
        s = Server("--delay-ms", "150")
        try:
            start = time.monotonic()
            st = RawStream(s.port, "/v1/chat/completions",
                           {"stream": True, "messages": [{"role": "user", "content": "a b c"}]})
            got = list(st.events())
            objs, done_last = parse_events([t for _, t in got])
            self.assertTrue(done_last and st.complete)
            times = [t - start for t, _ in got]
            # 5 content chunks, each 150 ms after the one before; the last chunk and [DONE]
            # follow the last content chunk at once.
            self.assertEqual(len(objs), 6)
            for a, b in zip(times[:4], times[1:5]):
                self.assertGreater(b - a, 0.09, times)
            self.assertGreater(times[0], 0.09, times)
            self.assertGreater(times[4], 0.6, times)
        finally:
            s.check_stop(self)

    def test_chunk_words(self):
        s = Server("--chunk-words", "3")
        try:
            st = RawStream(s.port, "/v1/chat/completions",
                           {"stream": True, "messages": [{"role": "user", "content": "1 2 3 4 5"}]})
            objs, _ = parse_events([t for _, t in st.events()])
            content = [o["choices"][0]["delta"]["content"] for o in objs[:-1]]
            self.assertEqual(content, ["You said: 1", " 2 3 4", " 5"])
        finally:
            s.check_stop(self)

    def test_whole_answer_waits_for_its_chunks(self):
        s = Server("--delay-ms", "100")
        try:
            t = time.monotonic()
            status, _, doc = post_json(s.port, "/v1/chat/completions",
                                       {"messages": [{"role": "user", "content": "a"}]})
            self.assertEqual(status, 200)
            self.assertEqual(doc["choices"][0]["message"]["content"], "You said: a")
            self.assertGreater(time.monotonic() - t, 0.25)  # 3 words, 100 ms each
        finally:
            s.check_stop(self)

    def test_die_after_chunks(self):
        s = Server("--die-after-chunks", "2", "--delay-ms", "20")
        try:
            st = RawStream(s.port, "/v1/chat/completions",
                           {"stream": True, "messages": [{"role": "user", "content": "a b c d"}]})
            self.assertEqual(st.status, 200)
            texts = [t for _, t in st.events()]
            self.assertEqual(len(texts), 2, texts)
            self.assertNotIn("data: [DONE]", texts)
            self.assertFalse(st.complete, "the chunked body ended properly")
            self.assertTrue(st.eof)
            objs, _ = parse_events(texts)
            self.assertEqual("".join(o["choices"][0]["delta"]["content"] for o in objs),
                             "You said:")
            # http.client sees the same death as an incomplete read.
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=20)
            c.request("POST", "/v1/chat/completions",
                      json.dumps({"stream": True, "messages": [{"role": "user", "content": "x"}]}))
            with self.assertRaises(http.client.IncompleteRead):
                c.getresponse().read()
            c.close()
            # The server lives on: whole answers are untouched.
            status, _, doc = post_json(s.port, "/v1/chat/completions", CHAT)
            self.assertEqual(status, 200)
        finally:
            s.check_stop(self)

    def test_die_after_zero_chunks_sends_only_headers(self):
        s = Server("--die-after-chunks", "0")
        try:
            st = RawStream(s.port, "/v1/chat/completions",
                           {"stream": True, "messages": [{"role": "user", "content": "a"}]})
            self.assertEqual(st.status, 200)
            self.assertEqual(list(st.events()), [])
            self.assertFalse(st.complete)
        finally:
            s.check_stop(self)

    def test_die_after_all_chunks_withholds_only_done(self):
        s = Server("--die-after-chunks", "4")
        try:
            st = RawStream(s.port, "/v1/chat/completions",
                           {"stream": True, "messages": [{"role": "user", "content": "a"}]})
            texts = [t for _, t in st.events()]
            objs, done_last = parse_events(texts)
            self.assertEqual(len(objs), 4)  # 3 words, then the finishing chunk
            self.assertIn("usage", objs[-1])
            self.assertFalse(done_last or st.complete)
        finally:
            s.check_stop(self)

    def test_client_gone_mid_stream(self):
        s = Server("--delay-ms", "50")
        try:
            body = {"stream": True, "messages": [{"role": "user", "content": "a b c d e f g h"}]}
            for _ in range(4):
                st = RawStream(s.port, "/v1/chat/completions", body)
                gen = st.events()
                next(gen)
                # A reset, as a client killed mid-answer gives.
                st.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                gen.close()
            status, _, _ = post_json(s.port, "/v1/chat/completions", CHAT)
            self.assertEqual(status, 200)
            # A stream still in flight when the server stops.
            long = {"stream": True, "messages": [{"role": "user", "content": "w " * 100}]}
            inflight = RawStream(s.port, "/v1/chat/completions", long)
            next(inflight.events())
        finally:
            s.check_stop(self)
        inflight.close()

    def test_threads_share_the_port(self):
        s = Server("--threads", "3")
        try:
            results = []

            def worker():
                for _ in range(20):
                    results.append(post_json(s.port, "/v1/chat/completions", CHAT)[0])

            threads = [threading.Thread(target=worker) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            self.assertEqual(results, [200] * 160)
        finally:
            s.check_stop(self, signal.SIGINT)

    def test_sigint_exits_cleanly(self):
        s = Server()
        self.assertEqual(request(s.port, "GET", "/v1/models")[0], 200)
        s.check_stop(self, signal.SIGINT)


if __name__ == "__main__":
    # Alone, through the one runner of this folder: run.py --rampart BIN -k test_demo_model.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import run

    sys.argv += ["-k", "test_demo_model"]
    run.main()
