"""Regression tests of `rampart vulns` for issue 12, items 20 to 25: packages that cannot be
checked are named and counted apart (exit 3 when nothing could be), malformed go.mod and
requirements files are errors, pip's includes, options and environment variables, dpkg states,
distroless and OpenWrt package databases, npm's shrinkwrap and installed copies, --ignore of an
unknown id, SARIF's tool version. Each test is named after the defect it guards against.

Against ../shared/data/osv (PyPI and Go only) and small databases of the tests' own. Run through
tests/integration/run.py, which sets RAMPART_BIN."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

RAMPART = os.environ.get("RAMPART_BIN", "build/rampart")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DB = os.path.join(ROOT, "..", "shared", "data", "osv")
FIXTURES = os.path.join(ROOT, "tests", "data", "vulns")

CACHE = None


def setUpModule():
    global CACHE
    CACHE = tempfile.mkdtemp(prefix="rampart-vulns-reg-cache-")
    os.chmod(CACHE, 0o700)


def tearDownModule():
    shutil.rmtree(CACHE, ignore_errors=True)


def vulns(*args, cwd=None):
    """Runs `rampart vulns ARGS` with a private index cache; returns (status, stdout, stderr)."""
    env = dict(os.environ, RAMPART_CACHE_DIR=CACHE)
    p = subprocess.run([RAMPART, "vulns", *args], capture_output=True, timeout=300, env=env,
                       cwd=cwd)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def record(db, rid, ecosystem, name, fixed, aliases=()):
    """One OSV record: every version of name below fixed is affected."""
    write(os.path.join(db, rid + ".json"), json.dumps({
        "id": rid, "aliases": list(aliases), "summary": "flaw " + rid,
        "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}))


def npm_lock(path, packages):
    """A package-lock.json v3: packages maps install paths to versions."""
    doc = {"name": "app", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
           "packages": {"": {"name": "app", "version": "1.0.0"}}}
    for key, version in packages.items():
        name = key.rsplit("node_modules/", 1)[1]
        doc["packages"][key] = {"version": version, "resolved":
                                "https://registry.npmjs.org/%s/-/%s-%s.tgz" % (name, name,
                                                                                version)}
    write(path, json.dumps(doc, indent=2))


class Tmp(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rampart-vulns-reg-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def json_report(self, *args, want=(0, 1)):
        status, out, err = vulns("--json", *args)
        self.assertIn(status, want, err)
        return status, json.loads(out), err


class NotChecked(Tmp):
    """Item 20 (and 25's first point): what cannot be checked is never reported clean."""

    def test_regression_no_advisories_ecosystems_not_reported_clean(self):
        paths = [os.path.join(FIXTURES, n) for n in ("Cargo.lock", "package-lock.json", "status")]
        status, out, err = vulns("--db", DB, *paths)
        self.assertEqual(status, 3, err)
        self.assertNotIn("No known vulnerabilities", out)
        self.assertIn("Nothing was checked", out)
        self.assertIn("17 packages could not be checked:\n  the database has no advisories of "
                      "their ecosystem (17: npm 7, crates.io 6, Debian 4):\n", out)
        self.assertIn("    regex 1.5.4 [crates.io] at %s:27\n" % paths[0], out)
        self.assertIn("    ... and 7 more (--json lists them all)", out)
        status, doc, _ = self.json_report("--db", DB, *paths, want=(3,))
        s = doc["summary"]
        self.assertEqual((s["scanned"], s["affected"]), (0, 0))
        self.assertEqual(s["not_checked"], s["packages"])
        self.assertEqual(s["no_advisories"], s["packages"])
        self.assertEqual(len(s["not_checked_packages"]), s["packages"])
        for p in s["not_checked_packages"]:
            self.assertEqual(p["reason"], "no_advisories")
            self.assertIn("the database has no %s advisories" % p["ecosystem"], p["why"])
        status, out, err = vulns("--db", DB, "--sarif", *paths)
        self.assertEqual(status, 3, err)
        run = json.loads(out)["runs"][0]
        self.assertEqual(run["results"], [])
        self.assertEqual(run["properties"]["notChecked"], s["packages"])
        self.assertEqual(run["properties"]["noAdvisories"], s["packages"])
        inv = run["invocations"][0]
        self.assertEqual((inv["executionSuccessful"], inv["exitCode"]), (False, 3))
        notes = inv["toolExecutionNotifications"]
        self.assertEqual(len(notes), s["packages"])
        self.assertTrue(all(n["descriptor"]["id"] == "no_advisories" for n in notes))
        self.assertTrue(all(n["locations"] for n in notes))

    def test_regression_partly_checked_names_the_rest(self):
        req = write(self.path("requirements.txt"), "six==1.16.0\nclick==8.1.7\n")
        cargo = os.path.join(FIXTURES, "Cargo.lock")
        status, out, err = vulns("--db", DB, req, cargo)
        self.assertEqual(status, 0, err)
        self.assertIn("No known vulnerabilities in 2 packages checked.", out)
        self.assertIn("6 packages could not be checked:", out)
        self.assertIn("    smallvec 1.6.0 [crates.io] at", out)
        _, doc, _ = self.json_report("--db", DB, req, cargo)
        self.assertEqual((doc["summary"]["scanned"], doc["summary"]["not_checked"]), (2, 6))

    def test_regression_nothing_pinned_is_exit_3(self):
        req = write(self.path("requirements.txt"), "django\nrequests>=2\n")
        status, out, err = vulns("--db", DB, req)
        self.assertEqual(status, 3, err)
        self.assertIn("  no pinned version (2):\n    django [PyPI] at %s:1\n" % req, out)
        # An inventory that lists nothing is not "nothing could be checked".
        write(self.path("e", "requirements.txt"), "# no dependencies\n")
        status, out, err = vulns("--db", DB, self.path("e", "requirements.txt"))
        self.assertEqual(status, 0, err)
        self.assertIn("No packages", out)

    def test_regression_unchecked_package_named(self):
        """Item 25: "1 package was not checked" did not say which."""
        req = write(self.path("requirements.txt"), "six==1.16.0\ncertifi>=2023\n")
        status, out, err = vulns("--db", DB, req)
        self.assertEqual(status, 0, err)
        self.assertIn("1 package could not be checked:\n  no pinned version (1):\n    certifi "
                      "[PyPI] at %s:2\n" % req, out)

    def test_regression_exit_3_documented(self):
        status, out, _ = vulns("--help")
        self.assertEqual(status, 0)
        self.assertIn("3 no package could be checked", out)
        with open(os.path.join(ROOT, "docs", "vulns.md"), encoding="utf-8") as f:
            self.assertIn("**3** no package could be checked", " ".join(f.read().split()))


class GoMod(Tmp):
    """Item 21."""

    def test_regression_go_mod_garbage_is_exit_2(self):
        gm = write(self.path("go.mod"), "this is not a go.mod file!\n")
        status, out, err = vulns("--db", DB, gm)
        self.assertEqual(status, 2)
        self.assertIn("%s: line 1: unknown directive 'this'" % gm, err)
        self.assertEqual(out, "")

    def test_regression_go_mod_unknown_directive_is_exit_2(self):
        gm = write(self.path("go.mod"), "module example.com/m\n\nrequre github.com/gin-gonic/gin "
                                        "v1.9.0\n")
        status, _, err = vulns("--db", DB, gm)
        self.assertEqual(status, 2)
        self.assertIn("%s: line 3: unknown directive 'requre'" % gm, err)


class Requirements(Tmp):
    """Item 22, and item 25's typo."""

    def test_regression_config_settings_after_requirement_accepted(self):
        req = write(self.path("requirements.txt"),
                    "jinja2==2.10 -C key=val --config-settings=editable_mode=compat\n")
        status, doc, err = self.json_report("--db", DB, req)
        self.assertEqual(status, 1, err)
        self.assertEqual(doc["results"][0]["name"], "jinja2")

    def test_regression_env_var_version_not_pinned(self):
        req = write(self.path("requirements.txt"), "django==${DJANGO_VERSION}\n")
        status, doc, err = self.json_report("--db", DB, req, want=(3,))
        self.assertEqual(doc["results"], [])
        (p,) = doc["summary"]["not_checked_packages"]
        self.assertEqual((p["name"], p["version"], p["reason"]), ("django", None, "unpinned"))
        self.assertEqual(p["why"], "its version comes from an environment variable")
        status, out, _ = vulns("--list", req)
        self.assertEqual(status, 0)
        self.assertNotIn("${DJANGO_VERSION}", out)
        self.assertIn("(unpinned)", out)

    def test_regression_walk_finds_dev_requirements(self):
        write(self.path("app", "dev-requirements.txt"), "jinja2==2.10\n")
        write(self.path("app", "requirements-dev.txt"), "urllib3==1.24.1\n")
        write(self.path("app", "test_requirements.txt"), "pyyaml==5.3\n")
        status, doc, err = self.json_report("--db", DB, self.tmp)
        self.assertEqual(status, 1, err)
        self.assertEqual(sorted(r["name"] for r in doc["results"]), ["jinja2", "pyyaml", "urllib3"])

    def test_regression_includes_followed(self):
        """-r and -c, relative to the including file (not the working folder), as pip reads them;
        the packages of an included file name it."""
        write(self.path("svc", "requirements.txt"),
              "-r common/base.txt\n--constraint ../constraints.txt\nidna\n")
        write(self.path("svc", "common", "base.txt"), "jinja2==2.10\n")
        write(self.path("constraints.txt"), "idna==3.6\n")
        status, doc, err = vulns("--json", "--db", DB, "svc/requirements.txt", cwd=self.tmp)
        self.assertEqual(status, 1, err)
        doc = json.loads(doc)
        got = {r["name"]: r["source"] for r in doc["results"]}
        self.assertEqual(got, {"jinja2": "svc/common/base.txt:1",
                               "idna": "svc/../constraints.txt:1"})
        # The file read by the walk and through the include is one location, not two.
        status, doc, err = self.json_report("--db", DB, self.tmp)
        jinja = [r for r in doc["results"] if r["name"] == "jinja2"]
        self.assertEqual(len(jinja), 1)
        self.assertEqual(len(jinja[0]["locations"]), 1)

    def test_regression_include_cycle_refused(self):
        a = write(self.path("requirements.txt"), "six==1.16.0\n-r more/b.txt\n")
        write(self.path("more", "b.txt"), "click==8.1.7\n-r ../requirements.txt\n")
        status, out, err = vulns("--db", DB, a)
        self.assertEqual(status, 2)
        self.assertIn("%s: line 2: in '%s': line 2: -r ../requirements.txt: a cycle of includes "
                      "(requirements.txt -> b.txt -> requirements.txt)"
                      % (a, self.path("more", "b.txt")), err)
        write(self.path("more", "b.txt"), "-r missing.txt\n")
        status, _, err = vulns("--db", DB, a)
        self.assertEqual(status, 2)
        self.assertIn("-r missing.txt: unable to open '%s'" % self.path("more", "missing.txt"), err)

    def test_regression_operator_typo_is_exit_2(self):
        req = write(self.path("requirements.txt"), "six==1.16.0\nDjango=2.2\n")
        status, out, err = vulns("--db", DB, req)
        self.assertEqual(status, 2)
        self.assertIn("%s: line 2: '=' is not a version operator in 'Django=2.2' (did you mean "
                      "'=='?)" % req, err)
        self.assertEqual(out, "")


class Dpkg(Tmp):
    """Item 23, against a database of Debian records of the test's own."""

    def setUp(self):
        super().setUp()
        self.db = self.path("db")
        record(self.db, "DSA-9001-1", "Debian:12", "openssl", "3.0.13-1~deb12u1")

    def test_regression_reinstreq_counts_as_installed(self):
        st = write(self.path("status"), "Package: libssl3\nSource: openssl\n"
                                        "Status: deinstall reinstreq installed\n"
                                        "Version: 3.0.11-1~deb12u2\n")
        status, doc, err = self.json_report("--db", self.db, st)
        self.assertEqual(status, 1, err)
        self.assertEqual(doc["results"][0]["name"], "openssl")

    def test_regression_distroless_status_d_read(self):
        root = self.path("image")
        write(os.path.join(root, "etc", "os-release"), 'ID=debian\nVERSION_ID="12"\n')
        write(os.path.join(root, "var", "lib", "dpkg", "status.d", "libssl3"),
              "Package: libssl3\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n"
              "Architecture: amd64\n")
        write(os.path.join(root, "var", "lib", "dpkg", "status.d", "libssl3.md5sums"),
              "0123456789abcdef  usr/lib/x86_64-linux-gnu/libssl.so.3\n")
        status, doc, err = self.json_report("--db", self.db, root)
        self.assertEqual(status, 1, err)
        self.assertEqual([(r["ecosystem"], r["name"]) for r in doc["results"]],
                         [("Debian", "openssl")])
        self.assertTrue(doc["results"][0]["source"].endswith("status.d/libssl3:1"))

    def test_regression_opkg_status_is_openwrt_not_debian(self):
        st = write(self.path("router", "usr", "lib", "opkg", "status"),
                   "Package: openssl\nVersion: 3.0.11-1~deb12u2\nStatus: install user installed\n"
                   "Architecture: mips_24kc\nInstalled-Time: 1700000000\n")
        for target in (st, self.path("router")):
            with self.subTest(target=target):
                status, out, err = vulns("--db", self.db, target)
                self.assertEqual(status, 3, err + out)
                self.assertIn("their ecosystem (1: OpenWrt 1):\n    openssl 3.0.11-1~deb12u2 "
                              "[OpenWrt] at", out)


class Npm(Tmp):
    """Item 24, against a database of npm records of the test's own."""

    def setUp(self):
        super().setUp()
        self.db = self.path("db")
        record(self.db, "GHSA-35jh-r3h4-6jhm", "npm", "lodash", "4.17.21")

    def test_regression_shrinkwrap_wins_over_package_lock(self):
        app = self.path("app")
        write(os.path.join(app, "package.json"),
              '{"name": "app", "version": "1.0.0", "dependencies": {"lodash": "*"}}')
        npm_lock(os.path.join(app, "package-lock.json"), {"node_modules/lodash": "4.17.20"})
        npm_lock(os.path.join(app, "npm-shrinkwrap.json"), {"node_modules/lodash": "4.17.21"})
        npm = shutil.which("npm")
        if npm:  # what npm itself installs from these two files
            p = subprocess.run([npm, "ls", "--package-lock-only", "--offline", "--json"], cwd=app,
                               capture_output=True, timeout=120)
            tree = json.loads(p.stdout)
            self.assertEqual(tree["dependencies"]["lodash"]["version"], "4.17.21")
        status, doc, err = self.json_report("--db", self.db, app)
        self.assertEqual(status, 0, err)
        self.assertEqual(doc["results"], [])
        self.assertEqual(doc["summary"]["scanned"], 1)
        self.assertIn("package-lock.json not read: npm installs from", err)
        # Named on the command line, the file is read as asked, with a warning.
        status, _, err = vulns("--db", self.db, os.path.join(app, "package-lock.json"))
        self.assertEqual(status, 1)
        self.assertIn("npm ignores this file and installs from", err)

    def test_regression_installed_copies_counted_once(self):
        """36 installed copies of 2 versions are 2 packages, each with its locations."""
        copies = {}
        for i in range(36):
            copies["node_modules/dep%d/node_modules/lodash" % i] = \
                "4.17.20" if i < 30 else "4.17.19"
        lock = self.path("package-lock.json")
        npm_lock(lock, copies)
        status, out, err = vulns("--db", self.db, lock)
        self.assertEqual(status, 1, err)
        self.assertIn("2 of 2 packages affected by 2 advisories", out)
        self.assertIn("installed at 30 places:", out)
        self.assertIn("installed at 6 places:", out)
        _, doc, _ = self.json_report("--db", self.db, lock)
        self.assertEqual((doc["summary"]["packages"], doc["summary"]["affected"]), (2, 2))
        locs = {r["version"]: r["locations"] for r in doc["results"]}
        self.assertEqual(len(locs["4.17.20"]), 30)
        self.assertEqual(len(locs["4.17.19"]), 6)
        self.assertEqual(locs["4.17.19"][0]["path"], "node_modules/dep30/node_modules/lodash")
        status, out, _ = vulns("--db", self.db, "--sarif", lock)
        results = json.loads(out)["runs"][0]["results"]
        self.assertEqual(len(results), 2)
        self.assertEqual(sorted(len(r["locations"]) for r in results), [6, 30])


class Ignore(Tmp):
    """Item 25: --ignore of an id that matches nothing."""

    def test_regression_ignore_unknown_id_warned(self):
        req = write(self.path("requirements.txt"), "jinja2==2.10\n")
        status, out, err = vulns("--db", DB, "--json", "--ignore", "PYSEC-2099-99999",
                                 "--ignore", "PYSEC-2019-217", req)
        self.assertEqual(status, 1, err)
        self.assertIn("warning: PYSEC-2099-99999 (--ignore): no advisory in the database has "
                      "this id or alias", err)
        self.assertNotIn("PYSEC-2019-217 (--ignore)", err)
        self.assertEqual(json.loads(out)["summary"]["ignore_unknown"], ["PYSEC-2099-99999"])
        ign = write(self.path("accepted.txt"), "# reviewed\nGHSA-0000-0000-0000\n")
        status, _, err = vulns("--db", DB, "--ignore-file", ign, req)
        self.assertEqual(status, 1)
        self.assertIn("warning: GHSA-0000-0000-0000 in %s: no advisory" % ign, err)

    def test_regression_ignore_malformed_id_is_exit_2(self):
        req = write(self.path("requirements.txt"), "jinja2==2.10\n")
        status, _, err = vulns("--db", DB, "--ignore", "pysec2019217", req)
        self.assertEqual(status, 2)
        self.assertIn("--ignore 'pysec2019217': not an advisory id", err)
        ign = write(self.path("accepted.txt"), "PYSEC-2019-217\nhttps://osv.dev/x\n")
        status, _, err = vulns("--db", DB, "--ignore-file", ign, req)
        self.assertEqual(status, 2)
        self.assertIn("%s: line 2: 'https://osv.dev/x' is not an advisory id" % ign, err)


class Sarif(unittest.TestCase):
    def test_regression_sarif_driver_version_is_rampart_version(self):
        p = subprocess.run([RAMPART, "--version"], capture_output=True, timeout=60)
        version = p.stdout.decode().split()[1]
        status, out, err = vulns("--db", DB, "--sarif", os.path.join(FIXTURES, "go.mod"))
        self.assertEqual(status, 1, err)
        driver = json.loads(out)["runs"][0]["tool"]["driver"]
        self.assertEqual(driver["version"], version)
        self.assertEqual(driver["semanticVersion"], version)


if __name__ == "__main__":
    unittest.main()
