/* Package databases in dpkg's format: dpkg's status file, the status.d/ folder of distroless
 * images, and OpenWrt's opkg status. */
#include <string.h>

#include "internal.h"

/* The paragraph of one package. */
struct dpkg_para {
    bool any;
    unsigned start, pkg_line, status_line;
    bool has_pkg, has_version, has_status, has_source;
    struct rp_str pkg, version, status, source;
};

/* Which package database a status file is: dpkg's, one file of dpkg's status.d/ (distroless
 * images write the control paragraphs of what they install there, without a Status field), or
 * opkg's (OpenWrt). */
enum dpkg_kind { DPKG_STATUS, DPKG_STATUS_D, OPKG_STATUS };

/* Whether a Status value ("want flag state") says the package's files are on disk. The state, the
 * third word, is what says it: a package selected for removal ("deinstall ok installed"), held,
 * or whose installation must be redone ("deinstall reinstreq installed") is still there and
 * still vulnerable, and so are those half-way through an installation or configuration
 * (unpacked, half-configured, triggers-awaited, ...); only "not-installed" and "config-files"
 * leave no code. opkg writes the same three words, its flags joined by commas ("install
 * user,hold installed"). Anything else is not a status a package manager writes: an error. */
static int dpkg_on_disk(struct rp__inv *c, struct rp_str pkg, struct rp_str status, unsigned line,
                        bool *on_disk)
{
    static const char *const present[] = {
        "installed",        "half-installed",   "unpacked",         "half-configured",
        "triggers-awaited", "triggers-pending", "post-inst-failed", "removal-failed"};
    struct rp_str w[3];
    size_t n = 0, i = 0;
    char ex[64], sx[64];
    while (i < status.len) {
        while (i < status.len && rp__inv_blank(status.ptr[i]))
            i++;
        size_t j = i;
        while (j < status.len && !rp__inv_blank(status.ptr[j]))
            j++;
        if (j > i) {
            if (n == 3) {
                n++;
                break;
            }
            w[n++] = (struct rp_str){status.ptr + i, j - i};
        }
        i = j;
    }
    if (n != 3)
        return rp__inv_fail(c, line, "Status of '%s' is not 'want flag state': '%s'",
                            rp_str_excerpt(pkg, ex, sizeof(ex)),
                            rp_str_excerpt(status, sx, sizeof(sx)));
    *on_disk = false;
    if (rp_str_eq_cstr(w[2], "not-installed") || rp_str_eq_cstr(w[2], "config-files"))
        return RP_OK;
    for (size_t k = 0; k < sizeof(present) / sizeof(present[0]); k++)
        if (rp_str_eq_cstr(w[2], present[k])) {
            *on_disk = true;
            return RP_OK;
        }
    return rp__inv_fail(c, line, "unknown package state '%s' in the Status of '%s'",
                        rp_str_excerpt(w[2], sx, sizeof(sx)), rp_str_excerpt(pkg, ex, sizeof(ex)));
}

static int dpkg_finish(struct rp__inv *c, struct dpkg_para *pa, enum dpkg_kind kind)
{
    struct dpkg_para done = *pa;
    memset(pa, 0, sizeof(*pa));
    if (!done.any)
        return RP_OK;
    if (!done.has_pkg)
        return rp__inv_fail(c, done.start, "paragraph without a Package field");
    bool on_disk = kind == DPKG_STATUS_D && !done.has_status;
    if (done.has_status) {
        int result = dpkg_on_disk(c, done.pkg, done.status, done.status_line, &on_disk);
        if (result)
            return result;
    }
    if (!on_disk)
        return RP_OK;
    char ex[64];
    if (!done.has_version)
        return rp__inv_fail(c, done.pkg_line, "installed package '%s' without a Version field",
                            rp_str_excerpt(done.pkg, ex, sizeof(ex)));
    /* Debian's advisories name source packages: a binary built from another source
     * ("Source: openssl (3.0.11-1)" under "Package: libssl3") is matched as that source, at the
     * source's version when the field gives one (binNMUs differ), else at the binary's. */
    struct rp_str name = done.pkg, version = done.version;
    if (done.has_source) {
        const char *sp = memchr(done.source.ptr, ' ', done.source.len);
        name =
            (struct rp_str){done.source.ptr, sp ? (size_t)(sp - done.source.ptr) : done.source.len};
        struct rp_str rest = sp ? rp__inv_trim((struct rp_str){sp, done.source.len - name.len})
                                : (struct rp_str){NULL, 0};
        if (rest.len >= 2 && rest.ptr[0] == '(' && rest.ptr[rest.len - 1] == ')')
            version = rp__inv_trim((struct rp_str){rest.ptr + 1, rest.len - 2});
        else if (rest.len)
            return rp__inv_fail(c, done.pkg_line, "Source field of '%s' is not 'name (version)'",
                                rp_str_excerpt(done.pkg, ex, sizeof(ex)));
    }
    return rp__inv_add_pkg(c, kind == OPKG_STATUS ? RP_ECO_OPENWRT : RP_ECO_DEBIAN, name, &version,
                           done.pkg_line);
}

/* Paragraphs of "Field: value" lines separated by blank lines; continuation lines start with
 * a blank. The line of a package is its Package field's. */
static int read_dpkg_status(struct rp__inv *c, struct rp_str text, enum dpkg_kind kind)
{
    struct dpkg_para pa = {0};
    const char *p = text.ptr, *end = text.ptr + text.len;
    unsigned line = 0;
    bool in_field = false;
    int result = RP_OK;
    while (!result && p < end) {
        const char *next;
        struct rp_str l = rp__inv_next_line(p, end, &next);
        p = next;
        line++;
        if (!rp__inv_trim(l).len) {
            in_field = false;
            result = dpkg_finish(c, &pa, kind);
            continue;
        }
        if (l.ptr[0] == ' ' || l.ptr[0] == '\t') {
            if (!in_field)
                result = rp__inv_fail(c, line, "continuation line outside a field");
            continue;
        }
        if (l.ptr[0] == '#')
            continue;
        const char *colon = memchr(l.ptr, ':', l.len);
        size_t flen = colon ? (size_t)(colon - l.ptr) : 0;
        for (size_t i = 0; i < flen; i++)
            if (rp__inv_blank(l.ptr[i]))
                flen = 0;
        if (!flen) {
            char ex[64];
            result = rp__inv_fail(c, line, "expected 'Field: value', not '%s'",
                                  rp_str_excerpt(l, ex, sizeof(ex)));
            continue;
        }
        struct rp_str field = {l.ptr, flen};
        struct rp_str value = rp__inv_trim((struct rp_str){colon + 1, l.len - flen - 1});
        in_field = true;
        if (!pa.any) {
            pa.any = true;
            pa.start = line;
        }
        bool *has = NULL;
        struct rp_str *slot = NULL;
        if (rp_str_ieq_cstr(field, "Package")) {
            has = &pa.has_pkg, slot = &pa.pkg;
            pa.pkg_line = line;
        } else if (rp_str_ieq_cstr(field, "Version")) {
            has = &pa.has_version, slot = &pa.version;
        } else if (rp_str_ieq_cstr(field, "Status")) {
            has = &pa.has_status, slot = &pa.status;
            pa.status_line = line;
        } else if (rp_str_ieq_cstr(field, "Source")) {
            has = &pa.has_source, slot = &pa.source;
        }
        if (has && *has) {
            char ex[64];
            result = rp__inv_fail(c, line, "duplicate field '%s'",
                                  rp_str_excerpt(field, ex, sizeof(ex)));
        } else if (has) {
            *has = true;
            *slot = value;
        }
    }
    if (!result)
        result = dpkg_finish(c, &pa, kind);
    return result;
}

int rp__inv_read_dpkg_status(struct rp__inv *c, struct rp_str text)
{
    return read_dpkg_status(c, text, DPKG_STATUS);
}

int rp__inv_read_dpkg_status_d(struct rp__inv *c, struct rp_str text)
{
    return read_dpkg_status(c, text, DPKG_STATUS_D);
}

int rp__inv_read_opkg_status(struct rp__inv *c, struct rp_str text)
{
    return read_dpkg_status(c, text, OPKG_STATUS);
}

/* The name of the folder n levels above the base name of path ("" when there is none). */
static struct rp_str parent_name(const char *path, int n)
{
    const char *end = strrchr(path, '/');
    while (end && n-- > 1) {
        const char *q = end;
        while (q > path && q[-1] != '/')
            q--;
        end = q > path ? q - 1 : NULL;
    }
    if (!end)
        return (struct rp_str){"", 0};
    const char *q = end;
    while (q > path && q[-1] != '/')
        q--;
    return (struct rp_str){q, (size_t)(end - q)};
}

/* Any file of a dpkg/status.d/ folder but the *.md5sums beside each package's file. */
bool rp__inv_is_dpkg_status_d(const char *path, struct rp_str base, struct rp_str head)
{
    (void)head;
    return path && rp_str_eq_cstr(parent_name(path, 1), "status.d") &&
           rp_str_eq_cstr(parent_name(path, 2), "dpkg") && base.len && base.ptr[0] != '.' &&
           !rp__inv_has_suffix(base, ".md5sums");
}

/* "status" in an opkg/ folder (usr/lib/opkg/status). */
bool rp__inv_is_opkg_status(const char *path, struct rp_str base, struct rp_str head)
{
    (void)head;
    return path && rp_str_eq_cstr(base, "status") && rp_str_eq_cstr(parent_name(path, 1), "opkg");
}
