/* lib/vuln/version.c: each ecosystem's version order and validity, checked on orderings and
 * corner cases confirmed against the real implementations (packaging 23, npm's semver 7,
 * dpkg 1.21, Go's x/mod/semver rules), plus huge inputs, NULL slices and arbitrary bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/vuln.h"

#define INVALID 2 /* expected result of a pair with an invalid version */

struct pair {
    const char *a, *b;
    int want; /* -1, 0, 1 or INVALID */
};

/* Compares a and b (C strings, or with an explicit length for embedded NULs). */
static int cmp_n(enum rp_eco eco, const char *a, size_t an, const char *b, size_t bn)
{
    int c = 42;
    int rc = rp_version_cmp(eco, (struct rp_str){a, an}, (struct rp_str){b, bn}, &c);
    if (rc == RP_EINVAL)
        return INVALID;
    assert_int_equal(rc, RP_OK);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

static int cmp(enum rp_eco eco, const char *a, const char *b)
{
    return cmp_n(eco, a, strlen(a), b, strlen(b));
}

static void check_pairs(enum rp_eco eco, const struct pair *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int got = cmp(eco, p[i].a, p[i].b);
        if (got != p[i].want)
            fail_msg("%s: '%s' vs '%s': got %d, want %d", rp_eco_name(eco), p[i].a, p[i].b, got,
                     p[i].want);
        /* The other way round gives the opposite answer. */
        int back = cmp(eco, p[i].b, p[i].a);
        if (back != (p[i].want == INVALID ? INVALID : -p[i].want))
            fail_msg("%s: '%s' vs '%s' is not antisymmetric", rp_eco_name(eco), p[i].a, p[i].b);
    }
}

/* Every version of the list sorts before every later one and equals itself. */
static void check_ascending(enum rp_eco eco, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int want = i < j ? -1 : i > j ? 1 : 0;
            int got = cmp(eco, v[i], v[j]);
            if (got != want)
                fail_msg("%s: '%s' vs '%s': got %d, want %d", rp_eco_name(eco), v[i], v[j], got,
                         want);
        }
}

static void check_invalid(enum rp_eco eco, const char *const *v, size_t n, const char *good)
{
    for (size_t i = 0; i < n; i++) {
        if (rp_version_valid(eco, rp_str_from_cstr(v[i])))
            fail_msg("%s: '%s' should be invalid", rp_eco_name(eco), v[i]);
        int c = 42;
        assert_int_equal(rp_version_cmp(eco, rp_str_from_cstr(v[i]), rp_str_from_cstr(good), &c),
                         RP_EINVAL);
        assert_int_equal(rp_version_cmp(eco, rp_str_from_cstr(good), rp_str_from_cstr(v[i]), &c),
                         RP_EINVAL);
    }
}

static void check_valid(enum rp_eco eco, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!rp_version_valid(eco, rp_str_from_cstr(v[i])))
            fail_msg("%s: '%s' should be valid", rp_eco_name(eco), v[i]);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- ecosystems ---------------------------------------------------------------------------- */

static void test_eco_names(void **state)
{
    (void)state;
    assert_int_equal(rp_eco_from_osv(RP_STR("PyPI")), RP_ECO_PYPI);
    assert_int_equal(rp_eco_from_osv(RP_STR("Go")), RP_ECO_GO);
    assert_int_equal(rp_eco_from_osv(RP_STR("npm")), RP_ECO_NPM);
    assert_int_equal(rp_eco_from_osv(RP_STR("crates.io")), RP_ECO_CRATES);
    assert_int_equal(rp_eco_from_osv(RP_STR("Debian")), RP_ECO_DEBIAN);
    assert_int_equal(rp_eco_from_osv(RP_STR("Debian:12")), RP_ECO_DEBIAN);
    assert_int_equal(rp_eco_from_osv(RP_STR("Debian:")), RP_ECO_DEBIAN);
    /* OSV's names are case-sensitive; a release suffix only exists for Debian here. */
    assert_int_equal(rp_eco_from_osv(RP_STR("pypi")), RP_ECO_OTHER);
    assert_int_equal(rp_eco_from_osv(RP_STR("PyPI:3")), RP_ECO_OTHER);
    assert_int_equal(rp_eco_from_osv(RP_STR("Debia")), RP_ECO_OTHER);
    assert_int_equal(rp_eco_from_osv(RP_STR("Maven")), RP_ECO_OTHER);
    assert_int_equal(rp_eco_from_osv(RP_STR("")), RP_ECO_OTHER);
    assert_int_equal(rp_eco_from_osv(RP_STR_NULL), RP_ECO_OTHER);
    assert_int_equal(rp_eco_from_osv((struct rp_str){"npm\0x", 5}), RP_ECO_OTHER);
    for (int e = 0; e < RP_ECO_COUNT; e++) {
        const char *name = rp_eco_name((enum rp_eco)e);
        if (e != RP_ECO_OTHER)
            assert_int_equal(rp_eco_from_osv(rp_str_from_cstr(name)), e);
    }
    assert_string_equal(rp_eco_name(RP_ECO_OTHER), "other");
    assert_string_equal(rp_eco_name(RP_ECO_CRATES), "crates.io");
    assert_string_equal(rp_eco_name((enum rp_eco)99), "unknown");
    int c;
    assert_int_equal(rp_version_cmp((enum rp_eco)99, RP_STR("1"), RP_STR("1"), &c), RP_EINVAL);
    assert_false(rp_version_valid((enum rp_eco) - 1, RP_STR("1")));
}

/* ---- PyPI ---------------------------------------------------------------------------------- */

static void test_pypi_order(void **state)
{
    (void)state;
    /* PEP 440's own example order, with the spellings and corners packaging adds. */
    static const char *const v[] = {
        "1.0.dev456",
        "1.0a1",
        "1.0a2.dev456",
        "1.0a12.dev456",
        "1.0a12",
        "1.0b1.dev456",
        "1.0b2",
        "1.0b2.post345.dev456",
        "1.0b2.post345",
        "1.0b2-346",
        "1.0prev\xc4\xb0"
        "ew", /* U+0130 folds to 'i' but lowers to "i\u0307": its own letter */
        "1.0prev\xc4\xb1"
        "ew1",
        "1.0c1.dev456",
        "1.0c1",
        "1.0rc2",
        "1.0c3",
        "1.0",
        "1.0+abc",
        "1.0+5",
        "1.0.post456.dev34",
        "1.0.post456",
        "1.0.post457",
        "1.0po\xc5\xbft0", /* U+017F for 's': the letter "poſt" sorts after "post" */
        "1.1.dev1",
        "1.2+123abc",
        "1.2+123abc456",
        "1.2+abc",
        "1.2+abc123",
        "1.2+abc123def",
        "1.2+\xc4\xb0",
        "1.2+\xc4\xb1",
        "1.2+\xc5\xbf",
        "1.2+1234.abc",
        "1.2+123456",
        "1.2.r32+123456",
        "1.2.rev33+123456",
        "1!0.1",
        "1!1.0b2.post345.dev456",
        "2!0.0.0.1",
    };
    check_ascending(RP_ECO_PYPI, v, N(v));
}

static void test_pypi_equal(void **state)
{
    (void)state;
    static const struct pair p[] = {
        {"1.0", "1.0.0.0", 0},
        {"0", "0.0", 0},
        {"1.0a", "1.0alpha0", 0},
        {"1.0-1", "1.0.post1", 0},
        {"1.0r1", "1.0post1", 0},
        {"1.0rev", "1.0.post0", 0},
        {"1.0-r-2", "1.0.post2", 0},
        {"1.0-0", "1.0.post0", 0},
        {"v1.0", "1.0", 0},
        {"V1.0", "1.0", 0},
        {"1.0+ABC", "1.0+abc", 0},
        {"1.0+1-2_3", "1.0+1.2.3", 0},
        {"1.0+05", "1.0+5", 0},
        {"1.0+\xe2\x84\xaa", "1.0+k", 0}, /* KELVIN SIGN lowers to 'k' */
        {"01.0", "1.0", 0},
        {"1.0c1", "1.0rc1", 0},
        {"1.0pre", "1.0rc0", 0},
        {"1.0PREVIEW_1", "1.0rc1", 0},
        {"0!1.0", "1.0", 0},
        {"1.0.dev", "1.0dev0", 0},
        {"1.0dev-", "1.0.dev0", 0},
        {"1.0-dev", "1.0.dev0", 0},
        {"1.0a.-1", "1.0a0.post1", 0},
        {"1.0a--1", "1.0a0-1", 0},
        {"1.0a.", "1.0a0", 0},
        {"1.0a1-1", "1.0a1.post1", 0},
        {"1.0_a_1", "1.0a1", 0},
        {"1.0.a1", "1.0a1", 0},
        {"1.0.post.", "1.0.post0", 0},
        {"1.0.dev.+abc", "1.0.dev0+abc", 0},
        {" 1.0\n", "1.0", 0},
        {"\t\r\x0b\x0c\x1c\x1f 1.0", "1.0", 0},
        {"\xe3\x80\x80"
         "1.0\xc2\xa0\xc2\x85",
         "1.0", 0}, /* U+3000, U+00A0, U+0085 */
        {"\xe2\x80\x8a\xe1\x9a\x80"
         "1.0\xe2\x80\xa8\xe2\x81\x9f",
         "1.0", 0},
        {"1.0", "1.0+0", -1},
        {"1.0+a", "1.0+a.0", -1},
        {"1.0+b", "1.0+a.0", 1},
        {"1.0+z", "1.0+0", -1},
        {"1.0.dev1", "1.0a0", -1},
        {"1.0.post0.dev1", "1.0.post0", -1},
        {"1.0.post0.dev1", "1.0", 1},
        {"1.0a1.post1", "1.0a2", -1},
        {"1.0", "1.0.1", -1},
        {"1.0.0.1", "1.0.1", -1},
    };
    check_pairs(RP_ECO_PYPI, p, N(p));
}

static void test_pypi_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        " ",
        "v",
        "V",
        "1.0-",
        "1.0--1",
        "1.0+",
        "1.0+a..b",
        "1..0",
        "1.0.",
        ".1",
        "1.0 a1",
        "1!",
        "!1",
        "1.0a1a",
        "1.0+a_",
        "1.0a1-1-1",
        "1.0rcr1x",
        "1.0prev",
        "1.0pre-view",
        "1.0+a b",
        "1.0 +a",
        "vv1.0",
        "1.0.-1",
        "1.0-1-1",
        "1.0.dev1.post1",
        "1.0.post1a1",
        "1.0a1b1",
        "+1.0",
        "-1.0",
        "1.0\xe2\x80\x8b", /* U+200B is not white space */
        "1.0+\xc3\xa9",
        "1.0\xc4\xb1",
        "1.0po\xc5\xbf",
        "1.0dev1dev",
        "1.0_",
        "1.0-_1",
        "1.0a..1",
        "1.0..a1",
        "1.0\xe2\x80"
        "A",
        "1.0\xc2",
        "\xff",
        "1,0",
        "1.0.0-beta.1.2",
        "1.0\xef\xbb\xbf", /* U+FEFF: white space to JavaScript, not to Python */
    };
    check_invalid(RP_ECO_PYPI, bad, N(bad), "1.0");
    assert_int_equal(cmp_n(RP_ECO_PYPI, "1.0\0", 4, "1.0", 3), INVALID);
    assert_int_equal(cmp_n(RP_ECO_PYPI, NULL, 0, "1.0", 3), INVALID);
    static const char *const good[] = {"1.0prev\xc4\xb1"
                                       "ew",
                                       "1.0Po\xc5\xbfT",
                                       "1.0+\xe2\x84\xaa",
                                       "1.0+a\xc4\xb0-\xc5\xbf",
                                       "1.0a1.post2.dev3+x.y.z",
                                       "0!0",
                                       "1.0-post-1-dev-1"};
    check_valid(RP_ECO_PYPI, good, N(good));
}

/* ---- npm, crates.io, Go -------------------------------------------------------------------- */

static void test_semver_order(void **state)
{
    (void)state;
    static const char *const v[] = {
        "0.0.0-20210101000000-abcdef123456",
        "0.0.0-20210102000000-abcdef123456",
        "0.0.0",
        "1.0.0-0",
        "1.0.0-1",
        "1.0.0-9",
        "1.0.0-10",
        "1.0.0-999999999999999",
        "1.0.0--",
        "1.0.0-A",
        "1.0.0-Z",
        "1.0.0-a",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1-0.20210101000000-abcdef123456",
        "1.0.1",
        "1.2.0",
        "1.10.0",
        "2.0.0",
        "10.0.0",
        "9007199254740991.0.0",
    };
    check_ascending(RP_ECO_NPM, v, N(v));
    check_ascending(RP_ECO_CRATES, v, N(v));
    check_ascending(RP_ECO_GO, v, N(v));
    static const struct pair p[] = {
        {"1.0.0", "v1.0.0", 0},
        {"1.0.0+build", "1.0.0", 0},
        {"1.0.0-rc.1+x.y", "1.0.0-rc.1", 0},
        {" 1.0.0\n", "1.0.0", 0},
        {"\xef\xbb\xbf\xc2\xa0"
         "1.0.0\xe3\x80\x80",
         "1.0.0", 0},
        {"1.2.3+incompatible", "1.2.3", 0},
        {"1.0.0+01", "1.0.0+1", 0},
        {"1.0.0-a.b", "1.0.0-a", 1},
        {"1.0.0-1.a", "1.0.0-1", 1},
        /* Numeric identifiers past 2^53 compare exactly (npm compares them as doubles). */
        {"1.0.0-90071992547409930", "1.0.0-90071992547409920", 1},
    };
    check_pairs(RP_ECO_NPM, p, N(p));
    check_pairs(RP_ECO_CRATES, p, N(p));
}

static void test_semver_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "1",
        "1.0",
        "1.0.0.0",
        "=1.0.0",
        "V1.0.0",
        "v 1.0.0",
        "01.0.0",
        "1.00.0",
        "1.0.0-",
        "1.0.0+",
        "1.0.0-01",
        "1.0.0-00",
        "1.0.0-a..b",
        "1.0.0-a.",
        "1.0.0+a..b",
        "1.0.0-a_b",
        "1.0.0-\xc3\xa9",
        "9007199254740992.0.0",
        "1.9007199254740992.0",
        "1.0.9007199254740992",
        "1.0.0\xc2\x85",
        "\x1c"
        "1.0.0",
        "1.0.0 1",
        "vv1.0.0",
        "-1.0.0",
        "1.0.0-+",
        "1.0.0+-+",
    };
    check_invalid(RP_ECO_NPM, bad, N(bad), "1.0.0");
    check_invalid(RP_ECO_CRATES, bad, N(bad), "1.0.0");
    assert_int_equal(cmp_n(RP_ECO_NPM, "1.0.0\0", 6, "1.0.0", 5), INVALID);
    assert_int_equal(cmp_n(RP_ECO_NPM, NULL, 0, "1.0.0", 5), INVALID);

    /* npm refuses more than 256 UTF-16 units before trimming; U+3000 is one unit, 3 bytes. */
    char buf[1024];
    snprintf(buf, sizeof(buf), "1.0.0-%0250d", 1);
    buf[6] = 'x';
    assert_true(rp_version_valid(RP_ECO_NPM, rp_str_from_cstr(buf))); /* 256 */
    snprintf(buf, sizeof(buf), "1.0.0-%0251d", 1);
    buf[6] = 'x';
    assert_false(rp_version_valid(RP_ECO_NPM, rp_str_from_cstr(buf))); /* 257 */
    assert_true(rp_version_valid(RP_ECO_GO, rp_str_from_cstr(buf)));
    size_t n = 0;
    for (int i = 0; i < 100; i++, n += 3)
        memcpy(buf + n, "\xe3\x80\x80", 3);
    memcpy(buf + n, "1.0.0", 5);
    n += 5;
    for (int i = 0; i < 151; i++, n += 3)
        memcpy(buf + n, "\xe3\x80\x80", 3);
    assert_true(rp_version_valid(RP_ECO_NPM, (struct rp_str){buf, n}));
    memcpy(buf + n, "\xe3\x80\x80", 3);
    assert_false(rp_version_valid(RP_ECO_NPM, (struct rp_str){buf, n + 3}));

    static const char *const good[] = {
        "9007199254740991.9007199254740991.9007199254740991",
        "1.0.0-0a",
        "1.0.0--",
        "1.0.0-a-",
        "1.0.0+0.00.000",
        "1.0.0-x-y-z.--",
        "v1.0.0-rc.1+build.5",
    };
    check_valid(RP_ECO_NPM, good, N(good));
}

static void test_go(void **state)
{
    (void)state;
    static const struct pair p[] = {
        {"v1.2.3", "1.2.3", 0}, /* go.mod writes the "v", OSV's Go records leave it out */
        {"v1.2.3+incompatible", "1.2.3", 0},
        {"v2.0.0+incompatible", "v1.9.9", 1},
        {"v1", "v1.0.0", 0}, /* Go's shorthands */
        {"v1.2", "1.2.0", 0},
        {"v0.0.0-20210101000000-abcdef123456", "0.0.0", -1},
        {"v1.2.4-0.20210101000000-abcdef123456", "v1.2.3", 1},
        {"v1.2.4-0.20210101000000-abcdef123456", "v1.2.4", -1},
        {"v1.2.4-0.20210101000000-abcdef123456", "v1.2.4-0.20210102000000-000000000000", -1},
        {"v99999999999999999999.0.0", "v9007199254740992.0.0", 1}, /* no size limit in Go */
        {"1.0.0-99999999999999999999", "1.0.0-99999999999999999998", 1},
    };
    check_pairs(RP_ECO_GO, p, N(p));
    static const char *const bad[] = {
        "",        "v",       "v1.",     "v1.2.",       "v1.2-pre",  "v1+meta",
        "V1.2.3",  " v1.2.3", "v1.2.3 ", "v01.2.3",     "v1.2.3-01", "vv1.2.3",
        "=v1.2.3", "v1.2.3-", "v1.2.3+", "v1.2.3-a..b",
    };
    check_invalid(RP_ECO_GO, bad, N(bad), "v1.0.0");
}

/* ---- Debian -------------------------------------------------------------------------------- */

static void test_debian_order(void **state)
{
    (void)state;
    static const char *const v[] = {
        "1.0~~", "1.0~~a",   "1.0~",    "1.0~1",  "1.0~a",  "1.0",   "1.0-1~bpo1",
        "1.0-1", "1.0-1+b1", "1.0-1.1", "1.0-2",  "1.0-10", "1.0A~", "1.0A",
        "1.0a",  "1.0z",     "1.0+",    "1.0+b1", "1.0.",   "1.0.1", "1.1",
        "1.10",  "2",        "10",      "1:0",    "1:0.1",  "2:0~",  "2147483647:0",
    };
    check_ascending(RP_ECO_DEBIAN, v, N(v));
    static const struct pair p[] = {
        {"1.0", "1.00", 0},
        {"0:1.0", "1.0", 0},
        {"1.0", "1.0-0", 0},
        {"+1:1", "1:1", 0}, /* the epoch is what strtol() reads */
        {" -0:1", "1", 0},
        {"\x0b"
         "1:1.0",
         "1:1.0", 0},
        {"1.0-1", "1.0-01", 0},
        {"00001:1", "1:1", 0},
        {"1.0.", "1.0.0", 0},
        {"1:2:3", "1:2:3", 0},
        {" 1.0 ", "1.0", 0},
        {"\t1.0\t", "1.0", 0},
        {"1.0--1", "1.0-1", 1},
        {"1.0--1", "1.0", 1},
        {"1.0-", "1.0", INVALID},
        {"1.0"
         "0000000000000000000000000000000000000000001",
         "1.01", 0},
        {"1.2147483648", "1.2147483647", 1},
    };
    check_pairs(RP_ECO_DEBIAN, p, N(p));
    static const char *const bad[] = {
        "",
        " ",
        "1.0 x",
        "a1.0",
        "1.0_1",
        "1:",
        ":1",
        "1.0-",
        "-1",
        "2147483648:1",
        "-1:1",
        " -1:1",
        "1.0-a:b",
        "1.0\n",
        "1.0\r",
        "1.0-1-",
        "1:-1",
        "1.0\xc3\xa9",
        "x:1.0",
        "1.0-b_c",
        "1: 2",
        "+:1",
        "+-1:1",
        "0x1:1",
        "99999999999999999999:1",
        "-99999999999999999999:1",
        "1a:1",
        "1.0 1",
        "1:a",
    };
    check_invalid(RP_ECO_DEBIAN, bad, N(bad), "1.0");
    assert_int_equal(cmp_n(RP_ECO_DEBIAN, "1.0\0", 4, "1.0", 3), INVALID);
    assert_int_equal(cmp_n(RP_ECO_DEBIAN, NULL, 0, "1.0", 3), INVALID);
}

/* ---- other ecosystems ---------------------------------------------------------------------- */

static void test_other(void **state)
{
    (void)state;
    static const char *const v[] = {
        "",    "0",    "1", "1.0", "1.0.1", "1.0.1a", "1.0.1b", "1.0.1b.1",
        "1.9", "1.10", "2", "10",  "a",     "v1",     "v2",
    };
    check_ascending(RP_ECO_OTHER, v, N(v));
    static const struct pair p[] = {
        {"1.0RC1", "1.0rc1", 0},
        {"01", "1", 0},
        {"1.000", "1.0", 0},
        {"1.0-rc1", "1.0.rc1", -1},
        {"\xff", "\xfe", 1},
        {"\xff"
         "1",
         "\xff"
         "01",
         0},
    };
    check_pairs(RP_ECO_OTHER, p, N(p));
    assert_int_equal(cmp_n(RP_ECO_OTHER, NULL, 0, "", 0), 0);
    assert_int_equal(cmp_n(RP_ECO_OTHER, "a\0b", 3, "a\0c", 3), -1);
    assert_true(rp_version_valid(RP_ECO_OTHER, RP_STR_NULL));
}

/* ---- every ecosystem ----------------------------------------------------------------------- */

/* Digit runs far longer than any integer type: compared by length, nothing overflows. */
static void test_huge_inputs(void **state)
{
    (void)state;
    size_t n = 1u << 20;
    char *a = malloc(n + 16), *b = malloc(n + 16);
    assert_non_null(a);
    assert_non_null(b);
    static const enum rp_eco ecos[] = {RP_ECO_OTHER, RP_ECO_PYPI, RP_ECO_GO, RP_ECO_DEBIAN};
    for (size_t i = 0; i < N(ecos); i++) {
        /* "1.999...9" against "1.1000...0" (one digit more), then equal with leading zeros
         * (not for Go, which refuses them). */
        memcpy(a, "1.", 2);
        memset(a + 2, '9', n);
        memcpy(b, "1.1", 3);
        memset(b + 3, '0', n);
        assert_int_equal(cmp_n(ecos[i], a, n + 2, b, n + 3), -1);
        assert_int_equal(cmp_n(ecos[i], b, n + 3, a, n + 2), 1);
        if (ecos[i] != RP_ECO_GO) {
            memcpy(b, "1.0", 3);
            memset(b + 3, '9', n);
            assert_int_equal(cmp_n(ecos[i], a, n + 2, b, n + 3), 0);
        }
    }
    /* npm: too long; Go: a megabyte of prerelease identifiers. */
    memcpy(a, "1.0.0-", 6);
    for (size_t i = 6; i < n; i++)
        a[i] = i % 2 ? '.' : 'a';
    assert_false(rp_version_valid(RP_ECO_NPM, (struct rp_str){a, n}));
    assert_int_equal(cmp_n(RP_ECO_GO, a, n - 1, a, n - 3), 1);
    /* PyPI: a megabyte of local labels and of trailing white space. */
    memcpy(a, "1.0+", 4);
    memset(b, ' ', n);
    memcpy(b, "1.0", 3);
    assert_int_equal(cmp_n(RP_ECO_PYPI, a, n - 1, b, n), 1);
    free(a);
    free(b);
}

/* Every pair and triple of a mixed list: a total order (antisymmetric and transitive), and a
 * version is valid exactly when it compares to itself. */
static void test_total_order(void **state)
{
    (void)state;
    static const char *const v[] = {
        "0",
        "1",
        "1.0",
        "1.0.0",
        "v1.0.0",
        "1.0.0-rc.1",
        "1.0.0-rc.1+b",
        "1.0a1",
        "1.0.dev1",
        "1.0.post1",
        "1.0-1",
        "1:1.0",
        "1.0~rc1",
        "1.0+abc",
        "1.0+5",
        "1!1.0",
        "2.0.0-0",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-1",
        "1.0rc1",
        "1.0c1",
        "1.0~",
        "1.0a",
        "1.0+",
        "10",
        "1.10",
        "1.9",
        "",
        " ",
        "v1",
        "1.0.0+incompatible",
        "1.0-a",
        "0.0.0-2021-ab",
    };
    for (int e = 0; e < RP_ECO_COUNT; e++) {
        int c[N(v)][N(v)];
        bool ok[N(v)][N(v)];
        for (size_t i = 0; i < N(v); i++) {
            int self;
            bool valid = rp_version_valid((enum rp_eco)e, rp_str_from_cstr(v[i]));
            assert_int_equal(rp_version_cmp((enum rp_eco)e, rp_str_from_cstr(v[i]),
                                            rp_str_from_cstr(v[i]), &self),
                             valid ? RP_OK : RP_EINVAL);
            if (valid)
                assert_int_equal(self, 0);
        }
        for (size_t i = 0; i < N(v); i++)
            for (size_t j = 0; j < N(v); j++) {
                ok[i][j] = cmp((enum rp_eco)e, v[i], v[j]) != INVALID;
                c[i][j] = ok[i][j] ? cmp((enum rp_eco)e, v[i], v[j]) : 0;
                if (ok[i][j] && j < i)
                    assert_int_equal(c[i][j], -c[j][i]);
            }
        for (size_t i = 0; i < N(v); i++)
            for (size_t j = 0; j < N(v); j++)
                for (size_t k = 0; k < N(v); k++)
                    if (ok[i][j] && ok[j][k] && c[i][j] <= 0 && c[j][k] <= 0) {
                        if (c[i][k] > 0 || (c[i][k] == 0 && (c[i][j] || c[j][k])))
                            fail_msg("%s: '%s' <= '%s' <= '%s' but not transitive",
                                     rp_eco_name((enum rp_eco)e), v[i], v[j], v[k]);
                    }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eco_names),    cmocka_unit_test(test_pypi_order),
        cmocka_unit_test(test_pypi_equal),   cmocka_unit_test(test_pypi_invalid),
        cmocka_unit_test(test_semver_order), cmocka_unit_test(test_semver_invalid),
        cmocka_unit_test(test_go),           cmocka_unit_test(test_debian_order),
        cmocka_unit_test(test_other),        cmocka_unit_test(test_huge_inputs),
        cmocka_unit_test(test_total_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
