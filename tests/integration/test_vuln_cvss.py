#!/usr/bin/env python3
"""Integration tests of `rampart cvss`: the command line, and CVSS v3.0/v3.1 base scores of a
few thousand random vectors against an independent implementation, the Ruby gem cvss-suite
(Debian 12's ruby-cvss-suite 3.1.0). That package has no CVSS 4.0 (added in cvss-suite 3.2), so
v4.0 is compared against reference data in tests/unit/test_vuln_cvss.c instead.

usage: tests/integration/test_vuln_cvss.py (RAMPART_BIN names the binary; run.py sets it)
The differential test is skipped when ruby or the gem is missing
(apt-get install ruby ruby-cvss-suite).
"""
import json
import os
import random
import shutil
import subprocess
import unittest

RAMPART = os.environ.get("RAMPART_BIN", "build/rampart")

V3_BASE = [("AV", "NALP"), ("AC", "LH"), ("PR", "NLH"), ("UI", "NR"), ("S", "UC"),
           ("C", "HLN"), ("I", "HLN"), ("A", "HLN")]
V3_OTHER = [("E", "XUPFH"), ("RL", "XOTWU"), ("RC", "XURC"), ("CR", "XLMH"), ("IR", "XLMH"),
            ("AR", "XLMH"), ("MAV", "XNALP"), ("MAC", "XLH"), ("MPR", "XNLH"), ("MUI", "XNR"),
            ("MS", "XUC"), ("MC", "XNLH"), ("MI", "XNLH"), ("MA", "XNLH")]

# Prints the base score of each vector of stdin, "INVALID" for those the gem rejects.
RUBY_PEER = r"""
require 'cvss_suite'
STDIN.each_line do |l|
  begin
    c = CvssSuite.new(l.strip)
    puts(c.valid? ? format('%.1f', c.base_score) : 'INVALID')
  rescue StandardError
    puts 'INVALID'
  end
end
"""


def cvss(args, stdin=None):
    p = subprocess.run([RAMPART, "cvss", *args], input=stdin, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def random_v3(rng):
    """A valid random v3.0 or v3.1 vector: all base metrics, some others, in a random order
    half of the time."""
    parts = ["%s:%s" % (m, rng.choice(v)) for m, v in V3_BASE]
    parts += ["%s:%s" % (m, rng.choice(v)) for m, v in V3_OTHER if rng.random() < 0.3]
    if rng.random() < 0.5:
        rng.shuffle(parts)
    return "CVSS:%s/%s" % (rng.choice(["3.0", "3.1"]), "/".join(parts))


def broken_v3(rng):
    """A vector both implementations must reject: a base metric missing, repeated, or with a
    value it cannot have."""
    parts = ["%s:%s" % (m, rng.choice(v)) for m, v in V3_BASE]
    kind = rng.randrange(3)
    i = rng.randrange(len(parts))
    if kind == 0:
        del parts[i]
    elif kind == 1:
        parts.insert(rng.randrange(len(parts) + 1), parts[i])
    else:
        parts[i] = parts[i].split(":")[0] + ":Q"
    return "CVSS:3.1/" + "/".join(parts)


def ruby_peer_missing():
    if not shutil.which("ruby"):
        return "ruby is not installed"
    p = subprocess.run(["ruby", "-e", "require 'cvss_suite'"], capture_output=True, timeout=60)
    if p.returncode != 0:
        return "the cvss_suite gem is not installed (ruby-cvss-suite)"
    return None


class CvssCli(unittest.TestCase):
    def test_help(self):
        code, out, _ = cvss(["--help"])
        self.assertEqual(code, 0)
        self.assertIn("usage: rampart cvss", out)

    def test_arguments(self):
        code, out, err = cvss(["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                               "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N",
                               "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"])
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, "9.8 critical\n8.7 high\n0.0 none\n")

    def test_stdin_lines_and_bad_vector(self):
        text = ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N\r\n"
                "\n"
                "  CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H  \n"
                "CVSS:4.0/AV:A/AC:L/AT:P/PR:N/UI:N/VC:H/VI:L/VA:L/SC:N/SI:N/SA:N")
        code, out, _ = cvss([], stdin=text.encode())
        self.assertEqual(code, 2)
        self.assertEqual(out.splitlines(), [
            "6.1 medium",
            "error: missing base metric 'A' in CVSS 3.1 vector",
            "6.1 medium",
        ])

    def test_json(self):
        code, out, _ = cvss(["--json", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "x\"y"])
        self.assertEqual(code, 2)
        rows = [json.loads(l) for l in out.splitlines()]
        self.assertEqual(rows[0], {"vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                                   "score": 9.8, "rating": "critical"})
        self.assertEqual(rows[1]["vector"], "x\"y")
        self.assertIn("is not a CVSS vector", rows[1]["error"])

    def test_long_line(self):
        code, out, _ = cvss([], stdin=b"A" * 10000 + b"\nCVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n")
        self.assertEqual(code, 2)
        self.assertEqual(out.splitlines(), ["error: line longer than 4096 bytes", "9.8 critical"])

    def test_unknown_option(self):
        code, _, _ = cvss(["--bogus"])
        self.assertEqual(code, 2)


class CvssDifferential(unittest.TestCase):
    def test_v3_against_cvss_suite(self):
        why = ruby_peer_missing()
        if why:
            raise unittest.SkipTest(why)
        rng = random.Random(20240601)
        vectors = [random_v3(rng) for _ in range(3000)]
        broken = [broken_v3(rng) for _ in range(300)]
        allv = vectors + broken
        code, out, _ = cvss([], stdin=("\n".join(allv) + "\n").encode())
        self.assertEqual(code, 2)  # the broken ones
        mine = out.splitlines()
        p = subprocess.run(["ruby", "-e", RUBY_PEER], input="\n".join(allv) + "\n",
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        theirs = p.stdout.splitlines()
        self.assertEqual((len(mine), len(theirs)), (len(allv), len(allv)))
        differ = []
        for v, m, t in zip(allv, mine, theirs):
            if m.startswith("error:") or t == "INVALID":
                if not (m.startswith("error:") and t == "INVALID"):
                    differ.append((v, m, t))
            elif m.split()[0] != t:
                differ.append((v, m, t))
        self.assertEqual(differ[:5], [], "%d of %d differ from cvss-suite" % (len(differ), len(allv)))
        self.assertTrue(all(not m.startswith("error:") for m in mine[:len(vectors)]))


if __name__ == "__main__":
    unittest.main()
