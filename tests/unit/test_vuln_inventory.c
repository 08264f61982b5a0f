/* Unit tests of lib/vuln's inventory readers: each format on its fixture in tests/data/vulns/
 * (names, versions, lines), the syntax corners of each (continuations, TOML strings and arrays,
 * go.mod replaces, nested SBOM components, npm aliases), package URLs, and hostile input
 * (truncated or minified JSON, wrong types, unterminated strings, huge lines and files), which
 * must give a clear "line N: ..." error and leave the inventory as it was. Run from the top of
 * the tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rampart/vuln.h"
#include "../../lib/vuln/internal.h"

#define DATA "tests/data/vulns/"

/* ---- helpers ------------------------------------------------------------------------------- */

struct want {
    enum rp_eco eco;
    const char *name;
    const char *version; /* NULL: unpinned */
    unsigned line;
};

#define NWANT(w) (sizeof(w) / sizeof((w)[0]))

static void check_pkgs(const struct rp_inventory *inv, size_t from, const struct want *w, size_t n)
{
    if (inv->n - from != n) {
        for (size_t i = from; i < inv->n; i++)
            print_message("  got %u %s %s\n", inv->pkgs[i].line, inv->pkgs[i].name,
                          inv->pkgs[i].version ? inv->pkgs[i].version : "(unpinned)");
        fail_msg("%zu packages, want %zu", inv->n - from, n);
    }
    for (size_t i = 0; i < n; i++) {
        const struct rp_pkg *p = &inv->pkgs[from + i];
        if (strcmp(p->name, w[i].name) != 0)
            fail_msg("package %zu: name '%s', want '%s'", i, p->name, w[i].name);
        if (p->eco != w[i].eco)
            fail_msg("'%s': ecosystem %d, want %d", p->name, p->eco, w[i].eco);
        if (w[i].version) {
            if (!p->version || strcmp(p->version, w[i].version) != 0)
                fail_msg("'%s': version '%s', want '%s'", p->name,
                         p->version ? p->version : "(null)", w[i].version);
            assert_false(p->unpinned);
        } else {
            if (p->version)
                fail_msg("'%s': version '%s', want unpinned", p->name, p->version);
            assert_true(p->unpinned);
        }
        if (p->line != w[i].line)
            fail_msg("'%s': line %u, want %u", p->name, p->line, w[i].line);
        assert_non_null(p->source);
    }
}

static void parse_len(enum rp_inv_format f, const char *text, size_t len, struct rp_inventory *inv)
{
    struct rp_error err = {{0}};
    int rc = rp_inventory_parse(inv, f, "test-input", (struct rp_str){text, len}, &err);
    if (rc)
        fail_msg("%s: %s: %s", rp_inventory_format_name(f), rp_strerror(rc), err.msg);
}

/* Parses text, which must succeed, and checks its packages. */
static void expect(enum rp_inv_format f, const char *text, const struct want *w, size_t n)
{
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    parse_len(f, text, strlen(text), &inv);
    check_pkgs(&inv, 0, w, n);
    rp_inventory_release(&inv);
}

/* Parses len bytes of text, which must fail with code and a message containing msg; the
 * inventory, which already holds one package, must be left as it was. */
static void expect_fail_len(enum rp_inv_format f, const char *text, size_t len, int code,
                            const char *msg)
{
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    parse_len(RP_INV_REQUIREMENTS, "before==1.0\n", 12, &inv);
    assert_int_equal(inv.n, 1);
    assert_int_equal(inv.nsources, 1);
    struct rp_error err = {{0}};
    int rc = rp_inventory_parse(&inv, f, "bad-input", (struct rp_str){text, len}, &err);
    if (rc != code)
        fail_msg("%s: code %d (%s), want %d; message '%s'", rp_inventory_format_name(f), rc,
                 rp_strerror(rc), code, err.msg);
    if (!strstr(err.msg, msg))
        fail_msg("message '%s' does not contain '%s'", err.msg, msg);
    assert_int_equal(inv.n, 1);
    assert_int_equal(inv.nsources, 1);
    assert_string_equal(inv.pkgs[0].name, "before");
    assert_string_equal(inv.pkgs[0].source, "test-input");
    rp_inventory_release(&inv);
}

static void expect_fail(enum rp_inv_format f, const char *text, const char *msg)
{
    expect_fail_len(f, text, strlen(text), RP_EINVAL, msg);
}

static void parse_fixture(const char *name, enum rp_inv_format want_format,
                          struct rp_inventory *inv)
{
    char path[256];
    snprintf(path, sizeof(path), DATA "%s", name);
    char *text;
    size_t len;
    struct rp_error err = {{0}};
    if (rp_file_read(path, 1u << 24, &text, &len, &err))
        fail_msg("%s", err.msg);
    struct rp_str head = {text, len < 4096 ? len : 4096};
    assert_int_equal(rp_inventory_detect(path, head), want_format);
    const struct rp_inventory_options opt = {rp_inventory_read_file, NULL, NULL};
    int rc = rp_inventory_parse_ex(inv, want_format, path, (struct rp_str){text, len}, &opt, &err);
    free(text);
    if (rc)
        fail_msg("%s: %s", path, err.msg);
    assert_string_equal(inv->pkgs[inv->n - 1].source, path);
}

static void expect_fixture(const char *name, enum rp_inv_format f, const struct want *w, size_t n)
{
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    parse_fixture(name, f, &inv);
    check_pkgs(&inv, 0, w, n);
    rp_inventory_release(&inv);
}

/* ---- detection ----------------------------------------------------------------------------- */

static void test_detect(void **state)
{
    (void)state;
    struct rp_str none = RP_STR_NULL;
    assert_int_equal(rp_inventory_detect("requirements.txt", none), RP_INV_REQUIREMENTS);
    assert_int_equal(rp_inventory_detect("a/b/requirements-dev.txt", none), RP_INV_REQUIREMENTS);
    assert_int_equal(rp_inventory_detect("poetry.lock", none), RP_INV_POETRY_LOCK);
    assert_int_equal(rp_inventory_detect("x/Pipfile.lock", none), RP_INV_PIPFILE_LOCK);
    assert_int_equal(rp_inventory_detect("/src/go.mod", none), RP_INV_GO_MOD);
    assert_int_equal(rp_inventory_detect("package-lock.json", none), RP_INV_NPM_LOCK);
    assert_int_equal(rp_inventory_detect("npm-shrinkwrap.json", none), RP_INV_NPM_LOCK);
    assert_int_equal(rp_inventory_detect("Cargo.lock", none), RP_INV_CARGO_LOCK);
    assert_int_equal(rp_inventory_detect("/var/lib/dpkg/status", none), RP_INV_DPKG_STATUS);
    assert_int_equal(rp_inventory_detect("bom.json", RP_STR("{\n  \"bomFormat\": \"CycloneDX\"")),
                     RP_INV_CYCLONEDX);
    assert_int_equal(rp_inventory_detect("x.spdx.json", RP_STR("{\"spdxVersion\":\"SPDX-2.3\"")),
                     RP_INV_SPDX);
    assert_int_equal(rp_inventory_detect("other.json", RP_STR("{\"name\": 1}")), RP_INV_UNKNOWN);
    assert_int_equal(rp_inventory_detect("bom.json", none), RP_INV_UNKNOWN);
    assert_int_equal(rp_inventory_detect("notes.txt", none), RP_INV_UNKNOWN);
    assert_int_equal(rp_inventory_detect("go.sum", none), RP_INV_UNKNOWN);
    assert_int_equal(rp_inventory_detect("requirements.in", none), RP_INV_UNKNOWN);
    assert_int_equal(rp_inventory_detect(NULL, none), RP_INV_UNKNOWN);
    assert_int_equal(rp_inventory_detect("root/usr/lib/opkg/status", none), RP_INV_OPKG_STATUS);
    assert_int_equal(rp_inventory_detect("/var/lib/dpkg/status.d/libc6", none),
                     RP_INV_DPKG_STATUS_D);
    assert_string_equal(rp_inventory_superseded_by("a/package-lock.json"), "npm-shrinkwrap.json");
    assert_string_equal(rp_inventory_superseded_by("package-lock.json"), "npm-shrinkwrap.json");
    assert_null(rp_inventory_superseded_by("a/npm-shrinkwrap.json"));
    assert_null(rp_inventory_superseded_by(NULL));
    assert_string_equal(rp_inventory_format_name(RP_INV_CYCLONEDX), "CycloneDX");
    assert_string_equal(rp_inventory_format_name(RP_INV_REQUIREMENTS), "requirements.txt");
    assert_string_equal(rp_inventory_format_name(RP_INV_DPKG_STATUS), "dpkg status");
    assert_string_equal(rp_inventory_format_name((enum rp_inv_format)99), "unknown");
    expect_fail(RP_INV_UNKNOWN, "x==1\n", "unknown inventory format");
}

/* Regression (issue 12, item 22): the folder walk found only requirements*.txt; pip users name
 * them dev-requirements.txt, test_requirements.txt and the like too. */
static void test_regression_walk_finds_every_requirements_txt(void **state)
{
    (void)state;
    struct rp_str none = RP_STR_NULL;
    static const char *const yes[] = {"dev-requirements.txt",  "a/requirements-dev.txt",
                                      "test_requirements.txt", "docs/Requirements.txt",
                                      "requirements.TXT",      "prod.requirements.txt"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (rp_inventory_detect(yes[i], none) != RP_INV_REQUIREMENTS)
            fail_msg("'%s' is not read as a requirements.txt", yes[i]);
    static const char *const no[] = {"requirements.in", "requirement.txt", "requirements/base.txt",
                                     "requirements.txt.bak", "constraints.txt"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (rp_inventory_detect(no[i], none) != RP_INV_UNKNOWN)
            fail_msg("'%s' is read as an inventory", no[i]);
    /* status.d: a dpkg folder's only; its md5sums files and hidden files are not paragraphs. */
    assert_int_equal(rp_inventory_detect("img/var/lib/dpkg/status.d/base", none),
                     RP_INV_DPKG_STATUS_D);
    assert_int_equal(rp_inventory_detect("dpkg/status.d/libc6.md5sums", none), RP_INV_UNKNOWN);
    assert_int_equal(rp_inventory_detect("dpkg/status.d/.hidden", none), RP_INV_UNKNOWN);
    assert_int_equal(rp_inventory_detect("other/status.d/libc6", none), RP_INV_UNKNOWN);
    assert_int_equal(rp_inventory_detect("status.d/libc6", none), RP_INV_UNKNOWN);
    assert_int_equal(rp_inventory_detect("/usr/lib/opkg/status", none), RP_INV_OPKG_STATUS);
    assert_int_equal(rp_inventory_detect("/var/lib/dpkg/status", none), RP_INV_DPKG_STATUS);
    assert_int_equal(rp_inventory_detect("status", none), RP_INV_DPKG_STATUS);
    assert_string_equal(rp_inventory_format_name(RP_INV_OPKG_STATUS), "opkg status");
    assert_string_equal(rp_inventory_format_name(RP_INV_DPKG_STATUS_D), "dpkg status.d");
}

/* ---- requirements.txt ---------------------------------------------------------------------- */

/* The fixture includes requirements-base.txt (-r, read where the line is) and constraints.txt
 * (-c, which pins the bare "idna": the package then names the constraint's file and line). */
static void test_requirements_fixture(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_PYPI, "Pillow", "9.0.0", 2},    {RP_ECO_PYPI, "Django", "2.2.0", 6},
        {RP_ECO_PYPI, "jinja2", "2.10", 7},     {RP_ECO_PYPI, "requests", "2.19.1", 10},
        {RP_ECO_PYPI, "urllib3", "1.24.1", 11}, {RP_ECO_PYPI, "PyYAML", "5.3", 12},
        {RP_ECO_PYPI, "click", "8.1.7", 13},    {RP_ECO_PYPI, "six", "1.16.0", 14},
        {RP_ECO_PYPI, "certifi", NULL, 17},     {RP_ECO_PYPI, "idna", "3.6", 2},
        {RP_ECO_PYPI, "flask", NULL, 20},
    };
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    parse_fixture("requirements.txt", RP_INV_REQUIREMENTS, &inv);
    check_pkgs(&inv, 0, w, NWANT(w));
    assert_string_equal(inv.pkgs[0].source, DATA "requirements-base.txt");
    assert_string_equal(inv.pkgs[1].source, DATA "requirements.txt");
    assert_string_equal(inv.pkgs[9].source, DATA "constraints.txt");
    assert_string_equal(inv.pkgs[10].why, "a direct reference (name @ URL)");
    assert_int_equal(inv.nsources, 3);
    rp_inventory_release(&inv);
}

static void test_requirements_syntax(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_PYPI, "a", "1.0", 1},
        {RP_ECO_PYPI, "b", "2.0", 2},
        {RP_ECO_PYPI, "c", NULL, 5},
        {RP_ECO_PYPI, "d", NULL, 6},
        {RP_ECO_PYPI, "e", NULL, 7},
        {RP_ECO_PYPI, "f", "1.0", 8},
        {RP_ECO_PYPI, "g.h_i", "3", 9},
        {RP_ECO_PYPI, "j", NULL, 10},
        {RP_ECO_PYPI, "k", "1!2.0+local.1", 11},
        {RP_ECO_PYPI, "l", "4.0", 12},
        {RP_ECO_PYPI, "m", "5.0", 15},
        {RP_ECO_PYPI, "n", NULL, 17},
        {RP_ECO_PYPI, "o", "1.0", 18},
    };
    expect(RP_INV_REQUIREMENTS,
           "a==1.0\n"
           "b[x, y] == 2.0 ; sys_platform == 'linux' and python_version < \"3.12\"\n"
           "  # an indented comment \\\n"
           "--extra-index-url https://example.com/simple\n"
           "c>=1.0,<2\n"
           "d~=1.4\n"
           "e==1.2.*\n"
           "f (==1.0)\n"
           "g.h_i==3 # comment\n"
           "j!=1.0\n"
           "k==1!2.0+local.1\n"
           "l==4.\\\n"
           "0\n"
           "# comment ending a continuation? no: this line is whole \\\n"
           "m==5.0 --hash=sha256:abc \\\n"
           "\t--hash sha256:def\n"
           "n==1.0,!=1.1\n"
           "o==1.0\\",
           w, NWANT(w));
    /* Windows line ends, a byte order mark, and no newline at the end. */
    static const struct want crlf[] = {{RP_ECO_PYPI, "p", "1", 1}, {RP_ECO_PYPI, "q", "2", 3}};
    expect(RP_INV_REQUIREMENTS, "\xef\xbb\xbfp==1\r\n\r\nq==2", crlf, NWANT(crlf));
    /* Everything pip installs from somewhere else than the index is skipped. */
    expect(RP_INV_REQUIREMENTS,
           "-e .\n-e git+https://x/y.git#egg=y\n"
           "https://example.com/pkg-1.0.tar.gz\ngit+https://github.com/a/b.git\n./local\n"
           "/abs/path\n~/home\npkg-1.0-py3-none-any.whl\nfoo-1.0.tar.gz\n--hash=sha256:x\n\n",
           NULL, 0);
    static const struct want at[] = {{RP_ECO_PYPI, "pkg", NULL, 1}};
    expect(RP_INV_REQUIREMENTS, "pkg[x] @ https://example.com/pkg.zip ; python_version>'3'\n", at,
           NWANT(at));
}

static void test_requirements_errors(void **state)
{
    (void)state;
    expect_fail(RP_INV_REQUIREMENTS, "a==1\nrequests==\n", "line 2: '==' without a version");
    expect_fail(RP_INV_REQUIREMENTS, "a==1\n\nfoo bar\n", "line 3: cannot read requirement");
    expect_fail(RP_INV_REQUIREMENTS, "!!!\n", "line 1: cannot read requirement '!!!'");
    expect_fail(RP_INV_REQUIREMENTS, "x[a==1\n", "line 1: unterminated extras");
    expect_fail(RP_INV_REQUIREMENTS, "x==1.0 2.0\n", "line 1: cannot read requirement");
    expect_fail(RP_INV_REQUIREMENTS, "x (==1.0\n", "line 1: unbalanced '('");
    expect_fail(RP_INV_REQUIREMENTS, "a==1\nb==2 \\\n  \\\nc===\n", "line 2: cannot read");
    expect_fail_len(RP_INV_REQUIREMENTS, "x==1\0", 5, RP_EINVAL, "line 1: NUL byte");
    /* Control bytes in an error message are not echoed raw. */
    expect_fail(RP_INV_REQUIREMENTS, "\x1b[31mx\n", "cannot read requirement '?[31mx'");
}

/* In-memory files for the includes of requirements.txt: path, content, and the id the reader
 * gives (NULL: the path), so that two paths can name one file as a symbolic link would. */
struct vfile {
    const char *path, *text, *id;
};

static int vread(void *arg, const char *path, char **text, size_t *len, char *id, size_t idcap,
                 struct rp_error *err)
{
    for (const struct vfile *f = arg; f->path; f++) {
        if (strcmp(f->path, path) != 0)
            continue;
        *text = strdup(f->text);
        assert_non_null(*text);
        *len = strlen(f->text);
        snprintf(id, idcap, "%s", f->id ? f->id : f->path);
        return RP_OK;
    }
    rp_error_set(err, "unable to read '%s': No such file or directory", path);
    return RP_ENOTFOUND;
}

/* Parses vfs[0] (a requirements.txt) with its includes; fails with a message holding msg, or,
 * when msg is NULL, must succeed and give the packages w, each from the file at srcs[i]. */
static void expect_includes(const struct vfile *vfs, const char *msg, const struct want *w,
                            const char *const *srcs, size_t n)
{
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    parse_len(RP_INV_REQUIREMENTS, "before==1.0\n", 12, &inv);
    const struct rp_inventory_options opt = {vread, (void *)vfs, NULL};
    struct rp_error err = {{0}};
    int rc = rp_inventory_parse_ex(&inv, RP_INV_REQUIREMENTS, vfs[0].path,
                                   rp_str_from_cstr(vfs[0].text), &opt, &err);
    if (msg) {
        if (rc != RP_EINVAL || !strstr(err.msg, msg))
            fail_msg("code %d, message '%s', want '%s'", rc, err.msg, msg);
        if (strncmp(err.msg, "line ", 5) != 0)
            fail_msg("message '%s' does not start with its line", err.msg);
        assert_int_equal(inv.n, 1); /* left as it was */
        assert_int_equal(inv.nsources, 1);
    } else {
        if (rc)
            fail_msg("%s: %s", rp_strerror(rc), err.msg);
        check_pkgs(&inv, 1, w, n);
        for (size_t i = 0; i < n; i++)
            if (strcmp(inv.pkgs[1 + i].source, srcs[i]) != 0)
                fail_msg("'%s': source '%s', want '%s'", inv.pkgs[1 + i].name,
                         inv.pkgs[1 + i].source, srcs[i]);
    }
    rp_inventory_release(&inv);
}

/* Regression (issue 12, item 22): "-r" includes were skipped, their packages never checked.
 * pip reads them where the line is, relative to the including file's folder (also "-rFILE",
 * "--requirement FILE", "--requirement=FILE"); "-c" files pin the version of a requirement that
 * does not pin one itself, and a "-r" inside a constraints file is a requirements file. */
static void test_regression_requirements_includes_followed(void **state)
{
    (void)state;
    static const struct vfile vfs[] = {
        {"app/requirements.txt",
         "-r base/common.txt\nflask==2.0.0\n--requirement=../shared.txt # shared\n"
         "-c constraints.txt\nrequests\nREQUESTS_toolbelt>=1\n-r'quoted.txt'\n",
         NULL},
        {"app/base/common.txt", "django==3.2\n-r ./more.txt\n", NULL},
        {"app/base/more.txt", "\xef\xbb\xbfsix==1.16\n", NULL},
        {"app/../shared.txt", "attrs==21.0\n", NULL},
        {"app/constraints.txt",
         "requests==2.19.1\nrequests-toolbelt==0.9\nunused==1.0\nflask==9\n-r extra.txt\n", NULL},
        {"app/extra.txt", "zope.interface==5.0\n", NULL},
        {"app/quoted.txt", "", NULL},
        {NULL, NULL, NULL},
    };
    static const struct want w[] = {
        {RP_ECO_PYPI, "django", "3.2", 1},
        {RP_ECO_PYPI, "six", "1.16", 1},
        {RP_ECO_PYPI, "flask", "2.0.0", 2}, /* its own pin stays */
        {RP_ECO_PYPI, "attrs", "21.0", 1},
        {RP_ECO_PYPI, "zope.interface", "5.0", 1},
        {RP_ECO_PYPI, "requests", "2.19.1", 1},       /* pinned by the constraint */
        {RP_ECO_PYPI, "REQUESTS_toolbelt", "0.9", 2}, /* a range: the constraint decides */
    };
    static const char *const srcs[] = {
        "app/base/common.txt", "app/base/more.txt",   "app/requirements.txt", "app/../shared.txt",
        "app/extra.txt",       "app/constraints.txt", "app/constraints.txt",
    };
    expect_includes(vfs, NULL, w, srcs, NWANT(w));
    /* An absolute include is not joined to the folder. */
    static const struct vfile abs[] = {
        {"x/requirements.txt", "-r /etc/r.txt\n", NULL}, {"/etc/r.txt", "a==1\n", NULL}, {0}};
    static const struct want wa[] = {{RP_ECO_PYPI, "a", "1", 1}};
    static const char *const sa[] = {"/etc/r.txt"};
    expect_includes(abs, NULL, wa, sa, 1);
}

/* Regression (issue 12, item 22): what cannot be followed is an error of the include's line,
 * never packages silently missing: a cycle (also through another path to the same file), a
 * file that cannot be read, a URL, an environment variable, includes nested too deep, a broken
 * included file (its line named too), and an include when no reader is given. */
static void test_regression_requirements_include_errors(void **state)
{
    (void)state;
    static const struct vfile cycle[] = {
        {"a.txt", "x==1\n-r b.txt\n", NULL}, {"b.txt", "\n-r a.txt\n", NULL}, {0}};
    expect_includes(cycle,
                    "line 2: in 'b.txt': line 2: -r a.txt: a cycle of includes (a.txt -> b.txt -> "
                    "a.txt)",
                    NULL, NULL, 0);
    static const struct vfile self[] = {
        {"d/a.txt", "-r a.txt\n", NULL}, {"d/a.txt", "", NULL}, {0}};
    expect_includes(self, "line 1: -r a.txt: a cycle of includes (a.txt -> a.txt)", NULL, NULL, 0);
    static const struct vfile alias[] = {{"req.txt", "-c sub/c.txt\n", "/real/req.txt"},
                                         {"sub/c.txt", "-r ../req.txt\n", "/real/c.txt"},
                                         {"sub/../req.txt", "", "/real/req.txt"},
                                         {0}};
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    const struct rp_inventory_options opt = {vread, (void *)alias, "/real/req.txt"};
    struct rp_error err = {{0}};
    assert_int_equal(rp_inventory_parse_ex(&inv, RP_INV_REQUIREMENTS, "req.txt",
                                           rp_str_from_cstr(alias[0].text), &opt, &err),
                     RP_EINVAL);
    assert_non_null(strstr(err.msg, "line 1: in 'sub/c.txt': line 1: -r ../req.txt: a cycle"));
    rp_inventory_release(&inv);
    static const struct vfile missing[] = {{"r.txt", "a==1\n\n-r nope.txt\n", NULL}, {0}};
    expect_includes(missing, "line 3: -r nope.txt: unable to read 'nope.txt'", NULL, NULL, 0);
    static const struct vfile broken[] = {
        {"r/requirements.txt", "-c c.txt\n", NULL}, {"r/c.txt", "ok==1\nDjango=2.2\n", NULL}, {0}};
    expect_includes(broken, "line 1: in 'r/c.txt': line 2: '=' is not a version operator", NULL,
                    NULL, 0);
    static const struct vfile url[] = {{"r.txt", "-r https://example.com/r.txt\n", NULL}, {0}};
    expect_includes(url,
                    "line 1: cannot follow '-r https://example.com/r.txt': rampart reads "
                    "local files only",
                    NULL, NULL, 0);
    static const struct vfile env[] = {{"r.txt", "--constraint ${DIR}/c.txt\n", NULL}, {0}};
    expect_includes(env, "line 1: cannot follow '-c ${DIR}/c.txt': the path names an environment",
                    NULL, NULL, 0);
    static const struct vfile empty[] = {{"r.txt", "-r\n", NULL}, {0}};
    expect_includes(empty, "line 1: '-r' without a file", NULL, NULL, 0);
    /* A chain deeper than the bound. */
    enum { DEEP = RP_INV_MAX_INCLUDE_DEPTH + 2 };
    struct vfile deep[DEEP + 1];
    char names[DEEP][24], texts[DEEP][64];
    for (int i = 0; i < DEEP; i++) {
        snprintf(names[i], sizeof(names[i]), "f%d.txt", i);
        snprintf(texts[i], sizeof(texts[i]), "p%d==1\n-r f%d.txt\n", i, i + 1);
        deep[i] = (struct vfile){names[i], texts[i], NULL};
    }
    deep[DEEP] = (struct vfile){0};
    expect_includes(deep,
                    "line 2: in 'f31.txt': line 2: '-r f32.txt': includes nested more than 32 "
                    "deep",
                    NULL, NULL, 0);
    expect_fail(RP_INV_REQUIREMENTS, "a==1\n-r base.txt\n",
                "line 2: '-r base.txt' includes another file, which is not read here");
}

/* Regression (issue 12, item 22): pip's per-requirement options after a requirement
 * ("-C key=val", "--config-settings", "--global-option") were refused; pip takes them. An option
 * pip does not take there is still an error. */
static void test_regression_requirements_per_requirement_options(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_PYPI, "foo", "1.0", 1},
        {RP_ECO_PYPI, "bar", "2", 2},
        {RP_ECO_PYPI, "baz", "3", 4},
        {RP_ECO_PYPI, "qux", "4", 5},
    };
    expect(RP_INV_REQUIREMENTS,
           "foo==1.0 -C key=val --config-settings=a=b --hash=sha256:x\n"
           "bar==2 -Ckey=v \\\n  --hash sha256:y\n"
           "baz==3 --global-option=--x --install-option '--prefix=/x'\n"
           "qux==4 ; python_version >= '3' --config-settings a=b\n",
           w, NWANT(w));
    expect_fail(RP_INV_REQUIREMENTS, "a==1\nfoo==1.0 --frobnicate\n",
                "line 2: unknown option '--frobnicate' after a requirement");
    expect_fail(RP_INV_REQUIREMENTS, "foo==1.0 -C\n", "line 1: '-C' without a value");
    expect_fail(RP_INV_REQUIREMENTS, "foo==1.0 -x y\n", "line 1: unknown option '-x'");
}

/* Regression (issue 12, item 22): "pkg==${VAR}" was read as pinned to the version "${VAR}". pip
 * takes the variable's value when it installs: the version is not known here. */
static void test_regression_requirements_env_var_not_pinned(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_PYPI, "pkg", NULL, 1},
        {RP_ECO_PYPI, "other", NULL, 2},
        {RP_ECO_PYPI, "ranged", NULL, 3},
    };
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    static const char text[] = "pkg==${VERSION}\nother == ${A}.${B}\nranged>=${X},<2\n";
    parse_len(RP_INV_REQUIREMENTS, text, sizeof(text) - 1, &inv);
    check_pkgs(&inv, 0, w, NWANT(w));
    assert_string_equal(inv.pkgs[0].why, "its version comes from an environment variable");
    assert_string_equal(inv.pkgs[1].why, "its version comes from an environment variable");
    assert_null(inv.pkgs[2].why); /* a range anyway */
    rp_inventory_release(&inv);
    expect_fail(RP_INV_REQUIREMENTS, "${PKG}==1.0\n", "it names an environment variable");
}

/* Regression (issue 12, item 25): a typo "Django=2.2" gave 0 packages and exit 0 (read as an
 * unpinned requirement). pip refuses it ("= is not a valid operator"); so does rampart, with
 * its line. */
static void test_regression_requirements_operator_typo_is_an_error(void **state)
{
    (void)state;
    enum rp_inv_format f = RP_INV_REQUIREMENTS;
    expect_fail(f, "Django=2.2\n",
                "line 1: '=' is not a version operator in 'Django=2.2' (did you mean '=='?)");
    expect_fail(f, "a==1\nDjango=>2.2\n", "line 2: '=>' is not a version operator");
    expect_fail(f, "x>=<1\n", "line 1: '>=<' is not a version operator");
    expect_fail(f, "x>=1,\n", "line 1: empty version clause in 'x>=1,'");
    expect_fail(f, "x==1.0$\n", "line 1: invalid version '1.0$' in 'x==1.0$'");
    expect_fail(f, "x>2<3\n", "line 1: invalid version '2<3'");
    expect_fail(f, "x~=\n", "line 1: '~=' without a version");
    static const struct want w[] = {{RP_ECO_PYPI, "x", "anything$goes", 1}};
    expect(f, "x===anything$goes\n", w, NWANT(w)); /* "===" compares as text */
}

/* ---- TOML lock files ----------------------------------------------------------------------- */

static void test_poetry_fixture(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_PYPI, "certifi", "2022.12.7", 4}, {RP_ECO_PYPI, "click", "8.1.7", 15},
        {RP_ECO_PYPI, "jinja2", "2.11.2", 29},    {RP_ECO_PYPI, "markupsafe", "2.1.3", 46},
        {RP_ECO_PYPI, "werkzeug", "2.2.2", 57},
    };
    expect_fixture("poetry.lock", RP_INV_POETRY_LOCK, w, NWANT(w));
}

/* The workspace's own crate (no "source") is left out; a git crate is kept. */
static void test_cargo_fixture(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_CRATES, "cfg-if", "1.0.0", 6}, {RP_ECO_CRATES, "memchr", "2.4.1", 21},
        {RP_ECO_CRATES, "regex", "1.5.4", 27}, {RP_ECO_CRATES, "smallvec", "1.6.0", 36},
        {RP_ECO_CRATES, "time", "0.1.43", 42}, {RP_ECO_CRATES, "tokio-util", "0.7.8", 52},
    };
    expect_fixture("Cargo.lock", RP_INV_CARGO_LOCK, w, NWANT(w));
}

static void test_toml_syntax(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_PYPI, "abc", "1.0", 3},
        {RP_ECO_PYPI, "lit\\eral", "2'0", 24},
        {RP_ECO_PYPI, "quoted-key", "3.0", 30},
        {RP_ECO_PYPI, "caf\xc3\xa9", "4", 38},
    };
    expect(RP_INV_POETRY_LOCK,
           "version = 1 # root keys are not packages\n"
           "[[package]]\n"
           "name = \"a\\u0062c\" # an escape\n"
           "version = \"1.0\"\n"
           "files = [ # a comment inside an array\n"
           "  {file = \"x ] y\", hash = \"#not a comment\"},\n"
           "  [\"nested\", ['array']],\n"
           "\n"
           "  1979-05-27T07:32:00Z, 1979-05-27 07:32:00, 3.14, -inf, true,\n"
           "]\n"
           "description = \"\"\"\n"
           "[[package]]\n"
           "name = \"not-a-package\"\n"
           "\"\"\"\n"
           "other = '''\n"
           "name = \"also not\" ''\n"
           "'''\n"
           "inline = { name = \"no\", version = \"no\" }\n"
           "dotted.name = \"no\"\n"
           "[package.dependencies]\n"
           "name = \"dependency-not-package\"\n"
           "version = \"9\"\n"
           "[[package]]\n"
           "name = 'lit\\eral'\n"
           "version = \"2'0\"\n"
           "[ package.extras ]\n"
           "x = [\"y\"]\n"
           "\n"
           "[[ package ]]\n"
           "\"name\" = \"quoted-key\"\n"
           "'version' = \"3.0\"\n"
           "multi = \"\"\"a \\\n"
           "      b\"\"\"\"\"\n"
           "[package.source]\n"
           "type = \"git\"\n"
           "\n"
           "[[package]]\n"
           "name = \"caf\\u00e9\"\r\n"
           "version = \"\"\"4\"\"\"\n"
           "[metadata]\n"
           "lock-version = \"2.0\"\n",
           w, NWANT(w));
    /* An empty file, and one with no packages, are empty inventories. */
    expect(RP_INV_CARGO_LOCK, "", NULL, 0);
    expect(RP_INV_CARGO_LOCK, "# nothing\nversion = 3\n[metadata]\n", NULL, 0);
}

static void test_toml_errors(void **state)
{
    (void)state;
    enum rp_inv_format p = RP_INV_POETRY_LOCK;
    expect_fail(p, "[[package]]\nname = \"abc\nversion = \"1\"\n", "line 2: unterminated string");
    expect_fail(p, "[[package]]\nname = 'abc\n", "line 2: unterminated string");
    expect_fail(p, "[[package]]\nname = \"a\"\nversion = \"1\"\nd = \"\"\"\nnever\nends\n",
                "line 4: unterminated string");
    expect_fail(p, "[[package]]\nname = \"a\"\nversion = \"1\"\nfiles = [\n\"x\",\n\n",
                "line 4: unterminated array");
    expect_fail(p, "[[package]]\nname = \"a\"\nversion = \"1\"\nfiles = [\"x\" \"y\"]\n",
                "line 4: expected ',' or ']'");
    expect_fail(p, "[[package]]\nname \"a\"\n", "line 2: expected '=' after a key");
    expect_fail(p, "[[package]]\nname = 5\nversion = \"1\"\n", "line 2: 'name' is not a string");
    expect_fail(p, "[[package]]\nname = \"a\"\nversion = [\"1\"]\n",
                "line 3: 'version' is not a string");
    expect_fail(p, "[[package]]\nname = \"a\"\nname = \"b\"\n", "line 3: duplicate key 'name'");
    expect_fail(p, "\n[[package]]\nversion = \"1\"\n", "line 2: [[package]] without a name");
    expect_fail(p, "[[package]]\nname = \"a\"\n[[package]]\n",
                "line 1: package 'a' without a version");
    expect_fail(p, "[[package]]\nname = \"a\\q\"\n", "line 2: invalid escape");
    expect_fail(p, "[[package]]\nname = \"\\ud800\"\n", "line 2: escape of an invalid code point");
    expect_fail(p, "[[package]]\nname = \"a\x01\"\n", "line 2: control character");
    expect_fail(p, "[[package]]\nname = \"a\" junk\n", "line 2: unexpected 'junk' after a value");
    expect_fail(p, "[[package\nname = \"a\"\n", "line 1: unterminated table header");
    expect_fail(p, "[[package]]\nname = \"a\"\nversion = \"\"\n", "line 2: empty version of 'a'");
    expect_fail(p, "x = \n", "line 1: expected a value");
    expect_fail(p, "x = {a = 1\n", "line 1: unterminated inline table");
    expect_fail(p, "[[package]]\nname = \"a\\u0000b\"\nversion = \"1\"\n", "line 2: NUL byte");
    /* Deep nesting is refused before it can exhaust the stack. */
    size_t depth = 100000;
    char *deep = malloc(depth + 8);
    assert_non_null(deep);
    memcpy(deep, "x = ", 4);
    memset(deep + 4, '[', depth);
    deep[4 + depth] = '\0';
    expect_fail(p, deep, "line 1: values nested more than");
    free(deep);
}

/* poetry.lock's "source" is not read: an inline table there (the same TOML as a
 * [package.source] table) was refused as "'source' is not a string". Cargo.lock's is read. */
static void test_toml_poetry_source_table(void **state)
{
    (void)state;
    static const struct want w[] = {{RP_ECO_PYPI, "a", "1.0", 2}};
    expect(RP_INV_POETRY_LOCK,
           "[[package]]\n"
           "name = \"a\"\n"
           "version = \"1.0\"\n"
           "source = {type = \"legacy\", url = \"https://pypi.example/simple\"}\n",
           w, NWANT(w));
    expect_fail(RP_INV_CARGO_LOCK, "[[package]]\nname = \"a\"\nversion = \"1\"\nsource = {a = 1}\n",
                "line 4: 'source' is not a string");
}

/* TOML is UTF-8: a file cut inside a multi-byte character, or with a Latin-1 byte in a name, was
 * read (and the package then dropped by --list --json, whose output must be UTF-8). */
static void test_toml_invalid_utf8(void **state)
{
    (void)state;
    enum rp_inv_format p = RP_INV_POETRY_LOCK;
    expect_fail(p, "[[package]]\nname = \"caf\xe9\"\nversion = \"1\"\n", "line 2: invalid UTF-8");
    expect_fail(p, "[[package]]\nname = \"a\"\nversion = \"1\"\n# caf\xc3",
                "line 4: invalid UTF-8");
    expect_fail(RP_INV_CARGO_LOCK, "x = '\xed\xa0\x80'\n", "line 1: invalid UTF-8"); /* surrogate */
    static const struct want w[] = {{RP_ECO_PYPI, "caf\xc3\xa9", "1", 2}};
    expect(p, "[[package]]\nname = \"caf\xc3\xa9\" # \xe2\x82\xac\nversion = \"1\"\n", w, NWANT(w));
}

/* Control characters other than tab are refused in comments, as in strings: a CRLF file cut
 * between "\r" and "\n" in a comment was read. */
static void test_toml_comment_control_chars(void **state)
{
    (void)state;
    enum rp_inv_format p = RP_INV_POETRY_LOCK;
    expect_fail(p, "[[package]]\r\nname = \"a\"\r\nversion = \"1\" # x\r",
                "line 3: control character 0x0d");
    expect_fail(p, "# a\x01 comment\nx = 1\n", "line 1: control character 0x01");
    expect_fail(p, "x = [ # a\x7f\n1]\n", "line 1: control character 0x7f");
    expect_fail(p, "x = 1\r# lone CR\n", "line 1: control character 0x0d");
    static const struct want w[] = {{RP_ECO_PYPI, "a", "1", 3}};
    expect(p, "# a\tcomment\r\n[[package]] # c\r\nname = \"a\" # c\r\nversion = \"1\"#\r\n", w,
           NWANT(w));
}

/* Bare values (numbers, booleans, dates and times) are checked as TOML 1.0 writes them: a file
 * cut in the middle of one ("optional = fals") was read. */
static void test_toml_cut_bare_values(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "fals",
        "tru",
        "True",
        "1_",
        "1__0",
        "01",
        "+0x1",
        "0x",
        "0b2",
        "0o8",
        "1.",
        ".5",
        "1e",
        "1e+",
        "-in",
        "infinity",
        "nan0",
        "1979-05-2",
        "1979-5-27",
        "1979-05-27T",
        "07:32",
        "07:32:0",
        "07:32:00.",
        "24:00:00",
        "07:60:00",
        "2023-02-29",
        "1900-02-29",
        "2023-04-31",
        "0000-01-01",
        "1979-13-01",
        "1979-05-27T07:32:00-07:0",
        "1979-05-27T07:32:00+24:00",
        "1979-05-27 07:32",
        "1979-05-27T07:32:00ZZ",
        "1979-05-27T07:32:00.5+05",
        "1:2",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "[[package]]\nname = \"a\"\nversion = \"1\"\nx = %s\n",
                 bad[i]);
        expect_fail(RP_INV_POETRY_LOCK, text, "line 4: invalid value");
    }
    static const struct want w[] = {{RP_ECO_PYPI, "a", "1", 2}};
    expect(RP_INV_POETRY_LOCK,
           "[[package]]\nname = \"a\"\nversion = \"1\"\n"
           "x = [true, false, 0, -0, +17, 1_000, 0xDEAD_beef, 0o755, 0b1101, 3.14, -0.01, 5e+22,\n"
           "     1E06, 6.626e-34, 224_617.445_991, 0e0, inf, -inf, +nan, nan]\n"
           "y = [1979-05-27, 2000-02-29, 1979-05-27T07:32:00Z, 1979-05-27t07:32:00z,\n"
           "     1979-05-27 07:32:00.999999-07:00, 1979-05-27T00:32:00+05:30, 07:32:00,\n"
           "     00:32:00.1234567, 9999-12-31T23:59:59]\n"
           "z = 1987-07-05 17:45:00.12Z # a date and time\n",
           w, NWANT(w));
}

/* ---- JSON formats -------------------------------------------------------------------------- */

static void test_pipfile_fixture(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_PYPI, "asgiref", "3.7.2", 19},  {RP_ECO_PYPI, "django", "3.2.0", 26},
        {RP_ECO_PYPI, "mylib", NULL, 34},       {RP_ECO_PYPI, "requests", "2.31.0", 38},
        {RP_ECO_PYPI, "sqlparse", "0.4.4", 45}, {RP_ECO_PYPI, "urllib3", "1.26.4", 52},
        {RP_ECO_PYPI, "pillow", "9.0.0", 60},
    };
    expect_fixture("Pipfile.lock", RP_INV_PIPFILE_LOCK, w, NWANT(w));
}

static void test_pipfile_errors(void **state)
{
    (void)state;
    enum rp_inv_format f = RP_INV_PIPFILE_LOCK;
    expect_fail(f, "{\n\"default\": {\n  \"a\": {\"version\": 5}\n}}",
                "line 3: \"version\" is a number, not a string");
    expect_fail(f, "{\"default\": []}", "line 1: \"default\" is an array, not an object");
    expect_fail(f, "{\"default\": {\n\"a\": \"==1.0\"}}",
                "line 2: \"a\" is a string, not an object");
    expect_fail(f, "{\"default\": {\"a\": {\"version\": \"==1\"}", "line 1: ");
    expect_fail(f, "[1, 2]", "line 1: the file is an array, not a JSON object");
    expect_fail(f, "", "line 1: ");
    expect_fail(f, "{\"default\": {\"a\": {\"version\": \"==1\"},}}",
                "line 1: expected a key, not '}'");
    expect_fail(f, "{\"default\": {}} {}", "line 1: expected the end of the file, not '{'");
    expect_fail(f, "{\"default\": {\"a\": {\"version\": \"==1\"}}",
                "line 1: expected ',' or '}', not the end");
}

static void test_npm_fixture(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_NPM, "@babel/core", "7.22.5", 21}, {RP_ECO_NPM, "express", "4.17.1", 30},
        {RP_ECO_NPM, "qs", "6.7.0", 38},           {RP_ECO_NPM, "json5", "2.2.1", 43},
        {RP_ECO_NPM, "lodash", "4.17.20", 52},     {RP_ECO_NPM, "lodash", "4.17.21", 57},
        {RP_ECO_NPM, "minimist", "1.2.5", 74},
    };
    expect_fixture("package-lock.json", RP_INV_NPM_LOCK, w, NWANT(w));
}

/* lockfileVersion 1 files are read from "dependencies", nested entries after their parent. */
static void test_npm_v1(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_NPM, "a", "1.0.0", 4},    {RP_ECO_NPM, "b", "2.0.0", 7},
        {RP_ECO_NPM, "c", "3.0.0", 8},    {RP_ECO_NPM, "lodash", "4.17.21", 11},
        {RP_ECO_NPM, "gitdep", NULL, 12}, {RP_ECO_NPM, "nover", NULL, 13},
    };
    expect(RP_INV_NPM_LOCK,
           "{\n"
           "  \"lockfileVersion\": 1,\n"
           "  \"dependencies\": {\n"
           "    \"a\": {\"version\": \"1.0.0\",\n"
           "      \"requires\": {\"b\": \"^2\"},\n"
           "      \"dependencies\": {\n"
           "        \"b\": {\"version\": \"2.0.0\", \"dependencies\": {\n"
           "        \"c\": {\"version\": \"3.0.0\"}}}\n"
           "      }\n"
           "    },\n"
           "    \"my-lodash\": {\"version\": \"npm:lodash@4.17.21\"},\n"
           "    \"gitdep\": {\"version\": \"git+https://github.com/a/b.git#0123abc\"},\n"
           "    \"nover\": {\"bundled\": true}\n"
           "  }\n"
           "}\n",
           w, NWANT(w));
}

/* Each npm package keeps where the lock file installs it, so that copies of one version can be
 * reported once with their locations (issue 12, item 24): v2/v3 the "packages" key, v1 the
 * nesting of "dependencies". */
static void test_npm_install_paths(void **state)
{
    (void)state;
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    static const char v1[] = "{\"lockfileVersion\": 1, \"dependencies\": {\"a\": {\"version\": "
                             "\"1.0.0\", \"dependencies\": {\"b\": {\"version\": \"2.0.0\", "
                             "\"dependencies\": {\"c\": {\"version\": \"3.0.0\"}}}, \"d\": "
                             "{\"version\": \"4.0.0\"}}}, \"e\": {\"version\": \"5.0.0\"}}}";
    parse_len(RP_INV_NPM_LOCK, v1, sizeof(v1) - 1, &inv);
    static const char *const want1[] = {"node_modules/a", "node_modules/a/node_modules/b",
                                        "node_modules/a/node_modules/b/node_modules/c",
                                        "node_modules/a/node_modules/d", "node_modules/e"};
    assert_int_equal(inv.n, 5);
    for (size_t i = 0; i < inv.n; i++)
        assert_string_equal(inv.pkgs[i].path, want1[i]);
    rp_inventory_release(&inv);
    rp_inventory_init(&inv);
    static const char v3[] = "{\"lockfileVersion\": 3, \"packages\": {\"\": {}, "
                             "\"node_modules/@s/x\": {\"version\": \"1.0.0\"}, "
                             "\"packages/w/node_modules/y\": {\"version\": \"2.0.0\"}}}";
    parse_len(RP_INV_NPM_LOCK, v3, sizeof(v3) - 1, &inv);
    assert_int_equal(inv.n, 2);
    assert_string_equal(inv.pkgs[0].path, "node_modules/@s/x");
    assert_string_equal(inv.pkgs[1].path, "packages/w/node_modules/y");
    rp_inventory_release(&inv);
    /* Other formats say no install path. */
    rp_inventory_init(&inv);
    parse_len(RP_INV_REQUIREMENTS, "a==1\n", 5, &inv);
    assert_null(inv.pkgs[0].path);
    rp_inventory_release(&inv);
}

static void test_npm_errors(void **state)
{
    (void)state;
    enum rp_inv_format f = RP_INV_NPM_LOCK;
    expect_fail(f,
                "{\"lockfileVersion\": 3,\n\"packages\": {\n\"node_modules/a\": {\"version\": 1}}}",
                "line 3: \"version\" is a number, not a string");
    expect_fail(f, "{\"lockfileVersion\": \"3\", \"packages\": {}}",
                "line 1: \"lockfileVersion\" is a string, not an integer");
    expect_fail(f, "{\"packages\": []}", "line 1: \"packages\" is an array, not an object");
    expect_fail(f, "{\"packages\": {\"node_modules/a\": true}}",
                "line 1: \"node_modules/a\" is a boolean, not an object");
    expect_fail(f, "{\"packages\": {\"node_modules/\": {\"version\": \"1\"}}}",
                "line 1: empty package name");
    expect_fail(f, "{\"dependencies\": {\"a\": {\"version\": \"1\",\n\"dependencies\": 3}}}",
                "line 2: \"dependencies\" is a number");
    expect_fail(f, "{\"dependencies\": {\"a\": {\"version\": null}}}",
                "line 1: \"version\" is null");
    /* Truncated in the middle of the packages. */
    expect_fail(f, "{\"lockfileVersion\": 3,\n\"packages\": {\n\"node_modules/a\": {\"vers",
                "line 3: ");
}

static void test_cyclonedx_fixture(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_PYPI, "django", "2.2.0", 32},
        {RP_ECO_PYPI, "requests", "2.31.0", 39},
        {RP_ECO_GO, "golang.org/x/net", "v0.7.0", 46},
        {RP_ECO_GO, "github.com/gin-gonic/gin", "v1.9.0", 53},
        {RP_ECO_GO, "gopkg.in/yaml.v2", "v2.2.2", 60},
        {RP_ECO_NPM, "@babel/traverse", "7.22.5", 69},
        {RP_ECO_CRATES, "smallvec", "1.6.0", 76},
        {RP_ECO_DEBIAN, "openssl", "3.0.11-1~deb12u2", 83},
        {RP_ECO_OTHER, "org.apache.logging.log4j:log4j-core", "2.14.1", 90},
        {RP_ECO_PYPI, "jinja2", NULL, 96},
    };
    expect_fixture("bom.cdx.json", RP_INV_CYCLONEDX, w, NWANT(w));
}

/* Lines come from a scan that must not be fooled by strings holding quotes, colons, braces or
 * key-like text, nor by escaped keys; a minified file is all line 1. */
static void test_json_lines(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_PYPI, "a", "1", 4},
        {RP_ECO_PYPI, "b", "2", 7},
        {RP_ECO_PYPI, "c", "3", 10},
    };
    expect(RP_INV_CYCLONEDX,
           "{\"bomFormat\": \"CycloneDX\",\n"
           "\"components\": [\n"
           "{\"description\": \"x \\\"purl\\\": \\\\\", \"tags\": [\"a:\", {\"k\": \"{\"}],\n"
           "\"purl\": \"pkg:pypi/a@1\"},\n"
           "{\"name\":\n"
           "\"b\",\n"
           " \"\\u0070url\"  \n  :\"pkg:pypi/b@2\", \"components\": [\n"
           "\n"
           "{\"purl\": \"pkg:pypi/c@3\", \"components\": []}]}]}\n",
           w, NWANT(w));
    static const struct want one[] = {
        {RP_ECO_PYPI, "a", "1", 1},
        {RP_ECO_GO, "example.com/m", "v1.0.0", 1},
        {RP_ECO_NPM, "x", "2", 1},
    };
    expect(RP_INV_CYCLONEDX,
           "{\"metadata\":{\"component\":{\"purl\":\"pkg:pypi/self@1\"}},\"components\":[{\"purl\":"
           "\"pkg:pypi/a@1\"},{\"purl\":\"pkg:golang/example.com/m@v1.0.0\"},{\"purl\":null},{},"
           "{\"purl\":\"pkg:npm/x@2\"}]}",
           one, NWANT(one));
    static const struct want np[] = {{RP_ECO_NPM, "a", "1", 1}, {RP_ECO_NPM, "b", "2", 1}};
    expect(
        RP_INV_NPM_LOCK,
        "{\"lockfileVersion\":3,\"packages\":{\"\":{\"name\":\"root\",\"dependencies\":{\"a\":"
        "\"1\"}},\"node_modules/a\":{\"version\":\"1\"},\"node_modules/b\":{\"version\":\"2\"}}}",
        np, NWANT(np));
}

static void test_cyclonedx_errors(void **state)
{
    (void)state;
    enum rp_inv_format f = RP_INV_CYCLONEDX;
    expect_fail(f, "{\"components\": [\n{\"purl\": 5}]}",
                "line 2: \"purl\" is a number, not a string");
    expect_fail(f, "{\"components\": {}}", "line 1: \"components\" is an object, not an array");
    expect_fail(f, "{\"components\": [1]}", "line 1: \"components\" holds a number");
    expect_fail(f, "{\"components\": [\n\n{\"purl\": \"npm/x@1\"}]}",
                "line 3: invalid package URL 'npm/x@1': does not start with 'pkg:'");
    expect_fail(f, "{\"components\": [{\"purl\": \"pkg:pypi/x@1\"", "line 1: ");
    expect_fail(f, "{\"components\": [{\"purl\": \"pkg:pypi/x\\u0000y@1\"}]}", "line 1: ");
    expect_fail(f, "{\"components\": [{\"purl\": \"pkg:pypi/x%00y@1\"}]}", "NUL byte");
    /* Components nested past any real SBOM's depth are refused, not recursed into. */
    struct rp_buf b;
    rp_buf_init(&b, 1u << 20);
    assert_int_equal(rp_buf_adds(&b, "{\"components\": "), RP_OK);
    for (int i = 0; i < 300; i++)
        assert_int_equal(rp_buf_adds(&b, "[{\"components\": "), RP_OK);
    assert_int_equal(rp_buf_adds(&b, "[]"), RP_OK);
    for (int i = 0; i < 300; i++)
        assert_int_equal(rp_buf_adds(&b, "}]"), RP_OK);
    assert_int_equal(rp_buf_adds(&b, "}"), RP_OK);
    expect_fail(f, b.ptr, "line 1: JSON nested more than 512 deep");
    rp_buf_release(&b);
}

static void test_spdx_fixture(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_PYPI, "urllib3", "1.24.1", 29},
        {RP_ECO_PYPI, "idna", "3.7", 42},
        {RP_ECO_GO, "golang.org/x/crypto", "v0.0.0-20200622213623-75b288015ac9", 55},
        {RP_ECO_GO, "github.com/pkg/errors", "v0.9.1", 68},
    };
    expect_fixture("sbom.spdx.json", RP_INV_SPDX, w, NWANT(w));
}

static void test_spdx_errors(void **state)
{
    (void)state;
    enum rp_inv_format f = RP_INV_SPDX;
    expect_fail(f,
                "{\"packages\": [{\"externalRefs\": [{\"referenceType\": \"purl\",\n"
                "\"referenceLocator\": [\"pkg:pypi/a@1\"]}]}]}",
                "line 2: \"referenceLocator\" is an array, not a string");
    expect_fail(f, "{\"packages\": [{\"externalRefs\": [{\"referenceType\": \"purl\"}]}]}",
                "line 1: purl reference without \"referenceLocator\"");
    expect_fail(f, "{\"packages\": {}}", "line 1: \"packages\" is an object, not an array");
    expect_fail(f, "{\"packages\": [{\"externalRefs\": 1}]}", "line 1: \"externalRefs\" is a");
    /* Locator before type, other reference types ignored. */
    static const struct want w[] = {{RP_ECO_CRATES, "serde", "1.0.0", 3}};
    expect(f,
           "{\"packages\": [{\"externalRefs\": [\n"
           "{\"referenceType\": \"cpe23Type\", \"referenceLocator\": \"cpe:2.3:a:x\"},\n"
           "{\"referenceLocator\": \"pkg:cargo/serde@1.0.0\", \"referenceType\": \"purl\"}]}]}",
           w, NWANT(w));
}

/* ---- package URLs -------------------------------------------------------------------------- */

static void purl_ok(const char *s, enum rp_eco eco, const char *name, const char *version)
{
    struct rp__purl p;
    struct rp_error err = {{0}};
    int rc = rp__purl_parse(rp_str_from_cstr(s), &p, &err);
    if (rc)
        fail_msg("'%s': %s", s, err.msg);
    if (p.eco != eco || strcmp(p.name, name) != 0 ||
        (version ? !p.version || strcmp(p.version, version) != 0 : p.version != NULL))
        fail_msg("'%s': %d '%s' '%s', want %d '%s' '%s'", s, p.eco, p.name,
                 p.version ? p.version : "(null)", eco, name, version ? version : "(null)");
    rp__purl_release(&p);
}

static void purl_bad(const char *s, const char *why)
{
    struct rp__purl p;
    struct rp_error err = {{0}};
    assert_int_equal(rp__purl_parse(rp_str_from_cstr(s), &p, &err), RP_EINVAL);
    assert_null(p.name);
    if (!strstr(err.msg, why))
        fail_msg("'%s': message '%s' does not contain '%s'", s, err.msg, why);
}

static void test_purl(void **state)
{
    (void)state;
    purl_ok("pkg:pypi/django@2.2.0", RP_ECO_PYPI, "django", "2.2.0");
    purl_ok("PKG:PyPI/Django@2.2.0", RP_ECO_PYPI, "Django", "2.2.0");
    purl_ok("pkg:pypi/django", RP_ECO_PYPI, "django", NULL);
    purl_ok("pkg:golang/github.com/foo/bar@v1.2.3", RP_ECO_GO, "github.com/foo/bar", "v1.2.3");
    purl_ok("pkg:golang/github.com/foo/bar@v1.2.3#sub/pkg", RP_ECO_GO, "github.com/foo/bar",
            "v1.2.3");
    purl_ok("pkg:golang/golang.org/x/net@v0.7.0?type=module&goos=linux", RP_ECO_GO,
            "golang.org/x/net", "v0.7.0");
    purl_ok("pkg://golang//github.com//foo/bar/@v1.0.0", RP_ECO_GO, "github.com/foo/bar", "v1.0.0");
    purl_ok("pkg:golang/github.com/foo/bar@v2.0.0%2Bincompatible", RP_ECO_GO, "github.com/foo/bar",
            "v2.0.0+incompatible");
    purl_ok("pkg:npm/%40babel/core@7.22.5", RP_ECO_NPM, "@babel/core", "7.22.5");
    purl_ok("pkg:npm/@babel/core@7.22.5", RP_ECO_NPM, "@babel/core", "7.22.5");
    purl_ok("pkg:npm/@babel/core", RP_ECO_NPM, "@babel/core", NULL);
    purl_ok("pkg:npm/lodash@4.17.21?vcs_url=git%2Bhttps://x", RP_ECO_NPM, "lodash", "4.17.21");
    purl_ok("pkg:cargo/smallvec@1.6.0", RP_ECO_CRATES, "smallvec", "1.6.0");
    purl_ok("pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64", RP_ECO_DEBIAN, "openssl",
            "3.0.11-1~deb12u2");
    purl_ok("pkg:deb/debian/libc6@2.36-9%2Bdeb12u4", RP_ECO_DEBIAN, "libc6", "2.36-9+deb12u4");
    purl_ok("pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.10", RP_ECO_OTHER, "openssl",
            "3.0.2-0ubuntu1.10");
    purl_ok("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", RP_ECO_OTHER,
            "org.apache.logging.log4j:log4j-core", "2.14.1");
    purl_ok("pkg:gem/rails@7.0.0", RP_ECO_OTHER, "rails", "7.0.0");
    purl_ok("pkg:pypi/a%20b@1%3A2", RP_ECO_PYPI, "a b", "1:2");
    purl_bad("", "does not start with 'pkg:'");
    purl_bad("pkg:", "no type and name");
    purl_bad("pkg:pypi", "no type and name");
    purl_bad("pkg:pypi/", "no name");
    purl_bad("pkg:pypi/@1.0", "no name");
    purl_bad("pkg:pypi/x@", "empty version");
    purl_bad("pkg:/pypi", "no type and name");
    purl_bad("pkg:1pypi/x", "malformed type");
    purl_bad("pkg:py_pi/x", "malformed type");
    purl_bad("pkg:pypi/x%4", "malformed percent-escape");
    purl_bad("pkg:pypi/x%zz@1", "malformed percent-escape");
    purl_bad("pkg:pypi/x@1%00", "NUL byte");
    purl_bad("pkg:pypi/\x1b[2J@1", "invalid package URL 'pkg:pypi/?[2J@1'");
}

/* ---- go.mod -------------------------------------------------------------------------------- */

static void test_go_mod_fixture(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_GO, "github.com/gin-gonic/gin", "v1.9.0", 8},
        {RP_ECO_GO, "github.com/pkg/errors", "v0.9.1", 9},
        {RP_ECO_GO, "github.com/stretchr/testify", "v1.8.4", 10},
        {RP_ECO_GO, "golang.org/x/crypto", "v0.0.0-20200622213623-75b288015ac9", 11},
        {RP_ECO_GO, "gopkg.in/yaml.v2", "v2.2.2", 12},
        {RP_ECO_GO, "github.com/davecgh/go-spew", "v1.1.1", 16},
        {RP_ECO_GO, "golang.org/x/net", "v0.7.0", 17},
        {RP_ECO_GO, "golang.org/x/sys", "v0.5.0", 18},
        {RP_ECO_GO, "golang.org/x/text", "v0.14.0", 26}, /* replaced: the replace's line */
        {RP_ECO_GO, "github.com/dgrijalva/jwt-go", "v3.2.0+incompatible", 23},
    };
    expect_fixture("go.mod", RP_INV_GO_MOD, w, NWANT(w));
}

static void test_go_mod_replace(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_GO, "example.com/new-a", "v1.5.0", 9}, /* version-specific replace wins */
        {RP_ECO_GO, "example.com/c", "v1.0.0", 3},     /* c at another version is not replaced */
        {RP_ECO_GO, "example.com/b", "v2.0.0", 24},    /* a later replace of b wins */
        {RP_ECO_GO, "example.com/fork-e", "v0.2.0", 13},
    };
    expect(RP_INV_GO_MOD,
           "module example.com/app\n"
           "require example.com/a v1.0.0\n"
           "require example.com/c v1.0.0\n"
           "require (\n"
           "\texample.com/b v1.0.0 // indirect\n"
           "\t\"example.com/d\" v1.0.0\n"
           ")\n"
           "replace example.com/b => example.com/b v1.5.0\n"
           "replace example.com/a v1.0.0 => example.com/new-a v1.5.0\n"
           "replace example.com/a => example.com/other-a v9.0.0\n"
           "replace (\n"
           "  example.com/c v1.1.0 => example.com/c v1.2.0\n"
           "  example.com/e => example.com/fork-e v0.2.0\n"
           "  example.com/d v1.0.0 => ./third_party/d\n"
           "  example.com/unused => example.com/unused v1.0.0\n"
           ")\n"
           "require `example.com/e` v0.1.0\n"
           "exclude example.com/c v0.9.0\n"
           "retract [v1.0.0, v1.0.5]\n"
           "godebug (\n  default=go1.21\n)\n"
           "require ()\n"
           "replace example.com/b => example.com/b v2.0.0\n",
           w, NWANT(w));
}

static void test_go_mod_errors(void **state)
{
    (void)state;
    enum rp_inv_format f = RP_INV_GO_MOD;
    expect_fail(f, "module m\nrequire (\n\ta v1\n\n", "line 2: 'require (' block without its ')'");
    expect_fail(f, "require a\n", "line 1: expected 'require module/path v1.2.3'");
    expect_fail(f, "require (\na v1 extra\n)\n", "line 2: expected 'require module/path");
    expect_fail(f, "\nreplace a b v1\n", "line 2: expected 'replace module [version] =>");
    expect_fail(f, "replace a => b\n", "line 1: replacement 'b' has no version and is not a local");
    expect_fail(f, "replace a => ./b v1.0.0\n", "line 1: local replacement './b' cannot have");
    expect_fail(f, "require \"a v1\n", "line 1: unterminated quoted string");
    expect_fail(f, ")\n", "line 1: unexpected ')'");
    expect_fail(f, "require (\na v1\n) x\n", "line 3: unexpected text after ')'");
    expect_fail(f, "require \"a\\\"b\" v1\n", "line 1: escape in quoted module path");
    expect_fail(f, "require ( a v1 )\n", "line 1: expected 'require module/path");
}

/* The fuzzer's first find: a statement of more words than the tokenizer keeps was read past
 * the end of its token array. */
static void test_go_mod_long_statement(void **state)
{
    (void)state;
    enum rp_inv_format f = RP_INV_GO_MOD;
    expect_fail(f, "module m\nreplace a b c d e f g h => x v1\n",
                "line 2: too many words in a 'replace' line");
    expect_fail(f, "require (\n a v1 b v2 c v3 d v4 e v5\n)\n",
                "line 2: too many words in a 'require' line");
    static const struct want w[] = {{RP_ECO_GO, "a", "v1", 5}};
    expect(f,
           "module m\nretract [v1.0.0, v1.0.1, v1.0.2, v1.0.3, v1.0.4]\nexclude (\n)\n"
           "require a v1\n",
           w, NWANT(w));
    expect_fail(f, "module m\nfrobnicate a b c d e f g h i j\n", "line 2: unknown directive");
}

/* Regression (issue 12, item 21): a file that is not a go.mod gave 0 packages and exit 0. Go
 * refuses a go.mod without a module directive or with an unknown one. */
static void test_regression_go_mod_garbage_is_an_error(void **state)
{
    (void)state;
    enum rp_inv_format f = RP_INV_GO_MOD;
    expect_fail(f, "this is not a go.mod file!\n", "line 1: unknown directive 'this'");
    expect_fail(f, "", "line 1: no module directive: not a go.mod file");
    expect_fail(f, "// only a comment\n\n", "line 1: no module directive");
    expect_fail(f, "go 1.21\nrequire a v1.0.0\n", "line 1: no module directive");
    expect_fail(f, "module a\nmodule b\n", "line 2: repeated module directive");
    expect_fail(f, "module\n", "line 1: expected 'module module/path'");
    expect_fail(f, "module m\ngo 1.21 extra\n", "line 2: expected 'go 1.N'");
    expect_fail(f, "module m\ngo banana\n", "line 2: invalid go version 'banana'");
    expect_fail(f, "module m\ngo 1\n", "line 2: invalid go version '1'");
    expect_fail(f, "module m\ngo 1.021\n", "line 2: invalid go version");
    expect_fail(f, "module m\nexclude a\n", "line 2: expected 'exclude module/path v1.2.3'");
    expect_fail(f, "module m\ngodebug x\n", "line 2: expected 'godebug key=value'");
    expect_fail(f, "module m\ntoolchain\n", "line 2: expected 'toolchain' and one argument");
    /* Every directive Go knows, in line and block forms. */
    static const struct want w[] = {{RP_ECO_GO, "a", "v1.0.0", 9}};
    expect(f,
           "module example.com/m\ngo 1.22rc1\ntoolchain go1.22.3\ngodebug default=go1.21\n"
           "tool example.com/tool\nignore ./node_modules\nexclude b v1.0.0\nretract v0.1.0\n"
           "require a v1.0.0\n",
           w, NWANT(w));
}

/* Regression (issue 12, item 21): an unknown directive was skipped, so a "requre" typo dropped
 * the dependency it named. */
static void test_regression_go_mod_unknown_directive(void **state)
{
    (void)state;
    enum rp_inv_format f = RP_INV_GO_MOD;
    expect_fail(f, "module m\nrequre github.com/a/b v1.0.0\n",
                "line 2: unknown directive 'requre'");
    expect_fail(f, "module m\n\nrequre (\n\ta v1\n)\n", "line 3: unknown directive 'requre'");
    expect_fail(f, "module m\nreplace (\n)\nRequire a v1\n", "line 4: unknown directive 'Require'");
}

/* ---- dpkg status --------------------------------------------------------------------------- */

/* "install ok installed" and also held packages and those selected for removal that are still
 * installed; config-files only is not installed. */
static void test_dpkg_fixture(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_DEBIAN, "base-files", "12.4+deb12u5", 1},
        {RP_ECO_DEBIAN, "openssl", "3.0.11-1~deb12u2", 22}, /* libssl3's source */
        {RP_ECO_DEBIAN, "openssh", "1:9.2p1-2+deb12u1", 40},
        {RP_ECO_DEBIAN, "zlib", "1:1.2.13.dfsg-1", 66},
    };
    expect_fixture("status", RP_INV_DPKG_STATUS, w, NWANT(w));
}

static void test_dpkg_syntax(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_DEBIAN, "a", "1.0", 3},
        {RP_ECO_DEBIAN, "b", "2", 7}, /* unpacked: its files are on disk */
        {RP_ECO_DEBIAN, "c", "3", 11},
    };
    expect(RP_INV_DPKG_STATUS,
           "\n\n"
           "package: a\r\n"
           "VERSION:1.0\r\n"
           "status:  install  ok  installed \r\n"
           " \t \n"
           "Package: b\n"
           "Status: install ok unpacked\n"
           "Version: 2\n"
           "\n"
           "Package: c\n"
           "Description: multi\n"
           " line: not a field\n"
           "Version: 3\n"
           "Status: deinstall ok installed",
           w, NWANT(w));
}

/* Debian's advisories name source packages: a binary is matched as its Source, at the source's
 * version when the field gives one (a binNMU's binary version differs). */
static void test_dpkg_source_field(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_DEBIAN, "openssl", "3.0.11-1", 1},
        {RP_ECO_DEBIAN, "glibc", "2.36-9", 6},
        {RP_ECO_DEBIAN, "curl", "7.88.1-10", 11},
    };
    expect(RP_INV_DPKG_STATUS,
           "Package: libssl3\nSource: openssl\nVersion: 3.0.11-1\nStatus: install ok installed\n"
           "\n"
           "Package: libc6\nSource: glibc ( 2.36-9 )\nVersion: 2.36-9+b1\n"
           "Status: install ok installed\n\n"
           "Package: curl\nVersion: 7.88.1-10\nStatus: install ok installed\n",
           w, NWANT(w));
    expect_fail(RP_INV_DPKG_STATUS,
                "Package: libx\nSource: x 1.0\nVersion: 1\nStatus: install ok installed\n",
                "line 1: Source field of 'libx' is not 'name (version)'");
}

static void test_dpkg_errors(void **state)
{
    (void)state;
    enum rp_inv_format f = RP_INV_DPKG_STATUS;
    expect_fail(f, "Package: a\nStatus: install ok installed\n",
                "line 1: installed package 'a' without a Version field");
    expect_fail(f, "Package: a\n\nVersion: 1\nStatus: install ok installed\n",
                "line 3: paragraph without a Package field");
    expect_fail(f, " leading continuation\n", "line 1: continuation line outside a field");
    expect_fail(f, "Package: a\nno colon here\n", "line 2: expected 'Field: value'");
    expect_fail(f, "Package: a\nPackage: b\n", "line 2: duplicate field 'Package'");
    expect_fail(f, "Package:\nStatus: install ok installed\nVersion: 1\n",
                "line 1: empty package name");
}

/* Regression (issue 12, item 23): "deinstall reinstreq installed" was missed (the flag was
 * required to be "ok"). The state, the third word, says whether the files are on disk. */
static void test_regression_dpkg_reinstreq_counts_as_installed(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_DEBIAN, "a", "1", 1},
        {RP_ECO_DEBIAN, "b", "2", 5},
        {RP_ECO_DEBIAN, "c", "3", 9},
        {RP_ECO_DEBIAN, "f", "6", 20},
    };
    expect(RP_INV_DPKG_STATUS,
           "Package: a\nStatus: deinstall reinstreq installed\nVersion: 1\n\n"
           "Package: b\nStatus: install ok half-configured\nVersion: 2\n\n"
           "Package: c\nStatus: install reinstreq half-installed\nVersion: 3\n\n"
           "Package: d\nStatus: purge ok not-installed\n\n"
           "Package: e\nStatus: deinstall ok config-files\nVersion: 5\n\n"
           "Package: f\nStatus: hold ok triggers-pending\nVersion: 6\n",
           w, NWANT(w));
    expect_fail(RP_INV_DPKG_STATUS, "Package: a\nVersion: 1\nStatus: install ok\n",
                "line 3: Status of 'a' is not 'want flag state': 'install ok'");
    expect_fail(RP_INV_DPKG_STATUS, "Package: a\nVersion: 1\nStatus: install ok installed x\n",
                "line 3: Status of 'a' is not 'want flag state'");
    expect_fail(RP_INV_DPKG_STATUS, "Package: a\nVersion: 1\nStatus: install ok sideways\n",
                "line 3: unknown package state 'sideways' in the Status of 'a'");
}

/* Regression (issue 12, item 23): distroless images keep one file a package in
 * var/lib/dpkg/status.d/, control paragraphs without a Status field: those are installed. */
static void test_regression_dpkg_status_d_read(void **state)
{
    (void)state;
    static const struct want w[] = {
        {RP_ECO_DEBIAN, "glibc", "2.36-9+deb12u4", 1},
        {RP_ECO_DEBIAN, "tzdata", "2024a-0+deb12u1", 8},
    };
    expect(RP_INV_DPKG_STATUS_D,
           "Package: libc6\nSource: glibc\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\n"
           "Description: GNU C Library\n shared libraries\n\n"
           "Package: tzdata\nVersion: 2024a-0+deb12u1\n\n"
           "Package: gone\nVersion: 1\nStatus: deinstall ok config-files\n",
           w, NWANT(w));
    /* In a status file, a paragraph without Status is not installed (the "available" form). */
    expect(RP_INV_DPKG_STATUS, "Package: tzdata\nVersion: 2024a-0+deb12u1\n", NULL, 0);
}

/* Regression (issue 12, item 23): OpenWrt's usr/lib/opkg/status was read as Debian's, so its
 * packages were matched against Debian's advisories. It is its own ecosystem. */
static void test_regression_opkg_status_is_openwrt(void **state)
{
    (void)state;
    static const char text[] =
        "Package: busybox\nVersion: 1.36.1-1\nDepends: libc\nStatus: install user installed\n"
        "Architecture: mips_24kc\nConffiles:\n /etc/syslog.conf abc\nInstalled-Time: 1700000000\n"
        "\nPackage: dnsmasq\nVersion: 2.89-4\nStatus: install user,hold installed\n\n"
        "Package: old\nVersion: 1\nStatus: deinstall ok not-installed\n";
    static const struct want w[] = {
        {RP_ECO_OPENWRT, "busybox", "1.36.1-1", 1},
        {RP_ECO_OPENWRT, "dnsmasq", "2.89-4", 10},
    };
    expect(RP_INV_OPKG_STATUS, text, w, NWANT(w));
    assert_string_equal(rp_eco_name(RP_ECO_OPENWRT), "OpenWrt");
    assert_int_equal(rp_eco_from_osv(RP_STR("OpenWrt")), RP_ECO_OPENWRT);
    int cmp = 0;
    assert_int_equal(rp_version_cmp(RP_ECO_OPENWRT, RP_STR("1.36.1-1"), RP_STR("1.36.1-10"), &cmp),
                     RP_OK);
    assert_true(cmp < 0);
}

/* ---- hostile and big input ----------------------------------------------------------------- */

/* Truncating a fixture anywhere must give an error or fewer packages, never a crash. */
static void test_truncated_fixtures(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum rp_inv_format f;
    } fx[] = {
        {"bom.cdx.json", RP_INV_CYCLONEDX},
        {"sbom.spdx.json", RP_INV_SPDX},
        {"Pipfile.lock", RP_INV_PIPFILE_LOCK},
        {"package-lock.json", RP_INV_NPM_LOCK},
        {"poetry.lock", RP_INV_POETRY_LOCK},
        {"Cargo.lock", RP_INV_CARGO_LOCK},
        {"go.mod", RP_INV_GO_MOD},
        {"requirements.txt", RP_INV_REQUIREMENTS},
        {"status", RP_INV_DPKG_STATUS},
    };
    for (size_t i = 0; i < sizeof(fx) / sizeof(fx[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), DATA "%s", fx[i].name);
        char *text;
        size_t len;
        struct rp_error err = {{0}};
        assert_int_equal(rp_file_read(path, 1u << 24, &text, &len, &err), RP_OK);
        for (size_t cut = 0; cut < len; cut++) {
            struct rp_inventory inv;
            rp_inventory_init(&inv);
            err.msg[0] = '\0';
            int rc = rp_inventory_parse(&inv, fx[i].f, path, (struct rp_str){text, cut}, &err);
            if (rc) {
                assert_int_equal(rc, RP_EINVAL);
                assert_int_equal(inv.n, 0);
                if (strncmp(err.msg, "line ", 5) != 0)
                    fail_msg("%s cut at %zu: message '%s'", fx[i].name, cut, err.msg);
            }
            rp_inventory_release(&inv);
        }
        free(text);
    }
}

/* A 10 MiB line, a 10 MiB TOML string and a 10 MiB purl are read in one pass each. */
static void test_huge_lines(void **state)
{
    (void)state;
    size_t big = 10u << 20;
    char *s = malloc(big + 64);
    assert_non_null(s);

    memset(s, 'a', big);
    memcpy(s + big, "==1.0\nb==2\n", 12);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    expect_fail(RP_INV_REQUIREMENTS, s, "longer than 4096 bytes");

    memcpy(s, "x = \"", 5);
    memcpy(s + big, "\"\n[[package]]\nname = \"b\"\nversion = \"2\"\n", 40);
    parse_len(RP_INV_CARGO_LOCK, s, big + 39, &inv);
    assert_int_equal(inv.n, 0); /* no "source": the workspace's own crate */
    parse_len(RP_INV_POETRY_LOCK, s, big + 39, &inv);
    assert_int_equal(inv.n, 1);
    assert_int_equal(inv.pkgs[0].line, 3);

    memcpy(s, "x = \"", 5);
    memcpy(s + big, "\n", 2);
    expect_fail(RP_INV_POETRY_LOCK, s, "line 1: unterminated string");

    memcpy(s, "{\"components\":[{\"purl\":\"pkg:pypi/", 33);
    memcpy(s + big, "@1\"}]}", 7);
    expect_fail(RP_INV_CYCLONEDX, s, "line 1: package name or version longer than 4096 bytes");
    rp_inventory_release(&inv);
    free(s);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A 10,000-package file of each format parses in linear time: a generous bound, as the test
 * build runs under sanitizers. */
static void time_parse(enum rp_inv_format f, struct rp_buf *b, size_t want)
{
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    double t0 = now();
    parse_len(f, b->ptr, b->len, &inv);
    double took = now() - t0;
    assert_int_equal(inv.n, want);
    assert_int_equal(inv.pkgs[want - 1].line > inv.pkgs[0].line, true);
    if (took > 1.0)
        fail_msg("%s: %zu packages in %.3f s", rp_inventory_format_name(f), want, took);
    rp_inventory_release(&inv);
    rp_buf_reset(b);
}

static void test_big_files(void **state)
{
    (void)state;
    enum { N = 10000 };
    struct rp_buf b;
    rp_buf_init(&b, 64u << 20);
    for (int i = 0; i < N; i++)
        assert_int_equal(rp_buf_addf(&b, "pkg%d==1.%d \\\n  --hash=sha256:%064d\n", i, i, i), 0);
    time_parse(RP_INV_REQUIREMENTS, &b, N);

    for (int i = 0; i < N; i++)
        assert_int_equal(rp_buf_addf(&b,
                                     "[[package]]\nname = \"p%d\"\nversion = \"1.%d\"\nsource = "
                                     "\"registry+https://x\"\ndependencies = [\n \"a\",\n]\n\n",
                                     i, i),
                         0);
    time_parse(RP_INV_CARGO_LOCK, &b, N);

    assert_int_equal(rp_buf_adds(&b, "module m\nrequire (\n"), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(rp_buf_addf(&b, "\texample.com/m%d v1.0.%d\n", i, i), 0);
    assert_int_equal(rp_buf_adds(&b, ")\nreplace (\n"), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(rp_buf_addf(&b, "\texample.com/m%d => example.com/f%d v2.0.0\n", i, i), 0);
    assert_int_equal(rp_buf_adds(&b, ")\n"), 0);
    time_parse(RP_INV_GO_MOD, &b, N);

    assert_int_equal(rp_buf_adds(&b, "{\"lockfileVersion\": 3, \"packages\": {\"\": {}"), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(rp_buf_addf(&b,
                                     ",\n\"node_modules/a/node_modules/p%d\": {\"version\": "
                                     "\"1.0.%d\", \"dependencies\": {\"x\": \"1\", \"y\": \"2\"}}",
                                     i, i),
                         0);
    assert_int_equal(rp_buf_adds(&b, "}}"), 0);
    time_parse(RP_INV_NPM_LOCK, &b, N);

    assert_int_equal(rp_buf_adds(&b, "{\"components\": ["), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(rp_buf_addf(&b, "%s{\"name\": \"p%d\", \"purl\": \"pkg:npm/p%d@1.0.0\"}",
                                     i ? ",\n" : "", i, i),
                         0);
    assert_int_equal(rp_buf_adds(&b, "]}"), 0);
    time_parse(RP_INV_CYCLONEDX, &b, N);

    for (int i = 0; i < N; i++)
        assert_int_equal(rp_buf_addf(&b,
                                     "Package: p%d\nStatus: install ok installed\nVersion: "
                                     "1.%d\nDescription: x\n more\n\n",
                                     i, i),
                         0);
    time_parse(RP_INV_DPKG_STATUS, &b, N);
    rp_buf_release(&b);
}

/* Files add up in one inventory, each package naming its own file. */
static void test_several_files(void **state)
{
    (void)state;
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    parse_fixture("requirements.txt", RP_INV_REQUIREMENTS, &inv);
    size_t n = inv.n;
    parse_fixture("go.mod", RP_INV_GO_MOD, &inv);
    struct rp_error err = {{0}};
    assert_int_equal(
        rp_inventory_parse(&inv, RP_INV_GO_MOD, "broken/go.mod", RP_STR("require (\n"), &err),
        RP_EINVAL);
    parse_fixture("status", RP_INV_DPKG_STATUS, &inv);
    /* requirements.txt, the two files it includes, go.mod, status */
    assert_int_equal(inv.nsources, 5);
    assert_string_equal(inv.pkgs[1].source, DATA "requirements.txt");
    assert_string_equal(inv.pkgs[n].source, DATA "go.mod");
    assert_string_equal(inv.pkgs[inv.n - 1].source, DATA "status");
    assert_ptr_equal(inv.pkgs[n].source, inv.sources[3]);
    rp_inventory_release(&inv);
    rp_inventory_release(&inv); /* released twice: a no-op */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_regression_walk_finds_every_requirements_txt),
        cmocka_unit_test(test_requirements_fixture),
        cmocka_unit_test(test_requirements_syntax),
        cmocka_unit_test(test_requirements_errors),
        cmocka_unit_test(test_regression_requirements_includes_followed),
        cmocka_unit_test(test_regression_requirements_include_errors),
        cmocka_unit_test(test_regression_requirements_per_requirement_options),
        cmocka_unit_test(test_regression_requirements_env_var_not_pinned),
        cmocka_unit_test(test_regression_requirements_operator_typo_is_an_error),
        cmocka_unit_test(test_poetry_fixture),
        cmocka_unit_test(test_cargo_fixture),
        cmocka_unit_test(test_toml_syntax),
        cmocka_unit_test(test_toml_errors),
        cmocka_unit_test(test_toml_poetry_source_table),
        cmocka_unit_test(test_toml_invalid_utf8),
        cmocka_unit_test(test_toml_comment_control_chars),
        cmocka_unit_test(test_toml_cut_bare_values),
        cmocka_unit_test(test_pipfile_fixture),
        cmocka_unit_test(test_pipfile_errors),
        cmocka_unit_test(test_npm_fixture),
        cmocka_unit_test(test_npm_v1),
        cmocka_unit_test(test_npm_install_paths),
        cmocka_unit_test(test_npm_errors),
        cmocka_unit_test(test_cyclonedx_fixture),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_cyclonedx_errors),
        cmocka_unit_test(test_spdx_fixture),
        cmocka_unit_test(test_spdx_errors),
        cmocka_unit_test(test_purl),
        cmocka_unit_test(test_go_mod_fixture),
        cmocka_unit_test(test_go_mod_replace),
        cmocka_unit_test(test_go_mod_errors),
        cmocka_unit_test(test_go_mod_long_statement),
        cmocka_unit_test(test_regression_go_mod_garbage_is_an_error),
        cmocka_unit_test(test_regression_go_mod_unknown_directive),
        cmocka_unit_test(test_dpkg_fixture),
        cmocka_unit_test(test_dpkg_syntax),
        cmocka_unit_test(test_dpkg_source_field),
        cmocka_unit_test(test_dpkg_errors),
        cmocka_unit_test(test_regression_dpkg_reinstreq_counts_as_installed),
        cmocka_unit_test(test_regression_dpkg_status_d_read),
        cmocka_unit_test(test_regression_opkg_status_is_openwrt),
        cmocka_unit_test(test_truncated_fixtures),
        cmocka_unit_test(test_huge_lines),
        cmocka_unit_test(test_big_files),
        cmocka_unit_test(test_several_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
