/* Inventories: the packages an organisation runs, read from lock files, requirement lists, SBOMs
 * and package databases, each with the line of its file where it is declared. This file holds
 * the inventory, the table of formats and what their readers share; each format's reader is in
 * its own inv_*.c file (docs/vulns.md, "Adding a format"). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- the inventory ------------------------------------------------------------------------- */

void rp_inventory_init(struct rp_inventory *inv)
{
    memset(inv, 0, sizeof(*inv));
}

static void pkg_free(struct rp_pkg *p)
{
    free(p->name);
    free(p->version);
    free(p->path);
}

void rp_inventory_release(struct rp_inventory *inv)
{
    for (size_t i = 0; i < inv->n; i++)
        pkg_free(&inv->pkgs[i]);
    free(inv->pkgs);
    for (size_t i = 0; i < inv->nsources; i++)
        free(inv->sources[i]);
    free(inv->sources);
    memset(inv, 0, sizeof(*inv));
}

int rp__inv_fail(struct rp__inv *c, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int result = rp_error_vset_line(c->err, line, fmt, ap);
    va_end(ap);
    return result;
}

int rp__inv_add_pkg_at(struct rp__inv *c, enum rp_eco eco, struct rp_str name,
                       const struct rp_str *version, unsigned line, const struct rp_str *path)
{
    struct rp_inventory *inv = c->inv;
    if (!name.len)
        return rp__inv_fail(c, line, "empty package name");
    if (name.len > RP__INV_MAX_FIELD || (version && version->len > RP__INV_MAX_FIELD))
        return rp__inv_fail(c, line, "package name or version longer than %d bytes",
                            RP__INV_MAX_FIELD);
    if (memchr(name.ptr, '\0', name.len) || (version && memchr(version->ptr, '\0', version->len)))
        return rp__inv_fail(c, line, "NUL byte in a package name or version");
    char ex[64];
    if (version && !version->len)
        return rp__inv_fail(c, line, "empty version of '%s'", rp_str_excerpt(name, ex, sizeof(ex)));
    if (inv->n >= RP_INV_MAX_PKGS) {
        rp_error_set(c->err, "line %u: more than %d packages", line, RP_INV_MAX_PKGS);
        return RP_ETOOBIG;
    }
    if (inv->n == inv->alloc) {
        size_t alloc = inv->alloc ? inv->alloc * 2 : 64;
        struct rp_pkg *p = realloc(inv->pkgs, alloc * sizeof(*p));
        if (!p)
            goto nomem;
        inv->pkgs = p;
        inv->alloc = alloc;
    }
    struct rp_pkg *p = &inv->pkgs[inv->n];
    p->eco = eco;
    p->name = strndup(name.ptr, name.len);
    p->version = version ? strndup(version->ptr, version->len) : NULL;
    p->unpinned = !version;
    p->why = NULL;
    /* An install path is only told to people: one past any real depth is not kept. */
    if (path && path->len > 4 * RP__INV_MAX_FIELD)
        path = NULL;
    p->path = path ? strndup(path->ptr, path->len) : NULL;
    p->line = line;
    p->source = c->source;
    if (!p->name || (version && !p->version) || (path && !p->path)) {
        pkg_free(p);
        goto nomem;
    }
    inv->n++;
    return RP_OK;
nomem:
    rp_error_set(c->err, "out of memory");
    return RP_ENOMEM;
}

int rp__inv_add_pkg(struct rp__inv *c, enum rp_eco eco, struct rp_str name,
                    const struct rp_str *version, unsigned line)
{
    return rp__inv_add_pkg_at(c, eco, name, version, line, NULL);
}

int rp__inv_add_purl(struct rp__inv *c, struct rp_str purl, unsigned line)
{
    struct rp__purl pu;
    struct rp_error perr = {{0}};
    int result = rp__purl_parse(purl, &pu, &perr);
    if (result == RP_EINVAL)
        return rp__inv_fail(c, line, "%s", perr.msg);
    if (result) {
        rp_error_set(c->err, "%s", rp_strerror(result));
        return result;
    }
    struct rp_str v = pu.version ? rp_str_from_cstr(pu.version) : RP_STR_NULL;
    result = rp__inv_add_pkg(c, pu.eco, rp_str_from_cstr(pu.name), pu.version ? &v : NULL, line);
    rp__purl_release(&pu);
    return result;
}

int rp__inv_add_source(struct rp__inv *c, const char *path, const char **out)
{
    struct rp_inventory *inv = c->inv;
    char *src = strdup(path);
    char **sources = src ? realloc(inv->sources, (inv->nsources + 1) * sizeof(*sources)) : NULL;
    if (!sources) {
        free(src);
        rp_error_set(c->err, "out of memory");
        return RP_ENOMEM;
    }
    inv->sources = sources;
    inv->sources[inv->nsources++] = src;
    *out = src;
    return RP_OK;
}

void rp__inv_drop_pkgs(struct rp_inventory *inv, size_t from, size_t to)
{
    if (from >= to)
        return;
    for (size_t i = from; i < to; i++)
        pkg_free(&inv->pkgs[i]);
    memmove(&inv->pkgs[from], &inv->pkgs[to], (inv->n - to) * sizeof(inv->pkgs[0]));
    inv->n -= to - from;
}

struct rp_str rp__inv_trim(struct rp_str s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t'))
        s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

struct rp_str rp__inv_next_line(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end;
    *next = nl ? nl + 1 : end;
    if (stop > p && stop[-1] == '\r')
        stop--;
    return (struct rp_str){p, (size_t)(stop - p)};
}

bool rp__inv_has_suffix(struct rp_str s, const char *suffix)
{
    size_t n = strlen(suffix);
    return s.len >= n && rp_str_ieq_cstr((struct rp_str){s.ptr + s.len - n, n}, suffix);
}

bool rp__inv_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* ---- the formats --------------------------------------------------------------------------- */

/* One format: its enum value, its short name, and how a file in it is recognised: by one of its
 * base names, exactly, or by is (NULL when the names say all). */
struct format {
    enum rp_inv_format id;
    const char *name;
    const char *base_names[2];
    rp__inv_is_fn is;
    rp__inv_read_fn read;
};

/* Every format, in the order rp_inventory_detect tries them: the first that recognises a file
 * wins, so those that look at the folder come before "status", and those that look at the
 * content of any *.json come last. */
static const struct format formats[] = {
    {RP_INV_REQUIREMENTS,
     "requirements.txt",
     {NULL},
     rp__inv_is_requirements,
     rp__inv_read_requirements},
    {RP_INV_DPKG_STATUS_D,
     "dpkg status.d",
     {NULL},
     rp__inv_is_dpkg_status_d,
     rp__inv_read_dpkg_status_d},
    {RP_INV_OPKG_STATUS, "opkg status", {NULL}, rp__inv_is_opkg_status, rp__inv_read_opkg_status},
    {RP_INV_POETRY_LOCK, "poetry.lock", {"poetry.lock"}, NULL, rp__inv_read_poetry_lock},
    {RP_INV_PIPFILE_LOCK, "Pipfile.lock", {"Pipfile.lock"}, NULL, rp__inv_read_pipfile_lock},
    {RP_INV_GO_MOD, "go.mod", {"go.mod"}, NULL, rp__inv_read_go_mod},
    /* npm-shrinkwrap.json is the same format, published with a package. */
    {RP_INV_NPM_LOCK,
     "package-lock.json",
     {"package-lock.json", "npm-shrinkwrap.json"},
     NULL,
     rp__inv_read_npm_lock},
    {RP_INV_CARGO_LOCK, "Cargo.lock", {"Cargo.lock"}, NULL, rp__inv_read_cargo_lock},
    {RP_INV_DPKG_STATUS, "dpkg status", {"status"}, NULL, rp__inv_read_dpkg_status},
    {RP_INV_CYCLONEDX, "CycloneDX", {NULL}, rp__inv_is_cyclonedx, rp__inv_read_cyclonedx},
    {RP_INV_SPDX, "SPDX", {NULL}, rp__inv_is_spdx, rp__inv_read_spdx},
};

static const struct format *format_of(enum rp_inv_format f)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (formats[i].id == f)
            return &formats[i];
    return NULL;
}

const char *rp_inventory_format_name(enum rp_inv_format f)
{
    const struct format *fmt = format_of(f);
    return fmt ? fmt->name : "unknown";
}

enum rp_inv_format rp_inventory_detect(const char *path, struct rp_str head)
{
    const char *base = path ? path : "";
    for (const char *q = base; *q; q++)
        if (*q == '/')
            base = q + 1;
    struct rp_str b = rp_str_from_cstr(base);
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        const struct format *fmt = &formats[i];
        for (size_t k = 0; k < 2 && fmt->base_names[k]; k++)
            if (!strcmp(base, fmt->base_names[k]))
                return fmt->id;
        if (fmt->is && fmt->is(path, b, head))
            return fmt->id;
    }
    return RP_INV_UNKNOWN;
}

int rp_inventory_parse_ex(struct rp_inventory *inv, enum rp_inv_format f, const char *path,
                          struct rp_str text, const struct rp_inventory_options *opt,
                          struct rp_error *err)
{
    if (!text.ptr)
        text = (struct rp_str){"", 0};
    /* A byte order mark is not content (editors on Windows write one). */
    if (rp_str_has_prefix(text, "\xef\xbb\xbf")) {
        text.ptr += 3;
        text.len -= 3;
    }
    size_t n0 = inv->n, s0 = inv->nsources;
    struct rp__inv c = {inv, NULL, err, opt};
    int result = rp__inv_add_source(&c, path ? path : "", &c.source);
    const struct format *fmt = format_of(f);
    if (!result && !fmt) {
        rp_error_set(err, "unknown inventory format");
        result = RP_EINVAL;
    }
    if (!result)
        result = fmt->read(&c, text);
    if (result) {
        /* Leave inv as it was: none of this file's packages, nor its path, nor its includes'. */
        rp__inv_drop_pkgs(inv, n0, inv->n);
        for (size_t i = s0; i < inv->nsources; i++)
            free(inv->sources[i]);
        inv->nsources = s0;
    }
    return result;
}

int rp_inventory_parse(struct rp_inventory *inv, enum rp_inv_format f, const char *path,
                       struct rp_str text, struct rp_error *err)
{
    return rp_inventory_parse_ex(inv, f, path, text, NULL, err);
}

int rp_inventory_read_file(void *arg, const char *path, char **text, size_t *len, char *id,
                           size_t idcap, struct rp_error *err)
{
    (void)arg;
    int result = rp_file_read(path, RP_INV_FILE_MAX, text, len, err);
    if (result)
        return result;
    char real[PATH_MAX];
    if (idcap)
        snprintf(id, idcap, "%s", realpath(path, real) ? real : path);
    return RP_OK;
}
