"""An independent reading of OSV records, for differential tests of `rampart vulns`: the OSV
schema's evaluation written out in Python, with Python's `packaging` ordering PyPI versions and
a small SemVer reading for Go. Run with Debian's /usr/bin/python3 (which sees python3-packaging).

    osv_reference.py DB_DIR < queries.json > answers.json

queries: [{"ecosystem": "PyPI"|"Go", "name": ..., "version": ...}, ...]
answers: for each query, the sorted ids of the (not withdrawn) records that affect it."""
import glob
import json
import os
import re
import sys
import zipfile

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version


def semver_key(v):
    """SemVer 2.0 precedence as a sortable key; build metadata ignored; Go's 'v' dropped."""
    v = v[1:] if v.startswith("v") else v
    v = v.split("+", 1)[0]
    core, _, pre = v.partition("-")
    major, minor, patch = (int(x) for x in core.split("."))
    if not pre:
        return (major, minor, patch, 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, ids)


SEMVER = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def key_fn(eco):
    if eco == "PyPI":
        return Version
    return semver_key


def valid(eco, v):
    if eco == "PyPI":
        try:
            Version(v)
            return True
        except InvalidVersion:
            return False
    return bool(SEMVER.match(v))


def affects(eco, v, affected):
    key = key_fn(eco)
    ok = valid(eco, v)
    for listed in affected.get("versions", []):
        if listed == v or (ok and valid(eco, listed) and key(listed) == key(v)):
            return True
    if not ok:
        return False
    kv = key(v)
    for rng in affected.get("ranges", []):
        if rng.get("type") not in ("SEMVER", "ECOSYSTEM"):
            continue
        events = rng.get("events", [])
        limits = [e["limit"] for e in events if "limit" in e]
        if limits and not any("*" in l or (valid(eco, l) and kv < key(l)) for l in limits):
            continue
        evs = []
        for e in events:
            (kind, ver), = e.items()
            if kind == "limit":
                continue
            if kind == "introduced" and ver == "0":
                evs.append((0, None, kind))
            elif valid(eco, ver):
                evs.append((1, key(ver), kind))
        evs.sort(key=lambda e: (e[0],) if e[1] is None else (e[0], e[1]))
        vulnerable = False
        for rank, k, kind in evs:
            at_or_above = k is None or kv >= k
            if kind == "introduced" and at_or_above:
                vulnerable = True
            elif kind == "fixed" and at_or_above:
                vulnerable = False
            elif kind == "last_affected" and k is not None and kv > k:
                vulnerable = False
        if vulnerable:
            return True
    return False


def norm(eco, name):
    return canonicalize_name(name) if eco == "PyPI" else name


def load(db):
    index = {}
    files = sorted(glob.glob(os.path.join(db, "*", "all.zip")))
    for path in files:
        with zipfile.ZipFile(path) as z:
            for n in z.namelist():
                if not n.endswith(".json"):
                    continue
                rec = json.loads(z.read(n))
                if "withdrawn" in rec:
                    continue
                for a in rec.get("affected", []):
                    p = a.get("package") or {}
                    eco = p.get("ecosystem", "").split(":")[0]
                    if eco in ("PyPI", "Go") and p.get("name"):
                        index.setdefault((eco, norm(eco, p["name"])), []).append((rec["id"], a))
    return index


def main():
    index = load(sys.argv[1])
    answers = []
    for q in json.load(sys.stdin):
        eco = q["ecosystem"]
        hits = index.get((eco, norm(eco, q["name"])), [])
        answers.append(sorted({rid for rid, a in hits if affects(eco, q["version"], a)}))
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
