/* Unit tests of the OSV engine (lib/vuln/osv.c, db.c, match.c): the schema's evaluation rules on
 * small records, then whole databases written to /tmp, indexed, and matched against inventories:
 * alias merging, the upgrade that fixes, name normalisation, index rebuilds and damaged files.
 * Run from the top of the tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "../../lib/vuln/osv_internal.h"

#define TMP_TEMPLATE "/tmp/rampart-osv-test-XXXXXX"
#define REAL_ZIP "../shared/data/osv/PyPI/all.zip"

/* ---- records: parsing a JSON text and keeping what the callback saw ------------------------ */

/* Test records are written with single quotes, which no test version or name holds; this turns
 * them into JSON's double quotes. The caller frees the result. */
static char *dq(const char *s)
{
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++)
        if (*p == '\'')
            *p = '"';
    return out;
}

struct affected_copy {
    enum rp_eco eco;
    char *ecosystem, *name, *severity;
    char *ranges, *versions; /* copies of the compact forms */
    size_t ranges_len, versions_len;
};

struct record_copy {
    char *id, *summary, *aliases, *modified;
    bool withdrawn;
    struct affected_copy a[8];
    size_t n;
    int stop_with; /* the callback's result (0: go on) */
};

static char *copy_str(struct rp_str s)
{
    char *p = malloc(s.len + 1);
    assert_non_null(p);
    memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    return p;
}

static int keep_affected(void *arg, const struct rp__osv_info *info,
                         const struct rp__osv_affected *a)
{
    struct record_copy *r = arg;
    if (!r->id) {
        r->id = strdup(info->id);
        r->summary = strdup(info->summary);
        r->aliases = strdup(info->aliases);
        r->modified = strdup(info->modified);
        r->withdrawn = info->withdrawn;
    }
    assert_true(r->n < sizeof(r->a) / sizeof(r->a[0]));
    struct affected_copy *c = &r->a[r->n++];
    c->eco = a->eco;
    c->ecosystem = copy_str(a->ecosystem);
    c->name = copy_str(a->name);
    c->severity = copy_str(a->severity);
    c->ranges = copy_str(a->ranges);
    c->ranges_len = a->ranges.len;
    c->versions = copy_str(a->versions);
    c->versions_len = a->versions.len;
    return r->stop_with;
}

static void record_release(struct record_copy *r)
{
    free(r->id);
    free(r->summary);
    free(r->aliases);
    free(r->modified);
    for (size_t i = 0; i < r->n; i++) {
        free(r->a[i].ecosystem);
        free(r->a[i].name);
        free(r->a[i].severity);
        free(r->a[i].ranges);
        free(r->a[i].versions);
    }
    memset(r, 0, sizeof(*r));
}

/* Parses a record (single-quoted JSON) with rp__osv_record into r; returns its result. */
static int parse_record(const char *text, struct record_copy *r, struct rp_error *err)
{
    char *json = dq(text);
    json_error_t jerr;
    json_t *rec = json_loads(json, 0, &jerr);
    if (!rec)
        fail_msg("test record does not parse: %s: %s", jerr.text, json);
    free(json);
    int stop = r->stop_with;
    memset(r, 0, sizeof(*r));
    r->stop_with = stop;
    int rc = rp__osv_record(rec, keep_affected, r, err);
    json_decref(rec);
    return rc;
}

/* The one affected package of a record that must parse. */
static void parse_ok(const char *text, struct record_copy *r)
{
    struct rp_error err = {{0}};
    int rc = parse_record(text, r, &err);
    if (rc)
        fail_msg("rp__osv_record: %s: %s", rp_strerror(rc), err.msg);
    assert_true(r->n >= 1);
}

/* ---- evaluation -------------------------------------------------------------------------- */

struct want {
    const char *v;
    bool affected;
    const char *fixed; /* NULL: no fix reported */
};

/* Evaluates version v against affected package a (in a's own ecosystem unless eco is given). */
static bool eval_in(enum rp_eco eco, const struct affected_copy *a, const char *v, char *fixed,
                    size_t cap)
{
    const char *f = (const char *)1;
    size_t flen = 12345;
    bool got = rp__osv_affects(eco, rp_str_from_cstr(v), (struct rp_str){a->ranges, a->ranges_len},
                               (struct rp_str){a->versions, a->versions_len}, &f, &flen);
    fixed[0] = '\0';
    if (f) {
        /* The fix points into the compact ranges. */
        assert_true(f >= a->ranges && f + flen <= a->ranges + a->ranges_len);
        assert_true(flen < cap);
        memcpy(fixed, f, flen);
        fixed[flen] = '\0';
    }
    /* Without a place for the fix the answer is the same. */
    bool again =
        rp__osv_affects(eco, rp_str_from_cstr(v), (struct rp_str){a->ranges, a->ranges_len},
                        (struct rp_str){a->versions, a->versions_len}, NULL, NULL);
    assert_int_equal(got, again);
    return got;
}

/* Evaluates each wanted version against the record's first affected package, in its own
 * ecosystem. */
static void expect_n(const char *record, const struct want *w, size_t n)
{
    struct record_copy r = {0};
    parse_ok(record, &r);
    enum rp_eco eco = r.a[0].eco;
    for (size_t i = 0; i < n; i++) {
        char fixed[128];
        bool got = eval_in(eco, &r.a[0], w[i].v, fixed, sizeof(fixed));
        if (got != w[i].affected)
            fail_msg("%s version '%s': affected %d, want %d", rp_eco_name(eco), w[i].v, got,
                     w[i].affected);
        const char *want_fixed = w[i].fixed ? w[i].fixed : "";
        if (strcmp(fixed, want_fixed))
            fail_msg("%s version '%s': fixed '%s', want '%s'", rp_eco_name(eco), w[i].v, fixed,
                     want_fixed);
    }
    record_release(&r);
}

#define EXPECT(record, wants) expect_n(record, wants, sizeof(wants) / sizeof(wants[0]))

/* A record of one package whose ranges (a JSON array) and versions (an array or NULL) are
 * given, single-quoted. */
static char *one_package(const char *ecosystem, const char *ranges, const char *versions)
{
    static char buf[4096];
    int n = snprintf(buf, sizeof(buf),
                     "{'id':'TEST-1','affected':[{'package':{'ecosystem':'%s','name':'pkg'},"
                     "'ranges':%s%s%s}]}",
                     ecosystem, ranges, versions ? ",'versions':" : "", versions ? versions : "");
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    return buf;
}

/* The schema's "unfixed vulnerability" example: every version is affected. */
static void test_eval_unfixed_introduced_zero(void **state)
{
    (void)state;
    const struct want w[] = {
        {"0.0.1", true, NULL},       {"1.0.0", true, NULL},  {"99.0.0", true, NULL},
        {"0.0.0-alpha", true, NULL}, {"v2.3.4", true, NULL},
    };
    EXPECT(one_package("Go", "[{'type':'SEMVER','events':[{'introduced':'0'}]}]", NULL), w);
    const struct want p[] = {{"0", true, NULL}, {"0.0.0.dev0", true, NULL}, {"2024.1", true, NULL}};
    EXPECT(one_package("PyPI", "[{'type':'ECOSYSTEM','events':[{'introduced':'0'}]}]", NULL), p);
}

/* The schema's "fixed vulnerability" example: everything before 1.0.2. */
static void test_eval_fixed(void **state)
{
    (void)state;
    const struct want w[] = {
        {"0.0.1", true, "1.0.2"}, {"1.0.1", true, "1.0.2"}, {"1.0.2-rc.1", true, "1.0.2"},
        {"1.0.2", false, NULL},   {"1.0.3", false, NULL},   {"2.0.0", false, NULL},
    };
    EXPECT(one_package("npm", "[{'type':'SEMVER','events':[{'introduced':'0'},{'fixed':'1.0.2'}]}]",
                       NULL),
           w);
}

/* The schema's "multiple range" example: [1.0.0, 1.0.2) and [3.0.0, 3.2.5), in one range's
 * events and as two ranges; the fix is the one of the interval that holds the version. */
static void test_eval_multiple_ranges(void **state)
{
    (void)state;
    const struct want w[] = {
        {"0.9.9", false, NULL},   {"1.0.0", true, "1.0.2"}, {"1.0.1", true, "1.0.2"},
        {"1.0.2", false, NULL},   {"2.5.0", false, NULL},   {"3.0.0", true, "3.2.5"},
        {"3.2.4", true, "3.2.5"}, {"3.2.5", false, NULL},   {"4.0.0", false, NULL},
    };
    EXPECT(one_package("crates.io",
                       "[{'type':'SEMVER','events':[{'introduced':'1.0.0'},{'fixed':'1.0.2'},"
                       "{'introduced':'3.0.0'},{'fixed':'3.2.5'}]}]",
                       NULL),
           w);
    EXPECT(one_package("crates.io",
                       "[{'type':'SEMVER','events':[{'introduced':'1.0.0'},{'fixed':'1.0.2'}]},"
                       "{'type':'SEMVER','events':[{'introduced':'3.0.0'},{'fixed':'3.2.5'}]}]",
                       NULL),
           w);
}

/* The schema's "last_affected vs fixed" example: last_affected 2.1.214 includes it, fixed
 * 2.1.214 does not; last_affected names no fix. */
static void test_eval_last_affected_vs_fixed(void **state)
{
    (void)state;
    const struct want last[] = {
        {"1.0", true, NULL},      {"2.1.213", true, NULL},
        {"2.1.214", true, NULL},  {"2.1.214.post1", false, NULL},
        {"2.1.215", false, NULL},
    };
    EXPECT(one_package("PyPI",
                       "[{'type':'ECOSYSTEM','events':[{'introduced':'0'},"
                       "{'last_affected':'2.1.214'}]}]",
                       NULL),
           last);
    const struct want fixed[] = {
        {"1.0", true, "2.1.214"}, {"2.1.213", true, "2.1.214"}, {"2.1.214rc1", true, "2.1.214"},
        {"2.1.214", false, NULL}, {"2.1.215", false, NULL},
    };
    EXPECT(one_package("PyPI",
                       "[{'type':'ECOSYSTEM','events':[{'introduced':'0'},{'fixed':'2.1.214'}]}]",
                       NULL),
           fixed);
}

/* Limit events: "*" is no limit; a version limit stops the range below it; with several
 * limits, being below one of them is enough. */
static void test_eval_limit_events(void **state)
{
    (void)state;
    const struct want star[] = {
        {"0.9.0", false, NULL}, {"1.0.0", true, NULL}, {"50.0.0", true, NULL}};
    EXPECT(one_package("Go", "[{'type':'SEMVER','events':[{'introduced':'1.0.0'},{'limit':'*'}]}]",
                       NULL),
           star);
    const struct want limit[] = {
        {"0.9.0", false, NULL}, {"1.0.0", true, NULL},  {"1.9.9", true, NULL},
        {"2.0.0", false, NULL}, {"3.0.0", false, NULL},
    };
    EXPECT(one_package("Go",
                       "[{'type':'SEMVER','events':[{'introduced':'1.0.0'},{'limit':'2.0.0'}]}]",
                       NULL),
           limit);
    const struct want two[] = {
        {"1.5.0", true, "4.0.0"},
        {"3.0.0", true, "4.0.0"},
        {"4.0.0", false, NULL},
        {"6.0.0", false, NULL},
    };
    EXPECT(one_package("Go",
                       "[{'type':'SEMVER','events':[{'introduced':'1.0.0'},{'limit':'2.0.0'},"
                       "{'limit':'5.0.0'},{'fixed':'4.0.0'}]}]",
                       NULL),
           two);
}

/* Events in no order are sorted first: evaluated as written, [3.0.0, 3.2.5) would be undone by
 * the fix 1.0.2 that comes after it. */
static void test_eval_unsorted_events(void **state)
{
    (void)state;
    const struct want w[] = {
        {"0.5.0", false, NULL},   {"1.0.1", true, "1.0.2"}, {"2.0.0", false, NULL},
        {"3.1.0", true, "3.2.5"}, {"3.2.5", false, NULL},
    };
    EXPECT(one_package("Go",
                       "[{'type':'SEMVER','events':[{'fixed':'3.2.5'},{'introduced':'3.0.0'},"
                       "{'fixed':'1.0.2'},{'introduced':'1.0.0'}]}]",
                       NULL),
           w);
    /* "introduced: 0" sorts first wherever it is written. */
    const struct want z[] = {{"0.1", true, "1.0"}, {"1.0", false, NULL}};
    EXPECT(one_package("PyPI",
                       "[{'type':'ECOSYSTEM','events':[{'fixed':'1.0'},{'introduced':'0'}]}]",
                       NULL),
           z);
}

/* Explicit versions: a listed version is affected even outside the ranges; equality is the
 * ecosystem's ("2.0" is "2.0.0" in PEP 440); an unlisted one is not. */
static void test_eval_explicit_versions(void **state)
{
    (void)state;
    const struct want w[] = {
        {"1.0.5", true, NULL}, {"1.0.6", false, NULL}, {"2.0", true, NULL},
        {"2.0.0", true, NULL}, {"2.0.1", false, NULL},
    };
    EXPECT(one_package("PyPI", "[]", "['1.0.5','2.0']"), w);
    /* Listed and outside the ranges: the first fix above it, if any. */
    const struct want f[] = {
        {"1.5", true, "3.0"}, {"2.5", true, "3.0"}, {"3.0", false, NULL},
        {"3.5", true, NULL},  {"0.5", false, NULL},
    };
    EXPECT(one_package("PyPI",
                       "[{'type':'ECOSYSTEM','events':[{'introduced':'2.0'},{'fixed':'3.0'}]}]",
                       "['1.5','3.5']"),
           f);
}

/* GIT ranges name commits: they are left out of the compact form and never match; the
 * explicit versions that osv.dev derives from them still do. */
static void test_eval_git_ranges_ignored(void **state)
{
    (void)state;
    struct record_copy r = {0};
    parse_ok(one_package("PyPI",
                         "[{'type':'GIT','repo':'https://example.com/r','events':[{'introduced':"
                         "'0'},{'fixed':'b42dd4badf803bb9fb71ac34cd9cb0c249262f2c'}]}]",
                         NULL),
             &r);
    assert_int_equal(r.a[0].ranges_len, 0);
    record_release(&r);
    const struct want w[] = {{"0.1", false, NULL}, {"4.1", true, NULL}, {"9.0", false, NULL}};
    EXPECT(one_package("PyPI",
                       "[{'type':'GIT','repo':'https://example.com/r','events':[{'introduced':"
                       "'0'},{'fixed':'b42dd4badf803bb9fb71ac34cd9cb0c249262f2c'}]}]",
                       "['4.0','4.1']"),
           w);
    /* Mixed: the ECOSYSTEM range counts, the GIT one does not. */
    const struct want m[] = {{"4.2", true, "4.3"}, {"4.3", false, NULL}, {"3.0", false, NULL}};
    EXPECT(one_package("PyPI",
                       "[{'type':'GIT','repo':'https://example.com/r','events':[{'introduced':"
                       "'0'}]},{'type':'ECOSYSTEM','events':[{'introduced':'4.0'},{'fixed':'4.3'}"
                       "]}]",
                       NULL),
           m);
}

/* SEMVER ranges (Go, npm, crates.io) order pre-releases before their release and ignore Go's
 * 'v'; ECOSYSTEM ranges use the ecosystem's own order (PEP 440, dpkg). */
static void test_eval_semver_and_ecosystem_types(void **state)
{
    (void)state;
    const struct want go[] = {
        {"v1.4.9", true, "1.5.0"},    {"1.5.0-rc.1", true, "1.5.0"}, {"v1.5.0", false, NULL},
        {"1.5.0+build", false, NULL}, {"1.10.0", false, NULL},
    };
    EXPECT(one_package("Go", "[{'type':'SEMVER','events':[{'introduced':'0'},{'fixed':'1.5.0'}]}]",
                       NULL),
           go);
    const struct want py[] = {
        {"1.5rc1", true, "1.5"}, {"1.5.dev0", true, "1.5"},  {"1.5", false, NULL},
        {"1.5.0", false, NULL},  {"1.5.post1", false, NULL}, {"1.10", false, NULL},
        {"1!0.1", false, NULL},
    };
    EXPECT(one_package("PyPI",
                       "[{'type':'ECOSYSTEM','events':[{'introduced':'0'},{'fixed':'1.5'}]}]",
                       NULL),
           py);
    const struct want deb[] = {
        {"2.4-1", true, "2.5-1"}, {"2.5~rc1-1", true, "2.5-1"},   {"2.5-1", false, NULL},
        {"1:1.0-1", false, NULL}, {"2.5-1+deb12u1", false, NULL},
    };
    EXPECT(one_package("Debian:12",
                       "[{'type':'ECOSYSTEM','events':[{'introduced':'0'},{'fixed':'2.5-1'}]}]",
                       NULL),
           deb);
}

/* A version that is not a valid PEP 440 version is matched on the explicit list only: the
 * ranges cannot order it. */
static void test_eval_invalid_version_only_explicit_list(void **state)
{
    (void)state;
    const struct want w[] = {
        {"1.0-foo", true, NULL},
        {"2.0-bar", false, NULL},
        {"1.0", true, "2.0"},
    };
    EXPECT(one_package("PyPI",
                       "[{'type':'ECOSYSTEM','events':[{'introduced':'0'},{'fixed':'2.0'}]}]",
                       "['1.0-foo']"),
           w);
}

/* rp__osv_fixed_events hands out every fixed event of every SEMVER or ECOSYSTEM range. */
struct fixed_list {
    char v[8][32];
    size_t n;
};

static void keep_fixed(void *arg, struct rp_str v)
{
    struct fixed_list *l = arg;
    assert_true(l->n < 8 && v.len < 32);
    memcpy(l->v[l->n], v.ptr, v.len);
    l->v[l->n++][v.len] = '\0';
}

static void test_fixed_events_listed(void **state)
{
    (void)state;
    struct record_copy r = {0};
    parse_ok(one_package("Go",
                         "[{'type':'SEMVER','events':[{'introduced':'1.0.0'},{'fixed':'1.0.2'},"
                         "{'introduced':'3.0.0'},{'fixed':'3.2.5'}]},{'type':'GIT','repo':'x',"
                         "'events':[{'introduced':'0'},{'fixed':'abcdef'}]},{'type':'SEMVER',"
                         "'events':[{'introduced':'5.0.0'},{'last_affected':'5.1.0'}]},{'type':"
                         "'ECOSYSTEM','events':[{'introduced':'0'},{'fixed':'9.0.0'}]}]",
                         NULL),
             &r);
    struct fixed_list l = {.n = 0};
    rp__osv_fixed_events((struct rp_str){r.a[0].ranges, r.a[0].ranges_len}, keep_fixed, &l);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0], "1.0.2");
    assert_string_equal(l.v[1], "3.2.5");
    assert_string_equal(l.v[2], "9.0.0");
    record_release(&r);
}

/* ---- records ------------------------------------------------------------------------------ */

/* The compact form is what osv_internal.h describes: GIT ranges left out; each range's events
 * sorted ("introduced: 0" first, by version, limits last, ties as written), those the ecosystem
 * cannot read left out; the explicit versions it can read sorted, then RP__UNORDERED and the
 * others as written. */
static void test_record_compact_form(void **state)
{
    (void)state;
    struct record_copy r = {0};
    parse_ok(
        one_package("PyPI",
                    "[{'type':'ECOSYSTEM','events':[{'limit':'*'},{'fixed':'1.0'},{'introduced'"
                    ":'not a version'},{'introduced':'0'}]},"
                    "{'type':'GIT','repo':'x','events':[{'introduced':'0'}]},"
                    "{'type':'SEMVER','events':[{'last_affected':'2.1.0'},{'introduced':'2.0.0'"
                    "},{'fixed':'2.1'},{'introduced':'2.1.0'}]}]",
                    "['1.0rc1','x y','0.9','1.0-foo']"),
        &r);
    static const char ranges[] = "Ei0\x1f"
                                 "f1.0\x1fm*\x1f\x1e"
                                 "Si2.0.0\x1fl2.1.0\x1f"
                                 "f2.1\x1fi2.1.0\x1f\x1e";
    assert_int_equal(r.a[0].ranges_len, sizeof(ranges) - 1);
    assert_memory_equal(r.a[0].ranges, ranges, sizeof(ranges) - 1);
    static const char versions[] = "0.9\x1f"
                                   "1.0rc1\x1f\x1dx y\x1f"
                                   "1.0-foo\x1f";
    assert_int_equal(r.a[0].versions_len, sizeof(versions) - 1);
    assert_memory_equal(r.a[0].versions, versions, sizeof(versions) - 1);
    assert_int_equal(r.a[0].eco, RP_ECO_PYPI);
    assert_string_equal(r.a[0].ecosystem, "PyPI");
    assert_string_equal(r.a[0].name, "pkg");
    record_release(&r);
}

/* A long explicit list (searched by halves once sorted) finds every version it holds, equal in
 * the ecosystem's order, and none between them. */
static void test_eval_long_versions_list(void **state)
{
    (void)state;
    char versions[8192] = "[", record[10000];
    size_t len = 1;
    /* Written in no order: 1.0.299 down to 1.0.0, even patches only. */
    for (int i = 298; i >= 0; i -= 2)
        len += (size_t)snprintf(versions + len, sizeof(versions) - len, "%s'1.0.%d'",
                                len > 1 ? "," : "", i);
    snprintf(versions + len, sizeof(versions) - len, "]");
    snprintf(record, sizeof(record), "%s", one_package("PyPI", "[]", versions));
    struct record_copy r = {0};
    parse_ok(record, &r);
    for (int i = 0; i < 300; i++) {
        char v[32], fixed[64];
        snprintf(v, sizeof(v), "1.0.%d", i);
        if (eval_in(RP_ECO_PYPI, &r.a[0], v, fixed, sizeof(fixed)) != (i % 2 == 0))
            fail_msg("version '%s'", v);
        snprintf(v, sizeof(v), "1.0.%d.0", i);
        if (eval_in(RP_ECO_PYPI, &r.a[0], v, fixed, sizeof(fixed)) != (i % 2 == 0))
            fail_msg("version '%s'", v);
    }
    char fixed[64];
    assert_false(eval_in(RP_ECO_PYPI, &r.a[0], "0.9", fixed, sizeof(fixed)));
    assert_false(eval_in(RP_ECO_PYPI, &r.a[0], "1.0.300", fixed, sizeof(fixed)));
    assert_false(eval_in(RP_ECO_PYPI, &r.a[0], "1.0.0rc1", fixed, sizeof(fixed)));
    record_release(&r);
}

/* What a record says about itself: aliases without its own id, a summary from the first line of
 * the details when it has none (cut with "..." at a character boundary), severity of the
 * package before the record's, CVSS v4 before v3, and Debian's release kept in the ecosystem. */
static void test_record_info(void **state)
{
    (void)state;
    struct record_copy r = {0};
    parse_ok(
        "{'id':'GHSA-aaaa-bbbb-cccc','modified':'2024-01-02T00:00:00Z','aliases':["
        "'CVE-2024-1','GHSA-aaaa-bbbb-cccc','PYSEC-2024-9'],'summary':'One line',"
        "'severity':[{'type':'CVSS_V3','score':'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'}],"
        "'affected':[{'package':{'ecosystem':'PyPI','name':'a'}},"
        "{'package':{'ecosystem':'Debian:12','name':'b'},'severity':[{'type':'CVSS_V3',"
        "'score':'CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N'},{'type':'CVSS_V4','score':"
        "'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N'}]}]}",
        &r);
    assert_string_equal(r.id, "GHSA-aaaa-bbbb-cccc");
    assert_string_equal(r.aliases, "CVE-2024-1\x1fPYSEC-2024-9\x1f");
    assert_string_equal(r.summary, "One line");
    assert_string_equal(r.modified, "2024-01-02T00:00:00Z");
    assert_false(r.withdrawn);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.a[0].severity, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
    assert_string_equal(r.a[1].severity,
                        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N");
    assert_int_equal(r.a[1].eco, RP_ECO_DEBIAN);
    assert_string_equal(r.a[1].ecosystem, "Debian:12");
    record_release(&r);

    parse_ok("{'id':'X-1','details':'First line.\\nSecond line.','affected':[{'package':{"
             "'ecosystem':'npm','name':'a'}}]}",
             &r);
    assert_string_equal(r.summary, "First line.");
    assert_string_equal(r.aliases, "");
    assert_string_equal(r.modified, "");
    assert_string_equal(r.a[0].severity, "");
    record_release(&r);

    /* 159 ASCII bytes then a two-byte character across the 160-byte cut. */
    char text[512], details[300];
    memset(details, 'x', 159);
    memcpy(details + 159, "\xc3\xa9tail", 7);
    snprintf(text, sizeof(text),
             "{'id':'X-2','details':'%s','affected':[{'package':{'ecosystem':'npm','name':"
             "'a'}}]}",
             details);
    parse_ok(text, &r);
    assert_int_equal(strlen(r.summary), 159 + 3);
    assert_memory_equal(r.summary, details, 159);
    assert_string_equal(r.summary + 159, "...");
    record_release(&r);
}

static void test_record_withdrawn_flagged(void **state)
{
    (void)state;
    struct record_copy r = {0};
    parse_ok("{'id':'X-3','withdrawn':'2024-05-01T00:00:00Z','affected':[{'package':{"
             "'ecosystem':'Go','name':'m'},'ranges':[{'type':'SEMVER','events':[{'introduced':"
             "'0'}]}]}]}",
             &r);
    assert_true(r.withdrawn);
    record_release(&r);
}

/* Records rp__osv_record refuses, and entries it passes over without an error. */
static void test_record_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[]",
        "{'affected':[]}",
        "{'id':'','affected':[]}",
        "{'id':'X\\u0001','affected':[]}",
        "{'id':'X','affected':{}}",
        "{'id':'X','aliases':'CVE-1'}",
        "{'id':'X','affected':[1]}",
        "{'id':'X','affected':[{'package':{'ecosystem':'Go','name':'m'},'ranges':{}}]}",
        "{'id':'X','affected':[{'package':{'ecosystem':'Go','name':'m'},'ranges':[{'events':[]}]}]"
        "}",
        "{'id':'X','affected':[{'package':{'ecosystem':'Go','name':'m'},'ranges':[{'type':"
        "'SEMVER','events':[{'introduced':'0','fixed':'1.0.0'}]}]}]}",
        "{'id':'X','affected':[{'package':{'ecosystem':'Go','name':'m'},'ranges':[{'type':"
        "'SEMVER','events':[{'introduced':''}]}]}]}",
        "{'id':'X','affected':[{'package':{'ecosystem':'Go','name':'m'},'ranges':[{'type':"
        "'SEMVER','events':[{'fixed':1}]}]}]}",
        "{'id':'X','affected':[{'package':{'ecosystem':'Go','name':'m'},'ranges':[{'type':"
        "'SEMVER','events':[{'broken':'1.0.0'}]}]}]}",
        /* The separators of the compact form inside a version. */
        "{'id':'X','affected':[{'package':{'ecosystem':'Go','name':'m'},'ranges':[{'type':"
        "'SEMVER','events':[{'introduced':'1\\u001f0'}]}]}]}",
        "{'id':'X','affected':[{'package':{'ecosystem':'Go','name':'m'},'versions':['1\\u001e']}]}",
        "{'id':'X','affected':[{'package':{'ecosystem':'Go','name':'m'},'versions':[1]}]}",
        "{'id':'X','affected':[{'package':{'ecosystem':'Go','name':'m'},'versions':'1.0.0'}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct record_copy r = {0};
        struct rp_error err = {{0}};
        int rc = parse_record(bad[i], &r, &err);
        if (rc != RP_EINVAL)
            fail_msg("record %zu: %s, want invalid input", i, rp_strerror(rc));
        assert_true(err.msg[0] != '\0');
        record_release(&r);
    }
    /* Entries without a package name are passed over (GIT-only entries); a record without
     * affected packages is valid and calls nothing. */
    struct record_copy r = {0};
    struct rp_error err = {{0}};
    assert_int_equal(parse_record("{'id':'X','affected':[{'ranges':[{'type':'GIT','repo':'x',"
                                  "'events':[{'introduced':'0'}]}]},{'package':{'ecosystem':"
                                  "'Go','name':''}},{'package':{'ecosystem':'Go','name':'m'}}]}",
                                  &r, &err),
                     RP_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.a[0].name, "m");
    record_release(&r);
    assert_int_equal(parse_record("{'id':'X'}", &r, &err), RP_OK);
    assert_int_equal(r.n, 0);
    record_release(&r);
}

/* A non-zero result of the callback stops the walk and is returned. */
static void test_record_callback_result_returned(void **state)
{
    (void)state;
    struct record_copy r = {.stop_with = 42};
    struct rp_error err = {{0}};
    assert_int_equal(parse_record("{'id':'X','affected':[{'package':{'ecosystem':'Go','name':"
                                  "'a'}},{'package':{'ecosystem':'Go','name':'b'}}]}",
                                  &r, &err),
                     42);
    assert_int_equal(r.n, 1);
    record_release(&r);
}

/* PEP 503 names for PyPI, lowercase with '-' for crates.io, as written elsewhere; a name that
 * does not fit is refused. */
static void test_name_key(void **state)
{
    (void)state;
    static const struct {
        enum rp_eco eco;
        const char *name, *key;
    } cases[] = {
        {RP_ECO_PYPI, "Jinja2", "jinja2"},
        {RP_ECO_PYPI, "zope.interface", "zope-interface"},
        {RP_ECO_PYPI, "Zope_Interface", "zope-interface"},
        {RP_ECO_PYPI, "a-_.b", "a-b"},
        {RP_ECO_CRATES, "Foo_Bar", "foo-bar"},
        {RP_ECO_CRATES, "a.b", "a.b"},
        {RP_ECO_GO, "github.com/Foo/Bar_baz", "github.com/Foo/Bar_baz"},
        {RP_ECO_NPM, "@Scope/Name", "@Scope/Name"},
    };
    char key[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_true(
            rp__vuln_name_key(cases[i].eco, rp_str_from_cstr(cases[i].name), key, sizeof(key)));
        assert_string_equal(key, cases[i].key);
    }
    assert_true(rp__vuln_name_key(RP_ECO_GO, RP_STR("abc"), key, 4));
    assert_false(rp__vuln_name_key(RP_ECO_GO, RP_STR("abcd"), key, 4));
}

/* ---- databases --------------------------------------------------------------------------- */

struct dbdir {
    char top[sizeof(TMP_TEMPLATE)];
    char db[sizeof(TMP_TEMPLATE) + 8];     /* <top>/db: the database folder */
    char index[sizeof(TMP_TEMPLATE) + 16]; /* <top>/index.db, outside it */
};

/* The temporary folder of the running test, removed by its teardown when a failed assertion
 * left before dbdir_release. */
static char pending_top[sizeof(TMP_TEMPLATE)];

static void dbdir_init(struct dbdir *d)
{
    snprintf(d->top, sizeof(d->top), "%s", TMP_TEMPLATE);
    assert_non_null(mkdtemp(d->top));
    memcpy(pending_top, d->top, sizeof(pending_top));
    snprintf(d->db, sizeof(d->db), "%s/db", d->top);
    snprintf(d->index, sizeof(d->index), "%s/index.db", d->top);
    assert_int_equal(mkdir(d->db, 0700), 0);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void dbdir_release(struct dbdir *d)
{
    pending_top[0] = '\0';
    assert_int_equal(nftw(d->top, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static int remove_pending(void **state)
{
    (void)state;
    if (pending_top[0])
        nftw(pending_top, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    pending_top[0] = '\0';
    return 0;
}

/* Writes bytes to <db>/<rel>, making its folders. */
static void put_bytes(const struct dbdir *d, const char *rel, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", d->db, rel);
    for (char *p = path + strlen(d->db) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
        *p = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Writes a record (single-quoted JSON) to <db>/<rel>. */
static void put(const struct dbdir *d, const char *rel, const char *record)
{
    char *json = dq(record);
    put_bytes(d, rel, json, strlen(json));
    free(json);
}

/* Writes <db>/<id>.json: a record of one package with one range of the given events
 * (single-quoted JSON objects) and aliases (quoted, comma-separated, may be empty). */
static void put_record(const struct dbdir *d, const char *id, const char *aliases,
                       const char *ecosystem, const char *name, const char *events)
{
    char text[2048], rel[128];
    const char *type = !strcmp(ecosystem, "Go") ? "SEMVER" : "ECOSYSTEM";
    int n = snprintf(text, sizeof(text),
                     "{'id':'%s','aliases':[%s],'summary':'summary of %s','affected':[{'package':"
                     "{'ecosystem':'%s','name':'%s'},'ranges':[{'type':'%s','events':[%s]}]}]}",
                     id, aliases, id, ecosystem, name, type, events);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    snprintf(rel, sizeof(rel), "%s.json", id);
    put(d, rel, text);
}

static int open_db(const struct dbdir *d, bool rebuild, struct rp_vuln_db **db,
                   struct rp_error *err)
{
    struct rp_vuln_db_options opt = {.index = d->index, .rebuild = rebuild};
    memset(err, 0, sizeof(*err));
    return rp_vuln_db_open(d->db, &opt, db, err);
}

static struct rp_vuln_db *open_ok(const struct dbdir *d)
{
    struct rp_vuln_db *db = NULL;
    struct rp_error err;
    int rc = open_db(d, false, &db, &err);
    if (rc)
        fail_msg("rp_vuln_db_open: %s: %s", rp_strerror(rc), err.msg);
    assert_non_null(db);
    return db;
}

/* Adds a pinned package to an inventory built by hand. */
static void inv_add(struct rp_inventory *inv, enum rp_eco eco, const char *name,
                    const char *version)
{
    struct rp_pkg *np = realloc(inv->pkgs, (inv->n + 1) * sizeof(*np));
    assert_non_null(np);
    inv->pkgs = np;
    inv->alloc = inv->n + 1;
    struct rp_pkg *p = &inv->pkgs[inv->n++];
    memset(p, 0, sizeof(*p));
    p->eco = eco;
    p->name = strdup(name);
    p->version = version ? strdup(version) : NULL;
    p->unpinned = version == NULL;
    p->line = (unsigned)inv->n;
    assert_non_null(p->name);
}

static void match_ok(struct rp_vuln_db *db, const struct rp_inventory *inv,
                     struct rp_vuln_report *rep)
{
    struct rp_error err = {{0}};
    int rc = rp_vuln_match(db, inv, rep, &err);
    if (rc)
        fail_msg("rp_vuln_match: %s: %s", rp_strerror(rc), err.msg);
}

/* The result of package pkg, or NULL when nothing affects it. */
static const struct rp_vuln_result *result_of(const struct rp_vuln_report *rep, size_t pkg)
{
    for (size_t i = 0; i < rep->n; i++)
        if (rep->results[i].pkg == pkg)
            return &rep->results[i];
    return NULL;
}

static const struct rp_vuln_advisory *advisory(const struct rp_vuln_result *r, const char *id)
{
    for (size_t i = 0; i < r->nadv; i++)
        if (!strcmp(r->adv[i].id, id))
            return &r->adv[i];
    fail_msg("no advisory '%s'", id);
    return NULL;
}

static void test_db_empty_folder_not_found(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    struct rp_vuln_db *db = (struct rp_vuln_db *)1;
    struct rp_error err;
    assert_int_equal(open_db(&d, false, &db, &err), RP_ENOTFOUND);
    assert_null(db);
    assert_non_null(strstr(err.msg, d.db));
    /* Files that are not records do not count. */
    put_bytes(&d, "README.md", "x", 1);
    put_bytes(&d, "PyPI/other.zip", "x", 1);
    assert_int_equal(open_db(&d, false, &db, &err), RP_ENOTFOUND);
    /* A path that does not exist. */
    struct rp_vuln_db_options opt = {.index = d.index};
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/nope", d.top);
    assert_int_equal(rp_vuln_db_open(missing, &opt, &db, &err), RP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope"));
    dbdir_release(&d);
}

/* Writes <db>/<eco>/all.zip holding the given entries (name, single-quoted JSON) uncompressed;
 * returns the zip's size. */
static size_t put_zip(const struct dbdir *d, const char *eco, const char *const *entries, size_t n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", d->db, eco);
    assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
    snprintf(path, sizeof(path), "%s/%s/all.zip", d->db, eco);
    int code = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &code);
    assert_non_null(z);
    for (size_t i = 0; i < n; i++) {
        char *json = dq(entries[2 * i + 1]);
        zip_source_t *src = zip_source_buffer(z, json, strlen(json), 1);
        assert_non_null(src);
        zip_int64_t idx = zip_file_add(z, entries[2 * i], src, ZIP_FL_OVERWRITE);
        assert_true(idx >= 0);
        assert_int_equal(zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0), 0);
    }
    assert_int_equal(zip_close(z), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (size_t)st.st_size;
}

static const char *const zip_entries[] = {
    "PYSEC-2024-1.json",
    "{'id':'PYSEC-2024-1','affected':[{'package':{'ecosystem':'PyPI','name':'Flask'},'ranges':"
    "[{'type':'ECOSYSTEM','events':[{'introduced':'0'},{'fixed':'2.2.5'}]}]}]}",
    "PYSEC-2024-2.json",
    "{'id':'PYSEC-2024-2','affected':[{'package':{'ecosystem':'PyPI','name':'requests'},"
    "'ranges':[{'type':'ECOSYSTEM','events':[{'introduced':'2.0'},{'fixed':'2.31.0'}]}]}]}",
};

/* osv.dev's layout: <Ecosystem>/all.zip is read entry by entry. */
static void test_db_zip_read(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put_zip(&d, "PyPI", zip_entries, 2);
    struct rp_vuln_db *db = open_ok(&d);
    const struct rp_vuln_db_info *info = rp_vuln_db_info(db);
    assert_int_equal(info->files, 1);
    assert_int_equal(info->records, 2);
    assert_int_equal(info->packages, 2);
    assert_int_equal(info->skipped, 0);
    assert_true(info->built);
    assert_string_equal(info->index, d.index);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    inv_add(&inv, RP_ECO_PYPI, "flask", "2.2.4");
    inv_add(&inv, RP_ECO_PYPI, "requests", "2.31.0");
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 1);
    assert_int_equal(rep.results[0].pkg, 0);
    assert_string_equal(rep.results[0].adv[0].id, "PYSEC-2024-1");
    assert_string_equal(rep.results[0].fix, "2.2.5");
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

/* A zip cut short is refused with RP_EINVAL and the file's name. */
static void test_db_truncated_zip_einval_names_file(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    char path[512];
    snprintf(path, sizeof(path), "%s/PyPI/all.zip", d.db);
    struct rp_vuln_db *db = NULL;
    struct rp_error err;
    size_t size = put_zip(&d, "PyPI", zip_entries, 2);
    const size_t cuts[] = {100, size - 10, size / 2};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        put_zip(&d, "PyPI", zip_entries, 2);
        assert_int_equal(truncate(path, (off_t)cuts[i]), 0);
        int rc = open_db(&d, false, &db, &err);
        if (rc != RP_EINVAL)
            fail_msg("zip cut at %zu: %s (%s), want invalid input", cuts[i], rp_strerror(rc),
                     err.msg);
        assert_null(db);
        assert_non_null(strstr(err.msg, "all.zip"));
    }
    /* The start of the real PyPI database, when it is there. */
    FILE *f = fopen(REAL_ZIP, "rb");
    if (f) {
        char head[100];
        assert_int_equal(fread(head, 1, sizeof(head), f), sizeof(head));
        fclose(f);
        put_bytes(&d, "PyPI/all.zip", head, sizeof(head));
        assert_int_equal(open_db(&d, false, &db, &err), RP_EINVAL);
        assert_non_null(strstr(err.msg, "all.zip"));
    }
    dbdir_release(&d);
}

/* Regression: an entry whose bytes were damaged (its CRC no longer matches) was indexed as if
 * whole, libzip checking the CRC only when a read goes past the entry's end. */
static void test_db_damaged_zip_entry_einval(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    char path[512];
    snprintf(path, sizeof(path), "%s/PyPI/all.zip", d.db);
    struct rp_vuln_db *db = NULL;
    struct rp_error err;
    put_zip(&d, "PyPI", zip_entries, 2);
    char *bytes = NULL;
    size_t len = 0;
    assert_int_equal(rp_file_read(path, 1 << 20, &bytes, &len, &err), RP_OK);
    char *at = memmem(bytes, len, "Flask", 5);
    assert_non_null(at);
    at[0] = 'G';
    put_bytes(&d, "PyPI/all.zip", bytes, len);
    free(bytes);
    assert_int_equal(open_db(&d, false, &db, &err), RP_EINVAL);
    assert_non_null(strstr(err.msg, "all.zip"));
    assert_non_null(strstr(err.msg, "PYSEC-2024-1.json"));
    assert_null(db);
    dbdir_release(&d);
}

/* A malformed record is skipped and counted, the first named in first_skip; the others are
 * indexed. Only malformed records: nothing to match, RP_ENOTFOUND. */
static void test_db_malformed_record_skipped_and_counted(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put_bytes(&d, "a-broken.json", "{\"id\": \"X-1\", ", 14);
    struct rp_vuln_db *db = NULL;
    struct rp_error err;
    assert_int_equal(open_db(&d, false, &db, &err), RP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "a-broken.json"));
    put(&d, "b-no-id.json", "{'affected':[]}");
    put_record(&d, "PYSEC-2024-3", "", "PyPI", "lxml", "{'introduced':'0'},{'fixed':'5.0'}");
    /* Zip entries are named too. */
    const char *const entries[] = {"GO-2024-1.json", "{'id':'GO-2024-1','affected':{}}"};
    put_zip(&d, "Go", entries, 1);
    db = open_ok(&d);
    const struct rp_vuln_db_info *info = rp_vuln_db_info(db);
    assert_int_equal(info->files, 4);
    assert_int_equal(info->records, 1);
    assert_int_equal(info->skipped, 3);
    /* Files are read in path order: <db>/Go/all.zip first. */
    assert_non_null(strstr(info->first_skip, "all.zip"));
    assert_non_null(strstr(info->first_skip, "GO-2024-1.json"));
    rp_vuln_db_close(db);
    dbdir_release(&d);

    dbdir_init(&d);
    put_bytes(&d, "broken.json", "[1,", 3);
    put_record(&d, "PYSEC-2024-3", "", "PyPI", "lxml", "{'introduced':'0'},{'fixed':'5.0'}");
    db = open_ok(&d);
    info = rp_vuln_db_info(db);
    assert_int_equal(info->skipped, 1);
    assert_non_null(strstr(info->first_skip, "broken.json"));
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

/* Regression: a record whose second package is malformed was counted as skipped with its first
 * package indexed; it is left out whole (a skipped record matches nothing). */
static void test_db_malformed_record_not_half_indexed(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put(&d, "PYSEC-2024-4.json",
        "{'id':'PYSEC-2024-4','affected':[{'package':{'ecosystem':'PyPI','name':'lxml'},"
        "'ranges':[{'type':'ECOSYSTEM','events':[{'introduced':'0'}]}]},{'package':{"
        "'ecosystem':'PyPI','name':'other'},'ranges':[{'type':'ECOSYSTEM','events':[{"
        "'introduced':'0','fixed':'1'}]}]}]}");
    put_record(&d, "PYSEC-2024-5", "", "PyPI", "unrelated", "{'introduced':'0'}");
    struct rp_vuln_db *db = open_ok(&d);
    const struct rp_vuln_db_info *info = rp_vuln_db_info(db);
    assert_int_equal(info->records, 1);
    assert_int_equal(info->skipped, 1);
    assert_int_equal(info->packages, 1);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    inv_add(&inv, RP_ECO_PYPI, "lxml", "4.0");
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 0);
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

/* Withdrawn records are counted and left out of matching. */
static void test_db_withdrawn_record_left_out(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put(&d, "GHSA-wwww-wwww-wwww.json",
        "{'id':'GHSA-wwww-wwww-wwww','withdrawn':'2024-02-01T00:00:00Z','affected':[{'package':"
        "{'ecosystem':'PyPI','name':'lxml'},'ranges':[{'type':'ECOSYSTEM','events':[{"
        "'introduced':'0'}]}]}]}");
    put_record(&d, "PYSEC-2024-6", "", "PyPI", "lxml", "{'introduced':'0'},{'fixed':'4.0'}");
    struct rp_vuln_db *db = open_ok(&d);
    const struct rp_vuln_db_info *info = rp_vuln_db_info(db);
    assert_int_equal(info->records, 1);
    assert_int_equal(info->withdrawn, 1);
    assert_int_equal(info->packages, 1);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    inv_add(&inv, RP_ECO_PYPI, "lxml", "3.0");
    inv_add(&inv, RP_ECO_PYPI, "lxml", "5.0");
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 1);
    assert_int_equal(rep.results[0].nadv, 1);
    assert_string_equal(rep.results[0].adv[0].id, "PYSEC-2024-6");
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

static bool reopen_built(const struct dbdir *d, size_t *records)
{
    struct rp_vuln_db *db = open_ok(d);
    bool built = rp_vuln_db_info(db)->built;
    *records = rp_vuln_db_info(db)->records;
    rp_vuln_db_close(db);
    return built;
}

/* The index is built once and reused while no file of the database changes; a file's new
 * modification time or size, a new file, a removed file and --rebuild build it again. */
static void test_db_index_rebuilt_when_a_file_changes(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put_record(&d, "PYSEC-2024-7", "", "PyPI", "lxml", "{'introduced':'0'},{'fixed':'4.0'}");
    size_t records;
    assert_true(reopen_built(&d, &records));
    assert_int_equal(records, 1);
    assert_false(reopen_built(&d, &records));
    assert_int_equal(records, 1);
    assert_int_equal(access(d.index, R_OK), 0);

    /* The same bytes, an older modification time. */
    char path[512];
    snprintf(path, sizeof(path), "%s/PYSEC-2024-7.json", d.db);
    const struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    assert_true(reopen_built(&d, &records));
    assert_false(reopen_built(&d, &records));

    /* Another size, the same modification time: the fix moves, and the index says so. */
    put_record(&d, "PYSEC-2024-7", "", "PyPI", "lxml", "{'introduced':'0'},{'fixed':'4.0.1'}");
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    assert_true(reopen_built(&d, &records));
    struct rp_vuln_db *db = open_ok(&d);
    assert_false(rp_vuln_db_info(db)->built);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    inv_add(&inv, RP_ECO_PYPI, "lxml", "3.0");
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 1);
    assert_string_equal(rep.results[0].fix, "4.0.1");
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);

    /* A new file, then a removed one. */
    put_record(&d, "PYSEC-2024-8", "", "PyPI", "lxml", "{'introduced':'0'}");
    assert_true(reopen_built(&d, &records));
    assert_int_equal(records, 2);
    assert_false(reopen_built(&d, &records));
    assert_int_equal(records, 2);
    snprintf(path, sizeof(path), "%s/PYSEC-2024-8.json", d.db);
    assert_int_equal(unlink(path), 0);
    assert_true(reopen_built(&d, &records));
    assert_int_equal(records, 1);

    /* Asked to. */
    struct rp_error err;
    assert_int_equal(open_db(&d, true, &db, &err), RP_OK);
    assert_true(rp_vuln_db_info(db)->built);
    rp_vuln_db_close(db);
    assert_false(reopen_built(&d, &records));
    dbdir_release(&d);
}

/* Regression: an open that reused the index said nothing of withdrawn and skipped records, and
 * a database of withdrawn records only opened once, then was "no advisories". What an open
 * says about its database is the same whether it built the index or reused it. */
static void test_db_info_same_when_index_reused(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put_record(&d, "PYSEC-2024-9", "", "PyPI", "lxml", "{'introduced':'0'}");
    put(&d, "GHSA-wwww-wwww-wwww.json",
        "{'id':'GHSA-wwww-wwww-wwww','withdrawn':'2024-02-01T00:00:00Z','affected':[]}");
    put_bytes(&d, "broken.json", "{", 1);
    struct rp_vuln_db_info first, again;
    struct rp_vuln_db *db = open_ok(&d);
    first = *rp_vuln_db_info(db);
    rp_vuln_db_close(db);
    db = open_ok(&d);
    again = *rp_vuln_db_info(db);
    rp_vuln_db_close(db);
    assert_true(first.built);
    assert_false(again.built);
    assert_int_equal(again.files, first.files);
    assert_int_equal(again.records, first.records);
    assert_int_equal(again.packages, first.packages);
    assert_int_equal(again.withdrawn, first.withdrawn);
    assert_int_equal(again.skipped, first.skipped);
    assert_string_equal(again.first_skip, first.first_skip);
    dbdir_release(&d);

    /* Only withdrawn records: the database opens every time, not only the first. */
    dbdir_init(&d);
    put(&d, "GHSA-wwww-wwww-wwww.json",
        "{'id':'GHSA-wwww-wwww-wwww','withdrawn':'2024-02-01T00:00:00Z','affected':[]}");
    struct rp_error err;
    for (int i = 0; i < 2; i++) {
        int rc = open_db(&d, false, &db, &err);
        if (rc)
            fail_msg("open %d: %s: %s", i, rp_strerror(rc), err.msg);
        assert_int_equal(rp_vuln_db_info(db)->withdrawn, 1);
        rp_vuln_db_close(db);
    }
    dbdir_release(&d);
}

/* One .json file or one zip may be the whole database. */
static void test_db_single_file(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put_record(&d, "PYSEC-2024-10", "", "PyPI", "lxml", "{'introduced':'0'}");
    char path[512];
    snprintf(path, sizeof(path), "%s/PYSEC-2024-10.json", d.db);
    struct rp_vuln_db_options opt = {.index = d.index};
    struct rp_vuln_db *db = NULL;
    struct rp_error err;
    assert_int_equal(rp_vuln_db_open(path, &opt, &db, &err), RP_OK);
    assert_int_equal(rp_vuln_db_info(db)->records, 1);
    rp_vuln_db_close(db);
    put_zip(&d, "PyPI", zip_entries, 2);
    snprintf(path, sizeof(path), "%s/PyPI/all.zip", d.db);
    assert_int_equal(rp_vuln_db_open(path, &opt, &db, &err), RP_OK);
    assert_int_equal(rp_vuln_db_info(db)->records, 2);
    rp_vuln_db_close(db);
    /* Another kind of file is no database. */
    put_bytes(&d, "notes.txt", "x", 1);
    snprintf(path, sizeof(path), "%s/notes.txt", d.db);
    assert_int_equal(rp_vuln_db_open(path, &opt, &db, &err), RP_ENOTFOUND);
    dbdir_release(&d);
}

/* ---- matching ---------------------------------------------------------------------------- */

#define CVSS_CRITICAL "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"

/* Records that share an alias are one advisory, named by the ecosystem database's own id (not
 * the CVE's or GHSA's), with every other id among its aliases; the most severe vector of them
 * is its severity. */
static void test_match_aliases_merged_once(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put(&d, "GHSA-aaaa-bbbb-cccc.json",
        "{'id':'GHSA-aaaa-bbbb-cccc','aliases':['CVE-2024-100'],'summary':'from GHSA',"
        "'severity':[{'type':'CVSS_V3','score':'" CVSS_CRITICAL "'}],"
        "'affected':[{'package':{'ecosystem':'PyPI','name':'lxml'},'ranges':[{'type':"
        "'ECOSYSTEM','events':[{'introduced':'0'},{'fixed':'4.1'}]}]}]}");
    put_record(&d, "PYSEC-2024-11", "'CVE-2024-100'", "PyPI", "lxml",
               "{'introduced':'0'},{'fixed':'4.2'}");
    put_record(&d, "CVE-2024-100", "", "PyPI", "lxml", "{'introduced':'0'},{'fixed':'4.0'}");
    /* Another flaw of the same package. */
    put_record(&d, "PYSEC-2024-12", "'CVE-2024-200'", "PyPI", "lxml",
               "{'introduced':'0'},{'fixed':'4.2'}");
    struct rp_vuln_db *db = open_ok(&d);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    inv_add(&inv, RP_ECO_PYPI, "lxml", "3.9");
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 1);
    const struct rp_vuln_result *r = &rep.results[0];
    assert_int_equal(r->nadv, 2);
    assert_int_equal(rep.advisories, 2);
    const struct rp_vuln_advisory *a = advisory(r, "PYSEC-2024-11");
    assert_int_equal(a->naliases, 2);
    assert_string_equal(a->aliases[0], "CVE-2024-100");
    assert_string_equal(a->aliases[1], "GHSA-aaaa-bbbb-cccc");
    /* Fixed for every record of the flaw: the latest of their fixes. */
    assert_string_equal(a->fixed, "4.2");
    assert_non_null(a->severity);
    assert_string_equal(a->severity, CVSS_CRITICAL);
    assert_true(fabs(a->score - 9.8) < 0.01);
    assert_true(fabs(r->max_score - 9.8) < 0.01);
    /* The most severe advisory first. */
    assert_string_equal(r->adv[0].id, "PYSEC-2024-11");
    const struct rp_vuln_advisory *b = advisory(r, "PYSEC-2024-12");
    assert_int_equal(b->naliases, 1);
    assert_string_equal(b->aliases[0], "CVE-2024-200");
    assert_null(b->severity);
    assert_true(b->score < 0);
    assert_string_equal(r->fix, "4.2");
    assert_true(r->fix_clean);
    assert_int_equal(r->fix_removes, 2);
    rp_vuln_report_release(&rep);

    /* At 4.1 only the PYSEC and CVE records' ranges still hold it: still one advisory. */
    free(inv.pkgs[0].version);
    inv.pkgs[0].version = strdup("4.1");
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 1);
    assert_int_equal(rep.results[0].nadv, 2);
    a = advisory(&rep.results[0], "PYSEC-2024-11");
    assert_int_equal(a->naliases, 1);
    assert_string_equal(a->aliases[0], "CVE-2024-100");
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

/* The upgrade is the smallest fixed version that clears every advisory; one that no known
 * advisory of the package affects at all is preferred (fix_clean). */
static void test_match_fix_smallest_clearing_all(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put_record(&d, "PYSEC-2024-20", "", "PyPI", "django", "{'introduced':'0'},{'fixed':'1.5'}");
    put_record(&d, "PYSEC-2024-21", "", "PyPI", "django", "{'introduced':'1.0'},{'fixed':'2.0'}");
    /* Affects 2.0 to 2.4 only: 2.0 is not clean, 3.0 is. */
    put_record(&d, "PYSEC-2024-22", "", "PyPI", "django", "{'introduced':'2.0'},{'fixed':'3.0'}");
    struct rp_vuln_db *db = open_ok(&d);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    inv_add(&inv, RP_ECO_PYPI, "django", "1.2");
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 1);
    const struct rp_vuln_result *r = &rep.results[0];
    assert_int_equal(r->nadv, 2);
    assert_string_equal(advisory(r, "PYSEC-2024-20")->fixed, "1.5");
    assert_string_equal(advisory(r, "PYSEC-2024-21")->fixed, "2.0");
    assert_string_equal(r->fix, "3.0");
    assert_true(r->fix_clean);
    assert_int_equal(r->fix_removes, 2);
    assert_int_equal(rep.fixable, 1);
    assert_int_equal(rep.fixable_advisories, 2);
    rp_vuln_report_release(&rep);
    rp_vuln_db_close(db);
    dbdir_release(&d);

    /* No clean version: the smallest that clears those affecting the current one. */
    dbdir_init(&d);
    put_record(&d, "PYSEC-2024-20", "", "PyPI", "django", "{'introduced':'0'},{'fixed':'1.5'}");
    put_record(&d, "PYSEC-2024-21", "", "PyPI", "django", "{'introduced':'1.0'},{'fixed':'2.0'}");
    put_record(&d, "PYSEC-2024-23", "", "PyPI", "django", "{'introduced':'2.0'}");
    db = open_ok(&d);
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 1);
    r = &rep.results[0];
    assert_int_equal(r->nadv, 2);
    assert_string_equal(r->fix, "2.0");
    assert_false(r->fix_clean);
    assert_int_equal(r->fix_removes, 2);
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

/* Regression: a record that affects the current version only through its explicit versions
 * list does not force its own later fix. X has the range [2.0, 3.0) and lists 1.0; Y has
 * [0, 1.1); at 1.0 the smallest version that clears both is 1.1, not 3.0. Likewise a
 * last_affected before the fix: Z affects [0, 1.2] and names a fix only at 4.0. */
static void test_match_fix_not_forced_by_list_or_last_affected(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put(&d, "X.json",
        "{'id':'X','affected':[{'package':{'ecosystem':'PyPI','name':'demo'},'versions':['1.0'],"
        "'ranges':[{'type':'ECOSYSTEM','events':[{'introduced':'2.0'},{'fixed':'3.0'}]}]}]}");
    put_record(&d, "Y", "", "PyPI", "demo", "{'introduced':'0'},{'fixed':'1.1'}");
    struct rp_vuln_db *db = open_ok(&d);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    inv_add(&inv, RP_ECO_PYPI, "demo", "1.0");
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 1);
    assert_string_equal(rep.results[0].fix, "1.1");
    assert_true(rep.results[0].fix_clean);
    rp_vuln_report_release(&rep);
    rp_vuln_db_close(db);
    dbdir_release(&d);

    dbdir_init(&d);
    put_record(&d, "Z", "", "PyPI", "demo",
               "{'introduced':'0'},{'last_affected':'1.2'},{'introduced':'3.0'},{'fixed':'4.0'}");
    put_record(&d, "W", "", "PyPI", "demo", "{'introduced':'0'},{'fixed':'1.3'}");
    db = open_ok(&d);
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 1);
    assert_string_equal(rep.results[0].fix, "1.3");
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

static int collect_ids(void *arg, struct rp_str id)
{
    struct rp_buf *out = arg;
    int result = rp_buf_add(out, id.ptr, id.len);
    return result ? result : rp_buf_addc(out, '|');
}

/* Lists of accepted risks: one id a line, comments and blank lines skipped, clear errors. */
static void test_ignore_list_parse(void **state)
{
    (void)state;
    struct rp_buf ids;
    rp_buf_init(&ids, 4096);
    struct rp_error err = {{0}};
    assert_int_equal(rp_vuln_ignore_parse(RP_STR("# accepted\nPYSEC-1\n  GO-2  # why\n\nCVE-3\r\n"
                                                 "\t\n#\nLAST-4"),
                                          collect_ids, &ids, &err),
                     RP_OK);
    assert_string_equal(ids.ptr, "PYSEC-1|GO-2|CVE-3|LAST-4|");
    assert_int_equal(rp_vuln_ignore_parse(RP_STR("A-1\nB C\n"), collect_ids, &ids, &err),
                     RP_EINVAL);
    assert_string_equal(err.msg, "line 2: one advisory id a line, not 'B C'");
    assert_int_equal(rp_vuln_ignore_parse(RP_STR("A\x01\n"), collect_ids, &ids, &err), RP_EINVAL);
    assert_string_equal(err.msg, "line 1: control character 0x01");
    char long_id[RP_VULN_ID_MAX + 2];
    memset(long_id, 'X', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(rp_vuln_ignore_parse(rp_str_from_cstr(long_id), collect_ids, &ids, &err),
                     RP_EINVAL);
    assert_non_null(strstr(err.msg, "longer than 256 bytes"));
    rp_buf_release(&ids);
}

/* Regression (issue 12, item 25): an id to ignore that is clearly not one (no prefix, a
 * character ids never hold) was accepted and silently ignored nothing. */
static void test_regression_ignore_malformed_id_refused(void **state)
{
    (void)state;
    static const char *const good[] = {"PYSEC-2021-66", "GHSA-jfh8-c2jp-5v3q", "CVE-2021-44228",
                                       "GO-2023-1737",  "RUSTSEC-2020-0001",   "DEBIAN-CVE-2024-1",
                                       "DSA-5000-1",    "OSV-2020:1",          "a-b"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!rp_vuln_id_valid(rp_str_from_cstr(good[i])))
            fail_msg("'%s' is refused", good[i]);
    static const char *const bad[] = {
        "",         "PYSEC2021",     "2021-66",
        "-PYSEC",   "PYSEC-",        "PYSEC-2021/66",
        "CVE 2021", "GHSA-\xc3\xa9", "https://osv.dev/vulnerability/PYSEC-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (rp_vuln_id_valid(rp_str_from_cstr(bad[i])))
            fail_msg("'%s' is taken for an advisory id", bad[i]);
    assert_false(rp_vuln_id_valid((struct rp_str){"A-\0", 3}));
    struct rp_buf ids;
    rp_buf_init(&ids, 4096);
    struct rp_error err = {{0}};
    assert_int_equal(rp_vuln_ignore_parse(RP_STR("PYSEC-1\npysec2021\n"), collect_ids, &ids, &err),
                     RP_EINVAL);
    assert_string_equal(err.msg,
                        "line 2: 'pysec2021' is not an advisory id (such as PYSEC-2021-66)");
    rp_buf_release(&ids);
}

/* The Debian release of an os-release file: VERSION_ID when ID is debian, digits and dots. */
static void test_debian_release(void **state)
{
    (void)state;
    char rel[20];
    assert_true(
        rp_vuln_debian_release(RP_STR("PRETTY_NAME=\"Debian GNU/Linux 12\"\nVERSION_ID=\"12\""
                                      "\nID=debian\n"),
                               rel, sizeof(rel)));
    assert_string_equal(rel, "12");
    assert_true(rp_vuln_debian_release(RP_STR("ID=\"debian\"\nVERSION_ID=11"), rel, sizeof(rel)));
    assert_string_equal(rel, "11");
    assert_false(
        rp_vuln_debian_release(RP_STR("ID=ubuntu\nVERSION_ID=\"22.04\"\n"), rel, sizeof(rel)));
    assert_string_equal(rel, "");
    assert_false(rp_vuln_debian_release(RP_STR("ID=debian\n"), rel, sizeof(rel))); /* sid */
    assert_false(
        rp_vuln_debian_release(RP_STR("ID=debian\nVERSION_ID=\"1x\"\n"), rel, sizeof(rel)));
}

/* An advisory without a fix: the upgrade still removes those that have one, and says how many
 * (fix_removes < nadv); a package whose only advisory has no fix has no upgrade. */
static void test_match_fix_removes_fewer_without_fix(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put_record(&d, "PYSEC-2024-30", "", "PyPI", "pillow", "{'introduced':'0'},{'fixed':'9.0'}");
    put_record(&d, "PYSEC-2024-31", "", "PyPI", "pillow", "{'introduced':'0'}");
    put_record(&d, "PYSEC-2024-32", "", "PyPI", "pyyaml", "{'introduced':'0'}");
    struct rp_vuln_db *db = open_ok(&d);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    inv_add(&inv, RP_ECO_PYPI, "Pillow", "8.0");
    inv_add(&inv, RP_ECO_PYPI, "PyYAML", "5.1");
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 2);
    const struct rp_vuln_result *r = result_of(&rep, 0);
    assert_non_null(r);
    assert_int_equal(r->nadv, 2);
    assert_string_equal(r->fix, "9.0");
    assert_false(r->fix_clean);
    assert_int_equal(r->fix_removes, 1);
    assert_null(advisory(r, "PYSEC-2024-31")->fixed);
    assert_string_equal(advisory(r, "PYSEC-2024-30")->fixed, "9.0");
    r = result_of(&rep, 1);
    assert_non_null(r);
    assert_int_equal(r->nadv, 1);
    assert_null(r->fix);
    assert_int_equal(r->fix_removes, 0);
    assert_int_equal(rep.advisories, 3);
    assert_int_equal(rep.fixable, 1);
    assert_int_equal(rep.fixable_advisories, 1);
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

/* Go's OSV versions have no 'v' and go.mod's do: the fix is written as the inventory writes
 * versions. */
static void test_match_go_v_prefix_on_fix(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put_record(&d, "GO-2024-1", "'CVE-2024-300'", "Go", "golang.org/x/net",
               "{'introduced':'0'},{'fixed':'0.17.0'}");
    struct rp_vuln_db *db = open_ok(&d);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    inv_add(&inv, RP_ECO_GO, "golang.org/x/net", "v0.15.0");
    inv_add(&inv, RP_ECO_GO, "golang.org/x/net", "0.16.0");
    inv_add(&inv, RP_ECO_GO, "golang.org/x/net", "v0.17.0");
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 2);
    const struct rp_vuln_result *r = result_of(&rep, 0);
    assert_non_null(r);
    assert_string_equal(r->fix, "v0.17.0");
    assert_string_equal(r->adv[0].fixed, "v0.17.0");
    assert_string_equal(r->adv[0].id, "GO-2024-1");
    r = result_of(&rep, 1);
    assert_non_null(r);
    assert_string_equal(r->fix, "0.17.0");
    assert_string_equal(r->adv[0].fixed, "0.17.0");
    assert_null(result_of(&rep, 2));
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

/* PyPI names match in their PEP 503 form whichever way the record and the inventory write
 * them; the inventory here is read from a requirements.txt. */
static void test_match_pypi_name_normalised(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put_record(&d, "PYSEC-2024-40", "", "PyPI", "Jinja2", "{'introduced':'0'},{'fixed':'2.11.3'}");
    put_record(&d, "PYSEC-2024-41", "", "PyPI", "zope.interface",
               "{'introduced':'0'},{'fixed':'5.0'}");
    /* Another ecosystem's package of the same name is not PyPI's. */
    put_record(&d, "GHSA-nnnn-nnnn-nnnn", "", "npm", "jinja2", "{'introduced':'0'}");
    struct rp_vuln_db *db = open_ok(&d);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    static const char req[] = "jinja2==2.10\nzope-interface==4.7.1\nZope_Interface==4.0\n"
                              "JINJA2==3.0\nrequests>=2.0\n";
    struct rp_error err = {{0}};
    int rc = rp_inventory_parse(&inv, RP_INV_REQUIREMENTS, "requirements.txt",
                                (struct rp_str){req, sizeof(req) - 1}, &err);
    if (rc)
        fail_msg("rp_inventory_parse: %s: %s", rp_strerror(rc), err.msg);
    assert_int_equal(inv.n, 5);
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 3);
    assert_int_equal(rep.scanned, 4);
    assert_int_equal(rep.unpinned, 1);
    const struct rp_vuln_result *r = result_of(&rep, 0);
    assert_non_null(r);
    assert_int_equal(r->nadv, 1);
    assert_string_equal(r->adv[0].id, "PYSEC-2024-40");
    assert_string_equal(r->fix, "2.11.3");
    r = result_of(&rep, 1);
    assert_non_null(r);
    assert_string_equal(r->adv[0].id, "PYSEC-2024-41");
    r = result_of(&rep, 2);
    assert_non_null(r);
    assert_string_equal(r->adv[0].id, "PYSEC-2024-41");
    assert_null(result_of(&rep, 3));
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

/* A version PEP 440 cannot read is counted and matched on explicit versions lists only. */
static void test_match_invalid_pypi_version_explicit_list_only(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put(&d, "PYSEC-2024-50.json",
        "{'id':'PYSEC-2024-50','affected':[{'package':{'ecosystem':'PyPI','name':'oldpkg'},"
        "'ranges':[{'type':'ECOSYSTEM','events':[{'introduced':'0'},{'fixed':'2.0'}]}],"
        "'versions':['1.0-custom','1.5']}]}");
    put_record(&d, "PYSEC-2024-51", "", "PyPI", "oldpkg", "{'introduced':'0'}");
    struct rp_vuln_db *db = open_ok(&d);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    inv_add(&inv, RP_ECO_PYPI, "oldpkg", "1.0-custom");
    inv_add(&inv, RP_ECO_PYPI, "oldpkg", "1.1-custom");
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.scanned, 2);
    assert_int_equal(rep.bad_version, 2);
    assert_int_equal(rep.n, 1);
    const struct rp_vuln_result *r = result_of(&rep, 0);
    assert_non_null(r);
    assert_int_equal(r->nadv, 1);
    assert_string_equal(r->adv[0].id, "PYSEC-2024-50");
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

/* The report counts what it could not match: unpinned packages and ecosystems without an
 * order; nothing affected, no results. */
static void test_match_report_counts(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put_record(&d, "PYSEC-2024-60", "", "PyPI", "lxml", "{'introduced':'0'}");
    struct rp_vuln_db *db = open_ok(&d);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    inv_add(&inv, RP_ECO_PYPI, "lxml", NULL);
    inv_add(&inv, RP_ECO_OTHER, "lxml", "1.0");
    inv_add(&inv, RP_ECO_NPM, "lxml", "1.0.0");
    inv_add(&inv, RP_ECO_PYPI, "unknown-package", "1.0");
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.n, 0);
    assert_int_equal(rep.unpinned, 1);
    assert_int_equal(rep.unsupported, 1);
    assert_int_equal(rep.no_advisories, 1); /* npm: the database has only PyPI */
    assert_int_equal(rep.scanned, 1);
    assert_int_equal(rep.bad_version, 0);
    assert_int_equal(rep.advisories, 0);
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

/* Regression (issue 12, item 20): packages of ecosystems the database has no advisory for were
 * counted as scanned and the inventory reported clean. They are not checked, and each says why. */
static void test_regression_no_advisories_ecosystem_not_checked(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put_record(&d, "PYSEC-2024-70", "", "PyPI", "lxml", "{'introduced':'0'},{'fixed':'5.0'}");
    put_record(&d, "GO-2024-71", "", "Go", "example.com/m", "{'introduced':'0'}");
    struct rp_vuln_db *db = open_ok(&d);
    assert_true(rp_vuln_db_has_ecosystem(db, RP_ECO_PYPI));
    assert_true(rp_vuln_db_has_ecosystem(db, RP_ECO_GO));
    assert_false(rp_vuln_db_has_ecosystem(db, RP_ECO_NPM));
    assert_false(rp_vuln_db_has_ecosystem(db, RP_ECO_OTHER));
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    inv_add(&inv, RP_ECO_NPM, "lodash", "4.17.20");
    inv_add(&inv, RP_ECO_CRATES, "regex", "1.5.4");
    inv_add(&inv, RP_ECO_DEBIAN, "openssl", "3.0.11-1");
    inv_add(&inv, RP_ECO_OPENWRT, "busybox", "1.36.1-1");
    inv_add(&inv, RP_ECO_OTHER, "org.x:y", "1.0");
    inv_add(&inv, RP_ECO_PYPI, "certifi", NULL);
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.packages, 6);
    assert_int_equal(rep.scanned, 0);
    assert_int_equal(rep.no_advisories, 4);
    assert_int_equal(rep.unsupported, 1);
    assert_int_equal(rep.unpinned, 1);
    assert_int_equal(rep.nunchecked, 6);
    static const enum rp_vuln_skip why[] = {RP_VULN_NO_ADVISORIES, RP_VULN_NO_ADVISORIES,
                                            RP_VULN_NO_ADVISORIES, RP_VULN_NO_ADVISORIES,
                                            RP_VULN_UNORDERED,     RP_VULN_UNPINNED};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(rep.unchecked[i].pkg, i);
        assert_int_equal(rep.unchecked[i].why, why[i]);
    }
    assert_string_equal(rp_vuln_skip_name(RP_VULN_NO_ADVISORIES), "no_advisories");
    assert_string_equal(rp_vuln_skip_name(RP_VULN_UNORDERED), "unsupported_ecosystem");
    assert_string_equal(rp_vuln_skip_name(RP_VULN_UNPINNED), "unpinned");
    rp_vuln_report_release(&rep);
    /* With one PyPI package the scan checks that one and still names the others. */
    inv_add(&inv, RP_ECO_PYPI, "lxml", "4.0");
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.scanned, 1);
    assert_int_equal(rep.n, 1);
    assert_int_equal(rep.nunchecked, 6);
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

/* Regression (issue 12, item 24): one entry per installed copy made "36 of 36 packages affected"
 * for 2 distinct versions. A package is its ecosystem, name (as the ecosystem compares them) and
 * version: copies are one result, same[] chaining them in inventory order. */
static void test_regression_distinct_packages_counted_once(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put_record(&d, "GHSA-29mw-wpgm-hmr9", "", "npm", "lodash",
               "{'introduced':'0'},{'fixed':'4.17.21'}");
    put_record(&d, "PYSEC-2024-80", "", "PyPI", "zope.interface", "{'introduced':'0'}");
    struct rp_vuln_db *db = open_ok(&d);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    for (int i = 0; i < 34; i++)
        inv_add(&inv, RP_ECO_NPM, "lodash", i % 17 ? "4.17.20" : "4.17.19");
    inv_add(&inv, RP_ECO_NPM, "lodash", "4.17.21");
    inv_add(&inv, RP_ECO_NPM, "Lodash", "4.17.20"); /* npm names are case-sensitive */
    inv_add(&inv, RP_ECO_PYPI, "zope.interface", "5.0");
    inv_add(&inv, RP_ECO_PYPI, "Zope_Interface", "5.0"); /* the same PyPI package */
    inv_add(&inv, RP_ECO_PYPI, "unpinned", NULL);
    inv_add(&inv, RP_ECO_PYPI, "UNPINNED", NULL);
    struct rp_vuln_report rep;
    match_ok(db, &inv, &rep);
    assert_int_equal(rep.packages, 6);
    assert_int_equal(rep.scanned, 5);
    assert_int_equal(rep.unpinned, 1);
    assert_int_equal(rep.n, 3); /* lodash 4.17.19, 4.17.20, zope.interface 5.0 */
    assert_int_equal(rep.results[0].pkg, 0);
    assert_int_equal(rep.results[1].pkg, 1);
    assert_int_equal(rep.results[2].pkg, 36);
    size_t copies = 0;
    for (size_t i = 1; i != SIZE_MAX; i = rep.same[i]) {
        assert_string_equal(inv.pkgs[i].version, "4.17.20");
        copies++;
    }
    assert_int_equal(copies, 32);
    assert_int_equal(rep.same[0], 17);
    assert_int_equal(rep.same[17], SIZE_MAX);
    assert_int_equal(rep.same[36], 37);
    assert_int_equal(rep.same[38], 39);
    assert_int_equal(rep.same[34], SIZE_MAX); /* 4.17.21 */
    assert_int_equal(rep.same[35], SIZE_MAX); /* Lodash */
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

/* Regression (issue 12, item 25): an --ignore id that matched nothing was accepted silently. The
 * report says, for each, whether it left something out, whether the database has it at all (by
 * id or alias), or neither. */
static void test_regression_ignore_unknown_id_reported(void **state)
{
    (void)state;
    struct dbdir d;
    dbdir_init(&d);
    put_record(&d, "PYSEC-2024-90", "'CVE-2024-9001'", "PyPI", "flask",
               "{'introduced':'0'},{'fixed':'2.0'}");
    put_record(&d, "PYSEC-2024-91", "'CVE-2024-9101','GHSA-aaaa-bbbb-cccc'", "PyPI", "other",
               "{'introduced':'0'}");
    struct rp_vuln_db *db = open_ok(&d);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    inv_add(&inv, RP_ECO_PYPI, "flask", "1.0");
    static const char *const ignore[] = {"CVE-2024-9001", "GHSA-aaaa-bbbb-cccc", "PYSEC-2024-91",
                                         "PYSEC-2099-1",  "CVE-2024-900",        "GHSA-aaaa-bbbb"};
    struct rp_vuln_match_options opt = {ignore, 6, NULL};
    struct rp_vuln_report rep;
    struct rp_error err = {{0}};
    assert_int_equal(rp_vuln_match_ex(db, &inv, &opt, &rep, &err), RP_OK);
    assert_int_equal(rep.n, 0);
    assert_int_equal(rep.ignored, 1);
    assert_int_equal(rep.ignore_use[0], RP_VULN_IGNORE_USED);
    assert_int_equal(rep.ignore_use[1], RP_VULN_IGNORE_UNUSED); /* an alias of another record */
    assert_int_equal(rep.ignore_use[2], RP_VULN_IGNORE_UNUSED);
    assert_int_equal(rep.ignore_use[3], RP_VULN_IGNORE_UNKNOWN);
    assert_int_equal(rep.ignore_use[4], RP_VULN_IGNORE_UNKNOWN); /* a prefix of an alias */
    assert_int_equal(rep.ignore_use[5], RP_VULN_IGNORE_UNKNOWN);
    bool found = false;
    assert_int_equal(rp_vuln_db_has_id(db, "CVE-2024-9101", &found), RP_OK);
    assert_true(found);
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    rp_vuln_db_close(db);
    dbdir_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_unfixed_introduced_zero),
        cmocka_unit_test(test_eval_fixed),
        cmocka_unit_test(test_eval_multiple_ranges),
        cmocka_unit_test(test_eval_last_affected_vs_fixed),
        cmocka_unit_test(test_eval_limit_events),
        cmocka_unit_test(test_eval_unsorted_events),
        cmocka_unit_test(test_eval_explicit_versions),
        cmocka_unit_test(test_eval_git_ranges_ignored),
        cmocka_unit_test(test_eval_semver_and_ecosystem_types),
        cmocka_unit_test(test_eval_invalid_version_only_explicit_list),
        cmocka_unit_test(test_fixed_events_listed),
        cmocka_unit_test(test_eval_long_versions_list),
        cmocka_unit_test(test_record_compact_form),
        cmocka_unit_test(test_record_info),
        cmocka_unit_test(test_record_withdrawn_flagged),
        cmocka_unit_test(test_record_errors),
        cmocka_unit_test(test_record_callback_result_returned),
        cmocka_unit_test(test_name_key),
        cmocka_unit_test(test_ignore_list_parse),
        cmocka_unit_test(test_regression_ignore_malformed_id_refused),
        cmocka_unit_test(test_debian_release),
        cmocka_unit_test_teardown(test_db_empty_folder_not_found, remove_pending),
        cmocka_unit_test_teardown(test_db_zip_read, remove_pending),
        cmocka_unit_test_teardown(test_db_truncated_zip_einval_names_file, remove_pending),
        cmocka_unit_test_teardown(test_db_damaged_zip_entry_einval, remove_pending),
        cmocka_unit_test_teardown(test_db_malformed_record_skipped_and_counted, remove_pending),
        cmocka_unit_test_teardown(test_db_malformed_record_not_half_indexed, remove_pending),
        cmocka_unit_test_teardown(test_db_withdrawn_record_left_out, remove_pending),
        cmocka_unit_test_teardown(test_db_index_rebuilt_when_a_file_changes, remove_pending),
        cmocka_unit_test_teardown(test_db_info_same_when_index_reused, remove_pending),
        cmocka_unit_test_teardown(test_db_single_file, remove_pending),
        cmocka_unit_test_teardown(test_match_aliases_merged_once, remove_pending),
        cmocka_unit_test_teardown(test_match_fix_smallest_clearing_all, remove_pending),
        cmocka_unit_test_teardown(test_match_fix_not_forced_by_list_or_last_affected,
                                  remove_pending),
        cmocka_unit_test_teardown(test_match_fix_removes_fewer_without_fix, remove_pending),
        cmocka_unit_test_teardown(test_match_go_v_prefix_on_fix, remove_pending),
        cmocka_unit_test_teardown(test_match_pypi_name_normalised, remove_pending),
        cmocka_unit_test_teardown(test_match_invalid_pypi_version_explicit_list_only,
                                  remove_pending),
        cmocka_unit_test_teardown(test_match_report_counts, remove_pending),
        cmocka_unit_test_teardown(test_regression_no_advisories_ecosystem_not_checked,
                                  remove_pending),
        cmocka_unit_test_teardown(test_regression_distinct_packages_counted_once, remove_pending),
        cmocka_unit_test_teardown(test_regression_ignore_unknown_id_reported, remove_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
