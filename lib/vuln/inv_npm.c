/* package-lock.json and npm-shrinkwrap.json: every installed copy of a package, with its install
 * path, from lockfileVersion 2 and 3's "packages" or version 1's nested "dependencies". */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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
static int npm_packages(struct rp__inv_json *j, struct rp_buf *path, struct rp__inv_lock_entry *e)
{
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = rp_jsonr_member(&j->r, &first, &done, &line)) && !done) {
        if ((result = rp_jsonr_keep(&j->r, path)))
            return result;
        struct rp_str p = rp_buf_str(path);
        const char *nm = last_occurrence(p, "node_modules/");
        if (!nm) {
            if ((result = rp_jsonr_pass(&j->r)))
                return result;
            continue;
        }
        struct rp_jsonv v;
        if ((result = rp_jsonr_value(&j->r, &v)))
            return result;
        if (v.type != RP_JSON_OBJECT)
            return rp__inv_json_wrong(j, line, rp_buf_str(path), &v, "an object");
        if ((result = rp__inv_lock_entry_read(j, e, true)))
            return result;
        if (e->link)
            continue;
        struct rp_str name = {nm + 13, (size_t)(p.ptr + p.len - nm - 13)};
        if (e->has_name)
            name = rp_buf_str(&e->name);
        struct rp_str ver = rp_buf_str(&e->version);
        result = rp__inv_add_pkg_at(j->c, RP_ECO_NPM, name, e->has_version ? &ver : NULL, line, &p);
        if (result)
            return result;
    }
    return result;
}

/* Sets the version of package i from a package-lock v1 "version": an alias
 * ("npm:lodash@4.17.21") names the real package; a URL or path ("git+https://...",
 * "file:...") pins no registry version and leaves it unpinned. */
static int npm_v1_version(struct rp__inv *c, size_t i, struct rp_str v, unsigned line)
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
    /* Checked and copied as rp__inv_add_pkg would. */
    if (!v.len || v.len > RP__INV_MAX_FIELD || memchr(v.ptr, '\0', v.len) ||
        (name.ptr && memchr(name.ptr, '\0', name.len)))
        return rp__inv_fail(c, line, "invalid version");
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
static int npm_dependencies(struct rp__inv_json *j, unsigned line, struct rp_buf *prefix)
{
    struct rp_jsonv v;
    int result = rp_jsonr_value(&j->r, &v);
    if (result)
        return result;
    if (v.type != RP_JSON_OBJECT)
        return rp__inv_json_wrong(j, line, RP_STR("dependencies"), &v, "an object");
    bool first = true, done;
    unsigned eline;
    size_t at = prefix->len;
    while (!(result = rp_jsonr_member(&j->r, &first, &done, &eline)) && !done) {
        struct rp_str name = rp_buf_str(&j->r.str);
        prefix->len = at;
        if (rp_buf_adds(prefix, "node_modules/") || rp_buf_add(prefix, name.ptr, name.len)) {
            rp_error_set(j->c->err, "out of memory");
            return RP_ENOMEM;
        }
        struct rp_str path = rp_buf_str(prefix);
        if ((result = rp__inv_add_pkg_at(j->c, RP_ECO_NPM, name, NULL, eline, &path)))
            return result;
        size_t idx = j->c->inv->n - 1;
        struct rp_jsonv e;
        if ((result = rp_jsonr_value(&j->r, &e)))
            return result;
        if (e.type != RP_JSON_OBJECT)
            return rp__inv_json_wrong(j, eline, rp_str_from_cstr(j->c->inv->pkgs[idx].name), &e,
                                      "an object");
        bool mfirst = true, mdone;
        unsigned mline;
        while (!(result = rp_jsonr_member(&j->r, &mfirst, &mdone, &mline)) && !mdone) {
            if (rp_jsonr_key_is(&j->r, "dependencies")) {
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
            } else if (rp_jsonr_key_is(&j->r, "version")) {
                struct rp_jsonv ver;
                if ((result = rp_jsonr_value(&j->r, &ver)))
                    return result;
                if (ver.type != RP_JSON_STRING)
                    return rp__inv_json_wrong(j, mline, RP_STR("version"), &ver, "a string");
                result = npm_v1_version(j->c, idx, rp_buf_str(&j->r.str), mline);
            } else {
                result = rp_jsonr_pass(&j->r);
            }
            if (result)
                return result;
        }
        if (result)
            return result;
    }
    return result;
}

/* "packages" (lockfileVersion 2 and 3); a file without it is read from "dependencies"
 * (lockfileVersion 1). Version 2 files have both: what "dependencies" gave is dropped when
 * "packages" turns up. */
static int npm_root(struct rp__inv_json *j)
{
    struct rp_buf path, prefix;
    struct rp__inv_lock_entry e;
    rp_buf_init(&path, j->r.str.cap);
    rp_buf_init(&prefix, 1u << 30);
    rp__inv_lock_entry_init(&e, j->r.str.cap);
    bool first = true, done, seen_packages = false;
    size_t v1_from = 0, v1_to = 0;
    unsigned line;
    int result;
    while (!(result = rp_jsonr_member(&j->r, &first, &done, &line)) && !done) {
        if (rp_jsonr_key_is(&j->r, "packages")) {
            struct rp_jsonv v;
            if ((result = rp_jsonr_value(&j->r, &v)))
                break;
            if (v.type != RP_JSON_OBJECT) {
                result = rp__inv_json_wrong(j, line, RP_STR("packages"), &v, "an object");
                break;
            }
            seen_packages = true;
            rp__inv_drop_pkgs(j->c->inv, v1_from, v1_to);
            v1_from = v1_to = 0;
            result = npm_packages(j, &path, &e);
        } else if (rp_jsonr_key_is(&j->r, "dependencies") && !seen_packages) {
            v1_from = j->c->inv->n;
            rp_buf_reset(&prefix);
            result = npm_dependencies(j, line, &prefix);
            v1_to = j->c->inv->n;
        } else if (rp_jsonr_key_is(&j->r, "lockfileVersion")) {
            struct rp_jsonv v;
            if ((result = rp_jsonr_value(&j->r, &v)))
                break;
            if (v.type != RP_JSON_NUMBER || !v.integer) {
                result = rp__inv_json_wrong(j, line, RP_STR("lockfileVersion"), &v, "an integer");
                break;
            }
        } else {
            result = rp_jsonr_pass(&j->r);
        }
        if (result)
            break;
    }
    rp_buf_release(&path);
    rp_buf_release(&prefix);
    rp__inv_lock_entry_release(&e);
    return result;
}

int rp__inv_read_npm_lock(struct rp__inv *c, struct rp_str text)
{
    return rp__inv_read_json(c, text, npm_root);
}

const char *rp_inventory_superseded_by(const char *path)
{
    const char *base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : path ? path : "";
    return !strcmp(base, "package-lock.json") ? "npm-shrinkwrap.json" : NULL;
}
