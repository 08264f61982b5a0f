"""Differential tests of `rampart version-compare` against each ecosystem's own implementation, on
pairs from a seeded generator of tricky versions (and of near-equal pairs made from them):
Python's packaging (PyPI), npm's semver (npm and crates.io; Go on the syntax Go shares with it)
and dpkg --compare-versions (Debian). For an invalid version both sides must say it is invalid.

Run through tests/integration/run.py, which sets RAMPART_BIN; or alone:
RAMPART_BIN=build/rampart python3 tests/integration/test_vuln_versions.py"""
import json
import os
import random
import shlex
import shutil
import subprocess
import unittest

from test_gateway import RAMPART

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# How many pairs each peer judges. dpkg runs once or twice a pair (about 2 ms each).
PAIRS = {"PyPI": 20000, "npm": 20000, "crates.io": 5000, "Go": 10000, "Debian": 2500}


def rampart_compare(ecosystem, pairs):
    """rampart's '<', '=', '>' or 'invalid' for each (a, b), read from stdin as "a<TAB>b"."""
    text = "".join("%s\t%s\n" % (a, b) for a, b in pairs).encode("utf-8")
    p = subprocess.run([RAMPART, "version-compare", "--ecosystem", ecosystem], input=text,
                       capture_output=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("version-compare exited %d: %s" % (p.returncode, p.stderr[-500:]))
    out = p.stdout.decode().split("\n")
    assert out[-1] == "", "output does not end with a newline"
    return out[:-1]


def report(test, name, pairs, mine, theirs):
    """Fails test with the first disagreements; prints the count of pairs and of each result."""
    test.assertEqual(len(mine), len(pairs))
    bad = [(a, b, m, t) for (a, b), m, t in zip(pairs, mine, theirs) if m != t]
    counts = {r: theirs.count(r) for r in ("<", "=", ">", "invalid")}
    print("%s: %d pairs, %d disagree (%s)" % (name, len(pairs), len(bad), counts))
    test.assertEqual(bad[:8], [], "%d of %d pairs differ from %s (a, b, rampart, peer)"
                     % (len(bad), len(pairs), name))


def near_pairs(rng, versions, mutate, n):
    """n pairs: half two versions of the pool (so equal ones recur), half a version and a small
    change of it (case, separators, a number one up or down, a part dropped)."""
    pairs = []
    for _ in range(n):
        a = rng.choice(versions)
        if rng.random() < 0.5:
            b = rng.choice(versions)
        else:
            b = mutate(rng, a)
        pairs.append((a, b) if rng.random() < 0.5 else (b, a))
    return pairs


def bump_number(rng, s):
    """s with one run of digits changed by one, or given a leading zero."""
    runs, i = [], 0
    while i < len(s):
        if s[i].isdigit():
            j = i
            while j < len(s) and s[j].isdigit():
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    if not runs:
        return s + "0"
    i, j = rng.choice(runs)
    n = int(s[i:j])
    r = rng.random()
    new = "0" + s[i:j] if r < 0.2 else str(n + 1) if r < 0.6 or n == 0 else str(n - 1)
    return s[:i] + new + s[j:]


def generic_mutate(rng, s, alphabet):
    """s with one character inserted, removed or replaced (mostly invalid versions)."""
    i = rng.randrange(len(s) + 1)
    r = rng.random()
    if r < 0.4:
        return s[:i] + rng.choice(alphabet) + s[i:]
    if r < 0.7 and s:
        i = min(i, len(s) - 1)
        return s[:i] + s[i + 1:]
    if s:
        i = min(i, len(s) - 1)
        return s[:i] + rng.choice(alphabet) + s[i + 1:]
    return rng.choice(alphabet)


def cased(rng, word):
    r = rng.random()
    if r < 0.7:
        return word
    if r < 0.85:
        return word.upper()
    return "".join(c.upper() if rng.random() < 0.5 else c for c in word)


# ---- PyPI -----------------------------------------------------------------------------------

# Python's str.isspace() has more characters than these, but a stdin line cannot hold \t, \n
# or \r inside a version; the unit tests cover those.
PY_SPACE = [" ", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2000", "\u3000", "\u2029"]
PY_SEPS = ["", "", ".", "-", "_"]
PRE_LABELS = ["a", "b", "c", "rc", "alpha", "beta", "pre", "preview", "prev\u0131ew",
              "prev\u0130ew"]
POST_LABELS = ["post", "rev", "r", "po\u017ft"]
LOCAL_CHARS = "abcxyzABZ0123456789\u212a\u017f\u0131\u0130"
PY_ALPHABET = "0123456789.-_+!vVabcdeilprstwxyz \u0130\u017f\u212a"


def py_number(rng):
    r = rng.random()
    if r < 0.6:
        return str(rng.randrange(4))
    if r < 0.8:
        return str(rng.randrange(100))
    if r < 0.9:
        return "0" * rng.randrange(1, 4) + str(rng.randrange(10))
    return str(rng.randrange(10 ** 25, 10 ** 26))


def py_version(rng):
    s = ""
    if rng.random() < 0.1:
        s += rng.choice(PY_SPACE)
    if rng.random() < 0.15:
        s += rng.choice("vV")
    if rng.random() < 0.15:
        s += py_number(rng) + "!"
    s += ".".join(py_number(rng) for _ in range(rng.choice([1, 1, 2, 2, 3, 3, 4, 5])))
    if rng.random() < 0.4:
        s += rng.choice(PY_SEPS) + cased(rng, rng.choice(PRE_LABELS))
        if rng.random() < 0.8:
            s += rng.choice(PY_SEPS) + py_number(rng)
        elif rng.random() < 0.3:
            s += rng.choice(PY_SEPS)
    if rng.random() < 0.3:
        if rng.random() < 0.3:
            s += "-" + py_number(rng)
        else:
            s += rng.choice(PY_SEPS) + cased(rng, rng.choice(POST_LABELS))
            if rng.random() < 0.7:
                s += rng.choice(PY_SEPS) + py_number(rng)
    if rng.random() < 0.3:
        s += rng.choice(PY_SEPS) + cased(rng, "dev")
        if rng.random() < 0.7:
            s += rng.choice(PY_SEPS) + py_number(rng)
    if rng.random() < 0.25:
        labels = []
        for _ in range(rng.randrange(1, 4)):
            if rng.random() < 0.4:
                labels.append(py_number(rng))
            else:
                labels.append("".join(rng.choice(LOCAL_CHARS) for _ in range(rng.randrange(1, 5))))
        s += "+" + labels[0] + "".join(rng.choice("-_.") + l for l in labels[1:])
    if rng.random() < 0.1:
        s += rng.choice(PY_SPACE)
    if rng.random() < 0.15:
        s = generic_mutate(rng, s, PY_ALPHABET)
    return s


SPELLINGS = [("alpha", "a"), ("beta", "b"), ("preview", "rc"), ("pre", "c"), ("rev", "post"),
             ("r", "post"), (".", "-"), ("-", "_"), ("_", ".")]


def py_mutate(rng, s):
    r = rng.random()
    if r < 0.3:
        return bump_number(rng, s)
    if r < 0.45:
        return s.swapcase()
    if r < 0.6:
        old, new = rng.choice(SPELLINGS)
        return s.replace(old, new, 1)
    if r < 0.75:
        i = s.find("+")
        return (s[:i] if i >= 0 else s) + ".0" + (s[i:] if i >= 0 else "")
    return generic_mutate(rng, s, PY_ALPHABET)


# Hand-picked corners, put in each pool beside the generated versions.
PY_CURATED = [
    "1.0", "1.0.0", "1!1.0", "v1.0", "V1.0", " 1.0 ", "1.0a1", "1.0a.1", "1.0-a-1", "1.0alpha1",
    "1.0ALPHA1", "1.0b", "1.0beta2", "1.0c1", "1.0rc1", "1.0pre1", "1.0preview1",
    "1.0prev\u0131ew", "1.0PREV\u0130EW", "1.0.dev0", "1.0.dev", "1.0dev", "1.0-dev",
    "1.0a1.dev1", "1.0.post1", "1.0-1", "1.0-0", "1.0r", "1.0rev2", "1.0po\u017ft1",
    "1.0.post1.dev1", "1.0a.", "1.0a.-1", "1.0a--1", "1.0--1", "1.0-", "1.0.post.",
    "1.0.dev.+abc", "1.0+abc.5", "1.0+abc.10", "1.0+5", "1.0+abc", "1.0+ABC", "1.0+\u212a",
    "1.0+k", "1.0+\u017f", "1.0+\u0130", "1.0+\u0131", "1.0+i", "1.0+1.a", "1.0+a-b_c", "1.0+",
    "1.0+a..b", "1.0a1-1", "1.0a1-1-1", "0", "0.0", "00.00", "1.0.0.0.0.1", "01!1", "1.0_a_1",
    "1.0.a1", "1..0", "1.0.", ".1", "", "v", "1.0 a1", "1.0\xa0", "\u30001.0", "1.0rc", "1.0rcr",
    "1.0prev", "1.0pre-view", "1.0-r1", "1.0.rev.", "1.0-post-1-dev-1", "1.0a\u0131",
]

PACKAGING_PEER = r"""
import json, sys
from packaging.version import Version, InvalidVersion
def judge(pairs):
    out = []
    for a, b in pairs:
        try:
            va, vb = Version(a), Version(b)
        except InvalidVersion:
            out.append("invalid")
            continue
        out.append("<" if va < vb else ">" if va > vb else "=")
    return out
if __name__ == "__main__":
    print(json.dumps(judge(json.load(sys.stdin))))
"""


def packaging_judge(test, pairs):
    """packaging's results, in this process when it can import packaging, else in Debian's
    python3 (the one python3-packaging installs into); skips the test when neither has it."""
    try:
        import packaging.version  # noqa: F401
        scope = {"__name__": "packaging_peer"}
        exec(PACKAGING_PEER, scope)
        return scope["judge"](pairs)
    except ImportError:
        pass
    for py in ("/usr/bin/python3", shutil.which("python3")):
        if py and os.path.exists(py) and subprocess.run(
                [py, "-c", "import packaging.version"], capture_output=True).returncode == 0:
            p = subprocess.run([py, "-c", PACKAGING_PEER], input=json.dumps(pairs),
                               capture_output=True, text=True, timeout=120)
            test.assertEqual(p.returncode, 0, p.stderr)
            return json.loads(p.stdout)
    test.skipTest("Python's packaging is not installed (apt-get install python3-packaging)")


# ---- SemVer ---------------------------------------------------------------------------------

# The last two are white space to Python but not to JavaScript.
JS_SPACE = [" ", "\x0b", "\x0c", "\xa0", "\ufeff", "\u2028", "\u3000", "\u1680", "\x1c", "\x85"]
SEMVER_IDENTS = ["alpha", "beta", "rc", "0", "1", "2", "10", "11", "a1", "1a", "-", "--", "x-y",
                 "A", "Z", "a", "alpha-1", "999999999999999", "0a", "z9", "00a", "-1"]
SEMVER_BAD_IDENTS = ["01", "00", "", "a_b"]
SEMVER_ALPHABET = "0123456789.-+vVaAzZ= _"


def sv_ident(rng):
    return rng.choice(SEMVER_BAD_IDENTS if rng.random() < 0.03 else SEMVER_IDENTS)


def sv_number(rng):
    r = rng.random()
    if r < 0.75:
        return str(rng.randrange(4))
    if r < 0.95:
        return str(rng.randrange(1000))
    if r < 0.97:
        return "0" + str(rng.randrange(10))
    return rng.choice(["9007199254740991", "9007199254740992", "9007199254740990",
                       "12345678901234567890"])


def semver_version(rng):
    s = ""
    if rng.random() < 0.08:
        s += rng.choice(JS_SPACE)
    if rng.random() < 0.2:
        s += rng.choice(["v", "v", "v", "=", "V"])
    s += ".".join(sv_number(rng) for _ in range(3))
    if rng.random() < 0.5:
        s += "-" + ".".join(sv_ident(rng) for _ in range(rng.randrange(1, 4)))
    if rng.random() < 0.2:
        s += "+" + ".".join(rng.choice(SEMVER_IDENTS + ["incompatible", "build.5"])
                            for _ in range(rng.randrange(1, 3)))
    if rng.random() < 0.03:  # over npm's 256 characters, or just under
        s += ("-" if "-" not in s else ".") + "x" * rng.randrange(240, 260)
    if rng.random() < 0.08:
        s += rng.choice(JS_SPACE)
    if rng.random() < 0.06:
        s = generic_mutate(rng, s, SEMVER_ALPHABET)
    return s


def semver_mutate(rng, s):
    r = rng.random()
    if r < 0.35:
        return bump_number(rng, s)
    if r < 0.5:
        i = s.find("+")
        return s[:i] if i >= 0 else s + "+meta"
    if r < 0.65:
        i = s.find("-")
        return s[:i] if i >= 0 else s + "-0"
    if r < 0.75:
        return s + "." + rng.choice(SEMVER_IDENTS)
    return generic_mutate(rng, s, SEMVER_ALPHABET)


SEMVER_CURATED = [
    "1.0.0", "v1.0.0", "=1.0.0", "V1.0.0", " 1.0.0 ", "\ufeff1.0.0", "1.0.0-alpha",
    "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
    "1.0.0-rc.1", "1.0.0-0", "1.0.0-00", "1.0.0-01", "1.0.0-0a", "1.0.0--", "1.0.0-a-",
    "1.0.0+build", "1.0.0+01", "1.0.0+", "1.0.0-", "1.0", "1", "01.0.0", "9007199254740991.0.0",
    "9007199254740992.0.0", "1.0.0-999999999999999", "1.0.0-1000000000000000", "1.0.0-a.b.c",
    "1.0.0-a.b", "1.0.0-a..b", "1.2.3+incompatible", "0.0.0-20210101000000-abcdef123456",
    "0.0.0-20210102000000-abcdef123456", "v0.0.0-20210101000000-abcdef123456", "1.0.0-A",
    "1.0.0-a", "1.0.0-Z.1", "1.0.0-1.a", "1.0.0-a.1",
]

SEMVER_PEER = r"""
let semver = null;
for (const p of process.argv.slice(1)) { try { semver = require(p); break } catch (e) {} }
if (!semver) { console.log('null'); process.exit(0) }
const pairs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
console.log(JSON.stringify(pairs.map(([a, b]) => {
  try { const c = semver.compare(a, b); return c < 0 ? '<' : c > 0 ? '>' : '=' }
  catch (e) { return 'invalid' }
})));
"""


def semver_judge(test, pairs):
    node = shutil.which("node")
    if not node:
        test.skipTest("node is not installed")
    paths = [os.path.join(ROOT, "build", "npm", "node_modules", "semver"),
             "/usr/lib/node_modules/npm/node_modules/semver",
             "/usr/share/nodejs/semver"]
    p = subprocess.run([node, "-e", SEMVER_PEER, *paths], input=json.dumps(pairs),
                       capture_output=True, text=True, timeout=120)
    test.assertEqual(p.returncode, 0, p.stderr)
    out = json.loads(p.stdout)
    if out is None:
        test.skipTest("npm's semver package is not installed")
    return out


def go_common(s):
    """Whether Go's rules read s as npm's do: no white space or '=', three numbers npm can
    hold, at most 256 characters. Go's extras (shorthand v1.2, no limits) are unit-tested."""
    if not s or len(s) > 256 or s != s.strip() or "=" in s or "V" in s or "\x1c" in s:
        return False
    core = s.lstrip("v").split("-")[0].split("+")[0].split(".")
    return len(core) == 3 and all(c.isdigit() and len(c) < 16 for c in core) \
        and s.count("v") <= 1 and not any(c in s for c in "\x85\xa0\ufeff\u2028\u3000")


# ---- Debian ---------------------------------------------------------------------------------

DEB_CHARS = "0123456789abcyzABZ.+~:-"
DEB_ALPHABET = DEB_CHARS + "_!@ \x0b"


def deb_part(rng, first_digit):
    n = rng.randrange(1, 8)
    s = "".join(rng.choice(DEB_CHARS if rng.random() < 0.5 else "0123456789.~")
                for _ in range(n))
    if first_digit:
        s = str(rng.randrange(20)) + s
    return s


def deb_version(rng):
    s = ""
    if rng.random() < 0.05:
        s += " "
    r = rng.random()
    if r < 0.2:
        s += rng.choice(["0", "1", "2", "00", "+1", "10", "2147483647", "2147483648",
                         "99999999999", "\x0b1", "a", ""]) + ":"
    s += deb_part(rng, rng.random() < 0.95).replace("-", "")
    if rng.random() < 0.6:
        s += "-" + deb_part(rng, rng.random() < 0.7).replace(":", "")
    if rng.random() < 0.05:
        s += rng.choice([" ", "  "])
    if rng.random() < 0.1:
        s = generic_mutate(rng, s, DEB_ALPHABET)
    # dpkg reads an argument that starts with '-' as an option, and "" as "no version".
    if not s.strip(" ") or s.lstrip(" ").startswith("-") or s.startswith("-"):
        s = "1" + s.strip(" ")
    return s


def deb_mutate(rng, s):
    r = rng.random()
    if r < 0.35:
        return bump_number(rng, s)
    if r < 0.5:
        return s + rng.choice(["~", "~rc1", "+b1", ".0", "a", "-1", "0"])
    if r < 0.6:
        return "0:" + s if ":" not in s else s
    if r < 0.7:
        return s.replace(".", "~", 1)
    return generic_mutate(rng, s, DEB_ALPHABET)


DEB_CURATED = [
    "1.0", "1.0-1", "1:1.0", "0:1.0", "1.0~rc1", "1.0~", "1.0~~", "1.0+b1", "1.0a", "1.0-1~bpo1",
    "1.0-0", "1.0-00", "1.0.", "1.", "1", "1.0-1-1", "1:2:3", "2.0-1:3", "1.0-", "1:", ":1",
    "+1:1.0", " 1.0", "1.0 ", "1.0 x", "a1.0", "1.0_1", "00:1", "2147483647:1", "2147483648:1",
    "1.0-a", "1.0-~", "1.0-A", "1.0-+", "1.0-.", "1.0.~", "1.0~a", "1.0-1.", "1.0~1", "1.0-a:b",
    " -0:1.0", "\x0b1:1.0", "1:1.0-", "1.0--1", "1.0a~", "1.0A", "1.0Z", "1.0z", "1.0+", "1.0.1",
]


def dpkg_judge(test, pairs):
    """dpkg --compare-versions on each pair in one sh loop: 'lt', then 'gt' when not less. A
    warning or an error about either version makes the pair invalid."""
    if not shutil.which("dpkg"):
        test.skipTest("dpkg is not installed")
    script = []
    for i, (a, b) in enumerate(pairs):
        qa, qb = shlex.quote(a), shlex.quote(b)
        script.append("echo '@%d'; dpkg --compare-versions %s lt %s 2>&1 && echo '<' || "
                      "{ [ $? = 1 ] && { dpkg --compare-versions %s gt %s 2>/dev/null "
                      "&& echo '>' || echo '='; } || echo E; }" % (i, qa, qb, qa, qb))
    p = subprocess.run(["sh"], input="\n".join(script) + "\n", capture_output=True, text=True,
                       timeout=300)
    out, cur = [], None
    for line in p.stdout.split("\n"):
        if line.startswith("@") and line[1:].isdigit() and int(line[1:]) == len(out):
            cur = []
            out.append(cur)
        elif cur is not None:
            cur.append(line)
    test.assertEqual(len(out), len(pairs), p.stderr[-500:])
    results = []
    for lines in out:
        if any("dpkg:" in l for l in lines) or "E" in lines:
            results.append("invalid")
        else:
            results.append(next(l for l in lines if l in ("<", "=", ">")))
    return results


# ---- the tests --------------------------------------------------------------------------------

class Differential(unittest.TestCase):
    def test_pypi_against_packaging(self):
        rng = random.Random(440)
        pool = PY_CURATED + [py_version(rng) for _ in range(3000)]
        pairs = near_pairs(rng, pool, py_mutate, PAIRS["PyPI"])
        theirs = packaging_judge(self, pairs)
        report(self, "PyPI vs packaging", pairs, rampart_compare("PyPI", pairs), theirs)

    def test_npm_against_semver(self):
        rng = random.Random(2)
        pool = SEMVER_CURATED + [semver_version(rng) for _ in range(3000)]
        pairs = near_pairs(rng, pool, semver_mutate, PAIRS["npm"])
        theirs = semver_judge(self, pairs)
        report(self, "npm vs semver", pairs, rampart_compare("npm", pairs), theirs)

    def test_crates_against_semver(self):
        rng = random.Random(3)
        pool = SEMVER_CURATED + [semver_version(rng) for _ in range(1000)]
        pairs = near_pairs(rng, pool, semver_mutate, PAIRS["crates.io"])
        theirs = semver_judge(self, pairs)
        report(self, "crates.io vs semver", pairs, rampart_compare("crates.io", pairs), theirs)

    def test_go_against_semver(self):
        """Go's order is SemVer's: on the versions both read alike, Go (with and without its
        "v", as go.mod and OSV write them) agrees with npm's semver."""
        rng = random.Random(4)
        pool = [v for v in SEMVER_CURATED + [semver_version(rng) for _ in range(6000)]
                if go_common(v)]
        pairs = [(a, b) for a, b in near_pairs(rng, pool, semver_mutate, PAIRS["Go"] * 2)
                 if go_common(a) and go_common(b)][:PAIRS["Go"]]
        theirs = semver_judge(self, pairs)
        flipped = [("v" + a if not a.startswith("v") else a[1:], b) for a, b in pairs]
        report(self, "Go vs semver", pairs, rampart_compare("Go", pairs), theirs)
        report(self, "Go (v toggled) vs semver", flipped, rampart_compare("Go", flipped), theirs)

    def test_debian_against_dpkg(self):
        rng = random.Random(1)
        pool = DEB_CURATED + [deb_version(rng) for _ in range(800)]
        pairs = near_pairs(rng, pool, deb_mutate, PAIRS["Debian"])
        pairs = [(a if a.strip(" ") and not a.startswith("-") else "1" + a,
                  b if b.strip(" ") and not b.startswith("-") else "1" + b) for a, b in pairs]
        theirs = dpkg_judge(self, pairs)
        report(self, "Debian vs dpkg", pairs, rampart_compare("Debian", pairs), theirs)


class Cli(unittest.TestCase):
    def run_cli(self, *args, stdin=b""):
        p = subprocess.run([RAMPART, "version-compare", *args], input=stdin, capture_output=True,
                           timeout=30)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_operands(self):
        self.assertEqual(self.run_cli("--ecosystem", "PyPI", "1.0", "1.0.0"), (0, "=\n", ""))
        self.assertEqual(self.run_cli("-e", "Go", "v1.2.3", "1.2.4")[:2], (0, "<\n"))
        self.assertEqual(self.run_cli("-e", "Debian:12", "1:1.0", "2.0")[:2], (0, ">\n"))
        self.assertEqual(self.run_cli("-e", "other", "1.10", "1.9")[:2], (0, ">\n"))

    def test_usage_errors(self):
        code, _, err = self.run_cli("1.0", "2.0")
        self.assertEqual(code, 2)
        self.assertIn("--ecosystem is required", err)
        code, _, err = self.run_cli("-e", "pypi", "1.0", "2.0")
        self.assertEqual(code, 2)
        self.assertIn("did you mean 'PyPI'", err)
        code, _, err = self.run_cli("-e", "PyPI", "1.0")
        self.assertEqual(code, 2)
        code, _, err = self.run_cli("-e", "PyPI", "1.0", "x.y")
        self.assertEqual(code, 2)
        self.assertIn("'x.y' is not a valid PyPI version", err)
        code, out, _ = self.run_cli("--help")
        self.assertEqual(code, 0)
        self.assertIn("usage: rampart version-compare", out)

    def test_stdin(self):
        lines = b"1.0\t2.0\n1.0  1.0.0\r\nnope\n\n1.0\tx\n" + b"1" * (2 << 20) + b"\t1\n2\t1"
        code, out, _ = self.run_cli("-e", "PyPI", stdin=lines)
        self.assertEqual(code, 0)
        self.assertEqual(out.split("\n"), ["<", "=", "invalid", "invalid", "invalid", "invalid",
                                           ">", ""])


if __name__ == "__main__":
    unittest.main()
