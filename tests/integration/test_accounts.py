"""Integration tests of accounts in `rampart serve`: verification links that a mail scanner cannot
spend and a person can ask for again, screening that a look-alike address cannot turn against a
person, and bans whose audit events survive kill -9 (issue 12, items 8, 12 and 13).

Run through tests/integration/run.py, which sets RAMPART_BIN."""
import glob
import html.parser
import http.client
import os
import random
import tempfile
import threading
import urllib.parse
import unittest

from test_gateway import Gateway, chat, stop
from test_guard import TEST_RULES


def mails_to(gw, email):
    """The messages written to email's address, oldest first."""
    out = []
    for path in sorted(glob.glob(os.path.join(gw.state, "outbox", "*.eml")), key=os.path.getmtime):
        text = open(path, encoding="utf-8").read()
        if "To: <%s>" % email in text:
            out.append(text)
    return out


def link_of(mail):
    for word in mail.split():
        if "/v1/verify?token=" in word:
            return word
    raise AssertionError("no link in:\n" + mail)


def get(url, headers=None):
    """GET of an absolute URL: (status, body text, response)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", u.path + ("?" + u.query if u.query else ""), headers=headers or {})
    r = conn.getresponse()
    body = r.read().decode("utf-8")
    conn.close()
    return r.status, body, r


def post_form(gw, fields, raw=None):
    """POST /v1/verify as the page's form does: (status, body text, response)."""
    data = raw if raw is not None else urllib.parse.urlencode(fields).encode()
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    conn.request("POST", "/v1/verify", body=data,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    body = r.read().decode("utf-8")
    conn.close()
    return r.status, body, r


class Form(html.parser.HTMLParser):
    """The forms, inputs and the text of <code id="api-key"> of a page."""

    def __init__(self, text):
        super().__init__()
        self.forms, self.inputs, self.key, self._in_key = [], {}, None, False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append(a)
        elif tag == "input":
            self.inputs[a.get("name")] = a.get("value")
        elif tag == "code" and a.get("id") == "api-key":
            self._in_key = True

    def handle_endtag(self, tag):
        if tag == "code":
            self._in_key = False

    def handle_data(self, data):
        if self._in_key:
            self.key = (self.key or "") + data


def account(gw, email):
    accounts = gw.request("GET", "/admin/accounts", admin=True)[1]["accounts"]
    return [a for a in accounts if a["email"] == email][0]


def kinds(gw, account_id):
    evs = gw.request("GET", "/admin/events?account=%d&limit=10000" % account_id, admin=True)[1]
    return [e["kind"] for e in evs["events"]]


class Verification(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway("limits:\n  per_network:\n    signups_per_hour: 1000\n")

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def test_regression_long_ban_reason_event_detail_is_valid_json(self):
        """An operator's ban reason near its 511 bytes, with quotes and accents, made a ban event
        whose detail was cut into text that is not JSON (the admin API then showed it as a
        string). The detail is now an object: the reason cut at a character, "truncated": true;
        a short reason is kept whole, with no marker."""
        # Its own gateway: the bans below would hold every later sign-up from this network.
        gw = Gateway("limits:\n  per_network:\n    signups_per_hour: 1000\n")
        self.addCleanup(gw.close)
        reasons = {"long-reason@example.com": ('"quoted" caf\u00e9 ' * 40)[:440],
                   "short-reason@example.com": 'spam "run"'}
        # Both sign up before either ban: a ban holds later sign-ups from its network.
        ids = {email: gw.new_account(email)["account_id"] for email in reasons}
        for email, reason in reasons.items():
            aid = ids[email]
            self.assertEqual(gw.request("POST", "/admin/accounts/%d/ban" % aid,
                                        {"reason": reason}, admin=True)[0], 200)
            evs = gw.request("GET", "/admin/events?account=%d" % aid, admin=True)[1]["events"]
            detail = [e for e in evs if e["kind"] == "ban"][0]["detail"]
            self.assertIsInstance(detail, dict, detail)
            self.assertEqual(detail["by"], "admin")
            if len(reason) > 100:
                self.assertTrue(detail["truncated"])
                self.assertTrue(reason.startswith(detail["reason"]), detail)
                self.assertGreater(len(detail["reason"]), 100)
            else:
                self.assertEqual(detail, {"by": "admin", "reason": reason})
            # The ban itself keeps the whole reason.
            acc = gw.request("GET", "/admin/accounts/%d" % aid, admin=True)[1]
            self.assertEqual(acc["ban_reason"], reason)

    def test_regression_verify_link_safe_for_scanners(self):
        """A GET of the link (a mail scanner, a link preview) shows a page with a button and no
        key, and changes nothing; the button's POST verifies and shows the key once."""
        gw = self.gw
        gw.signup("scanned@example.com")
        link = link_of(mails_to(gw, "scanned@example.com")[-1])
        for _ in range(3):
            status, page, r = get(link)
            self.assertEqual(status, 200)
            self.assertTrue(r.getheader("Content-Type").startswith("text/html"))
            self.assertNotIn("rp-", page)
            self.assertIn("frame-ancestors 'none'", r.getheader("Content-Security-Policy"))
            self.assertEqual(r.getheader("Cache-Control"), "no-store")
            self.assertEqual(r.getheader("Referrer-Policy"), "no-referrer")
        self.assertEqual(account(gw, "scanned@example.com")["status"], "pending")
        self.assertNotIn("verify", kinds(gw, account(gw, "scanned@example.com")["id"]))
        # The page's form posts the token back to /v1/verify, as a browser would send it.
        f = Form(page)
        self.assertEqual(len(f.forms), 1)
        self.assertEqual(f.forms[0]["method"], "post")
        self.assertEqual(urllib.parse.urljoin(link, f.forms[0]["action"]),
                         "http://127.0.0.1:%d/v1/verify" % gw.port)
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["token"][0]
        self.assertEqual(f.inputs, {"token": token})
        status, page, r = post_form(gw, f.inputs)
        self.assertEqual(status, 200, page)
        self.assertEqual(r.getheader("Cache-Control"), "no-store")
        key = Form(page).key
        self.assertTrue(key and key.startswith("rp-"), page)
        self.assertEqual(gw.request("POST", "/v1/chat/completions", chat(), key=key)[0], 200)
        self.assertEqual(account(gw, "scanned@example.com")["status"], "active")
        # Once used, the link's button says so, in a page.
        status, page, _ = post_form(gw, f.inputs)
        self.assertEqual(status, 400)
        self.assertIn("not valid", page)
        self.assertNotIn("rp-", page)

    def test_verify_bad_requests(self):
        gw = self.gw
        cases = [(dict(raw=b"{not json"), 400, "invalid_json"),
                 (dict(body={"token": 5}), 400, "invalid_token"),
                 (dict(body={"token": "a b"}), 400, "invalid_token"),
                 (dict(body={"token": "x" * 129}), 400, "invalid_token"),
                 (dict(body={"tok": "abc"}), 400, "invalid_token"),
                 (dict(body={"token": "abc"}), 400, "invalid_token")]
        for kw, status, code in cases:
            got, doc, _ = gw.request("POST", "/v1/verify", **kw)
            self.assertEqual((got, doc["error"]["code"]), (status, code), kw)
            self.assertTrue(doc["error"]["message"])
        got, doc, _ = gw.request("DELETE", "/v1/verify")
        self.assertEqual((got, doc["error"]["code"]), (405, "method_not_allowed"))
        # The form: two tokens, none, one that is not a token.
        for raw in (b"token=abc&token=abd", b"", b"x=1", b"token=%3Cscript%3E"):
            status, page, r = post_form(gw, None, raw=raw)
            self.assertEqual(status, 400, raw)
            self.assertTrue(r.getheader("Content-Type").startswith("text/html"))
            self.assertNotIn("<script>", page)
        # A link whose token is damaged is not reflected into the page.
        status, page, _ = gw.request("GET", "/v1/verify?token=%22%3E%3Cscript%3Ealert(1)")
        self.assertEqual(status, 400)
        status, page, r = get("http://127.0.0.1:%d/v1/verify?token=%%22%%3E%%3Cscript%%3E" % gw.port)
        self.assertEqual(status, 400)
        self.assertNotIn("<script>", page)

    def test_resend_within_a_minute_sends_nothing(self):
        """A second sign-up within a minute of the first answers the same and sends no mail."""
        gw = self.gw
        first = gw.request("POST", "/v1/signup", {"email": "hasty@example.com"})
        self.assertEqual(first[0], 202)
        again = gw.request("POST", "/v1/signup", {"email": "hasty@example.com"})
        self.assertEqual((again[0], again[1]), (first[0], first[1]))
        self.assertEqual(len(mails_to(gw, "hasty@example.com")), 1)

    def test_resend_answers_like_a_first_signup(self):
        """Whatever the address's account (none, pending, active, banned), the answer is the
        same: the endpoint does not tell who has an account."""
        # Its own gateway: the ban below would hold every later sign-up from this network.
        gw = Gateway("limits:\n  per_network:\n    signups_per_hour: 1000\n")
        self.addCleanup(gw.close)
        answers = set()
        for email in ("nobody-yet@example.com", "pending2@example.com"):
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": email})
            answers.add((status, doc["status"]))
        gw.new_account("active2@example.com")
        gw.new_account("banned2@example.com")
        gw.request("POST", "/admin/accounts/%d/ban" % account(gw, "banned2@example.com")["id"],
                   {"reason": "test"}, admin=True)
        for email in ("pending2@example.com", "active2@example.com", "banned2@example.com"):
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": email})
            answers.add((status, doc["status"]))
        self.assertEqual(answers, {(202, "pending_verification")})
        # A banned account gets no mail.
        self.assertEqual(len(mails_to(gw, "banned2@example.com")), 1)


class Resend(unittest.TestCase):
    """Fresh links need a minute between them: rather than wait, these tests age the tokens in
    the stopped gateway's database."""

    def age_tokens(self, gw, seconds):
        """Moves every verification token's creation time back by seconds (the gateway is
        stopped meanwhile), so that a fresh link is due without waiting."""
        import sqlite3
        stop(gw.proc)
        db = sqlite3.connect(os.path.join(gw.state, "rampart.db"))
        db.execute("UPDATE verify_tokens SET created = created - ?", (seconds,))
        db.commit()
        db.close()
        gw.start()

    def test_regression_verify_can_be_repeated(self):
        gw = Gateway("limits:\n  per_network:\n    signups_per_hour: 1000\n")
        try:
            # A pending account whose mail was lost.
            gw.signup("lost@example.com")
            old = gw.token_for("lost@example.com")
            self.assertEqual(gw.request("POST", "/v1/signup", {"email": "lost@example.com"})[0],
                             202)
            self.assertEqual(len(mails_to(gw, "lost@example.com")), 1)  # within the minute
            self.age_tokens(gw, 61)
            self.assertEqual(gw.request("POST", "/v1/signup", {"email": "lost@example.com"})[0],
                             202)
            mails = mails_to(gw, "lost@example.com")
            self.assertEqual(len(mails), 2)
            fresh = gw.token_for("lost@example.com")
            self.assertNotEqual(fresh, old)
            status, doc, _ = gw.verify(fresh)
            self.assertEqual(status, 200, doc)
            first_key = doc["api_key"]
            # Using one link spends the other.
            self.assertEqual(gw.verify(old)[0], 400)

            # Active, and the key lost: signing up again mails a link that makes a new key.
            self.age_tokens(gw, 61)
            self.assertEqual(gw.request("POST", "/v1/signup", {"email": "lost@example.com"})[1],
                             {"status": "pending_verification"})
            mails = mails_to(gw, "lost@example.com")
            self.assertEqual(len(mails), 3)
            self.assertIn("new API key", mails[-1])
            status, doc, _ = gw.verify(gw.token_for("lost@example.com"))
            self.assertEqual(status, 200, doc)
            second_key = doc["api_key"]
            self.assertNotEqual(second_key, first_key)
            self.assertIn("other keys keep working", doc["note"])
            for key in (first_key, second_key):
                self.assertEqual(gw.request("POST", "/v1/chat/completions", chat(), key=key)[0],
                                 200)
            status, doc, _ = gw.request("GET", "/v1/keys", key=second_key)
            self.assertEqual(status, 200)
            self.assertEqual(len(doc["keys"]), 2)
            self.assertNotIn("hash", str(doc))
            # The lost one can be revoked with the new one.
            lost_id = min(k["id"] for k in doc["keys"])
            self.assertEqual(gw.request("DELETE", "/v1/keys/%d" % lost_id, key=second_key)[0],
                             200)
            self.assertEqual(gw.request("POST", "/v1/chat/completions", chat(),
                                        key=first_key)[0], 401)
            aid = account(gw, "lost@example.com")["id"]
            k = kinds(gw, aid)
            self.assertEqual(k.count("verify"), 2)
            self.assertEqual(k.count("key_created"), 2)
            self.assertEqual(k.count("signup_resend"), 2)
            self.assertIn("key_revoked", k)

            # At most 5 links a day (3 so far): the 6th sign-up of the day sends nothing.
            n = len(mails_to(gw, "lost@example.com"))
            for _ in range(4):
                self.age_tokens(gw, 61)
                self.assertEqual(gw.request("POST", "/v1/signup",
                                            {"email": "lost@example.com"})[0], 202)
            self.assertEqual(len(mails_to(gw, "lost@example.com")), n + 2)
        finally:
            gw.close()

    def test_regression_banned_pending_gets_no_key(self):
        """A pending account banned before it verified gets no key from its link; once
        unbanned, the same link works."""
        gw = Gateway()
        try:
            token = gw.signup("early-ban@example.com")
            aid = account(gw, "early-ban@example.com")["id"]
            self.assertEqual(gw.request("POST", "/admin/accounts/%d/ban" % aid,
                                        {"reason": "abuse"}, admin=True)[0], 200)
            status, doc, _ = gw.verify(token)
            self.assertEqual(status, 403)
            self.assertEqual(doc["error"]["code"], "account_banned")
            self.assertNotIn("api_key", doc)
            status, page, _ = post_form(gw, {"token": token})
            self.assertEqual(status, 403)
            self.assertNotIn("rp-", page)
            acc = gw.request("GET", "/admin/accounts/%d" % aid, admin=True)[1]
            self.assertEqual((acc["status"], acc["verified"], acc["keys"]), ("banned", 0, []))
            gw.request("POST", "/admin/accounts/%d/unban" % aid, {}, admin=True)
            status, doc, _ = gw.verify(token)
            self.assertEqual(status, 200, doc)
        finally:
            gw.close()


class Screening(unittest.TestCase):
    def test_regression_unverified_signup_does_not_hold_lookalike(self):
        """caroljones7's unverified sign-up does not put caroljones on hold; a verified one
        would."""
        gw = Gateway()
        try:
            self.assertEqual(gw.request("POST", "/v1/signup",
                                        {"email": "caroljones7@example.com"})[1]["status"],
                             "pending_verification")
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": "caroljones@example.com"})
            self.assertEqual((status, doc["status"]), (202, "pending_verification"))
            self.assertEqual(len(mails_to(gw, "caroljones@example.com")), 1)
            self.assertEqual(gw.request("GET", "/admin/holds", admin=True)[1]["holds"], [])
            # Once caroljones is verified, a third variant is held as a look-alike.
            gw.verify(gw.token_for("caroljones@example.com"))
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": "carol.jones+x@example.com"})
            self.assertEqual(doc["status"], "held_for_review")
            holds = gw.request("GET", "/admin/holds", admin=True)[1]["holds"]
            self.assertIn("lookalike-address", holds[0]["held_for_review"])
        finally:
            gw.close()

    def test_regression_banned_lookalike_held_not_refused(self):
        """davidmiller2 gets itself banned: davidmiller is held for review, never refused, and an
        operator's approval lets them in. An account banned before it verified links nobody."""
        rules = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        rules.write(TEST_RULES)
        rules.close()
        gw = Gateway(config="guard:\n  rules: [%s]\nescalation:\n  soft_blocks_before_ban: 1\n"
                            "trusted_proxies: [127.0.0.1/32]\n" % rules.name)
        try:
            key = gw.new_account("davidmiller2@example.com")["api_key"]
            for _ in range(2):
                gw.request("POST", "/v1/chat/completions", chat("open sesame now"), key=key)
            self.assertEqual(account(gw, "davidmiller2@example.com")["status"], "banned")
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": "davidmiller@example.com"})
            self.assertEqual((status, doc["status"]), (202, "held_for_review"))
            holds = gw.request("GET", "/admin/holds", admin=True)[1]["holds"]
            self.assertEqual([h["email"] for h in holds], ["davidmiller@example.com"])
            self.assertIn("linked-to-banned", holds[0]["held_for_review"])
            self.assertEqual(gw.request("POST", "/admin/holds/%d/approve" % holds[0]["id"], {},
                                        admin=True)[0], 200)
            status, doc, _ = gw.verify(gw.token_for("davidmiller@example.com"))
            self.assertEqual(status, 200, doc)
            self.assertEqual(gw.request("POST", "/v1/chat/completions", chat(),
                                        key=doc["api_key"])[0], 200)

            # Banned before verifying (an address anyone can type): no link to its variants.
            # (Each from a network of its own: the bans above hold this one's sign-ups.)
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": "ed.wood1@example.com"},
                                        headers={"X-Forwarded-For": "198.51.100.7"})
            self.assertEqual(doc["status"], "pending_verification")
            aid = account(gw, "ed.wood1@example.com")["id"]
            gw.request("POST", "/admin/accounts/%d/ban" % aid, {"reason": "x"}, admin=True)
            status, doc, _ = gw.request("POST", "/v1/signup", {"email": "edwood@example.com"},
                                        headers={"X-Forwarded-For": "203.0.113.9"})
            self.assertEqual((status, doc["status"]), (202, "pending_verification"))
        finally:
            gw.close()
            os.unlink(rules.name)


class Durability(unittest.TestCase):
    ACCOUNTS = 12
    ROUNDS = 3

    def test_regression_ban_and_event_one_transaction(self):
        """kill -9 while accounts are being banned (by escalation and by an operator): after each
        restart every banned account has its ban event, every lifted ban its unban."""
        rules = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        rules.write(TEST_RULES)
        rules.close()
        gw = Gateway(config="guard:\n  rules: [%s]\nescalation:\n  soft_blocks_before_ban: 1\n"
                            "limits:\n  per_key:\n    requests_per_minute: 100000\n"
                            "  per_network:\n    signups_per_hour: 1000\n" % rules.name)
        rng = random.Random()
        try:
            accts = []
            for i in range(self.ACCOUNTS):
                # Distinct letters: kill1 and kill2 would be look-alikes of kill0.
                doc = gw.new_account("kill-%s@example.com" % chr(ord("a") + i))
                accts.append((doc["account_id"], doc["api_key"]))
            for rnd in range(self.ROUNDS):
                bans = []
                lock = threading.Lock()
                target = rng.randint(2, self.ACCOUNTS - 2)
                enough = threading.Event()

                def saw_ban():
                    with lock:
                        bans.append(1)
                        if len(bans) >= target:
                            enough.set()

                def by_escalation(key):
                    try:
                        for _ in range(5):
                            status, _, _ = gw.request("POST", "/v1/chat/completions",
                                                      chat("open sesame now"), key=key)
                            if status == 403:
                                saw_ban()
                                return
                    except Exception:
                        pass  # the gateway was killed

                def by_operator(aid):
                    try:
                        if gw.request("POST", "/admin/accounts/%d/ban" % aid,
                                      {"reason": "round %d" % rnd}, admin=True)[0] == 200:
                            saw_ban()
                    except Exception:
                        pass

                threads = [threading.Thread(target=by_escalation if i % 2 else by_operator,
                                            args=(key if i % 2 else aid,))
                           for i, (aid, key) in enumerate(accts)]
                for t in threads:
                    t.start()
                enough.wait(20)
                gw.proc.kill()  # kill -9, in the middle of the bans
                gw.proc.wait()
                for t in threads:
                    t.join(30)
                gw.start()
                for aid, _ in accts:
                    acc = gw.request("GET", "/admin/accounts/%d" % aid, admin=True)[1]
                    k = kinds(gw, aid)
                    banned = acc["status"] == "banned"
                    self.assertEqual(k.count("ban") - k.count("unban"), 1 if banned else 0,
                                     "round %d: account %d is %s with events %s" %
                                     (rnd, aid, acc["status"], k))
                # Lift every ban for the next round (each unban with its event).
                for aid, _ in accts:
                    gw.request("POST", "/admin/accounts/%d/unban" % aid, {}, admin=True)
        finally:
            gw.close()
            os.unlink(rules.name)
