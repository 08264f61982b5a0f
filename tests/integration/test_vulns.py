"""Integration tests of `rampart vulns`: every inventory format against the OSV data of
../shared/data/osv, the JSON and SARIF forms, exit codes, clear errors for bad input, the index
(rebuilt when the database changes), and a differential test against an independent reading of
the OSV schema in Python (tests/integration/osv_reference.py, with python3-packaging).

Run through tests/integration/run.py, which sets RAMPART_BIN."""
import json
import os
import random
import shutil
import subprocess
import tempfile
import unittest
import zipfile

RAMPART = os.environ.get("RAMPART_BIN", "build/rampart")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DB = os.path.join(ROOT, "..", "shared", "data", "osv")
FIXTURES = os.path.join(ROOT, "tests", "data", "vulns")
SYSTEM_PYTHON = "/usr/bin/python3"


def vulns(*args, env=None, cwd=None):
    """Runs `rampart vulns ARGS` with a private index cache; returns (status, stdout, stderr)."""
    e = dict(os.environ, RAMPART_CACHE_DIR=CACHE)
    e.update(env or {})
    p = subprocess.run([RAMPART, "vulns", *args], capture_output=True, timeout=300, env=e,
                       cwd=cwd)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def report(*paths):
    status, out, err = vulns("--db", DB, "--json", *paths)
    if status not in (0, 1):
        raise AssertionError("rampart vulns failed (%d): %s" % (status, err))
    return status, json.loads(out)


def by_name(doc):
    return {r["name"].lower(): r for r in doc["results"]}


CACHE = None


def setUpModule():
    global CACHE
    CACHE = tempfile.mkdtemp(prefix="rampart-vulns-cache-")
    os.chmod(CACHE, 0o700)


def tearDownModule():
    shutil.rmtree(CACHE, ignore_errors=True)


def fixture_lines(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return f.read().split("\n")


class Formats(unittest.TestCase):
    """Each inventory format finds the vulnerable packages its fixture holds, at the right line."""

    def check_line(self, result, needle):
        path, line = result["source"].rsplit(":", 1)
        text = fixture_lines(os.path.basename(path))[int(line) - 1]
        self.assertIn(needle, text, result["source"])

    def test_requirements(self):
        status, doc = report(os.path.join(FIXTURES, "requirements.txt"))
        self.assertEqual(status, 1)
        r = by_name(doc)
        # pillow comes from requirements-base.txt (-r), idna's version from constraints.txt (-c).
        for name in ("django", "jinja2", "requests", "urllib3", "pyyaml", "pillow", "idna"):
            self.assertIn(name, r)
            self.check_line(r[name], r[name]["name"])
        self.assertTrue(r["pillow"]["source"].endswith("requirements-base.txt:2"))
        self.assertTrue(r["idna"]["source"].endswith("constraints.txt:2"))
        self.assertNotIn("six", r)
        self.assertNotIn("click", r)
        self.assertEqual(r["jinja2"]["version"], "2.10")
        ids = {a["id"] for a in r["jinja2"]["advisories"]}
        self.assertIn("PYSEC-2019-217", ids)  # the sandbox escape fixed in 2.10.1
        unpinned = {p["name"] for p in doc["summary"]["unpinned_packages"]}
        self.assertTrue({"certifi", "flask"} <= unpinned, unpinned)

    def test_go_mod(self):
        status, doc = report(os.path.join(FIXTURES, "go.mod"))
        self.assertEqual(status, 1)
        r = by_name(doc)
        self.assertIn("github.com/gin-gonic/gin", r)
        self.assertEqual(r["github.com/gin-gonic/gin"]["fix"], "v1.9.1")  # go.mod's 'v' kept
        self.check_line(r["github.com/gin-gonic/gin"], "gin-gonic/gin v1.9.0")
        # The replaced module is matched at the version of its replacement.
        self.assertEqual(r["golang.org/x/text"]["version"], "v0.14.0")
        self.assertNotIn("github.com/example/ledger-internal", r)

    def test_every_format(self):
        for name, eco in (("poetry.lock", "PyPI"), ("Pipfile.lock", "PyPI"),
                          ("bom.cdx.json", None), ("sbom.spdx.json", None)):
            with self.subTest(name=name):
                status, doc = report(os.path.join(FIXTURES, name))
                self.assertEqual(status, 1, name)
                self.assertTrue(doc["results"], name)
                for res in doc["results"]:
                    self.assertTrue(res["source"].startswith(os.path.join(FIXTURES, name) + ":"))
                    if eco:
                        self.assertEqual(res["ecosystem"], eco)
                    self.check_line(res, res["name"].split("/")[-1])

    def test_formats_without_advisories_here(self):
        """npm, crates.io and Debian have no records in the test data: read, but not checked
        (issue 12, item 20: they were reported clean), exit 3."""
        for name in ("package-lock.json", "Cargo.lock", "status"):
            with self.subTest(name=name):
                status, out, err = vulns("--db", DB, "--json", os.path.join(FIXTURES, name))
                self.assertEqual(status, 3, err)
                doc = json.loads(out)
                self.assertEqual(doc["results"], [])
                self.assertEqual(doc["summary"]["scanned"], 0)
                self.assertGreater(doc["summary"]["not_checked"], 0)
                self.assertEqual({p["reason"] for p in doc["summary"]["not_checked_packages"]},
                                 {"no_advisories"})

    def test_folder_walk(self):
        status, doc = report(FIXTURES)
        self.assertEqual(status, 1)
        sources = {r["source"].rsplit(":", 1)[0] for r in doc["results"]}
        self.assertIn(os.path.join(FIXTURES, "go.mod"), sources)
        self.assertIn(os.path.join(FIXTURES, "requirements.txt"), sources)


class Output(unittest.TestCase):
    def test_json_shape(self):
        _, doc = report(os.path.join(FIXTURES, "requirements.txt"))
        self.assertEqual(set(doc), {"results", "summary"})
        for r in doc["results"]:
            for key in ("source", "ecosystem", "name", "version", "advisories", "fix"):
                self.assertIn(key, r)
            for a in r["advisories"]:
                self.assertEqual(set(a) >= {"id", "aliases", "summary", "severity", "fixed"}, True)
                if a["severity"]:
                    self.assertTrue(0 <= a["severity"]["score"] <= 10)
        s = doc["summary"]
        self.assertEqual(s["affected"], len(doc["results"]))
        self.assertEqual(s["advisories"], sum(len(r["advisories"]) for r in doc["results"]))
        self.assertLessEqual(s["fixable_advisories"], s["advisories"])

    def test_one_flaw_reported_once(self):
        """Records that share an alias are one advisory: no CVE appears twice for a package."""
        _, doc = report(FIXTURES)
        for r in doc["results"]:
            seen = set()
            for a in r["advisories"]:
                ids = {a["id"], *a["aliases"]}
                self.assertFalse(ids & seen, (r["name"], ids & seen))
                seen |= ids

    def test_severity_computed(self):
        _, doc = report(os.path.join(FIXTURES, "requirements.txt"))
        sev = [a["severity"] for r in doc["results"] for a in r["advisories"] if a["severity"]]
        self.assertTrue(sev, "the fixture should hold an advisory with a CVSS vector")
        for s in sev:
            self.assertTrue(s["vector"].startswith("CVSS:"))
            self.assertIn(s["rating"], ("none", "low", "medium", "high", "critical"))

    def test_sarif(self):
        status, out, err = vulns("--db", DB, "--sarif", os.path.join(FIXTURES, "go.mod"))
        self.assertEqual(status, 1, err)
        doc = json.loads(out)
        self.assertEqual(doc["version"], "2.1.0")
        run = doc["runs"][0]
        rules = run["tool"]["driver"]["rules"]
        self.assertTrue(run["results"])
        for res in run["results"]:
            self.assertEqual(rules[res["ruleIndex"]]["id"], res["ruleId"])
            loc = res["locations"][0]["physicalLocation"]
            self.assertTrue(loc["artifactLocation"]["uri"].endswith("go.mod"))
            self.assertGreaterEqual(loc["region"]["startLine"], 1)
            self.assertIn(res["level"], ("error", "warning", "note"))

    def test_table(self):
        status, out, _ = vulns("--db", DB, os.path.join(FIXTURES, "go.mod"))
        self.assertEqual(status, 1)
        self.assertIn("SOURCE", out.splitlines()[0])
        self.assertIn("GO-2023-1737", out)
        self.assertRegex(out, r"\d+ of \d+ packages affected by \d+ advisories; upgrading \d+ "
                              r"packages? removes \d+ of them")

    def test_clean_inventory_exits_0(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "requirements.txt")
            with open(path, "w") as f:
                f.write("six==1.16.0\nclick==8.1.7\n")
            status, out, _ = vulns("--db", DB, path)
            self.assertEqual(status, 0)
            self.assertIn("No known vulnerabilities in 2 packages", out)


class Ignore(unittest.TestCase):
    """Accepted risks: an ignored advisory (by id or alias) is as if it were not in the
    database, for the findings, the fix and the exit status."""

    def test_ignore_by_id_and_alias(self):
        go_mod = os.path.join(FIXTURES, "go.mod")
        _, before = report(go_mod)
        self.assertIn("github.com/gin-gonic/gin", by_name(before))
        status, out, err = vulns("--db", DB, "--json", "--ignore", "GO-2023-1737",
                                 "--ignore", "CVE-2020-26160", go_mod)
        self.assertEqual(status, 1, err)
        after = json.loads(out)
        names = by_name(after)
        self.assertNotIn("github.com/gin-gonic/gin", names)  # by id
        self.assertNotIn("github.com/dgrijalva/jwt-go", names)  # GO-2020-0017, by its CVE alias
        self.assertEqual(after["summary"]["ignored"], 2)
        self.assertEqual(after["summary"]["advisories"], before["summary"]["advisories"] - 2)

    def test_ignore_file_and_clean_exit(self):
        with tempfile.TemporaryDirectory() as d:
            req = os.path.join(d, "requirements.txt")
            with open(req, "w") as f:
                f.write("jinja2==2.11.2\n")
            status, doc = report(req)
            ids = [a["id"] for a in doc["results"][0]["advisories"]]
            ign = os.path.join(d, "accepted.txt")
            with open(ign, "w") as f:
                f.write("# accepted until the upgrade\n" + "".join(
                    "%s   # reviewed\n" % i for i in ids) + "\n")
            status, out, err = vulns("--db", DB, "--ignore-file", ign, req)
            self.assertEqual(status, 0, err)
            self.assertIn("left out", out)
            with open(ign, "w") as f:
                f.write("PYSEC-1 PYSEC-2\n")
            status, _, err = vulns("--db", DB, "--ignore-file", ign, req)
            self.assertEqual(status, 2)
            self.assertIn("%s: line 1: one advisory id a line, not 'PYSEC-1 PYSEC-2'" % ign, err)
            status, _, err = vulns("--db", DB, "--ignore-file", os.path.join(d, "missing"), req)
            self.assertEqual(status, 2)
            status, _, err = vulns("--db", DB, "--ignore", "", req)
            self.assertEqual(status, 2)
            self.assertIn("--ignore wants an advisory id", err)


class DebianRelease(unittest.TestCase):
    """Debian's advisories are per release: the release of the system a status file belongs to
    (its etc/os-release) or --debian-release picks which records apply."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rampart-deb-")
        db = os.path.join(self.tmp, "db")
        os.mkdir(db)
        for rid, eco, fixed in (("DSA-11", "Debian:11", "3.0.15-1~deb11u1"),
                                ("DSA-12", "Debian:12", "3.0.11-1~deb12u2")):
            with open(os.path.join(db, rid + ".json"), "w") as f:
                json.dump({"id": rid, "summary": "openssl flaw",
                           "affected": [{"package": {"ecosystem": eco, "name": "openssl"},
                                         "ranges": [{"type": "ECOSYSTEM", "events": [
                                             {"introduced": "0"}, {"fixed": fixed}]}]}]}, f)
        self.db = db
        root = os.path.join(self.tmp, "root")
        os.makedirs(os.path.join(root, "var", "lib", "dpkg"))
        os.makedirs(os.path.join(root, "etc"))
        self.status = os.path.join(root, "var", "lib", "dpkg", "status")
        with open(self.status, "w") as f:
            f.write("Package: libssl3\nSource: openssl\nVersion: 3.0.11-1~deb12u1\n"
                    "Status: install ok installed\n")
        with open(os.path.join(root, "etc", "os-release"), "w") as f:
            f.write('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\n')
        self.loose = os.path.join(self.tmp, "status")
        shutil.copy(self.status, self.loose)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def ids(self, *args):
        status, out, err = vulns("--db", self.db, "--json", *args)
        self.assertIn(status, (0, 1), err)
        doc = json.loads(out)
        r = doc["results"]
        return sorted(a["id"] for a in r[0]["advisories"]) if r else [], (r[0]["fix"] if r else None)

    def test_release_from_os_release(self):
        self.assertEqual(self.ids(self.status), (["DSA-12"], "3.0.11-1~deb12u2"))

    def test_release_given(self):
        self.assertEqual(self.ids("--debian-release", "11", self.status),
                         (["DSA-11"], "3.0.15-1~deb11u1"))

    def test_release_unknown_matches_every_release(self):
        self.assertEqual(self.ids(self.loose), (["DSA-11", "DSA-12"], "3.0.15-1~deb11u1"))

    def test_bad_release(self):
        status, _, err = vulns("--db", self.db, "--debian-release", "debian:12", self.loose)
        self.assertEqual(status, 2)
        self.assertIn("--debian-release wants a release", err)


class Errors(unittest.TestCase):
    def test_usage_errors(self):
        cases = [
            ((os.path.join(FIXTURES, "go.mod"),), {"RAMPART_VULNS_DB": ""}, "no advisory database"),
            (("--db", DB), {}, "name at least one file"),
            (("--db", DB, "--json", "--sarif", FIXTURES), {}, "exclude each other"),
            (("--db", DB, "/nonexistent/requirements.txt"), {}, "No such file"),
            (("--db", "/nonexistent-db", FIXTURES), {}, "no advisory database at"),
            (("--db", DB, os.path.join(ROOT, "README.md")), {}, "not an inventory"),
            (("--bogus",), {}, "usage"),
            (("--db", DB, os.path.join(ROOT, "docs")), {}, "nothing to check"),
            (("--list", "--sarif", FIXTURES), {}, "--list prints a table or --json"),
            (("--db", DB, "--index", "/nonexistent-dir/x.idx", FIXTURES), {},
             "cannot write the index"),
        ]
        for args, env, message in cases:
            with self.subTest(args=args):
                status, _, err = vulns(*args, env=env)
                self.assertEqual(status, 2)
                self.assertIn(message, err)

    def test_malformed_inventories(self):
        with tempfile.TemporaryDirectory() as d:
            for name, text, message in (
                ("package-lock.json", '{"lockfileVersion": 3, "packages": {"": {}, ',
                 "package-lock.json"),
                ("Pipfile.lock", '{"default": {"x": {"version": 5}}}', "line"),
                ("poetry.lock", '[[package]]\nname = "unterminated\n', "line 2"),
                ("bom.cdx.json", '{"bomFormat": "CycloneDX", "components": 7}', "component"),
            ):
                with self.subTest(name=name):
                    path = os.path.join(d, name)
                    with open(path, "w") as f:
                        f.write(text)
                    status, _, err = vulns("--db", DB, path)
                    self.assertEqual(status, 2, err)
                    self.assertIn(path, err)
                    self.assertIn(message, err)

    def test_truncated_zip(self):
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "PyPI"))
            with open(os.path.join(DB, "PyPI", "all.zip"), "rb") as f:
                data = f.read()
            with open(os.path.join(d, "PyPI", "all.zip"), "wb") as f:
                f.write(data[: len(data) // 2])
            status, _, err = vulns("--db", d, os.path.join(FIXTURES, "requirements.txt"))
            self.assertEqual(status, 2)
            self.assertIn("all.zip", err)

    def test_hostile_records_skipped(self):
        """A record of the wrong shape is left out and counted; the good ones still match."""
        with tempfile.TemporaryDirectory() as d:
            good = {"id": "TEST-1", "modified": "2024-01-01T00:00:00Z", "summary": "a flaw",
                    "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"},
                                  "ranges": [{"type": "ECOSYSTEM",
                                              "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]}]}
            with open(os.path.join(d, "good.json"), "w") as f:
                json.dump(good, f)
            with open(os.path.join(d, "bad.json"), "w") as f:
                f.write('{"id": "TEST-2", "affected": 5}')
            with open(os.path.join(d, "broken.json"), "w") as f:
                f.write('{"id": ')
            req = os.path.join(d, "requirements.txt")
            with open(req, "w") as f:
                f.write("demo==1.5\n")
            status, out, err = vulns("--db", d, "--json", req)
            self.assertEqual(status, 1, err)
            self.assertIn("left out 2 malformed records", err)
            doc = json.loads(out)
            self.assertEqual(doc["results"][0]["advisories"][0]["id"], "TEST-1")
            self.assertEqual(doc["results"][0]["fix"], "2.0")


class Index(unittest.TestCase):
    def test_rebuilt_when_the_database_changes(self):
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o700)
            rec = {"id": "TEST-9", "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"},
                                                 "versions": ["1.0"]}]}
            path = os.path.join(d, "TEST-9.json")
            with open(path, "w") as f:
                json.dump(rec, f)
            req = os.path.join(d, "req", "requirements.txt")
            os.mkdir(os.path.dirname(req))
            with open(req, "w") as f:
                f.write("demo==1.0\n")
            status, _, err = vulns("--db", d, req)
            self.assertEqual(status, 1)
            self.assertIn("indexed 1 advisories", err)
            self.assertTrue(os.path.exists(os.path.join(d, ".rampart-vulns.idx")))
            status, _, err = vulns("--db", d, req)
            self.assertEqual((status, err), (1, ""))  # current: not rebuilt
            rec["affected"][0]["versions"] = ["1.1"]
            with open(path, "w") as f:
                json.dump(rec, f)
            status, _, err = vulns("--db", d, req)
            self.assertEqual(status, 0)
            self.assertIn("indexed 1 advisories", err)


def system_python_has_packaging():
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", "import packaging"],
                              capture_output=True).returncode == 0
    except OSError:
        return False


class Differential(unittest.TestCase):
    """rampart's matches against an independent reading of the OSV schema (osv_reference.py,
    Python's packaging for PyPI), on an inventory of a few thousand packages drawn from the
    database's own names and versions."""

    def test_against_reference(self):
        if not system_python_has_packaging():
            self.skipTest("Debian's python3-packaging is not installed (scripts/install-deps)")
        rng = random.Random(6)
        names = {"PyPI": set(), "Go": set()}
        versions = {"PyPI": set(), "Go": set()}
        for eco in names:
            with zipfile.ZipFile(os.path.join(DB, eco, "all.zip")) as z:
                for n in z.namelist():
                    rec = json.loads(z.read(n))
                    for a in rec.get("affected", []):
                        name = (a.get("package") or {}).get("name")
                        if not name:
                            continue
                        vs = list(a.get("versions", []))
                        for r in a.get("ranges", []):
                            if r.get("type") in ("SEMVER", "ECOSYSTEM"):
                                vs += [v for e in r["events"] for v in e.values() if v != "0"]
                        if vs:
                            names[eco].add(name)
                            versions[eco].update((name, v) for v in vs)
        pkgs = []
        for eco, count in (("PyPI", 1000), ("Go", 1000)):
            pool = sorted(versions[eco])
            for name, v in rng.sample(pool, count):
                if eco == "Go":
                    if not v[0].isdigit():
                        continue
                    v = "v" + v
                pkgs.append((eco, name, v))
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "requirements.txt"), "w") as f:
                for eco, name, v in pkgs:
                    if eco == "PyPI":
                        f.write("%s==%s\n" % (name, v))
            with open(os.path.join(d, "go.mod"), "w") as f:
                f.write("module example.com/m\n\nrequire (\n")
                for eco, name, v in pkgs:
                    if eco == "Go":
                        f.write("\t%s %s\n" % (name, v))
                f.write(")\n")
            status, out, err = vulns("--db", DB, "--json", d)
            self.assertIn(status, (0, 1), err)
            doc = json.loads(out)
            queries = [{"ecosystem": r["ecosystem"], "name": r["name"], "version": r["version"]}
                       for r in doc["results"]]
            results = {(r["ecosystem"], r["name"], r["version"]): r for r in doc["results"]}
            # Every package of the inventory, found or not, goes to the reference.
            all_q = [{"ecosystem": e, "name": n, "version": v} for e, n, v in pkgs]
            fixes = [{"ecosystem": r["ecosystem"], "name": r["name"], "version": r["fix"]}
                     for r in doc["results"] if r["fix"]]
            ref = subprocess.run([SYSTEM_PYTHON, os.path.join(ROOT, "tests", "integration",
                                                               "osv_reference.py"), DB],
                                 input=json.dumps(all_q + fixes).encode(), capture_output=True,
                                 timeout=600)
            self.assertEqual(ref.returncode, 0, ref.stderr.decode()[-2000:])
            answers = json.loads(ref.stdout)
            ref_pkgs, ref_fix = answers[:len(all_q)], answers[len(all_q):]
            mismatches = []
            checked = 0
            for q, ids in zip(all_q, ref_pkgs):
                r = results.get((q["ecosystem"], q["name"], q["version"]))
                got = set()
                for a in (r["advisories"] if r else []):
                    got |= {a["id"], *a["aliases"]}
                missing = set(ids) - got
                extra = [a["id"] for a in (r["advisories"] if r else [])
                         if not ({a["id"], *a["aliases"]} & set(ids))]
                if missing or extra:
                    mismatches.append((q, sorted(missing), extra))
                checked += 1
            self.assertFalse(mismatches, "%d of %d packages differ, e.g. %s"
                             % (len(mismatches), checked, mismatches[:5]))
            # A fix is a version the reference finds free of every advisory that has a fix.
            fixed_results = [r for r in doc["results"] if r["fix"]]
            for r, ids in zip(fixed_results, ref_fix):
                fixable = {x for a in r["advisories"] if a["fixed"]
                           for x in (a["id"], *a["aliases"])}
                self.assertFalse(set(ids) & fixable, (r["name"], r["version"], r["fix"], ids))
            self.assertGreater(len(doc["results"]), 500)
            self.assertEqual(checked, len(pkgs))
            if os.environ.get("RAMPART_TEST_VERBOSE"):
                print("differential: %d packages, %d affected, %d fixes checked"
                      % (checked, len(doc["results"]), len(fixed_results)))
            self.assertEqual(len(queries), len(doc["results"]))


if __name__ == "__main__":
    unittest.main()
