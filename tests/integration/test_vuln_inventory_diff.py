"""Differential test of the lock-file readers of `rampart vulns` (lib/vuln/inventory.c) against
Python's own parsers: tomllib for poetry.lock and Cargo.lock, json for package-lock.json and
Pipfile.lock.

Lock files are generated from a seeded random generator, written in the many ways their syntax
allows (TOML: comments everywhere, basic, literal and multi-line strings with escapes and line
continuations, quoted and escaped keys, dotted keys, inline tables, arrays over many lines,
numbers, booleans and dates in other keys, subtables such as [package.dependencies], [metadata],
CRLF line ends, a byte order mark; JSON: pretty-printed, minified and oddly spaced, strings with
escapes, scoped and nested npm paths, aliases, links, workspaces, the root ""). Each one is listed
by `rampart vulns --list --json` and compared, package by package (name, version and line), with
what Python reads from it; the lines are those where the generator wrote each `name =` key or
package key. Then each file is broken (cut short at a random byte, a quote removed, a field
given the wrong type): rampart must refuse it, exit 2 and say `FILE: line N:`, exactly when
Python's reading refuses it, and when both accept it they must agree on its packages. Last, the
bare TOML values of other keys (numbers, booleans, dates and times), each valid form and the
prefixes and one-character edits of them that a cut or a typo makes, are compared one by one.

What rampart takes from a parsed document is docs/vulns.md, section "Inventories", restated in
the `expect_*` functions: which tables and entries are packages, that a field rampart reads must
have the right type, that names and versions are non-empty, at most 4,096 bytes and without NUL,
that a leading byte order mark is ignored; and that the JSON reader is as strict as jansson (no
NaN or Infinity, no lone surrogate or \\u0000 escapes), which `read_json` below applies on top of
Python's json. Two leniencies of the TOML reader are documented there too, and a broken file
that only they make rampart accept is counted, not failed: TOML 1.1's `\\e` and `\\xHH` escapes
(Python 3.11's tomllib reads TOML 1.0), and keys or tables defined twice (a quote removed can
make a multi-line string swallow the header of the next table), which it does not look for.

RAMPART_BIN names the binary; RAMPART_DIFF_SEED changes the seed, RAMPART_DIFF_SCALE the number
of files (1 is the default, a few hundred files of each format), RAMPART_DIFF_KEEP a folder
where the files of failed comparisons (and of documented differences) are kept."""
import concurrent.futures
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unittest

RAMPART = os.environ.get("RAMPART_BIN", "build/rampart")
SEED = os.environ.get("RAMPART_DIFF_SEED", "20240611")
SCALE = float(os.environ.get("RAMPART_DIFF_SCALE", "1"))
KEEP = os.environ.get("RAMPART_DIFF_KEEP")
MAX_FIELD = 4096
BATCH = 200  # files listed by one invocation


# ---- what Python reads, and what rampart should then report ------------------------------------


class Refused(Exception):
    """The file is not one rampart may accept; line: where rampart must say so, when known."""

    def __init__(self, why, line=None):
        super().__init__(why)
        self.why = why
        self.line = line


class Pkg:
    """An expected package: where says which key it came from (the generator knows its line)."""

    def __init__(self, name, version, where):
        self.name, self.version, self.where = name, version, where


def decode(data):
    """The text of a file as both readers see it: UTF-8, a leading byte order mark ignored."""
    text = data.decode("utf-8")  # UnicodeDecodeError: refused
    return text[1:] if text.startswith("\ufeff") else text


def check_field(value, line):
    """docs/vulns.md: names and versions are non-empty, at most 4,096 bytes, without NUL."""
    if value == "":
        raise Refused("empty name or version", line)
    if len(value.encode("utf-8")) > MAX_FIELD:
        raise Refused("name or version longer than 4096 bytes", line)
    if "\0" in value:
        raise Refused("NUL byte in a name or version", line)


def read_toml(data):
    try:
        return tomllib.loads(decode(data))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise Refused("Python: %s" % e) from None


def expect_toml(doc, cargo, tables):
    """The packages rampart reports from a parsed poetry.lock or Cargo.lock: the name and version
    of each [[package]] table (never of its subtables); Cargo.lock's without a source are the
    workspace's own crates and are skipped. A name, version (and, in Cargo.lock, source) that is
    not a string is an error, as is a table without a name or version. tables[i]: the lines of
    the keys of the i-th [[package]] the generator wrote, or None for a table it cannot know."""
    pkgs = doc.get("package")
    if not isinstance(pkgs, list):
        return []
    out = []
    for i, t in enumerate(pkgs):
        lines = tables[i] if i < len(tables) and tables[i] is not None else {}
        fields = ("name", "version", "source") if cargo else ("name", "version")
        wrong = [f for f in fields if f in t and not isinstance(t[f], str)]
        if wrong:
            first = min(wrong, key=lambda f: lines.get(f, 1 << 30))
            raise Refused("'%s' is not a string" % first, lines.get(first))
        if "name" not in t or "version" not in t:
            raise Refused("[[package]] without a name or version")
        if cargo and "source" not in t:
            continue
        check_field(t["name"], lines.get("name"))
        check_field(t["version"], lines.get("name"))
        out.append(Pkg(t["name"], t["version"], (i, "name")))
    return out


class Obj(list):
    """A JSON object as the (key, value) pairs of the file, in order, duplicates kept: rampart
    reads a file as a stream, member by member."""


def jansson_strict(v):
    """The strings of a document parsed by Python's json, refused where jansson (and rampart)
    refuses them: a lone surrogate escape or \\u0000."""
    if isinstance(v, str):
        if "\0" in v or any(0xD800 <= ord(c) <= 0xDFFF for c in v):
            raise Refused("Python: \\u0000 or a lone surrogate (jansson refuses it)")
    elif isinstance(v, list):
        for e in v:
            jansson_strict(e)


def no_constant(name):
    raise Refused("Python: %s (jansson refuses it)" % name)


def read_json(data):
    try:
        doc = json.loads(decode(data), object_pairs_hook=Obj, parse_constant=no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Refused("Python: %s" % e) from None

    def walk(v):
        jansson_strict(v)
        if isinstance(v, Obj):
            for k, e in v:
                jansson_strict(k)
                walk(e)
        elif isinstance(v, list):
            for e in v:
                walk(e)

    walk(doc)
    return doc


def jtype(v):
    return type(v).__name__


def expect_pipfile(doc, lines):
    """Pipfile.lock: the entries of "default" and "develop" (null: none), `==`/`===` and blanks
    stripped from "version"; an entry without one is unpinned. lines(path): a key's line."""
    if not isinstance(doc, Obj):
        raise Refused("not an object", 1)
    out = []
    for sec, entries in doc:
        if sec not in ("default", "develop") or entries is None:
            continue
        if not isinstance(entries, Obj):
            raise Refused('"%s" is %s' % (sec, jtype(entries)), lines((sec,)))
        for name, e in entries:
            if not isinstance(e, Obj):
                raise Refused('"%s" is %s' % (name, jtype(e)), lines((sec, name)))
            version = None
            for k, v in e:
                if k == "version":
                    if not isinstance(v, str):
                        raise Refused('"version" is %s' % jtype(v), lines((sec, name, k)))
                    version = v
            line = lines((sec, name))
            if version is not None:
                version = version.strip(" \t")
                if version.startswith("=="):
                    version = version[3 if version.startswith("===") else 2:].strip(" \t")
                else:
                    version = None
            check_field(name, line)
            if version is not None:
                check_field(version, line)
            out.append(Pkg(name, version, (sec, name)))
    return out


def npm_v1(deps, path, lines, out):
    """package-lock.json v1 "dependencies": each entry added when it opens, nested ones after."""
    for name, e in deps:
        line = lines(path + (name,))
        check_field(name, line)
        pkg = Pkg(name, None, path + (name,))
        out.append(pkg)
        if not isinstance(e, Obj):
            raise Refused('"%s" is %s' % (name, jtype(e)), line)
        for k, v in e:
            if k == "dependencies":
                if not isinstance(v, Obj):
                    raise Refused('"dependencies" is %s' % jtype(v), lines(path + (name, k)))
                npm_v1(v, path + (name, k), lines, out)
            elif k == "version":
                if not isinstance(v, str):
                    raise Refused('"version" is %s' % jtype(v), lines(path + (name, k)))
                real = None
                if v.startswith("npm:"):
                    at = v.rfind("@")
                    if at > 4:  # an '@' after the first character of the spec
                        real, v = v[4:at], v[at + 1:]
                elif ":" in v or "/" in v:
                    continue  # git, file, URL: no registry version
                if v == "" or len(v.encode()) > MAX_FIELD or "\0" in v or (real and "\0" in real):
                    raise Refused("invalid version", lines(path + (name, k)))
                pkg.version = v
                if real is not None:
                    pkg.name = real


def expect_npm(doc, lines):
    """package-lock.json: v2 and v3 from "packages": the name after the last node_modules/ (or the
    entry's "name"), the root "", workspace folders and link entries skipped; without "packages",
    v1 from "dependencies" (read, then dropped, when it comes before "packages")."""
    if not isinstance(doc, Obj):
        raise Refused("not an object", 1)
    out, v1, seen_packages = [], [], False
    for key, v in doc:
        if key == "packages":
            if not isinstance(v, Obj):
                raise Refused('"packages" is %s' % jtype(v), lines((key,)))
            seen_packages = True
            out = [p for p in out if p not in v1]
            v1 = []
            for path, e in v:
                at = path.rfind("node_modules/")
                if at < 0:
                    continue
                if not isinstance(e, Obj):
                    raise Refused('"%s" is %s' % (path, jtype(e)), lines((key, path)))
                name, version, link = path[at + 13:], None, False
                for k, f in e:
                    if k == "link":
                        link = f is True
                    elif k in ("version", "name"):
                        if not isinstance(f, str):
                            raise Refused('"%s" is %s' % (k, jtype(f)), lines((key, path, k)))
                        if k == "version":
                            version = f
                        else:
                            name = f
                if link:
                    continue
                check_field(name, lines((key, path)))
                if version is not None:
                    check_field(version, lines((key, path)))
                out.append(Pkg(name, version, (key, path)))
        elif key == "dependencies" and not seen_packages:
            if not isinstance(v, Obj):
                raise Refused('"dependencies" is %s' % jtype(v), lines((key,)))
            v1 = []
            npm_v1(v, (key,), lines, v1)
            out += v1
        elif key == "lockfileVersion":
            if not isinstance(v, int) or isinstance(v, bool):
                raise Refused('"lockfileVersion" is %s' % jtype(v), lines((key,)))
    return out


# ---- random text -------------------------------------------------------------------------------

EXOTIC = ['é', 'ß', 'Ω', '中', '文', '😀', '\u00a0', '\u2028', '"', '\\', "'", '\t', '#', '=', '[',
          ']', '{', '}', ',', ' ', '/', '@', '+', ':', '\x7f', '\x08', '\x1f', '\n', 'e', 'x', 'u',
          'U', '$', '%']


def word(rng, chars="abcdefghijklmnopqrstuvwxyz", lo=1, hi=8):
    return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


def special(rng):
    """Now and then a name or version docs/vulns.md refuses (empty, with NUL, over 4,096 bytes)
    or just accepts (4,096 bytes)."""
    r = rng.random()
    if r < 0.0015:
        return rng.choice(["", "a\0b", "x" * (MAX_FIELD + 1), "é" * (MAX_FIELD // 2),
                           "é" * (MAX_FIELD // 2) + "x"])
    return None


def pkg_name(rng, scoped_ok=False):
    s = special(rng)
    if s is not None:
        return s
    if rng.random() < 0.12:
        return "".join(rng.choice(EXOTIC + ["a", "b", "1", "-", "."]) for _ in range(rng.randint(1, 8)))
    n = word(rng, lo=1, hi=3) + word(rng, "abcdefghijklmnopqrstuvwxyz0123456789-_.", 0, 14)
    if scoped_ok and rng.random() < 0.2:
        n = "@" + word(rng) + "/" + n
    return n


def pkg_version(rng):
    s = special(rng)
    if s is not None:
        return s
    r = rng.random()
    if r < 0.08:
        return "".join(rng.choice(EXOTIC + ["1", "2", ".", "0"]) for _ in range(rng.randint(1, 8)))
    v = "%d.%d.%d" % (rng.randint(0, 30), rng.randint(0, 99), rng.randint(0, 300))
    if r < 0.3:
        v += rng.choice(["rc1", ".post2", ".dev0", "-alpha.1", "+local.7", "a3", "-beta+exp.sha.5"])
    return v


def hexstr(rng, n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def free_text(rng, lines=1):
    """Prose that looks like TOML and JSON, for comments and other strings."""
    pool = ["[[package]]", 'name = "fake"', "version = '0'", "#", '"', "'", "\\", "{", "}", "]",
            "é", "中文", "😀", "node_modules/x", "==1.0", "\t", "a", "word", " ", "=", ","]
    return "\n".join("".join(rng.choice(pool) for _ in range(rng.randint(0, 8)))
                     for _ in range(lines))


# ---- TOML writing ------------------------------------------------------------------------------


class Text:
    """A file being written: its text, the position and the line (1-based) of what comes next."""

    def __init__(self, crlf=False):
        self.parts, self.line, self.pos = [], 1, 0
        self.nl = "\r\n" if crlf else "\n"

    def add(self, s):
        s = s.replace("\n", self.nl)
        self.parts.append(s)
        self.line += s.count("\n")
        self.pos += len(s)

    def text(self):
        return "".join(self.parts)


SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"',
                 "\\": "\\\\"}


def is_ctrl(c):
    return ord(c) < 0x20 or ord(c) == 0x7F


def hex_case(rng, digits):
    return digits.upper() if rng.random() < 0.5 else digits


def u_escape(rng, c):
    """c as a TOML \\u or \\U escape."""
    o = ord(c)
    if o > 0xFFFF or rng.random() < 0.2:
        return "\\U" + hex_case(rng, "%08x" % o)
    return "\\u" + hex_case(rng, "%04x" % o)


def toml_escape(rng, c):
    """c inside a basic string."""
    if c in SHORT_ESCAPES and (c in '"\\' or rng.random() < 0.6):
        return SHORT_ESCAPES[c] if rng.random() < 0.85 else u_escape(rng, c)
    if is_ctrl(c) and c != "\t":
        return u_escape(rng, c)
    return u_escape(rng, c) if rng.random() < 0.06 else c


def toml_basic(rng, s):
    return '"' + "".join(toml_escape(rng, c) for c in s) + '"'


def toml_ml_basic(rng, s, raw_newlines=False):
    out = ['"""']
    if rng.random() < 0.5:
        out.append("\n")  # trimmed
    raw_quote = False
    for c in s:
        if c not in " \t\n" and rng.random() < 0.08:
            # A line-ending backslash: joined to the next non-blank character.
            out.append("\\" + rng.choice(["", " ", "\t "]) + "\n" + rng.choice(["", "  ", "\t", "\n  "]))
            raw_quote = False
        if c == '"' and not raw_quote and rng.random() < 0.5:
            out.append('"')
            raw_quote = True
            continue
        raw_quote = False
        out.append(c if c == "\n" and raw_newlines else toml_escape(rng, c))
    out.append('"""')
    return "".join(out)


def literal_ok(s, multi=False):
    return not any(is_ctrl(c) and c != "\t" and not (multi and c == "\n") for c in s) and (
        "'''" not in s if multi else "'" not in s)


def toml_string(rng, s, raw_newlines=False):
    forms = ["basic", "basic", "ml_basic"]
    if literal_ok(s):
        forms += ["literal", "literal"]
    if literal_ok(s, multi=True) and (raw_newlines or "\n" not in s):
        forms.append("ml_literal")
    form = rng.choice(forms)
    if form == "basic":
        return toml_basic(rng, s)
    if form == "literal":
        return "'" + s + "'"
    if form == "ml_basic":
        return toml_ml_basic(rng, s, raw_newlines)
    return "'''" + ("\n" if rng.random() < 0.5 else "") + s + "'''"


BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def toml_key(rng, k):
    r = rng.random()
    if BARE_KEY.match(k) and r < 0.8:
        return k
    if literal_ok(k) and r < 0.9:
        return "'" + k + "'"
    return toml_basic(rng, k)


def sp(rng):
    return rng.choice(["", " ", " ", " ", "  ", "\t"])


def comment(rng):
    return "#" + free_text(rng).replace("\n", " ")


def eol(rng):
    return (sp(rng) + comment(rng) if rng.random() < 0.1 else rng.choice(["", "", " "])) + "\n"


SCALARS = ["42", "+17", "-0", "0", "1_000", "0xDEADbeef", "0o755", "0b1101", "3.14", "-0.01",
           "5e+22", "1e06", "-2E-2", "6.626e-34", "224_617.445_991", "inf", "+inf", "-inf", "nan",
           "+nan", "-nan", "0.0", "-0.0", "true", "false", "1979-05-27T07:32:00Z",
           "1979-05-27T00:32:00-07:00", "1979-05-27T00:32:00.999999+05:30", "1979-05-27 07:32:00",
           "1979-05-27T07:32:00", "1979-05-27", "07:32:00", "00:32:00.999999",
           "1979-05-27t07:32:00z", "2000-02-29", "1987-07-05 17:45:00.12Z"]


def toml_value(rng, depth=0, inline=False):
    """Any TOML value (its text); inline: inside an inline table, kept to one line."""
    r = rng.random()
    if r < 0.3 or depth > 2:
        return rng.choice(SCALARS)
    if r < 0.55:
        if not inline and rng.random() < 0.3:  # perhaps a multi-line string over several lines
            return toml_string(rng, free_text(rng, rng.randint(2, 4)), raw_newlines=True)
        return toml_string(rng, free_text(rng))
    if r < 0.8:
        n = rng.randint(0, 4)
        if n == 0:
            return "[" + sp(rng) + "]"
        multi = not inline and rng.random() < 0.5
        items = []
        for i in range(n):
            v = toml_value(rng, depth + 1, inline=not multi)
            if multi:
                items.append(("\n" + sp(rng) + (comment(rng) + "\n" if rng.random() < 0.15 else ""))
                             + sp(rng) + v)
            else:
                items.append(sp(rng) + v)
        trail = "," if rng.random() < 0.4 else ""
        return "[" + ",".join(items) + trail + ("\n" if multi else sp(rng)) + "]"
    return toml_inline_table(rng, depth + 1)


def toml_inline_table(rng, depth=0, pairs=None):
    if pairs is None:
        keys = set()
        pairs = []
        for _ in range(rng.randint(0, 3)):
            k = word(rng)
            if k not in keys:
                keys.add(k)
                pairs.append((toml_key(rng, k), toml_value(rng, depth, inline=True)))
    if not pairs:
        return "{" + sp(rng) + "}"
    return "{" + ",".join(sp(rng) + k + sp(rng) + "=" + sp(rng) + v for k, v in pairs) + sp(rng) + "}"


class TomlCase:
    """A generated TOML lock file; tables[i]: the lines of name, version and source of the i-th
    [[package]]; spans[i][field]: where that value's text is."""

    def __init__(self, text, tables, spans, bom):
        self.text, self.tables, self.spans, self.bom = text, tables, spans, bom

    def data(self, text=None):
        return (("\ufeff" if self.bom else "") + (self.text if text is None else text)).encode()


def write_keyval(rng, t, key_text, value_text):
    t.add(rng.choice(["", "", "", "  ", "\t"]) + key_text + sp(rng) + "=" + sp(rng))
    start = t.pos
    t.add(value_text)
    end = t.pos
    t.add(eol(rng))
    return start, end


def blank(rng, t):
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
        t.add(rng.choice(["\n", "\n", comment(rng) + "\n", sp(rng) + "\n", "  " + comment(rng) + "\n"]))


def header(rng, t, keys, array):
    segs = ("." if rng.random() < 0.7 else sp(rng) + "." + sp(rng)).join(toml_key(rng, k) for k in keys)
    inner = sp(rng) + segs + sp(rng)
    t.add(("[[" + inner + "]]" if array else "[" + inner + "]") + eol(rng))


POETRY_KEYS = ["description", "optional", "python-versions", "files", "category", "develop",
               "groups", "markers"]


def poetry_other(rng, key):
    if key == "description":
        return toml_string(rng, free_text(rng, rng.randint(1, 3)), raw_newlines=True)
    if key in ("optional", "develop"):
        return rng.choice(["true", "false"])
    if key in ("python-versions", "markers"):
        return toml_string(rng, rng.choice([">=3.7", "*", '>=2.7, !=3.0.*', 'python_version < "3.8"']))
    if key == "category":
        return toml_string(rng, rng.choice(["main", "dev"]))
    if key == "groups":
        return "[" + ", ".join(toml_string(rng, g) for g in rng.sample(["main", "dev", "docs"], 2)) + "]"
    items = []
    for _ in range(rng.randint(0, 3)):
        items.append(toml_inline_table(rng, pairs=[
            ("file", toml_string(rng, word(rng) + "-1.0-py3-none-any.whl")),
            ("hash", toml_string(rng, "sha256:" + hexstr(rng, 64)))]))
    if not items:
        return "[]"
    if rng.random() < 0.7:
        return "[\n" + "".join("    " + i + ",\n" for i in items) + "]"
    return "[" + ", ".join(items) + "]"


def gen_toml(rng, cargo):
    t = Text(crlf=rng.random() < 0.15)
    tables, spans = [], []
    if cargo:
        t.add(rng.choice(["# This file is automatically @generated by Cargo.\n"
                          "# It is not intended for manual editing.\n", ""]))
        if rng.random() < 0.8:
            write_keyval(rng, t, "version", rng.choice(["3", "4", "1"]))
        if rng.random() < 0.1:  # the [root] table of the oldest Cargo.lock files
            blank(rng, t)
            header(rng, t, ["root"], False)
            write_keyval(rng, t, "name", toml_string(rng, pkg_name(rng)))
            write_keyval(rng, t, "version", toml_string(rng, pkg_version(rng)))
    else:
        t.add(rng.choice(["# This file is automatically @generated by Poetry 1.5.1 and should not "
                          "be changed by hand.\n", "", comment(rng) + "\n"]))
    for _ in range(rng.choice([0, 1, 2, 5, 8, 12, 20])):
        t.add("\n" if rng.random() < 0.9 else "")
        blank(rng, t)
        header(rng, t, ["package"], True)
        lines, where = {}, {}
        fields = {"name": pkg_name(rng), "version": pkg_version(rng)}
        if cargo and rng.random() < 0.8:
            fields["source"] = rng.choice([
                "registry+https://github.com/rust-lang/crates.io-index",
                "sparse+https://index.crates.io/",
                "git+https://github.com/o/r?branch=main#" + hexstr(rng, 40), free_text(rng)])
        subtables = []
        if cargo:
            others = ["checksum", "dependencies"] + ["x-" + word(rng) for _ in range(rng.randint(0, 2))]
            others = [k for k in others if k != "checksum" or "source" in fields]
        else:
            others = rng.sample(POETRY_KEYS, rng.randint(0, len(POETRY_KEYS)))
            others += ["x-" + word(rng) for _ in range(rng.randint(0, 2))]
            subtables = rng.sample(["dependencies", "extras", "source"], rng.randint(0, 3))
            if "source" not in subtables and rng.random() < 0.2:
                others.append("source")  # an inline table, which rampart does not read
        dotted = rng.random() < 0.3
        keys = list(fields) + list(dict.fromkeys(others)) + (["meta"] if dotted else [])
        if rng.random() < 0.5:
            keys = keys[:2] + rng.sample(keys[2:], len(keys) - 2)
        else:
            rng.shuffle(keys)
        for key in keys:
            if rng.random() < 0.1:
                blank(rng, t)
            if key in fields:
                kt = toml_key(rng, key)
                if rng.random() < 0.1:
                    kt = '"' + "".join(u_escape(rng, c) if rng.random() < 0.5 else c for c in key) + '"'
                lines[key] = t.line
                where[key] = write_keyval(rng, t, kt, toml_string(rng, fields[key]))
            elif key == "meta":
                for sub in rng.sample(["created", "by", "name", "version"], rng.randint(1, 3)):
                    write_keyval(rng, t, "meta" + sp(rng) + "." + sp(rng) + toml_key(rng, sub),
                                 toml_value(rng))
            elif key == "source":
                write_keyval(rng, t, key, toml_inline_table(rng, pairs=[
                    ("type", '"legacy"'), ("url", '"https://pypi.example/simple"'),
                    ("reference", '"example"')]))
            elif key == "checksum":
                write_keyval(rng, t, key, toml_string(rng, hexstr(rng, 64)))
            elif key == "dependencies":
                deps = [toml_basic(rng, d) for d in rng.sample(
                    ["a", "b 1.0.0", "c 0.1.0 (registry+https://github.com/rust-lang/crates.io-index)",
                     "name", "version"], rng.randint(0, 4))]
                if deps and rng.random() < 0.8:
                    value = "[\n" + "".join(" " + d + ",\n" for d in deps) + "]"
                else:
                    value = "[" + ", ".join(deps) + "]"
                write_keyval(rng, t, key, value)
            elif key in POETRY_KEYS:
                write_keyval(rng, t, key, poetry_other(rng, key))
            else:
                write_keyval(rng, t, toml_key(rng, key), toml_value(rng))
        for sub in subtables:
            blank(rng, t)
            header(rng, t, ["package", sub], False)
            if sub == "source":
                for k, v in (("type", "git"), ("url", "https://github.com/o/r.git"),
                             ("reference", "main"), ("resolved_reference", hexstr(rng, 40))):
                    write_keyval(rng, t, k, toml_string(rng, v))
                continue
            names = set()
            for _ in range(rng.randint(1, 4)):
                n = rng.choice(["name", "version", word(rng)])
                if n in names:
                    continue
                names.add(n)
                if sub == "extras":
                    v = "[" + ", ".join(toml_string(rng, word(rng) + " (>=1.0)") for _ in range(2)) + "]"
                else:
                    v = rng.choice([toml_string(rng, ">=1.0"), toml_inline_table(rng, pairs=[
                        ("version", toml_string(rng, "^2.0")), ("optional", "true")]),
                        "[\n    " + toml_inline_table(rng, pairs=[("version", '"1"'),
                                                                 ("python", '"<3.8"')]) + ",\n]"])
                write_keyval(rng, t, toml_key(rng, n), v)
        tables.append(lines)
        spans.append(where)
    blank(rng, t)
    if rng.random() < 0.6:
        t.add("\n")
        header(rng, t, ["metadata"], False)
        if cargo:
            for crate in dict.fromkeys(word(rng) for _ in range(rng.randint(0, 3))):
                write_keyval(rng, t, toml_basic(rng, "checksum %s 1.0.0 (registry+https://github."
                                                     "com/rust-lang/crates.io-index)" % crate),
                             toml_string(rng, hexstr(rng, 64)))
        else:
            write_keyval(rng, t, "lock-version", toml_string(rng, "2.0"))
            write_keyval(rng, t, "python-versions", toml_string(rng, "^3.8"))
            write_keyval(rng, t, "content-hash", toml_string(rng, hexstr(rng, 64)))
            if rng.random() < 0.3:
                t.add("\n")
                header(rng, t, ["metadata", "files"], False)
                for n in ("name", "x" + word(rng)):
                    write_keyval(rng, t, toml_key(rng, n), poetry_other(rng, "files"))
    text = t.text()
    if rng.random() < 0.1:
        text = text.rstrip("\r\n")
    return TomlCase(text, tables, spans, bom=rng.random() < 0.05)


# ---- JSON writing ------------------------------------------------------------------------------


def json_escape(rng, c, rate):
    o = ord(c)
    if c in '"\\' or o < 0x20:
        if c in SHORT_ESCAPES and rng.random() < 0.8:
            return SHORT_ESCAPES[c]
    elif c == "/" and rng.random() < 0.3:
        return "\\/"
    elif rng.random() >= rate:
        return c
    if o > 0xFFFF:  # a surrogate pair
        o -= 0x10000
        return "\\u%s\\u%s" % (hex_case(rng, "%04x" % (0xD800 + (o >> 10))),
                                hex_case(rng, "%04x" % (0xDC00 + (o & 0x3FF))))
    return "\\u" + hex_case(rng, "%04x" % o)


class JsonWriter:
    """Writes a document in one of several styles, keeping the line of each key and the span
    of each value, by path (the tuple of keys)."""

    def __init__(self, rng):
        self.rng = rng
        self.style = rng.choice(["pretty", "pretty", "pretty", "minified", "spaced", "random"])
        self.indent = rng.choice(["  ", "  ", "    ", "\t"])
        self.rate = rng.choice([0, 0, 0.02, 0.3])
        self.t = Text(crlf=rng.random() < 0.1)
        self.key_lines, self.spans = {}, {}

    def ws(self, level=None):
        if self.style == "pretty" and level is not None:
            return "\n" + self.indent * level
        if self.style == "random":
            return self.rng.choice(["", "", " ", "\n", "\t", "\r\n", "\n\n  ", " \n "])
        return ""

    def string(self, s):
        return '"' + "".join(json_escape(self.rng, c, self.rate) for c in s) + '"'

    def value(self, v, path=(), level=0):
        t = self.t
        start = t.pos
        if isinstance(v, dict) and v:
            t.add("{")
            for i, (k, e) in enumerate(v.items()):
                if i:
                    t.add("," + (" " if self.style == "spaced" else ""))
                t.add(self.ws(level + 1))
                self.key_lines[path + (k,)] = t.line
                t.add(self.string(k) + self.ws() + (":" if self.style == "minified" else ": ") + self.ws())
                self.value(e, path + (k,), level + 1)
            t.add(self.ws(level) + "}")
        elif isinstance(v, list) and v:
            t.add("[")
            for i, e in enumerate(v):
                t.add(("," + (" " if self.style == "spaced" else "")) if i else "")
                t.add(self.ws(level + 1))
                self.value(e, path + (i,), level + 1)
            t.add(self.ws(level) + "]")
        elif isinstance(v, str):
            t.add(self.string(v))
        else:
            t.add(json.dumps(v))
        self.spans[path] = (start, t.pos)

    def dump(self, doc):
        self.t.add(self.ws())
        self.value(doc)
        self.t.add(self.ws() + ("\n" if self.style == "pretty" and self.rng.random() < 0.8 else ""))
        return self.t.text()


class JsonCase:
    def __init__(self, doc, writer, bom, typed):
        self.doc, self.bom = doc, bom
        self.text = writer.dump(doc)
        self.key_lines, self.spans = writer.key_lines, writer.spans
        self.typed = typed  # the paths whose values rampart checks the type of

    def data(self, text=None):
        return (("\ufeff" if self.bom else "") + (self.text if text is None else text)).encode()


def integrity(rng):
    return "sha512-" + "".join(rng.choice("ABCDEFabcdef0123456789+/") for _ in range(20)) + "=="


def npm_entry(rng, version=True):
    e = {}
    keys = ["version", "resolved", "integrity", "dev", "optional", "license", "engines",
            "dependencies", "bin", "funding", "peer", "cpu", "hasInstallScript", "deprecated"]
    for k in rng.sample(keys, rng.randint(1, 6)) if rng.random() < 0.5 else keys[:4]:
        e[k] = {"resolved": "https://registry.npmjs.org/x/-/x-1.0.0.tgz", "integrity": integrity(rng),
                "dev": True, "optional": True, "peer": True, "license": "MIT",
                "engines": {"node": ">=14"}, "dependencies": {"a": "^1.0.0", "@s/b": "~2"},
                "bin": {"x": "bin/x.js"}, "funding": rng.choice([{"url": "https://f"}, ["https://g"]]),
                "cpu": ["x64", "arm64"], "hasInstallScript": True, "deprecated": "use y"}.get(k)
    if version:
        e["version"] = pkg_version(rng)
    else:
        e.pop("version", None)
    return e


def gen_npm(rng):
    proj = word(rng)
    packages = {"": {"name": proj, "version": "1.0.0", "license": "ISC",
                     "dependencies": {"a": "^1"}, "devDependencies": {}}}
    paths = []
    workspaces = []
    if rng.random() < 0.2:
        for _ in range(rng.randint(1, 2)):
            w = word(rng)
            workspaces.append(w)
            packages["packages/" + w] = {"name": w, "version": "0.1.0"}
            packages["node_modules/" + w] = {"resolved": "packages/" + w, "link": True}
        packages[""]["workspaces"] = ["packages/*"]
    for _ in range(rng.choice([0, 1, 3, 8, 15, 25])):
        name = pkg_name(rng, scoped_ok=True)
        r = rng.random()
        if paths and r < 0.3:
            path = rng.choice(paths) + "/node_modules/" + name
        elif workspaces and r < 0.4:
            path = "packages/" + rng.choice(workspaces) + "/node_modules/" + name
        else:
            path = "node_modules/" + name
        if path in packages:
            continue
        r = rng.random()
        if r < 0.08:
            e = {"name": pkg_name(rng, scoped_ok=True), "version": pkg_version(rng),
                 "resolved": "https://registry.npmjs.org/x/-/x-1.tgz"}  # an alias
        elif r < 0.13:
            e = {"resolved": "../linked", "link": True}
        elif r < 0.16:
            e = npm_entry(rng, version=False)
        elif r < 0.19:
            e = npm_entry(rng)
            e["link"] = False
        else:
            e = npm_entry(rng)
        packages[path] = e
        paths.append(path)
    if rng.random() < 0.1:
        items = list(packages.items())
        rng.shuffle(items)
        packages = dict(items)
    version = rng.choice([2, 3, 3])
    doc = {"name": proj, "version": "1.0.0", "lockfileVersion": version, "requires": True,
           "packages": packages}
    if version == 2:
        deps = {}
        for path, e in packages.items():
            if path.startswith("node_modules/") and "/node_modules/" not in path[13:]:
                name = path[13:]
                v = e.get("version")
                if "name" in e:
                    v = "npm:%s@%s" % (e["name"], v)
                elif e.get("link"):
                    v = "file:" + e["resolved"]
                d = {"version": v} if v is not None else {}
                d.update({k: e[k] for k in ("resolved", "integrity", "dev") if k in e})
                if rng.random() < 0.2:
                    d["requires"] = {"x": "^1"}
                    d["dependencies"] = {pkg_name(rng): {"version": pkg_version(rng)}}
                deps[name] = d
        if rng.random() < 0.2:
            doc = {"name": proj, "lockfileVersion": 2, "dependencies": deps, "packages": packages}
        else:
            doc["dependencies"] = deps
    typed = [("packages",), ("lockfileVersion",)]
    for path, e in packages.items():
        if "node_modules/" in path:
            typed.append(("packages", path))
            typed += [("packages", path, k) for k in ("version", "name", "link") if k in e]
    return doc, typed


def gen_pipfile(rng):
    doc = {"_meta": {"hash": {"sha256": hexstr(rng, 64)}, "pipfile-spec": 6,
                     "requires": {"python_version": "3.11"},
                     "sources": [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}]}}
    typed = []
    sections = ["default", "develop"]
    if rng.random() < 0.2:
        sections.reverse()
    for sec in sections:
        if rng.random() < 0.1:
            continue
        if rng.random() < 0.05:
            doc[sec] = None
            continue
        entries = {}
        for _ in range(rng.choice([0, 1, 4, 10, 20])):
            name = pkg_name(rng)
            if name in entries:
                continue
            r = rng.random()
            v = pkg_version(rng)
            e = {"hashes": ["sha256:" + hexstr(rng, 64) for _ in range(rng.randint(0, 2))],
                 "index": "pypi", "markers": "python_version >= '3.7'"}
            if r < 0.08:
                e = {"path": ".", "editable": True}
            elif r < 0.14:
                e = {"git": "https://github.com/o/r.git", "ref": hexstr(rng, 40)}
            elif r < 0.2:
                e["version"] = rng.choice([">=" + v, "*", "~=" + v])
            elif r < 0.3:
                e["version"] = rng.choice([" ==" + v, "== " + v + " ", "===" + v, "\t==" + v])
            else:
                e["version"] = "==" + v
            if rng.random() < 0.1:
                e["extras"] = ["socks"]
            items = list(e.items())
            rng.shuffle(items)
            entries[name] = dict(items)
            typed.append((sec, name))
            if "version" in e:
                typed.append((sec, name, "version"))
        doc[sec] = entries
        typed.append((sec,))
    return doc, typed


# ---- mutations ---------------------------------------------------------------------------------

WRONG_TOML = ["1", "1.5", "true", '["1.0"]', "{ a = 1 }", "1979-05-27", "[]", "'still a string'"]
WRONG_JSON = ["1", "2.5", "-0", "true", "false", "null", "[]", "{}", '["x"]', '{"a": 1}', '"str"',
              "3", "3.0", "1e2"]


def mutate(rng, text, spans, wrong):
    """(kind, mutated text, the span replaced or None): cut short, a quote removed, a value
    replaced by one of another type."""
    kind = rng.choice(["cut", "cut", "quote", "type"])
    if kind == "type" and spans:
        start, end = rng.choice(spans)
        return kind, text[:start] + rng.choice(wrong) + text[end:], (start, end)
    quotes = [i for i, c in enumerate(text) if c in "\"'"]
    if kind == "quote" and quotes:
        i = rng.choice(quotes)
        return "quote", text[:i] + text[i + 1:], None
    return "cut", None, None  # cut at a byte, below


# ---- the test ----------------------------------------------------------------------------------


def line_shift(text, span):
    """Where a line of text is once span (start, end) is replaced by a value on one line."""
    if span is None:
        return None
    first = text.count("\n", 0, span[0]) + 1
    removed = text.count("\n", span[0], span[1])
    return lambda line: line - removed if line > first else line


def run_list(paths):
    p = subprocess.run([RAMPART, "vulns", "--list", "--json", *paths], capture_output=True,
                       timeout=120)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8", "replace")


TWICE = re.compile(r"Python: Cannot (declare .* twice|overwrite a value|mutate immutable namespace"
                   r"|redefine namespace)")


def toml11_as_10(text):
    """TOML 1.1's \\e and \\xHH escapes (docs/vulns.md: the TOML reader accepts them) spelt as
    TOML 1.0 \\u escapes."""
    text = re.sub(r"(?<!\\)((?:\\\\)*)\\e", r"\1\\u001b", text)
    return re.sub(r"(?<!\\)((?:\\\\)*)\\x([0-9A-Fa-f]{2})", r"\1\\u00\2", text)


class Report:
    def __init__(self):
        self.failures = []
        self.counts = {}

    def count(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n

    def fail(self, fmt, case_id, why, data):
        self.failures.append("%s %s: %s\n--- file (%d bytes) ---\n%s" % (
            fmt, case_id, why, len(data), data[:1500].decode("utf-8", "replace")))
        self.keep(fmt, case_id, data)

    def documented(self, what, fmt, case_id, data):
        self.count("documented: " + what)
        self.keep(fmt, "%s-%s" % (what.replace(" ", "-"), case_id), data)

    @staticmethod
    def keep(fmt, case_id, data):
        if KEEP:
            d = os.path.join(KEEP, "%s-%s" % (fmt, case_id))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, fmt), "wb") as f:
                f.write(data)


class DiffTest(unittest.TestCase):
    """For each format: valid files compared package by package, broken ones by outcome."""

    def setUp(self):
        if not os.access(RAMPART, os.X_OK):
            self.skipTest("no rampart binary at %s (set RAMPART_BIN)" % RAMPART)
        self.tmp = tempfile.mkdtemp(prefix="rampart-inv-diff-")
        self.rep = Report()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, case_id, fname, data):
        d = os.path.join(self.tmp, case_id)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, fname)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def compare(self, fmt, case_id, data, expected, got, locate):
        """expected: the Pkg list; got: rampart's (name, version, line) list; locate(where): the
        line of an expected package, or None when it cannot be known."""
        want = [(p.name, p.version) for p in expected]
        have = [(n, v) for n, v, _ in got]
        if want != have:
            diff = next((i for i in range(min(len(want), len(have))) if want[i] != have[i]),
                        min(len(want), len(have)))
            self.rep.fail(fmt, case_id, "packages differ at #%d: Python %r, rampart %r" % (
                diff, want[diff:diff + 3], have[diff:diff + 3]), data)
            return False
        for p, (_, _, line) in zip(expected, got):
            want_line = locate(p.where)
            if want_line is not None and want_line != line:
                self.rep.fail(fmt, case_id, "%r: line %d, want %d" % (p.name, line, want_line), data)
                return False
        return True

    def run_valid(self, fmt, cases):
        """Lists every file the Python side accepts, many per invocation."""
        todo = [c for c in cases if c["expected"] is not None]
        for i in range(0, len(todo), BATCH):
            chunk = todo[i:i + BATCH]
            status, out, err = run_list([c["path"] for c in chunk])
            if status != 0:
                bad = next((c for c in chunk if c["path"] + ":" in err), chunk[0])
                self.rep.fail(fmt, bad["id"], "rampart refused a file Python reads (exit %d): %s"
                              % (status, err.strip()), bad["data"])
                continue
            got = {c["path"]: [] for c in chunk}
            for line in out.split("\n")[:-1]:
                o = json.loads(line)
                path, n = o["source"].rsplit(":", 1)
                got[path].append((o["name"], o["version"], int(n)))
            for c in chunk:
                self.rep.count("whole: files read", 1)
                self.rep.count("whole: packages", len(c["expected"]))
                self.compare(fmt, c["id"], c["data"], c["expected"], got[c["path"]], c["locate"])

    def run_refused(self, fmt, cases):
        """One invocation per file that must be refused or is a broken one (the command stops at
        the first bad file), several at a time."""
        todo = [c for c in cases if c["expected"] is None or c.get("mutation")]

        def one(c):
            return c, run_list([c["path"]])

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            for c, (status, out, err) in pool.map(one, todo):
                self.judge(fmt, c, status, out, err)

    def judge(self, fmt, c, status, out, err):
        refused = c["refused"]
        if refused is not None:
            m = re.search(re.escape(c["path"]) + r": line (\d+): ", err)
            if status != 2 or out or not m:
                if c.get("twice") and status == 0:
                    self.rep.documented("defined twice", fmt, c["id"], c["data"])
                    return
                if c.get("toml11") is not None and status == 0:
                    got = [(o["name"], o["version"]) for o in map(json.loads, out.split("\n")[:-1])]
                    if got == [(p.name, p.version) for p in c["toml11"]]:
                        self.rep.documented("TOML 1.1 escape", fmt, c["id"], c["data"])
                        return
                self.rep.fail(fmt, c["id"], "%s: Python refuses it (%s) but rampart exits %d: %s%s"
                              % (c.get("mutation", "generated"), refused.why, status, err.strip(),
                                 out[:300]), c["data"])
                return
            nlines = c["data"].count(b"\n") + 1
            line = int(m.group(1))
            if refused.line is not None and c.get("mutation") in (None, "type") and line != refused.line:
                self.rep.fail(fmt, c["id"], "%s: rampart refuses it at line %d, want line %d (%s): %s"
                              % (c.get("mutation", "generated"), line, refused.line, refused.why,
                                 err.strip()), c["data"])
            elif not 1 <= line <= nlines:
                self.rep.fail(fmt, c["id"], "error line %d out of the file's %d lines: %s"
                              % (line, nlines, err.strip()), c["data"])
            else:
                self.rep.count("%s: refused by both" % c.get("mutation", "whole"))
            return
        if status != 0:
            self.rep.fail(fmt, c["id"], "%s: Python reads it but rampart exits %d: %s" % (
                c.get("mutation", "generated"), status, err.strip()), c["data"])
            return
        got = []
        for line in out.split("\n")[:-1]:
            o = json.loads(line)
            got.append((o["name"], o["version"], int(o["source"].rsplit(":", 1)[1])))
        if self.compare(fmt, c["id"], c["data"], c["expected"], got, c["locate"]):
            self.rep.count("%s: accepted by both" % c.get("mutation", "whole"))

    def finish(self, fmt, ncases, nbroken):
        counts = ", ".join("%s %d" % kv for kv in sorted(self.rep.counts.items()))
        print("\n%s (seed %s): %d files, %d broken ones; %s" % (fmt, SEED, ncases, nbroken, counts),
              file=sys.stderr)
        if self.rep.failures:
            heads = [f.split("\n", 1)[0][:300] for f in self.rep.failures]
            self.fail("%d disagreement(s) with Python (seed %s):\n%s\n\nthe first ones:\n\n%s" % (
                len(heads), SEED, "\n".join(heads[:40]), "\n\n".join(self.rep.failures[:3])))

    # -- TOML --

    def toml_format(self, fmt, cargo, n, nbroken):
        rng = random.Random("%s-%s" % (SEED, fmt))
        cases = []
        for i in range(n):
            case = gen_toml(rng, cargo)
            # The generator writes valid TOML with the packages it meant to.
            try:
                doc = read_toml(case.data())
            except Refused as e:
                self.fail("generator wrote invalid TOML (%s):\n%s" % (e.why, case.text))
            self.assertEqual(len(doc.get("package", [])), len(case.tables), case.text)
            cases.append(self.toml_case(fmt, "%d" % i, cargo, case, case.data(), doc=doc))
        for i in range(nbroken):
            case = cases[rng.randrange(n)]["case"]
            spans = [s for w in case.spans for s in w.values()]
            kind, text, span = mutate(rng, case.text, spans, WRONG_TOML)
            if kind == "cut":
                data = case.data()
                data = data[:rng.randrange(len(data))] if data else data
            else:
                data = case.data(text)
            c = self.toml_case(fmt, "m%d" % i, cargo, case, data, mutation=kind,
                               moved=line_shift(case.text, span))
            cases.append(c)
        self.run_valid(fmt, [c for c in cases if "mutation" not in c])
        self.run_refused(fmt, cases)
        self.finish(fmt, n, nbroken)

    def toml_case(self, fmt, case_id, cargo, case, data, doc=None, mutation=None, moved=None):
        """moved(line): where a line of the generated file is in data (None: the same)."""
        c = {"id": case_id, "case": case, "data": data, "expected": None, "refused": None,
             "path": self.write(case_id, fmt, data)}
        if mutation:
            c["mutation"] = mutation
        moved = moved or (lambda line: line)
        try:
            doc = doc if doc is not None else read_toml(data)
            # A mutation adds no line and removes none before what it changes, so the i-th table
            # is still on its lines, unless the mutation changed which tables there are.
            tables = [{f: moved(l) for f, l in t.items()} for t in case.tables]
            n = len(doc.get("package", []))
            if n > len(tables) or (mutation != "cut" and n != len(tables)):
                tables = []
            c["expected"] = expect_toml(doc, cargo, tables)
            c["locate"] = lambda where: (tables[where[0]].get(where[1])
                                         if where[0] < len(tables) else None)
        except Refused as e:
            c["refused"] = e
            c["locate"] = lambda where: None
            # A key or table defined twice (a quote removed can make a string swallow the
            # header of the next table): the reader does not look for them (documented).
            c["twice"] = bool(TWICE.match(e.why))
            try:
                text = decode(data) if e.why.startswith("Python") and b"\\" in data else None
            except UnicodeDecodeError:
                text = None
            if text is not None and toml11_as_10(text) != text:
                try:  # TOML 1.1's escapes, which the reader accepts (documented)
                    c["toml11"] = expect_toml(tomllib.loads(toml11_as_10(text)), cargo, [])
                except (Refused, tomllib.TOMLDecodeError):
                    pass
        return c

    def test_poetry_lock(self):
        self.toml_format("poetry.lock", False, int(300 * SCALE), int(250 * SCALE))

    def test_cargo_lock(self):
        self.toml_format("Cargo.lock", True, int(300 * SCALE), int(250 * SCALE))

    def test_toml_bare_values(self):
        """The values of other keys (numbers, booleans, dates and times), each valid form and
        the prefixes and one-character edits of them that a cut or a typo makes: rampart refuses
        exactly what tomllib refuses."""
        rng = random.Random("%s-bare" % SEED)
        alphabet = "0123456789+-._:eExobTtZzinfa "
        tokens = set(SCALARS)
        for v in SCALARS:
            tokens.update(v[:i] for i in range(1, len(v)))
            for _ in range(4):
                i = rng.randrange(len(v))
                c = rng.choice(alphabet)
                tokens.update([v[:i] + v[i + 1:], v[:i] + c + v[i + 1:], v[:i] + c + v[i:]])
        for _ in range(60):
            y, m, d = rng.randint(0, 2400), rng.randint(0, 13), rng.randint(0, 32)
            tokens.add("%04d-%02d-%02d" % (y, m, d))
            tokens.add("%02d:%02d:%02d" % (rng.randint(0, 25), rng.randint(0, 61), rng.randint(0, 61)))
        tokens = sorted(t for t in tokens if t.strip() == t and t)
        valid, invalid = [], []
        for tok in tokens:
            try:
                tomllib.loads("x = %s\n" % tok)
                valid.append(tok)
            except tomllib.TOMLDecodeError:
                invalid.append(tok)
        text = "[[package]]\nname = \"a\"\nversion = \"1\"\n" + "".join(
            "k%d = %s%s\n" % (i, tok, rng.choice(["", " # c", "\t", "#"]))
            for i, tok in enumerate(valid)) + "arr = [%s]\n" % ", ".join(valid)
        tomllib.loads(text)
        path = self.write("valid", "poetry.lock", text.encode())
        status, out, err = run_list([path])
        self.assertEqual(status, 0, err)

        def one(i_tok):
            i, tok = i_tok
            path = self.write("bad%d" % i, "poetry.lock", ("x = %s\n" % tok).encode())
            return tok, run_list([path])

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            wrong = [tok for tok, (status, _, err) in pool.map(one, enumerate(invalid))
                     if status != 2 or ": line 1: " not in err]
        print("\nTOML bare values: %d valid, %d invalid" % (len(valid), len(invalid)),
              file=sys.stderr)
        self.assertEqual(wrong, [], "rampart accepts what tomllib refuses")

    # -- JSON --

    def json_format(self, fmt, gen, expect, n, nbroken):
        rng = random.Random("%s-%s" % (SEED, fmt))
        cases = []
        for i in range(n):
            doc, typed = gen(rng)
            case = JsonCase(doc, JsonWriter(rng), rng.random() < 0.05, typed)
            self.assertEqual(json.loads(case.text), doc, case.text)
            name = fmt if fmt != "package-lock.json" or rng.random() < 0.9 else "npm-shrinkwrap.json"
            cases.append(self.json_case(fmt, name, "%d" % i, case, case.data(), expect))
        for i in range(nbroken):
            base = cases[rng.randrange(n)]
            case = base["case"]
            spans = [case.spans[p] for p in case.typed if p in case.spans]
            kind, text, span = mutate(rng, case.text, spans, WRONG_JSON)
            if kind == "cut":
                data = case.data()
                data = data[:rng.randrange(len(data))] if data else data
            else:
                data = case.data(text)
            c = self.json_case(fmt, base["name"], "m%d" % i, case, data, expect, mutation=kind,
                               moved=line_shift(case.text, span))
            cases.append(c)
        self.run_valid(fmt, [c for c in cases if "mutation" not in c])
        self.run_refused(fmt, cases)
        self.finish(fmt, n, nbroken)

    def json_case(self, fmt, name, case_id, case, data, expect, mutation=None, moved=None):
        moved = moved or (lambda line: line)

        def lines(path):
            line = case.key_lines.get(path)
            return None if line is None else moved(line)

        c = {"id": case_id, "case": case, "name": name, "data": data, "expected": None,
             "refused": None, "path": self.write(case_id, name, data), "locate": lines}
        if mutation:
            c["mutation"] = mutation
        try:
            c["expected"] = expect(read_json(data), lines)
        except Refused as e:
            c["refused"] = e
        return c

    def test_package_lock(self):
        self.json_format("package-lock.json", gen_npm, expect_npm, int(300 * SCALE), int(250 * SCALE))

    def test_pipfile_lock(self):
        self.json_format("Pipfile.lock", gen_pipfile, expect_pipfile, int(300 * SCALE),
                         int(250 * SCALE))


if __name__ == "__main__":
    unittest.main()
