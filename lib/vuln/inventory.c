/* Inventories: the packages an organisation runs, read from lock files, requirement lists, SBOMs
 * and the dpkg database, each with the line of its file where it is declared. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "osv_internal.h"
#include "rampart/json.h"
#include "rampart/toml.h"

/* Longest package name or version kept: real ones are far shorter (npm allows 214 bytes, Go
 * module paths a few hundred); anything longer is a broken or hostile file. */
#define MAX_FIELD 4096

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

/* What every format's reader shares: where packages go and where errors are told. */
struct ctx {
    struct rp_inventory *inv;
    const char *source;
    struct rp_error *err;
    const struct rp_inventory_options *opt; /* may be NULL */
};

/* Fills err with "line N: " and the message: every malformed-file error names its line. */
static int fail(struct ctx *c, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct ctx *c, unsigned line, const char *fmt, ...)
{
    if (c->err) {
        char msg[sizeof(c->err->msg)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        rp_error_set(c->err, "line %u: %s", line, msg);
    }
    return RP_EINVAL;
}

/* Appends one package: name as written, version NULL when the file pins none, path where the
 * file installs it (or NULL). All are copied. An empty or over-long name or version, or one with
 * a NUL byte, is an error of line. */
static int add_pkg_at(struct ctx *c, enum rp_eco eco, struct rp_str name,
                      const struct rp_str *version, unsigned line, const struct rp_str *path)
{
    struct rp_inventory *inv = c->inv;
    if (!name.len)
        return fail(c, line, "empty package name");
    if (name.len > MAX_FIELD || (version && version->len > MAX_FIELD))
        return fail(c, line, "package name or version longer than %d bytes", MAX_FIELD);
    if (memchr(name.ptr, '\0', name.len) || (version && memchr(version->ptr, '\0', version->len)))
        return fail(c, line, "NUL byte in a package name or version");
    char ex[64];
    if (version && !version->len)
        return fail(c, line, "empty version of '%s'", rp_str_excerpt(name, ex, sizeof(ex)));
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
    if (path && path->len > 4 * MAX_FIELD)
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

static int add_pkg(struct ctx *c, enum rp_eco eco, struct rp_str name, const struct rp_str *version,
                   unsigned line)
{
    return add_pkg_at(c, eco, name, version, line, NULL);
}

static struct rp_str str_trim(struct rp_str s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t'))
        s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* The line that starts at p (before end): its content without "\n" or "\r\n", and where the next
 * one starts. */
static struct rp_str next_line(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end;
    *next = nl ? nl + 1 : end;
    if (stop > p && stop[-1] == '\r')
        stop--;
    return (struct rp_str){p, (size_t)(stop - p)};
}

/* ---- JSON formats -------------------------------------------------------------------------- */

/* JSON is read by the streaming reader of rampart/json.h; struct json adds what the readers of
 * each format need. */
struct json {
    struct rp_jsonr r;
    struct ctx *c;
};

#define J_OBJECT RP_JSON_OBJECT
#define J_ARRAY RP_JSON_ARRAY
#define J_STRING RP_JSON_STRING
#define J_NUMBER RP_JSON_NUMBER
#define J_TRUE RP_JSON_TRUE
#define J_NULL RP_JSON_NULL
#define jval rp_jsonv

static const char *jtype_name(const struct jval *v)
{
    return rp_json_type_name(v->type);
}

static int j_value(struct json *j, struct jval *v)
{
    return rp_jsonr_value(&j->r, v);
}

static int j_member(struct json *j, bool *first, bool *done, unsigned *line)
{
    return rp_jsonr_member(&j->r, first, done, line);
}

static int j_element(struct json *j, bool *first, bool *done)
{
    return rp_jsonr_element(&j->r, first, done);
}

static int j_pass(struct json *j)
{
    return rp_jsonr_pass(&j->r);
}

static int j_finish(struct json *j, const struct jval *v)
{
    return rp_jsonr_finish(&j->r, v);
}

/* The error of a member that has the wrong type. */
static int j_wrong(struct json *j, unsigned line, const char *key, const struct jval *v,
                   const char *want)
{
    char ex[64];
    return fail(j->c, line, "\"%s\" is %s, not %s",
                rp_str_excerpt(rp_str_from_cstr(key), ex, sizeof(ex)), jtype_name(v), want);
}

/* Like j_wrong for a key that is not a constant (a package name): it is in buf. */
static int j_wrong_buf(struct json *j, unsigned line, const struct rp_buf *key,
                       const struct jval *v, const char *want)
{
    char ex[64];
    return fail(j->c, line, "\"%s\" is %s, not %s", rp_str_excerpt(rp_buf_str(key), ex, sizeof(ex)),
                jtype_name(v), want);
}

static bool j_key_is(const struct json *j, const char *key)
{
    return rp_jsonr_key_is(&j->r, key);
}

/* Copies the string just read into dst. */
static int j_keep(struct json *j, struct rp_buf *dst)
{
    return rp_jsonr_keep(&j->r, dst);
}

/* Adds the package a purl names (line: where the purl is). */
static int add_purl(struct ctx *c, struct rp_str purl, unsigned line)
{
    struct rp__purl pu;
    struct rp_error perr = {{0}};
    int result = rp__purl_parse(purl, &pu, &perr);
    if (result == RP_EINVAL)
        return fail(c, line, "%s", perr.msg);
    if (result) {
        rp_error_set(c->err, "%s", rp_strerror(result));
        return result;
    }
    struct rp_str v = pu.version ? rp_str_from_cstr(pu.version) : RP_STR_NULL;
    result = add_pkg(c, pu.eco, rp_str_from_cstr(pu.name), pu.version ? &v : NULL, line);
    rp__purl_release(&pu);
    return result;
}

/* CycloneDX: the "components" array, each component's purl and its nested components. */
static int cdx_component(struct json *j);

static int cdx_components(struct json *j, unsigned line)
{
    struct jval v;
    int result = j_value(j, &v);
    if (result || v.type == J_NULL)
        return result;
    if (v.type != J_ARRAY)
        return j_wrong(j, line, "components", &v, "an array");
    bool first = true, done;
    while (!(result = j_element(j, &first, &done)) && !done) {
        struct jval e;
        if ((result = j_value(j, &e)))
            return result;
        if (e.type != J_OBJECT)
            return fail(j->c, e.line, "\"components\" holds %s, not an object", jtype_name(&e));
        if ((result = cdx_component(j)))
            return result;
    }
    return result;
}

static int cdx_component(struct json *j)
{
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = j_member(j, &first, &done, &line)) && !done) {
        if (j_key_is(j, "purl")) {
            struct jval v;
            if ((result = j_value(j, &v)))
                return result;
            if (v.type == J_STRING)
                result = add_purl(j->c, rp_buf_str(&j->r.str), line);
            else if (v.type != J_NULL)
                return j_wrong(j, line, "purl", &v, "a string");
        } else if (j_key_is(j, "components")) {
            result = cdx_components(j, line);
        } else {
            result = j_pass(j);
        }
        if (result)
            return result;
    }
    return result;
}

/* metadata.component is the thing the SBOM describes (the application itself), not one of its
 * dependencies, so only the top-level "components" are read. */
static int read_cyclonedx(struct json *j)
{
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = j_member(j, &first, &done, &line)) && !done) {
        result = j_key_is(j, "components") ? cdx_components(j, line) : j_pass(j);
        if (result)
            return result;
    }
    return result;
}

/* SPDX: packages[].externalRefs[] whose referenceType is "purl"; the locator may come before or
 * after the type. */
static int spdx_ref(struct json *j, struct rp_buf *loc)
{
    bool first = true, done, is_purl = false, has_type = false, has_loc = false;
    unsigned line, type_line = 0, loc_line = 0;
    struct jval loc_v = {.type = J_NULL};
    int result;
    while (!(result = j_member(j, &first, &done, &line)) && !done) {
        bool type = j_key_is(j, "referenceType"), locator = j_key_is(j, "referenceLocator");
        if (!type && !locator) {
            if ((result = j_pass(j)))
                return result;
            continue;
        }
        struct jval v;
        if ((result = j_value(j, &v)))
            return result;
        if (type) {
            if (v.type != J_STRING)
                return j_wrong(j, line, "referenceType", &v, "a string");
            has_type = true;
            type_line = line;
            is_purl = j_key_is(j, "purl");
        } else {
            has_loc = true;
            loc_line = line;
            loc_v = v;
            if (v.type == J_STRING && (result = j_keep(j, loc)))
                return result;
        }
        if ((result = j_finish(j, &v)))
            return result;
    }
    if (result || !has_type || !is_purl)
        return result;
    if (!has_loc)
        return fail(j->c, type_line, "purl reference without \"referenceLocator\"");
    if (loc_v.type != J_STRING)
        return j_wrong(j, loc_line, "referenceLocator", &loc_v, "a string");
    return add_purl(j->c, rp_buf_str(loc), loc_line);
}

static int spdx_package(struct json *j, struct rp_buf *loc)
{
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = j_member(j, &first, &done, &line)) && !done) {
        if (!j_key_is(j, "externalRefs")) {
            if ((result = j_pass(j)))
                return result;
            continue;
        }
        struct jval v;
        if ((result = j_value(j, &v)))
            return result;
        if (v.type == J_NULL)
            continue;
        if (v.type != J_ARRAY)
            return j_wrong(j, line, "externalRefs", &v, "an array");
        bool efirst = true, edone;
        while (!(result = j_element(j, &efirst, &edone)) && !edone) {
            struct jval e;
            if ((result = j_value(j, &e)))
                return result;
            if (e.type != J_OBJECT)
                return fail(j->c, e.line, "\"externalRefs\" holds %s, not an object",
                            jtype_name(&e));
            if ((result = spdx_ref(j, loc)))
                return result;
        }
        if (result)
            return result;
    }
    return result;
}

static int read_spdx(struct json *j)
{
    struct rp_buf loc;
    rp_buf_init(&loc, j->r.str.cap);
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = j_member(j, &first, &done, &line)) && !done) {
        if (!j_key_is(j, "packages")) {
            if ((result = j_pass(j)))
                break;
            continue;
        }
        struct jval v;
        if ((result = j_value(j, &v)))
            break;
        if (v.type == J_NULL)
            continue;
        if (v.type != J_ARRAY) {
            result = j_wrong(j, line, "packages", &v, "an array");
            break;
        }
        bool pfirst = true, pdone;
        while (!(result = j_element(j, &pfirst, &pdone)) && !pdone) {
            struct jval e;
            if ((result = j_value(j, &e)))
                break;
            if (e.type != J_OBJECT) {
                result = fail(j->c, e.line, "\"packages\" holds %s, not an object", jtype_name(&e));
                break;
            }
            if ((result = spdx_package(j, &loc)))
                break;
        }
        if (result)
            break;
    }
    rp_buf_release(&loc);
    return result;
}

/* The members of a lock entry (after its '{'): "version" (a string, kept in version), and for
 * npm "name" (kept in name) and "link". Other members are passed over. */
struct lock_entry {
    bool has_version, has_name, link;
    struct rp_buf version, name;
};

static int lock_entry(struct json *j, struct lock_entry *e, bool npm)
{
    e->has_version = e->has_name = e->link = false;
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = j_member(j, &first, &done, &line)) && !done) {
        bool version = j_key_is(j, "version");
        bool name = npm && j_key_is(j, "name");
        bool link = npm && j_key_is(j, "link");
        if (!version && !name && !link) {
            if ((result = j_pass(j)))
                return result;
            continue;
        }
        struct jval v;
        if ((result = j_value(j, &v)))
            return result;
        if (link) {
            e->link = v.type == J_TRUE;
            result = j_finish(j, &v);
        } else if (v.type != J_STRING) {
            return j_wrong(j, line, version ? "version" : "name", &v, "a string");
        } else if (version) {
            e->has_version = true;
            result = j_keep(j, &e->version);
        } else {
            e->has_name = true;
            result = j_keep(j, &e->name);
        }
        if (result)
            return result;
    }
    return result;
}

static void lock_entry_init(struct lock_entry *e, size_t cap)
{
    memset(e, 0, sizeof(*e));
    rp_buf_init(&e->version, cap);
    rp_buf_init(&e->name, cap);
}

static void lock_entry_release(struct lock_entry *e)
{
    rp_buf_release(&e->version);
    rp_buf_release(&e->name);
}

/* Pipfile.lock: "default" and "develop" map names to {"version": "==1.2.3", ...}. Entries with no
 * version (a path, a VCS checkout) are unpinned. */
static int pipfile_section(struct json *j, struct rp_buf *name, struct lock_entry *e)
{
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = j_member(j, &first, &done, &line)) && !done) {
        struct jval v;
        if ((result = j_keep(j, name)) || (result = j_value(j, &v)))
            return result;
        if (v.type != J_OBJECT)
            return j_wrong_buf(j, line, name, &v, "an object");
        if ((result = lock_entry(j, e, false)))
            return result;
        struct rp_str ver = e->has_version ? str_trim(rp_buf_str(&e->version)) : RP_STR_NULL;
        bool pinned = rp_str_has_prefix(ver, "==");
        if (pinned) {
            size_t op = rp_str_has_prefix(ver, "===") ? 3 : 2;
            ver = str_trim((struct rp_str){ver.ptr + op, ver.len - op});
        }
        result = add_pkg(j->c, RP_ECO_PYPI, rp_buf_str(name), pinned ? &ver : NULL, line);
        if (result)
            return result;
    }
    return result;
}

static int read_pipfile_lock(struct json *j)
{
    struct rp_buf name;
    struct lock_entry e;
    rp_buf_init(&name, j->r.str.cap);
    lock_entry_init(&e, j->r.str.cap);
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = j_member(j, &first, &done, &line)) && !done) {
        if (!j_key_is(j, "default") && !j_key_is(j, "develop")) {
            if ((result = j_pass(j)))
                break;
            continue;
        }
        const char *section = j_key_is(j, "default") ? "default" : "develop";
        struct jval v;
        if ((result = j_value(j, &v)))
            break;
        if (v.type == J_NULL)
            continue;
        if (v.type != J_OBJECT) {
            result = j_wrong(j, line, section, &v, "an object");
            break;
        }
        if ((result = pipfile_section(j, &name, &e)))
            break;
    }
    rp_buf_release(&name);
    lock_entry_release(&e);
    return result;
}

/* The last occurrence of needle in s, or NULL. */
static const char *last_occurrence(struct rp_str s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = s.len; i >= n; i--)
        if (!memcmp(s.ptr + i - n, needle, n))
            return s.ptr + i - n;
    return NULL;
}

/* package-lock.json v2/v3: "packages" maps install paths to entries. The root ("") and
 * workspace folders (paths with no node_modules/) are the project itself, and "link" entries
 * point at one of those. An entry's "name" is the real package of an alias
 * ("node_modules/my-lodash": {"name": "lodash", ...}). */
static int npm_packages(struct json *j, struct rp_buf *path, struct lock_entry *e)
{
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = j_member(j, &first, &done, &line)) && !done) {
        if ((result = j_keep(j, path)))
            return result;
        struct rp_str p = rp_buf_str(path);
        const char *nm = last_occurrence(p, "node_modules/");
        if (!nm) {
            if ((result = j_pass(j)))
                return result;
            continue;
        }
        struct jval v;
        if ((result = j_value(j, &v)))
            return result;
        if (v.type != J_OBJECT)
            return j_wrong_buf(j, line, path, &v, "an object");
        if ((result = lock_entry(j, e, true)))
            return result;
        if (e->link)
            continue;
        struct rp_str name = {nm + 13, (size_t)(p.ptr + p.len - nm - 13)};
        if (e->has_name)
            name = rp_buf_str(&e->name);
        struct rp_str ver = rp_buf_str(&e->version);
        result = add_pkg_at(j->c, RP_ECO_NPM, name, e->has_version ? &ver : NULL, line, &p);
        if (result)
            return result;
    }
    return result;
}

/* Sets the version of package i from a package-lock v1 "version": an alias
 * ("npm:lodash@4.17.21") names the real package; a URL or path ("git+https://...",
 * "file:...") pins no registry version and leaves it unpinned. */
static int npm_v1_version(struct ctx *c, size_t i, struct rp_str v, unsigned line)
{
    struct rp_pkg *p = &c->inv->pkgs[i];
    struct rp_str name = RP_STR_NULL;
    if (rp_str_has_prefix(v, "npm:")) {
        struct rp_str spec = {v.ptr + 4, v.len - 4};
        size_t at = spec.len;
        while (at > 1 && spec.ptr[at - 1] != '@')
            at--;
        if (at > 1) {
            name = (struct rp_str){spec.ptr, at - 1};
            v = (struct rp_str){spec.ptr + at, spec.len - at};
        }
    } else if (memchr(v.ptr, ':', v.len) || memchr(v.ptr, '/', v.len)) {
        return RP_OK;
    }
    /* Checked and copied as add_pkg would. */
    if (!v.len || v.len > MAX_FIELD || memchr(v.ptr, '\0', v.len) ||
        (name.ptr && memchr(name.ptr, '\0', name.len)))
        return fail(c, line, "invalid version");
    char *nv = strndup(v.ptr, v.len);
    char *nn = name.ptr ? strndup(name.ptr, name.len) : NULL;
    if (!nv || (name.ptr && !nn)) {
        free(nv);
        free(nn);
        rp_error_set(c->err, "out of memory");
        return RP_ENOMEM;
    }
    free(p->version);
    p->version = nv;
    p->unpinned = false;
    if (nn) {
        free(p->name);
        p->name = nn;
    }
    return RP_OK;
}

/* package-lock.json v1: "dependencies" maps names to {"version", "dependencies": {nested}}. Each
 * entry is added when it opens, before its nested dependencies, as the file lists them; its
 * install path is its parent's (prefix) and "node_modules/NAME", as in v2's "packages". */
static int npm_dependencies(struct json *j, unsigned line, struct rp_buf *prefix)
{
    struct jval v;
    int result = j_value(j, &v);
    if (result)
        return result;
    if (v.type != J_OBJECT)
        return j_wrong(j, line, "dependencies", &v, "an object");
    bool first = true, done;
    unsigned eline;
    size_t at = prefix->len;
    while (!(result = j_member(j, &first, &done, &eline)) && !done) {
        struct rp_str name = rp_buf_str(&j->r.str);
        prefix->len = at;
        if (rp_buf_adds(prefix, "node_modules/") || rp_buf_add(prefix, name.ptr, name.len)) {
            rp_error_set(j->c->err, "out of memory");
            return RP_ENOMEM;
        }
        struct rp_str path = rp_buf_str(prefix);
        if ((result = add_pkg_at(j->c, RP_ECO_NPM, name, NULL, eline, &path)))
            return result;
        size_t idx = j->c->inv->n - 1;
        struct jval e;
        if ((result = j_value(j, &e)))
            return result;
        if (e.type != J_OBJECT)
            return j_wrong(j, eline, j->c->inv->pkgs[idx].name, &e, "an object");
        bool mfirst = true, mdone;
        unsigned mline;
        while (!(result = j_member(j, &mfirst, &mdone, &mline)) && !mdone) {
            if (j_key_is(j, "dependencies")) {
                /* The nested entries' prefix is this entry's path: [0, at) stays as it was,
                 * as the path starts with it. */
                size_t here = prefix->len;
                prefix->len = 0;
                const char *ip = j->c->inv->pkgs[idx].path ? j->c->inv->pkgs[idx].path : "";
                result = rp_buf_add(prefix, ip, strlen(ip));
                if (!result)
                    result = rp_buf_addc(prefix, '/');
                if (result) {
                    rp_error_set(j->c->err, "out of memory");
                    return RP_ENOMEM;
                }
                result = npm_dependencies(j, mline, prefix);
                prefix->len = here;
            } else if (j_key_is(j, "version")) {
                struct jval ver;
                if ((result = j_value(j, &ver)))
                    return result;
                if (ver.type != J_STRING)
                    return j_wrong(j, mline, "version", &ver, "a string");
                result = npm_v1_version(j->c, idx, rp_buf_str(&j->r.str), mline);
            } else {
                result = j_pass(j);
            }
            if (result)
                return result;
        }
        if (result)
            return result;
    }
    return result;
}

/* Drops packages [from, to) of the inventory. */
static void drop_pkgs(struct rp_inventory *inv, size_t from, size_t to)
{
    if (from >= to)
        return;
    for (size_t i = from; i < to; i++)
        pkg_free(&inv->pkgs[i]);
    memmove(&inv->pkgs[from], &inv->pkgs[to], (inv->n - to) * sizeof(inv->pkgs[0]));
    inv->n -= to - from;
}

/* "packages" (lockfileVersion 2 and 3); a file without it is read from "dependencies"
 * (lockfileVersion 1). Version 2 files have both: what "dependencies" gave is dropped when
 * "packages" turns up. */
static int read_npm_lock(struct json *j)
{
    struct rp_buf path, prefix;
    struct lock_entry e;
    rp_buf_init(&path, j->r.str.cap);
    rp_buf_init(&prefix, 1u << 30);
    lock_entry_init(&e, j->r.str.cap);
    bool first = true, done, seen_packages = false;
    size_t v1_from = 0, v1_to = 0;
    unsigned line;
    int result;
    while (!(result = j_member(j, &first, &done, &line)) && !done) {
        if (j_key_is(j, "packages")) {
            struct jval v;
            if ((result = j_value(j, &v)))
                break;
            if (v.type != J_OBJECT) {
                result = j_wrong(j, line, "packages", &v, "an object");
                break;
            }
            seen_packages = true;
            drop_pkgs(j->c->inv, v1_from, v1_to);
            v1_from = v1_to = 0;
            result = npm_packages(j, &path, &e);
        } else if (j_key_is(j, "dependencies") && !seen_packages) {
            v1_from = j->c->inv->n;
            rp_buf_reset(&prefix);
            result = npm_dependencies(j, line, &prefix);
            v1_to = j->c->inv->n;
        } else if (j_key_is(j, "lockfileVersion")) {
            struct jval v;
            if ((result = j_value(j, &v)))
                break;
            if (v.type != J_NUMBER || !v.integer) {
                result = j_wrong(j, line, "lockfileVersion", &v, "an integer");
                break;
            }
        } else {
            result = j_pass(j);
        }
        if (result)
            break;
    }
    rp_buf_release(&path);
    rp_buf_release(&prefix);
    lock_entry_release(&e);
    return result;
}

typedef int (*json_reader_fn)(struct json *j);

static int read_json(struct ctx *c, struct rp_str text, json_reader_fn reader)
{
    struct json j = {.c = c};
    rp_jsonr_init(&j.r, text, c->err);
    struct jval root;
    int result = j_value(&j, &root);
    if (!result && root.type != J_OBJECT)
        result = fail(c, root.line, "the file is %s, not a JSON object", jtype_name(&root));
    if (!result)
        result = reader(&j);
    if (!result)
        result = rp_jsonr_end(&j.r);
    rp_jsonr_release(&j.r);
    return result;
}

int rp__inventory_json_check(struct rp_str text, struct rp_error *err)
{
    struct rp_jsonr j;
    rp_jsonr_init(&j, text, err);
    struct rp_jsonv root;
    int result = rp_jsonr_value(&j, &root);
    if (!result)
        result = rp_jsonr_finish(&j, &root);
    if (!result)
        result = rp_jsonr_end(&j);
    rp_jsonr_release(&j);
    return result;
}

/* ---- TOML lock files (poetry.lock, Cargo.lock) --------------------------------------------- */

/* The fields of the [[package]] being read. */
struct toml_pkg {
    bool active;
    unsigned header_line, name_line;
    bool has_name, has_version, has_source;
    struct rp_buf name, version, source;
};

static void toml_pkg_reset(struct toml_pkg *pk)
{
    pk->active = false;
    pk->has_name = pk->has_version = pk->has_source = false;
    rp_buf_reset(&pk->name);
    rp_buf_reset(&pk->version);
    rp_buf_reset(&pk->source);
}

/* The [[package]] just read is complete. Cargo.lock lists the workspace's own crates too, with
 * no "source": they are not from crates.io and are left out. */
static int toml_pkg_finish(struct ctx *c, struct toml_pkg *pk, enum rp_eco eco)
{
    if (!pk->active)
        return RP_OK;
    pk->active = false;
    if (!pk->has_name)
        return fail(c, pk->header_line, "[[package]] without a name");
    char ex[64];
    if (!pk->has_version)
        return fail(c, pk->header_line, "package '%s' without a version",
                    rp_str_excerpt(rp_buf_str(&pk->name), ex, sizeof(ex)));
    if (eco == RP_ECO_CRATES && !pk->has_source)
        return RP_OK;
    struct rp_str v = rp_buf_str(&pk->version);
    return add_pkg(c, eco, rp_buf_str(&pk->name), &v, pk->name_line);
}

/* A key/value line; inside a [[package]], name, version and (Cargo.lock) source are kept:
 * poetry.lock's source is a table of its own that rampart does not read. */
static int toml_keyval(struct ctx *c, struct rp_toml *t, const struct rp_toml_item *it,
                       struct toml_pkg *pk, enum rp_eco eco)
{
    struct rp_buf *out = NULL;
    bool *has = NULL;
    const char *field = NULL;
    if (pk->active) {
        if (rp_toml_key_is(it, "name"))
            out = &pk->name, has = &pk->has_name, field = "name";
        else if (rp_toml_key_is(it, "version"))
            out = &pk->version, has = &pk->has_version, field = "version";
        else if (eco == RP_ECO_CRATES && rp_toml_key_is(it, "source"))
            out = &pk->source, has = &pk->has_source, field = "source";
    }
    if (has && *has)
        return fail(c, it->line, "duplicate key '%s'", field);
    enum rp_toml_type type;
    int result = rp_toml_value(t, out, &type);
    if (result || !has)
        return result;
    if (type != RP_TOML_STRING)
        return fail(c, it->line, "'%s' is not a string", field);
    *has = true;
    if (out == &pk->name)
        pk->name_line = it->line;
    return RP_OK;
}

/* The "name", "version" and (Cargo.lock) "source" strings of each [[package]] table, read by the
 * TOML reader of rampart/toml.h, which checks the rest as TOML. */
static int read_toml_lock(struct ctx *c, struct rp_str text, enum rp_eco eco)
{
    struct rp_toml t;
    struct toml_pkg pk = {0};
    rp_toml_init(&t, text, c->err);
    rp_buf_init(&pk.name, text.len + 1);
    rp_buf_init(&pk.version, text.len + 1);
    rp_buf_init(&pk.source, text.len + 1);
    struct rp_toml_item it;
    int result;
    while (!(result = rp_toml_next(&t, &it)) && it.kind != RP_TOML_END) {
        if (it.kind == RP_TOML_KEY) {
            result = toml_keyval(c, &t, &it, &pk, eco);
        } else {
            result = toml_pkg_finish(c, &pk, eco);
            if (!result && it.kind == RP_TOML_ARRAY_TABLE && rp_toml_key_is(&it, "package")) {
                toml_pkg_reset(&pk);
                pk.active = true;
                pk.header_line = it.line;
            }
        }
        if (result)
            break;
    }
    if (!result)
        result = toml_pkg_finish(c, &pk, eco);
    rp_toml_release(&t);
    rp_buf_release(&pk.name);
    rp_buf_release(&pk.version);
    rp_buf_release(&pk.source);
    return result;
}

/* ---- requirements.txt ---------------------------------------------------------------------- */

/* A line that pip treats as a comment as a whole (optional blanks, then '#'). */
static bool req_comment_line(struct rp_str l)
{
    l = str_trim(l);
    return l.len && l.ptr[0] == '#';
}

static bool req_continued(struct rp_str l)
{
    return l.len && l.ptr[l.len - 1] == '\\' && !req_comment_line(l);
}

static bool req_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static bool req_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

static bool has_suffix(struct rp_str s, const char *suffix)
{
    size_t n = strlen(suffix);
    return s.len >= n && rp_str_ieq_cstr((struct rp_str){s.ptr + s.len - n, n}, suffix);
}

/* Whether the first word of a requirement line is a path, URL or archive, which pip installs
 * as it is and which names no index package. */
static bool req_is_location(struct rp_str s)
{
    size_t n = 0;
    while (n < s.len && !req_space(s.ptr[n]) && s.ptr[n] != ';')
        n++;
    struct rp_str w = {s.ptr, n};
    static const char *const archives[] = {".whl", ".zip",    ".tar.gz", ".tgz", ".tar.bz2",
                                           ".tbz", ".tar.xz", ".txz",    ".tar"};
    if (!w.len || w.ptr[0] == '.' || w.ptr[0] == '~' || memchr(w.ptr, '/', w.len) ||
        memchr(w.ptr, '\\', w.len))
        return true;
    for (size_t i = 0; i < sizeof(archives) / sizeof(archives[0]); i++)
        if (has_suffix(w, archives[i]))
            return true;
    return false;
}

/* What one requirement line says. */
struct req {
    struct rp_str name;
    bool pinned;
    struct rp_str version; /* when pinned */
    const char *why;       /* when not pinned, why (rp_pkg.why), or NULL */
};

/* PEP 440's comparison operators, longest first so that "===" is not read as "==". */
static const char *const req_ops[] = {"===", "==", "!=", "<=", ">=", "~=", "<", ">"};

/* Whether the text holds "${NAME}": pip replaces it by the variable's value when it installs,
 * which rampart cannot know. */
static bool req_has_env(struct rp_str s)
{
    const char *d = s.len ? memmem(s.ptr, s.len, "${", 2) : NULL;
    return d && memchr(d, '}', (size_t)(s.ptr + s.len - d));
}

static const char req_env_why[] = "its version comes from an environment variable";

/* The version specifiers of a requirement (after its name and extras, before ';'): clauses
 * "OP VERSION" separated by ','. An operator PEP 440 does not have ("Django=2.2") or a version
 * with a character no version has is an error, as pip makes it. */
static int req_spec(struct ctx *c, struct rp_str line_text, struct rp_str spec, unsigned line,
                    struct req *r)
{
    char ex[64];
    size_t clauses = 0;
    bool eq = false, env = false;
    struct rp_str eq_version = RP_STR_NULL;
    const char *p = spec.ptr, *end = spec.ptr + spec.len;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        struct rp_str cl = str_trim((struct rp_str){p, (size_t)((comma ? comma : end) - p)});
        p = (comma ? comma : end) + 1;
        clauses++;
        if (!cl.len)
            return fail(c, line, "empty version clause in '%s'",
                        rp_str_excerpt(line_text, ex, sizeof(ex)));
        const char *op = NULL;
        for (size_t i = 0; i < sizeof(req_ops) / sizeof(req_ops[0]) && !op; i++)
            if (rp_str_has_prefix(cl, req_ops[i]))
                op = req_ops[i];
        size_t oplen = op ? strlen(op) : 0;
        if (!op || (oplen < cl.len && strchr("=<>!~", cl.ptr[oplen]))) {
            size_t n = 0;
            while (n < cl.len && strchr("=<>!~", cl.ptr[n]))
                n++;
            if (!n)
                return fail(c, line, "cannot read requirement '%s'",
                            rp_str_excerpt(line_text, ex, sizeof(ex)));
            char opx[64];
            return fail(c, line, "'%s' is not a version operator in '%s'%s",
                        rp_str_excerpt((struct rp_str){cl.ptr, n}, opx, sizeof(opx)),
                        rp_str_excerpt(line_text, ex, sizeof(ex)),
                        n == 1 && cl.ptr[0] == '=' ? " (did you mean '=='?)" : "");
        }
        struct rp_str v = str_trim((struct rp_str){cl.ptr + oplen, cl.len - oplen});
        if (!v.len)
            return fail(c, line, "'%s' without a version in '%s'", op,
                        rp_str_excerpt(line_text, ex, sizeof(ex)));
        bool v_env = req_has_env(v);
        for (size_t k = 0; k < v.len; k++) {
            char ch = v.ptr[k];
            if (req_space(ch))
                return fail(c, line, "cannot read requirement '%s'",
                            rp_str_excerpt(line_text, ex, sizeof(ex)));
            /* "===" compares as text and takes anything; the others want PEP 440's characters. */
            if (strcmp(op, "===") && !v_env && !req_alnum(ch) && !strchr("._+!*-", ch)) {
                char vx[64];
                return fail(c, line, "invalid version '%s' in '%s'",
                            rp_str_excerpt(v, vx, sizeof(vx)),
                            rp_str_excerpt(line_text, ex, sizeof(ex)));
            }
        }
        env |= v_env;
        if (oplen >= 2 && op[1] == '=' && op[0] == '=') {
            eq = true;
            eq_version = v;
        }
        if (!comma)
            break;
    }
    r->pinned = clauses == 1 && eq && !env && !memchr(eq_version.ptr, '*', eq_version.len);
    if (r->pinned)
        r->version = eq_version;
    else if (clauses == 1 && eq && env)
        r->why = req_env_why;
    return RP_OK;
}

/* One requirement line, its comment and per-requirement options already removed. A requirement
 * is "name[extras] specifiers ; markers" (PEP 508); it is pinned when its only specifier is "==V"
 * or "===V" with no wildcard. *named is false for a line that names no index package (a path,
 * URL or archive). */
static int req_parse(struct ctx *c, struct rp_str s, unsigned line, struct req *r, bool *named)
{
    char ex[64];
    *r = (struct req){0};
    *named = false;
    size_t i = 0;
    while (i < s.len &&
           (req_alnum(s.ptr[i]) || s.ptr[i] == '.' || s.ptr[i] == '_' || s.ptr[i] == '-'))
        i++;
    r->name = (struct rp_str){s.ptr, i};
    bool name_ok = r->name.len && req_alnum(r->name.ptr[0]) && req_alnum(r->name.ptr[i - 1]);
    while (i < s.len && req_space(s.ptr[i]))
        i++;
    if (name_ok && i < s.len && s.ptr[i] == '[') {
        const char *close = memchr(s.ptr + i, ']', s.len - i);
        if (!close)
            return fail(c, line, "unterminated extras in '%s'", rp_str_excerpt(s, ex, sizeof(ex)));
        i = (size_t)(close - s.ptr) + 1;
        while (i < s.len && req_space(s.ptr[i]))
            i++;
    }
    /* "name @ https://...": a direct reference names the package but pins no index version. */
    if (name_ok && i < s.len && s.ptr[i] == '@') {
        *named = true;
        r->why = "a direct reference (name @ URL)";
        return RP_OK;
    }
    if (req_is_location(s))
        return RP_OK;
    if (!name_ok)
        return fail(c, line, "cannot read requirement '%s'%s", rp_str_excerpt(s, ex, sizeof(ex)),
                    req_has_env(s) ? ": it names an environment variable" : "");
    *named = true;
    if (i == s.len || s.ptr[i] == ';')
        return RP_OK;
    struct rp_str spec = {s.ptr + i, s.len - i};
    const char *semi = memchr(spec.ptr, ';', spec.len);
    if (semi)
        spec.len = (size_t)(semi - spec.ptr);
    spec = str_trim(spec);
    if (spec.len && spec.ptr[0] == '(') {
        if (spec.ptr[spec.len - 1] != ')')
            return fail(c, line, "unbalanced '(' in '%s'", rp_str_excerpt(s, ex, sizeof(ex)));
        spec = str_trim((struct rp_str){spec.ptr + 1, spec.len - 2});
    }
    if (!spec.len || !strchr("=<>!~", spec.ptr[0]))
        return fail(c, line, "cannot read requirement '%s'", rp_str_excerpt(s, ex, sizeof(ex)));
    return req_spec(c, s, spec, line, r);
}

/* ---- requirements.txt: options and included files ---- */

/* A constraint ("-c FILE"): a version that pip installs for a requirement of the same name
 * that does not pin one itself. */
struct req_constraint {
    char key[256]; /* the name's PEP 503 form */
    char *version;
    const char *source;
    unsigned line;
};

/* What reading one requirements.txt and the files it includes shares. */
struct req_state {
    struct req_constraint *cons;
    size_t ncons, acons;
    /* The files being read, outermost first: their ids (for cycles) and paths (for messages). */
    char *ids[RP_INV_MAX_INCLUDE_DEPTH + 1];
    const char *paths[RP_INV_MAX_INCLUDE_DEPTH + 1];
    size_t depth;
    const char *err_file; /* the included file an error is in, once there is one */
};

static int req_file(struct ctx *c, struct req_state *st, struct rp_str text, bool constraints);

/* Whether s starts with the option o: "-r" also as "-rFILE", "--requirement" also as
 * "--requirement=FILE". *value is what follows in the same word, or NULL. */
static bool req_opt(struct rp_str word, const char *o, struct rp_str *value)
{
    size_t n = strlen(o);
    if (!rp_str_has_prefix(word, o))
        return false;
    if (word.len == n) {
        *value = RP_STR_NULL;
        return true;
    }
    bool is_long = n > 2;
    if (is_long && word.ptr[n] != '=')
        return false;
    size_t skip = n + (is_long ? 1 : 0);
    *value = (struct rp_str){word.ptr + skip, word.len - skip};
    return true;
}

/* The next word of s at *i (blanks skipped); a word in single or double quotes loses them, as
 * pip's shlex reading of options does. */
static struct rp_str req_word(struct rp_str s, size_t *i)
{
    while (*i < s.len && req_space(s.ptr[*i]))
        (*i)++;
    size_t start = *i;
    if (*i < s.len && (s.ptr[*i] == '"' || s.ptr[*i] == '\'')) {
        const char *close = memchr(s.ptr + *i + 1, s.ptr[*i], s.len - *i - 1);
        if (close) {
            *i = (size_t)(close - s.ptr) + 1;
            return (struct rp_str){s.ptr + start + 1, (size_t)(close - s.ptr) - start - 1};
        }
    }
    while (*i < s.len && !req_space(s.ptr[*i]))
        (*i)++;
    return (struct rp_str){s.ptr + start, *i - start};
}

/* The path pip opens for an include: relative to the including file's folder, as
 * os.path.join(dirname(including), include) makes it ("./" segments dropped). Heap copy. */
static char *req_resolve(const char *including, struct rp_str inc)
{
    const char *slash = strrchr(including, '/');
    size_t dir = inc.len && inc.ptr[0] == '/' ? 0 : slash ? (size_t)(slash - including) + 1 : 0;
    char *out = malloc(dir + inc.len + 1);
    if (!out)
        return NULL;
    memcpy(out, including, dir);
    size_t n = dir;
    for (size_t i = 0; i < inc.len;) {
        if (inc.ptr[i] == '.' && i + 1 < inc.len && inc.ptr[i + 1] == '/' &&
            (i == 0 || inc.ptr[i - 1] == '/')) {
            i += 2;
            continue;
        }
        if (inc.ptr[i] == '/' && n > 0 && out[n - 1] == '/') {
            i++;
            continue;
        }
        out[n++] = inc.ptr[i++];
    }
    out[n] = '\0';
    return out;
}

/* Appends a copy of path to inv->sources; *out is the copy. */
static int add_source(struct ctx *c, const char *path, const char **out)
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

/* "-r FILE" or "-c FILE" on line: reads the file and its packages (constraints: its pins). */
static int req_include(struct ctx *c, struct req_state *st, struct rp_str arg, bool constraints,
                       unsigned line)
{
    char ex[64];
    const char *opt = constraints ? "-c" : "-r";
    rp_str_excerpt(arg, ex, sizeof(ex));
    if (!arg.len)
        return fail(c, line, "'%s' without a file", opt);
    if (memchr(arg.ptr, '\0', arg.len))
        return fail(c, line, "NUL byte in '%s %s'", opt, ex);
    if (req_has_env(arg))
        return fail(c, line, "cannot follow '%s %s': the path names an environment variable", opt,
                    ex);
    if (memmem(arg.ptr, arg.len, "://", 3))
        return fail(c, line, "cannot follow '%s %s': rampart reads local files only", opt, ex);
    if (!c->opt || !c->opt->read)
        return fail(c, line, "'%s %s' includes another file, which is not read here", opt, ex);
    if (st->depth >= RP_INV_MAX_INCLUDE_DEPTH)
        return fail(c, line, "'%s %s': includes nested more than %d deep", opt, ex,
                    RP_INV_MAX_INCLUDE_DEPTH);
    char *path = req_resolve(c->source, arg);
    if (!path) {
        rp_error_set(c->err, "out of memory");
        return RP_ENOMEM;
    }
    char *text = NULL, id[4096];
    size_t len = 0;
    struct rp_error rerr = {{0}};
    id[0] = '\0';
    int result = c->opt->read(c->opt->arg, path, &text, &len, id, sizeof(id), &rerr);
    if (result == RP_ENOMEM) {
        rp_error_set(c->err, "out of memory");
    } else if (result) {
        result = fail(c, line, "%s %s: %s", opt, ex, rerr.msg[0] ? rerr.msg : rp_strerror(result));
    } else {
        if (!id[0])
            snprintf(id, sizeof(id), "%s", path);
        for (size_t i = 0; !result && i < st->depth; i++) {
            if (strcmp(st->ids[i], id))
                continue;
            /* The chain, from the file included again to here: "a.txt -> b.txt -> a.txt". */
            char chain[192];
            size_t n = 0;
            chain[0] = '\0';
            for (size_t k = i; k <= st->depth && n + 4 < sizeof(chain); k++) {
                const char *name = k < st->depth ? st->paths[k] : path;
                const char *base = strrchr(name, '/');
                n += (size_t)snprintf(chain + n, sizeof(chain) - n, "%s%s", k > i ? " -> " : "",
                                      base ? base + 1 : name);
                if (n >= sizeof(chain))
                    n = sizeof(chain) - 1;
            }
            result = fail(c, line, "%s %s: a cycle of includes (%s)", opt, ex, chain);
        }
    }
    const char *src = NULL;
    if (!result)
        result = add_source(c, path, &src);
    if (!result && !(st->ids[st->depth] = strdup(id))) {
        rp_error_set(c->err, "out of memory");
        result = RP_ENOMEM;
    }
    if (!result) {
        st->paths[st->depth++] = src;
        struct rp_str t = {text, len};
        if (rp_str_has_prefix(t, "\xef\xbb\xbf"))
            t.ptr += 3, t.len -= 3;
        struct ctx child = {c->inv, src, c->err, c->opt};
        result = req_file(&child, st, t, constraints);
        free(st->ids[--st->depth]);
        if (result == RP_EINVAL && !st->err_file)
            st->err_file = src; /* the file whose "line M: what" err holds */
        if (result == RP_EINVAL && c->err && st->depth == 1) {
            /* Where the top-level file includes, then where in which file it went wrong. */
            struct rp_error inner = *c->err;
            result = fail(c, line, "in '%s': %s", st->err_file, inner.msg);
        }
    }
    free(text);
    free(path);
    return result;
}

/* A line that starts with an option. pip's global options (--index-url, -e and the others)
 * name no index package; "-r FILE" and "-c FILE" (also "-rFILE", "--requirement FILE",
 * "--requirement=FILE", and --constraint alike) include another file. */
static int req_option_line(struct ctx *c, struct req_state *st, struct rp_str s, unsigned line)
{
    size_t i = 0;
    struct rp_str word = req_word(s, &i), value;
    bool constraints;
    if (req_opt(word, "-r", &value) || req_opt(word, "--requirement", &value))
        constraints = false;
    else if (req_opt(word, "-c", &value) || req_opt(word, "--constraint", &value))
        constraints = true;
    else
        return RP_OK;
    if (!value.ptr)
        value = req_word(s, &i);
    else if (value.len >= 2 && (value.ptr[0] == '"' || value.ptr[0] == '\'') &&
             value.ptr[value.len - 1] == value.ptr[0])
        value = (struct rp_str){value.ptr + 1, value.len - 2}; /* -r'my file.txt' */
    return req_include(c, st, value, constraints, line);
}

/* The options pip takes after a requirement ("pkg==1.0 --hash=sha256:... -C key=val"); each
 * takes a value, in the same word ("--hash=X", "-CX") or the next. Any other is an error, as it
 * is to pip ("no such option"). */
static int req_per_requirement_options(struct ctx *c, struct rp_str s, unsigned line)
{
    static const char *const opts[] = {"--hash", "--config-settings", "-C", "--global-option",
                                       "--install-option"};
    char ex[64];
    size_t i = 0;
    for (;;) {
        struct rp_str word = req_word(s, &i), value = RP_STR_NULL;
        if (!word.len)
            return RP_OK;
        const char *o = NULL;
        for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]) && !o; k++)
            if (req_opt(word, opts[k], &value))
                o = opts[k];
        if (!o)
            return fail(c, line,
                        "unknown option '%s' after a requirement (pip takes --hash, "
                        "--config-settings or -C, and --global-option there)",
                        rp_str_excerpt(word, ex, sizeof(ex)));
        if (!value.ptr)
            value = req_word(s, &i);
        if (!value.len)
            return fail(c, line, "'%s' without a value", o);
    }
}

/* PEP 503's form of a name, for matching constraints to requirements. */
static bool req_key(struct rp_str name, char *out, size_t cap)
{
    return rp__vuln_name_key(RP_ECO_PYPI, name, out, cap);
}

static int req_add_constraint(struct ctx *c, struct req_state *st, const struct req *r,
                              unsigned line)
{
    struct req_constraint k = {.source = c->source, .line = line};
    if (!req_key(r->name, k.key, sizeof(k.key)))
        return RP_OK; /* longer than any name: matches no requirement */
    for (size_t i = 0; i < st->ncons; i++)
        if (!strcmp(st->cons[i].key, k.key))
            return RP_OK; /* the first pin wins; two different ones make pip fail anyway */
    if (st->ncons == st->acons) {
        size_t na = st->acons ? st->acons * 2 : 16;
        struct req_constraint *nv = realloc(st->cons, na * sizeof(*nv));
        if (!nv)
            goto nomem;
        st->cons = nv;
        st->acons = na;
    }
    if (!(k.version = strndup(r->version.ptr, r->version.len)))
        goto nomem;
    st->cons[st->ncons++] = k;
    return RP_OK;
nomem:
    rp_error_set(c->err, "out of memory");
    return RP_ENOMEM;
}

/* Lines ending in '\' are joined to the next (as pip does, with the backslash removed), so a
 * requirement with its "--hash" lines is one logical line, numbered by its first. A '#' at the
 * start or after a blank starts a comment. In a constraints file (-c), pinned requirements are
 * kept as constraints, not packages. */
static int req_file(struct ctx *c, struct req_state *st, struct rp_str text, bool constraints)
{
    struct rp_buf joined;
    rp_buf_init(&joined, text.len + 1);
    const char *p = text.ptr, *end = text.ptr + text.len;
    unsigned line = 1;
    int result = RP_OK;
    while (!result && p < end) {
        unsigned first = line;
        const char *next;
        struct rp_str l = next_line(p, end, &next);
        p = next;
        line++;
        if (req_continued(l)) {
            rp_buf_reset(&joined);
            for (;;) {
                bool more = req_continued(l);
                struct rp_str part = l;
                while (more && part.len && part.ptr[part.len - 1] == '\\')
                    part.len--;
                if (more || !req_comment_line(l))
                    result = rp_buf_add(&joined, part.ptr, part.len);
                if (result || !more || p >= end)
                    break;
                l = next_line(p, end, &next);
                p = next;
                line++;
            }
            if (result) {
                rp_error_set(c->err, "out of memory");
                break;
            }
            l = rp_buf_str(&joined);
        }
        for (size_t i = 0; i < l.len; i++) {
            if (l.ptr[i] == '#' && (i == 0 || req_space(l.ptr[i - 1]))) {
                l.len = i;
                break;
            }
        }
        l = str_trim(l);
        if (!l.len)
            continue;
        if (l.ptr[0] == '-') {
            result = req_option_line(c, st, l, first);
            continue;
        }
        /* As pip's break_args_options: the first word after a blank that starts with '-' begins
         * the requirement's own options. */
        for (size_t i = 1; i < l.len; i++) {
            if (req_space(l.ptr[i - 1]) && l.ptr[i] == '-') {
                result =
                    req_per_requirement_options(c, (struct rp_str){l.ptr + i, l.len - i}, first);
                l = str_trim((struct rp_str){l.ptr, i});
                break;
            }
        }
        struct req r;
        bool named;
        if (!result)
            result = req_parse(c, l, first, &r, &named);
        if (result || !named)
            continue;
        if (constraints) {
            if (r.pinned)
                result = req_add_constraint(c, st, &r, first);
            continue;
        }
        result = add_pkg(c, RP_ECO_PYPI, r.name, r.pinned ? &r.version : NULL, first);
        if (!result && r.why)
            c->inv->pkgs[c->inv->n - 1].why = r.why;
    }
    rp_buf_release(&joined);
    return result;
}

/* A requirement without a pin of its own gets the version a constraint pins (pip installs
 * that one), and the constraint's file and line, where that version is written. */
static int req_apply_constraints(struct ctx *c, struct req_state *st, size_t from)
{
    for (size_t i = from; i < c->inv->n && st->ncons; i++) {
        struct rp_pkg *p = &c->inv->pkgs[i];
        char key[256];
        if (!p->unpinned || p->why || !req_key(rp_str_from_cstr(p->name), key, sizeof(key)))
            continue;
        for (size_t k = 0; k < st->ncons; k++) {
            if (strcmp(st->cons[k].key, key))
                continue;
            if (!(p->version = strdup(st->cons[k].version))) {
                rp_error_set(c->err, "out of memory");
                return RP_ENOMEM;
            }
            p->unpinned = false;
            p->source = st->cons[k].source;
            p->line = st->cons[k].line;
            break;
        }
    }
    return RP_OK;
}

static int read_requirements(struct ctx *c, struct rp_str text)
{
    struct req_state st = {0};
    const char *id = c->opt && c->opt->id ? c->opt->id : c->source;
    size_t from = c->inv->n;
    int result = RP_OK;
    if (!(st.ids[0] = strdup(id))) {
        rp_error_set(c->err, "out of memory");
        return RP_ENOMEM;
    }
    st.paths[0] = c->source;
    st.depth = 1;
    result = req_file(c, &st, text, false);
    if (!result)
        result = req_apply_constraints(c, &st, from);
    free(st.ids[0]);
    for (size_t i = 0; i < st.ncons; i++)
        free(st.cons[i].version);
    free(st.cons);
    return result;
}

/* ---- go.mod -------------------------------------------------------------------------------- */

struct gotok {
    struct rp_str s;
    bool quoted;
};

struct go_require {
    struct rp_str path, version;
    unsigned line;
};

struct go_replace {
    struct rp_str old, oldv; /* oldv empty: every version */
    struct rp_str new_path, new_version;
    bool local; /* replaced by a directory: the module comes from the tree, not a release */
    unsigned line;
    size_t idx; /* order in the file: a later replace of the same module wins */
};

struct gomod {
    struct go_require *req;
    size_t nreq, areq;
    struct go_replace *rep;
    size_t nrep, arep;
    unsigned module_line; /* the line of the module directive, 0 before it */
};

#define GO_MAX_TOKENS 8

static bool go_punct(char ch)
{
    return ch == '(' || ch == ')' || ch == '[' || ch == ']' || ch == '{' || ch == '}' || ch == ',';
}

static bool go_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* The tokens of one line up to a "//" comment: words, quoted strings ("..." or `...`) and
 * punctuation. *n counts them all; at most GO_MAX_TOKENS are stored. */
static int go_tokens(struct ctx *c, struct rp_str l, unsigned line, struct gotok *tok, size_t *n)
{
    *n = 0;
    size_t i = 0;
    while (i < l.len) {
        char ch = l.ptr[i];
        if (go_space(ch)) {
            i++;
            continue;
        }
        if (ch == '/' && i + 1 < l.len && l.ptr[i + 1] == '/')
            break;
        struct gotok t = {{l.ptr + i, 1}, false};
        if (go_punct(ch)) {
            i++;
        } else if (ch == '"' || ch == '`') {
            size_t j = i + 1;
            while (j < l.len && l.ptr[j] != ch) {
                if (ch == '"' && l.ptr[j] == '\\' && j + 1 < l.len)
                    j++;
                j++;
            }
            if (j >= l.len)
                return fail(c, line, "unterminated quoted string");
            t.s = (struct rp_str){l.ptr + i + 1, j - i - 1};
            t.quoted = true;
            i = j + 1;
        } else {
            size_t j = i;
            while (j < l.len && !go_space(l.ptr[j]) && !go_punct(l.ptr[j]) &&
                   !(l.ptr[j] == '/' && j + 1 < l.len && l.ptr[j + 1] == '/'))
                j++;
            t.s.len = j - i;
            i = j;
        }
        if (*n < GO_MAX_TOKENS)
            tok[*n] = t;
        (*n)++;
    }
    return RP_OK;
}

static bool go_tok_is(const struct gotok *t, const char *s)
{
    return !t->quoted && rp_str_eq_cstr(t->s, s);
}

/* A module path or version: a word or a quoted string without escapes (module paths and
 * versions have no characters that need one). */
static int go_check_word(struct ctx *c, const struct gotok *t, unsigned line)
{
    char ex[64];
    if (!t->quoted && t->s.len == 1 && go_punct(t->s.ptr[0]))
        return fail(c, line, "unexpected '%c'", t->s.ptr[0]);
    if (t->quoted && memchr(t->s.ptr, '\\', t->s.len))
        return fail(c, line, "escape in quoted module path or version '%s'",
                    rp_str_excerpt(t->s, ex, sizeof(ex)));
    return RP_OK;
}

/* Go's modfile.IsDirectoryPath: a replacement that is a local directory. */
static bool go_is_dir(struct rp_str s)
{
    if (rp_str_eq_cstr(s, ".") || rp_str_eq_cstr(s, "..") || rp_str_has_prefix(s, "./") ||
        rp_str_has_prefix(s, "../") || rp_str_has_prefix(s, "/") || rp_str_has_prefix(s, ".\\") ||
        rp_str_has_prefix(s, "..\\") || rp_str_has_prefix(s, "\\"))
        return true;
    return s.len >= 2 && s.ptr[1] == ':' &&
           ((s.ptr[0] >= 'a' && s.ptr[0] <= 'z') || (s.ptr[0] >= 'A' && s.ptr[0] <= 'Z'));
}

static int grow(struct ctx *c, void **ptr, size_t *alloc, size_t n, size_t size)
{
    if (n < *alloc)
        return RP_OK;
    size_t want = *alloc ? *alloc * 2 : 32;
    void *p = realloc(*ptr, want * size);
    if (!p) {
        rp_error_set(c->err, "out of memory");
        return RP_ENOMEM;
    }
    *ptr = p;
    *alloc = want;
    return RP_OK;
}

/* The directives of a go.mod besides require and replace, as Go's modfile knows them (Go 1.25).
 * Go refuses a main module's go.mod with any other directive ("unknown directive"), so a typo
 * such as "requre" is an error here too, not a dependency silently dropped. */
static const char *const go_verbs[] = {"module",  "go",      "toolchain", "godebug",
                                       "exclude", "retract", "tool",      "ignore"};

static bool go_known_verb(struct rp_str verb)
{
    if (rp_str_eq_cstr(verb, "require") || rp_str_eq_cstr(verb, "replace"))
        return true;
    for (size_t i = 0; i < sizeof(go_verbs) / sizeof(go_verbs[0]); i++)
        if (rp_str_eq_cstr(verb, go_verbs[i]))
            return true;
    return false;
}

/* Go's GoVersionRE: "1.21", "1.21.0", "1.21rc1" (no leading zeros). */
static bool go_version_ok(struct rp_str v)
{
    size_t i = 0;
    for (int part = 0; part < 3; part++) {
        size_t start = i;
        while (i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9')
            i++;
        if (i == start || (i - start > 1 && v.ptr[start] == '0') ||
            (part == 0 && v.ptr[start] == '0'))
            return false;
        if (i == v.len || v.ptr[i] != '.' || part == 2)
            break;
        i++;
    }
    if (i < v.len) {
        size_t letters = i;
        while (i < v.len && v.ptr[i] >= 'a' && v.ptr[i] <= 'z')
            i++;
        size_t digits = i;
        while (i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9')
            i++;
        if (i == letters || digits == letters || i == digits)
            return false;
    }
    return i == v.len && memchr(v.ptr, '.', v.len);
}

/* A directive that names no dependency: checked as Go checks its shape, then set aside. */
static int go_other_stmt(struct ctx *c, struct gomod *m, struct rp_str verb, const struct gotok *a,
                         size_t n, unsigned line)
{
    char ex[64];
    if (!go_known_verb(verb))
        return fail(c, line, "unknown directive '%s'", rp_str_excerpt(verb, ex, sizeof(ex)));
    if (rp_str_eq_cstr(verb, "module")) {
        if (m->module_line)
            return fail(c, line, "repeated module directive (the first is on line %u)",
                        m->module_line);
        if (n != 1)
            return fail(c, line, "expected 'module module/path'");
        m->module_line = line;
        return go_check_word(c, &a[0], line);
    }
    if (rp_str_eq_cstr(verb, "go")) {
        if (n != 1)
            return fail(c, line, "expected 'go 1.N'");
        if (!go_version_ok(a[0].s))
            return fail(c, line, "invalid go version '%s': must be like 1.21 or 1.21.0",
                        rp_str_excerpt(a[0].s, ex, sizeof(ex)));
        return RP_OK;
    }
    if (rp_str_eq_cstr(verb, "exclude"))
        return n == 2 ? RP_OK : fail(c, line, "expected 'exclude module/path v1.2.3'");
    if (rp_str_eq_cstr(verb, "godebug")) {
        if (n != 1 || !memchr(a[0].s.ptr, '=', a[0].s.len))
            return fail(c, line, "expected 'godebug key=value'");
        return RP_OK;
    }
    if (rp_str_eq_cstr(verb, "retract"))
        return n ? RP_OK : fail(c, line, "expected 'retract version' or 'retract [low, high]'");
    /* toolchain, tool, ignore: one word */
    if (n != 1) {
        char vx[64];
        return fail(c, line, "expected '%s' and one argument",
                    rp_str_excerpt(verb, vx, sizeof(vx)));
    }
    return RP_OK;
}

/* One statement: verb and its arguments (the tokens after the verb, or a block's line). */
static int go_stmt(struct ctx *c, struct gomod *m, struct rp_str verb, const struct gotok *a,
                   size_t n, unsigned line)
{
    int result;
    if (rp_str_eq_cstr(verb, "require")) {
        if (n != 2)
            return fail(c, line, "expected 'require module/path v1.2.3'");
        if ((result = go_check_word(c, &a[0], line)) || (result = go_check_word(c, &a[1], line)))
            return result;
        result = grow(c, (void **)&m->req, &m->areq, m->nreq, sizeof(*m->req));
        if (result)
            return result;
        m->req[m->nreq++] = (struct go_require){a[0].s, a[1].s, line};
        return RP_OK;
    }
    if (!rp_str_eq_cstr(verb, "replace"))
        return go_other_stmt(c, m, verb, a, n, line);
    size_t arrow = n;
    for (size_t i = 0; i < n; i++)
        if (go_tok_is(&a[i], "=>")) {
            arrow = i;
            break;
        }
    size_t rhs = n - arrow - (arrow < n);
    if ((arrow != 1 && arrow != 2) || (rhs != 1 && rhs != 2))
        return fail(c, line, "expected 'replace module [version] => module [version]'");
    struct go_replace r = {a[0].s, RP_STR_NULL, a[arrow + 1].s, RP_STR_NULL, false, line, m->nrep};
    if (arrow == 2)
        r.oldv = a[1].s;
    if (rhs == 2)
        r.new_version = a[arrow + 2].s;
    r.local = go_is_dir(r.new_path);
    char ex[64];
    if (rhs == 1 && !r.local)
        return fail(c, line, "replacement '%s' has no version and is not a local directory",
                    rp_str_excerpt(r.new_path, ex, sizeof(ex)));
    if (rhs == 2 && r.local)
        return fail(c, line, "local replacement '%s' cannot have a version",
                    rp_str_excerpt(r.new_path, ex, sizeof(ex)));
    for (size_t i = 0; i < n; i++)
        if (i != arrow && (i != arrow + 1 || !r.local) && (result = go_check_word(c, &a[i], line)))
            return result;
    result = grow(c, (void **)&m->rep, &m->arep, m->nrep, sizeof(*m->rep));
    if (result)
        return result;
    m->rep[m->nrep++] = r;
    return RP_OK;
}

static int str_cmp(struct rp_str a, struct rp_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int r = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (r)
        return r;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int go_replace_key_cmp(const struct go_replace *r, struct rp_str path, struct rp_str v)
{
    int d = str_cmp(r->old, path);
    return d ? d : str_cmp(r->oldv, v);
}

static int go_replace_cmp(const void *a, const void *b)
{
    const struct go_replace *x = a, *y = b;
    int d = go_replace_key_cmp(x, y->old, y->oldv);
    if (d)
        return d;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The last replace (in file order) of exactly path and v, or NULL. reps is sorted. */
static const struct go_replace *go_find(const struct gomod *m, struct rp_str path, struct rp_str v)
{
    size_t lo = 0, hi = m->nrep;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (go_replace_key_cmp(&m->rep[mid], path, v) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo && !go_replace_key_cmp(&m->rep[lo - 1], path, v))
        return &m->rep[lo - 1];
    return NULL;
}

/* Each required module, or what replaces it: "replace a v1 => b v2" (a at v1 only) beats
 * "replace a => b v2" (every version of a); a local directory replacement drops the module.
 * A replaced module's line is the replace's, where the version in use is written. */
static int go_resolve(struct ctx *c, struct gomod *m)
{
    if (m->nrep)
        qsort(m->rep, m->nrep, sizeof(*m->rep), go_replace_cmp);
    for (size_t i = 0; i < m->nreq; i++) {
        const struct go_require *r = &m->req[i];
        const struct go_replace *rep = go_find(m, r->path, r->version);
        if (!rep)
            rep = go_find(m, r->path, RP_STR_NULL);
        int result;
        if (!rep)
            result = add_pkg(c, RP_ECO_GO, r->path, &r->version, r->line);
        else if (rep->local)
            result = RP_OK;
        else
            result = add_pkg(c, RP_ECO_GO, rep->new_path, &rep->new_version, rep->line);
        if (result)
            return result;
    }
    return RP_OK;
}

static int read_go_mod(struct ctx *c, struct rp_str text)
{
    struct gomod m = {0};
    const char *p = text.ptr, *end = text.ptr + text.len;
    unsigned line = 0, block_line = 0;
    struct rp_str block = RP_STR_NULL; /* the verb of the open "verb (" block */
    int result = RP_OK;
    while (!result && p < end) {
        const char *next;
        struct rp_str l = next_line(p, end, &next);
        p = next;
        line++;
        struct gotok tok[GO_MAX_TOKENS];
        size_t n;
        result = go_tokens(c, l, line, tok, &n);
        if (result || !n)
            continue;
        if (n > GO_MAX_TOKENS) {
            /* No statement that matters is that long; others (retract [a, b]) are skipped. */
            struct rp_str verb = block.ptr ? block : tok[0].s;
            char ex[64];
            if (rp_str_eq_cstr(verb, "require") || rp_str_eq_cstr(verb, "replace"))
                result = fail(c, line, "too many words in a '%s' line",
                              rp_str_eq_cstr(verb, "require") ? "require" : "replace");
            else if (!go_known_verb(verb))
                result =
                    fail(c, line, "unknown directive '%s'", rp_str_excerpt(verb, ex, sizeof(ex)));
            else if (rp_str_eq_cstr(verb, "module") && !block.ptr && !m.module_line)
                m.module_line = line; /* let a later module line be the repeated one */
            continue;
        }
        if (block.ptr) {
            if (go_tok_is(&tok[0], ")")) {
                if (n != 1)
                    result = fail(c, line, "unexpected text after ')'");
                block = RP_STR_NULL;
            } else {
                result = go_stmt(c, &m, block, tok, n, line);
            }
            continue;
        }
        if (go_tok_is(&tok[0], ")") || go_tok_is(&tok[0], "(")) {
            result = fail(c, line, "unexpected '%c'", tok[0].s.ptr[0]);
        } else if (n >= 2 && go_tok_is(&tok[1], "(") && !go_known_verb(tok[0].s)) {
            char ex[64];
            result =
                fail(c, line, "unknown directive '%s'", rp_str_excerpt(tok[0].s, ex, sizeof(ex)));
        } else if (n == 2 && go_tok_is(&tok[1], "(")) {
            block = tok[0].s;
            block_line = line;
        } else if (n == 3 && go_tok_is(&tok[1], "(") && go_tok_is(&tok[2], ")")) {
            continue; /* "require ()" */
        } else {
            size_t nargs = n - 1;
            result = go_stmt(c, &m, tok[0].s, tok + 1, nargs, line);
        }
    }
    if (!result && block.ptr) {
        char ex[64];
        result = fail(c, block_line, "'%s (' block without its ')'",
                      rp_str_excerpt(block, ex, sizeof(ex)));
    }
    /* Go refuses a go.mod without its module directive: so does a file that is not a go.mod. */
    if (!result && !m.module_line)
        result = fail(c, 1, "no module directive: not a go.mod file");
    if (!result)
        result = go_resolve(c, &m);
    free(m.req);
    free(m.rep);
    return result;
}

/* ---- dpkg status --------------------------------------------------------------------------- */

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
static int dpkg_on_disk(struct ctx *c, struct rp_str pkg, struct rp_str status, unsigned line,
                        bool *on_disk)
{
    static const char *const present[] = {
        "installed",        "half-installed",   "unpacked",         "half-configured",
        "triggers-awaited", "triggers-pending", "post-inst-failed", "removal-failed"};
    struct rp_str w[3];
    size_t n = 0, i = 0;
    char ex[64], sx[64];
    while (i < status.len) {
        while (i < status.len && req_space(status.ptr[i]))
            i++;
        size_t j = i;
        while (j < status.len && !req_space(status.ptr[j]))
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
        return fail(c, line, "Status of '%s' is not 'want flag state': '%s'",
                    rp_str_excerpt(pkg, ex, sizeof(ex)), rp_str_excerpt(status, sx, sizeof(sx)));
    *on_disk = false;
    if (rp_str_eq_cstr(w[2], "not-installed") || rp_str_eq_cstr(w[2], "config-files"))
        return RP_OK;
    for (size_t k = 0; k < sizeof(present) / sizeof(present[0]); k++)
        if (rp_str_eq_cstr(w[2], present[k])) {
            *on_disk = true;
            return RP_OK;
        }
    return fail(c, line, "unknown package state '%s' in the Status of '%s'",
                rp_str_excerpt(w[2], sx, sizeof(sx)), rp_str_excerpt(pkg, ex, sizeof(ex)));
}

static int dpkg_finish(struct ctx *c, struct dpkg_para *pa, enum dpkg_kind kind)
{
    struct dpkg_para done = *pa;
    memset(pa, 0, sizeof(*pa));
    if (!done.any)
        return RP_OK;
    if (!done.has_pkg)
        return fail(c, done.start, "paragraph without a Package field");
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
        return fail(c, done.pkg_line, "installed package '%s' without a Version field",
                    rp_str_excerpt(done.pkg, ex, sizeof(ex)));
    /* Debian's advisories name source packages: a binary built from another source
     * ("Source: openssl (3.0.11-1)" under "Package: libssl3") is matched as that source, at the
     * source's version when the field gives one (binNMUs differ), else at the binary's. */
    struct rp_str name = done.pkg, version = done.version;
    if (done.has_source) {
        const char *sp = memchr(done.source.ptr, ' ', done.source.len);
        name =
            (struct rp_str){done.source.ptr, sp ? (size_t)(sp - done.source.ptr) : done.source.len};
        struct rp_str rest = sp ? str_trim((struct rp_str){sp, done.source.len - name.len})
                                : (struct rp_str){NULL, 0};
        if (rest.len >= 2 && rest.ptr[0] == '(' && rest.ptr[rest.len - 1] == ')')
            version = str_trim((struct rp_str){rest.ptr + 1, rest.len - 2});
        else if (rest.len)
            return fail(c, done.pkg_line, "Source field of '%s' is not 'name (version)'",
                        rp_str_excerpt(done.pkg, ex, sizeof(ex)));
    }
    return add_pkg(c, kind == OPKG_STATUS ? RP_ECO_OPENWRT : RP_ECO_DEBIAN, name, &version,
                   done.pkg_line);
}

/* Paragraphs of "Field: value" lines separated by blank lines; continuation lines start with
 * a blank. The line of a package is its Package field's. */
static int read_dpkg_status(struct ctx *c, struct rp_str text, enum dpkg_kind kind)
{
    struct dpkg_para pa = {0};
    const char *p = text.ptr, *end = text.ptr + text.len;
    unsigned line = 0;
    bool in_field = false;
    int result = RP_OK;
    while (!result && p < end) {
        const char *next;
        struct rp_str l = next_line(p, end, &next);
        p = next;
        line++;
        if (!str_trim(l).len) {
            in_field = false;
            result = dpkg_finish(c, &pa, kind);
            continue;
        }
        if (l.ptr[0] == ' ' || l.ptr[0] == '\t') {
            if (!in_field)
                result = fail(c, line, "continuation line outside a field");
            continue;
        }
        if (l.ptr[0] == '#')
            continue;
        const char *colon = memchr(l.ptr, ':', l.len);
        size_t flen = colon ? (size_t)(colon - l.ptr) : 0;
        for (size_t i = 0; i < flen; i++)
            if (req_space(l.ptr[i]))
                flen = 0;
        if (!flen) {
            char ex[64];
            result = fail(c, line, "expected 'Field: value', not '%s'",
                          rp_str_excerpt(l, ex, sizeof(ex)));
            continue;
        }
        struct rp_str field = {l.ptr, flen};
        struct rp_str value = str_trim((struct rp_str){colon + 1, l.len - flen - 1});
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
            result = fail(c, line, "duplicate field '%s'", rp_str_excerpt(field, ex, sizeof(ex)));
        } else if (has) {
            *has = true;
            *slot = value;
        }
    }
    if (!result)
        result = dpkg_finish(c, &pa, kind);
    return result;
}

/* ---- formats ------------------------------------------------------------------------------- */

static const char *const format_names[] = {
    [RP_INV_UNKNOWN] = "unknown",
    [RP_INV_CYCLONEDX] = "CycloneDX",
    [RP_INV_SPDX] = "SPDX",
    [RP_INV_REQUIREMENTS] = "requirements.txt",
    [RP_INV_POETRY_LOCK] = "poetry.lock",
    [RP_INV_PIPFILE_LOCK] = "Pipfile.lock",
    [RP_INV_GO_MOD] = "go.mod",
    [RP_INV_NPM_LOCK] = "package-lock.json",
    [RP_INV_CARGO_LOCK] = "Cargo.lock",
    [RP_INV_DPKG_STATUS] = "dpkg status",
    [RP_INV_DPKG_STATUS_D] = "dpkg status.d",
    [RP_INV_OPKG_STATUS] = "opkg status",
};

const char *rp_inventory_format_name(enum rp_inv_format f)
{
    if ((unsigned)f < sizeof(format_names) / sizeof(format_names[0]) && format_names[f])
        return format_names[f];
    return "unknown";
}

/* The position of needle in s, or s.len. */
static size_t find(struct rp_str s, const char *needle)
{
    const char *hit = memmem(s.ptr, s.len, needle, strlen(needle));
    return hit ? (size_t)(hit - s.ptr) : s.len;
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

/* Whether s holds needle, ASCII case aside. */
static bool contains_ci(struct rp_str s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= s.len; i++)
        if (rp_str_ieq_cstr((struct rp_str){s.ptr + i, n}, needle))
            return true;
    return false;
}

enum rp_inv_format rp_inventory_detect(const char *path, struct rp_str head)
{
    const char *base = path ? path : "";
    for (const char *q = base; *q; q++)
        if (*q == '/')
            base = q + 1;
    struct rp_str b = rp_str_from_cstr(base);
    /* requirements.txt, requirements-dev.txt, dev-requirements.txt, test_requirements.txt... */
    if (contains_ci(b, "requirements") && has_suffix(b, ".txt"))
        return RP_INV_REQUIREMENTS;
    if (path && rp_str_eq_cstr(parent_name(path, 1), "status.d") &&
        rp_str_eq_cstr(parent_name(path, 2), "dpkg") && b.len && base[0] != '.' &&
        !has_suffix(b, ".md5sums"))
        return RP_INV_DPKG_STATUS_D;
    if (path && !strcmp(base, "status") && rp_str_eq_cstr(parent_name(path, 1), "opkg"))
        return RP_INV_OPKG_STATUS;
    static const struct {
        const char *name;
        enum rp_inv_format f;
    } names[] = {
        {"poetry.lock", RP_INV_POETRY_LOCK},
        {"Pipfile.lock", RP_INV_PIPFILE_LOCK},
        {"go.mod", RP_INV_GO_MOD},
        {"package-lock.json", RP_INV_NPM_LOCK},
        {"npm-shrinkwrap.json", RP_INV_NPM_LOCK}, /* the same format, published with a package */
        {"Cargo.lock", RP_INV_CARGO_LOCK},
        {"status", RP_INV_DPKG_STATUS},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(base, names[i].name))
            return names[i].f;
    if (!has_suffix(b, ".json") || !head.ptr)
        return RP_INV_UNKNOWN;
    size_t cdx = find(head, "\"bomFormat\"");
    size_t spdx = find(head, "\"spdxVersion\"");
    if (cdx < spdx)
        return RP_INV_CYCLONEDX;
    if (spdx < cdx)
        return RP_INV_SPDX;
    return RP_INV_UNKNOWN;
}

const char *rp_inventory_superseded_by(const char *path)
{
    const char *base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : path ? path : "";
    return !strcmp(base, "package-lock.json") ? "npm-shrinkwrap.json" : NULL;
}

static int parse_text(struct ctx *c, enum rp_inv_format f, struct rp_str text)
{
    switch (f) {
    case RP_INV_CYCLONEDX: return read_json(c, text, read_cyclonedx);
    case RP_INV_SPDX: return read_json(c, text, read_spdx);
    case RP_INV_PIPFILE_LOCK: return read_json(c, text, read_pipfile_lock);
    case RP_INV_NPM_LOCK: return read_json(c, text, read_npm_lock);
    case RP_INV_REQUIREMENTS: return read_requirements(c, text);
    case RP_INV_POETRY_LOCK: return read_toml_lock(c, text, RP_ECO_PYPI);
    case RP_INV_CARGO_LOCK: return read_toml_lock(c, text, RP_ECO_CRATES);
    case RP_INV_GO_MOD: return read_go_mod(c, text);
    case RP_INV_DPKG_STATUS: return read_dpkg_status(c, text, DPKG_STATUS);
    case RP_INV_DPKG_STATUS_D: return read_dpkg_status(c, text, DPKG_STATUS_D);
    case RP_INV_OPKG_STATUS: return read_dpkg_status(c, text, OPKG_STATUS);
    case RP_INV_UNKNOWN: break;
    }
    rp_error_set(c->err, "unknown inventory format");
    return RP_EINVAL;
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
    struct ctx c = {inv, NULL, err, opt};
    int result = add_source(&c, path ? path : "", &c.source);
    if (!result)
        result = parse_text(&c, f, text);
    if (result) {
        /* Leave inv as it was: none of this file's packages, nor its path, nor its includes'. */
        for (size_t i = n0; i < inv->n; i++)
            pkg_free(&inv->pkgs[i]);
        inv->n = n0;
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
