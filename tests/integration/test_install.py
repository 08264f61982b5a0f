"""Tests of scripts/install-deps, what `make` runs before building: its package list agrees with
the documentation, npm is among the packages (Debian's nodejs has none), and --check-or-install
says what is missing. Each run gets a PATH of its own with a fake `id` (not root) and a fake
`apt-get` that fails, so nothing is ever installed.

Run through tests/integration/run.py."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "install-deps")
SH = shutil.which("sh")


def install_deps(*args, path=None):
    env = dict(os.environ)
    if path:
        env["PATH"] = path
    p = subprocess.run([SH, SCRIPT, *args], capture_output=True, text=True, timeout=60, env=env)
    return p.returncode, p.stdout, p.stderr


class InstallDeps(unittest.TestCase):
    def fake_path(self, tools):
        """A folder of the given real tools, a fake `id` (uid 1000) and a failing apt-get."""
        d = tempfile.mkdtemp(prefix="rampart-install-deps-")
        self.addCleanup(shutil.rmtree, d)
        for t in ("sed", "fold", "cat", "tr") + tuple(tools):
            real = shutil.which(t)
            if not real:
                self.skipTest("%s is not installed" % t)
            os.symlink(real, os.path.join(d, t))
        for name, body in (("id", "echo 1000"), ("apt-get", "echo apt-get ran >&2; exit 99")):
            with open(os.path.join(d, name), "w") as f:
                f.write("#!%s\n%s\n" % (SH, body))
            os.chmod(os.path.join(d, name), 0o755)
        return d

    def test_help_and_list(self):
        rc, out, err = install_deps("--help")
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.startswith("usage: scripts/install-deps"), out)
        rc, listed, _ = install_deps("--list")
        self.assertEqual(rc, 0)
        pkgs = listed.split()
        for p in ("nodejs", "npm", "clang-14", "libhyperscan-dev", "libcmocka-dev"):
            self.assertIn(p, pkgs)
        # --help shows the same packages as --list.
        helped = out.split("with:\n", 1)[1].split("\n\n", 1)[0].split()
        self.assertEqual(helped, pkgs)
        rc, _, err = install_deps("--bogus")
        self.assertEqual(rc, 2)
        self.assertIn("unknown option '--bogus'", err)

    def test_package_list_matches_the_docs(self):
        _, listed, _ = install_deps("--list")
        with open(os.path.join(ROOT, "docs", "dependencies.md")) as f:
            deps = f.read()
        named = set(re.findall(r"`([a-z0-9][a-z0-9.+-]*)`", deps))
        self.assertEqual([p for p in listed.split() if p not in named], [],
                         "packages of install-deps not named in docs/dependencies.md")
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = f.read()
        self.assertIn("scripts/install-deps --list", readme)

    def test_regression_npm_missing_is_said_not_skipped_silently(self):
        # Debian's nodejs has no npm: the build goes on, with a warning naming the command that
        # installs npm, and nothing is installed when not root.
        tools = ("pkg-config", "clang-14", "node")
        rc, out, err = install_deps("--check-or-install", path=self.fake_path(tools))
        self.assertEqual(rc, 0, err)
        self.assertIn("WARNING: node or npm is missing", err)
        self.assertIn("will be SKIPPED", err)
        self.assertRegex(err, r"sudo apt-get install -y .*\bnodejs\b.*\bnpm\b")
        self.assertNotIn("apt-get ran", err)

    def test_check_quiet_when_nothing_is_missing(self):
        if not shutil.which("npm"):
            self.skipTest("npm is not installed here")
        rc, out, err = install_deps("--check-or-install",
                                    path=self.fake_path(("pkg-config", "clang-14", "node", "npm")))
        self.assertEqual((rc, out, err), (0, "", ""))

    def test_build_dependency_missing_stops_the_build(self):
        # No pkg-config: the build cannot go on; the command to run is printed. An npm that is
        # there (NodeSource's nodejs ships one and conflicts with Debian's npm) is not asked for.
        for tools, wants_npm in ((("clang-14", "node"), True),
                                 (("clang-14", "node", "npm"), False)):
            if "npm" in tools and not shutil.which("npm"):
                continue
            rc, out, err = install_deps("--check-or-install", path=self.fake_path(tools))
            self.assertEqual(rc, 1, err)
            self.assertIn("rampart: missing build dependencies; install them with:", err)
            command = err.splitlines()[-1].split()
            self.assertEqual(command[:4], ["sudo", "apt-get", "install", "-y"])
            self.assertEqual("npm" in command, wants_npm, err)
            self.assertNotIn("apt-get ran", err)

    def test_regression_npm_install_after_install_deps(self):
        # The client install ran before install-deps had installed npm. make -n only prints.
        make = shutil.which("make")
        if not make:
            self.skipTest("make is not installed")
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run([make, "-n", "-B", "-C", ROOT, "BUILD=" + d, "npm-test-deps"],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        deps = p.stdout.find("scripts/install-deps --check-or-install")
        npm = p.stdout.find("npm install --no-audit --no-fund openai@4")
        self.assertTrue(0 <= deps < npm, p.stdout)
