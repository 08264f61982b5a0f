/* OSV records: reading one record down to what matching needs (the compact ranges of
 * osv_internal.h), and the schema's evaluation of whether a version is affected. */
#include <stdlib.h>
#include <string.h>

#include "osv_internal.h"

/* The most bytes the compact ranges or versions of one affected package may take. */
#define AFFECTED_MAX (4u << 20)
/* The most events of one range that are evaluated (records have a few; a hostile one more). */
#define EVENTS_MAX 4096
/* A summary made from details is cut to this many bytes. */
#define SUMMARY_MAX 160

static bool str_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* Appends an event or version and its separator. */
static int add_version(struct rp_buf *b, char kind, const char *v)
{
    int result = kind ? rp_buf_addc(b, kind) : RP_OK;
    if (!result)
        result = rp_buf_add(b, v, strlen(v));
    if (!result)
        result = rp_buf_addc(b, RP__SEP);
    return result;
}

/* ---- the compact form ---- */

struct event {
    char kind;
    struct rp_str v;
    size_t order; /* position in the record: ties keep it */
};

int rp__version_order(enum rp_eco eco, struct rp_str a, struct rp_str b)
{
    int c;
    if (rp_version_cmp(eco, a, b, &c))
        rp_version_cmp(RP_ECO_OTHER, a, b, &c);
    return c;
}

static bool is_zero(const struct event *e)
{
    return e->kind == 'i' && e->v.len == 1 && e->v.ptr[0] == '0';
}

static bool is_star(struct rp_str v)
{
    return memchr(v.ptr, '*', v.len) != NULL;
}

/* The schema's order of a range's events: by version, "introduced: 0" first; limits (which are
 * not part of the walk) last; ties in the record's order. */
static int by_event(const void *x, const void *y, void *arg)
{
    const struct event *a = x, *b = y;
    enum rp_eco eco = *(enum rp_eco *)arg;
    int ka = a->kind == 'm' ? 2 : is_zero(a) ? 0 : 1, kb = b->kind == 'm' ? 2 : is_zero(b) ? 0 : 1;
    int c = ka != kb ? ka - kb : ka == 1 ? rp__version_order(eco, a->v, b->v) : 0;
    return c ? c : a->order < b->order ? -1 : a->order > b->order;
}

static int by_version(const void *x, const void *y, void *arg)
{
    return rp__version_order(*(enum rp_eco *)arg, *(const struct rp_str *)x,
                             *(const struct rp_str *)y);
}

/* Grows a scratch array of n elements of size sz to hold one more. */
static void *grow(void *v, size_t *alloc, size_t n, size_t sz)
{
    if (n < *alloc)
        return v;
    size_t na = *alloc ? *alloc * 2 : 16;
    void *nv = realloc(v, na * sz);
    if (nv)
        *alloc = na;
    return nv;
}

/* Writes the SEMVER and ECOSYSTEM ranges in compact form, each range's events sorted as the
 * evaluation walks them; events whose version eco cannot read are left out (they could not be
 * placed in the order), save introduced "0" and limits. */
static int encode_ranges(enum rp_eco eco, json_t *ranges, struct rp_buf *out, struct rp_error *err)
{
    if (!ranges)
        return RP_OK;
    if (!json_is_array(ranges)) {
        rp_error_set(err, "'ranges' is not an array");
        return RP_EINVAL;
    }
    struct event *ev = NULL;
    size_t alloc = 0, i, j;
    int result = RP_OK;
    json_t *r, *e;
    json_array_foreach(ranges, i, r)
    {
        const char *type = json_string_value(json_object_get(r, "type"));
        json_t *events = json_object_get(r, "events");
        if (!type || !json_is_array(events)) {
            rp_error_set(err, "range %zu has no 'type' or no 'events' array", i);
            result = RP_EINVAL;
            break;
        }
        char t = !strcmp(type, "SEMVER") ? 'S' : !strcmp(type, "ECOSYSTEM") ? 'E' : 0;
        size_t n = 0;
        json_array_foreach(events, j, e)
        {
            const char *key;
            json_t *val;
            char kind = 0;
            const char *v = NULL;
            if (!json_is_object(e) || json_object_size(e) != 1) {
                rp_error_set(err, "event %zu of range %zu is not an object of one field", j, i);
                result = RP_EINVAL;
                break;
            }
            json_object_foreach(e, key, val)
            {
                kind = !strcmp(key, "introduced")      ? 'i'
                       : !strcmp(key, "fixed")         ? 'f'
                       : !strcmp(key, "last_affected") ? 'l'
                       : !strcmp(key, "limit")         ? 'm'
                                                       : 0;
                v = json_string_value(val);
            }
            if (!kind || !v || !*v || !str_ok(v)) {
                rp_error_set(err,
                             "event %zu of range %zu is not introduced, fixed, last_affected"
                             " or limit with a version",
                             j, i);
                result = RP_EINVAL;
                break;
            }
            struct event x = {kind, rp_str_from_cstr(v), j};
            if (!t || (kind != 'm' && !is_zero(&x) && !rp_version_valid(eco, x.v)))
                continue;
            if (!(ev = grow(ev, &alloc, n, sizeof(*ev)))) {
                result = RP_ENOMEM;
                break;
            }
            ev[n++] = x;
        }
        if (result || !t)
            continue;
        if (n > 1) /* ev is NULL when no event was kept: qsort's pointer must not be */
            qsort_r(ev, n, sizeof(*ev), by_event, &eco);
        result = rp_buf_addc(out, t);
        for (size_t k = 0; !result && k < n; k++)
            result = add_version(out, ev[k].kind, ev[k].v.ptr);
        if (!result)
            result = rp_buf_addc(out, RP__RANGE_END);
        if (result) {
            rp_error_set(err, "the ranges are too large");
            break;
        }
    }
    free(ev);
    return result;
}

/* Writes the explicit versions: those eco can read sorted in its order (for a binary search),
 * then RP__UNORDERED and the others, which only match byte for byte. */
static int encode_versions(enum rp_eco eco, json_t *versions, struct rp_buf *out,
                           struct rp_error *err)
{
    if (!versions)
        return RP_OK;
    if (!json_is_array(versions)) {
        rp_error_set(err, "'versions' is not an array");
        return RP_EINVAL;
    }
    struct rp_str *ok = NULL;
    size_t alloc = 0, n = 0, i;
    int result = RP_OK;
    json_t *v;
    json_array_foreach(versions, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || !*s || !str_ok(s)) {
            rp_error_set(err, "version %zu is not a non-empty string", i);
            result = RP_EINVAL;
            break;
        }
        if (!rp_version_valid(eco, rp_str_from_cstr(s)))
            continue;
        if (!(ok = grow(ok, &alloc, n, sizeof(*ok)))) {
            result = RP_ENOMEM;
            break;
        }
        ok[n++] = rp_str_from_cstr(s);
    }
    if (!result && n > 1) /* ok is NULL when no version was kept */
        qsort_r(ok, n, sizeof(*ok), by_version, &eco);
    for (size_t k = 0; !result && k < n; k++)
        result = add_version(out, 0, ok[k].ptr);
    free(ok);
    bool marked = false;
    json_array_foreach(versions, i, v)
    {
        const char *s = json_string_value(v);
        if (result || rp_version_valid(eco, rp_str_from_cstr(s)))
            continue;
        if (!marked && !(result = rp_buf_addc(out, RP__UNORDERED)))
            marked = true;
        if (!result)
            result = add_version(out, 0, s);
    }
    if (result == RP_ETOOBIG || result == RP_ENOMEM)
        rp_error_set(err, "the versions are too large");
    return result;
}

/* The CVSS vector of a severity array: v4.0 before v3.x; "" when there is none. */
static const char *pick_severity(json_t *sev)
{
    const char *best = "";
    int rank = 0;
    size_t i;
    json_t *s;
    json_array_foreach(sev, i, s)
    {
        const char *type = json_string_value(json_object_get(s, "type"));
        const char *score = json_string_value(json_object_get(s, "score"));
        if (!type || !score || !str_ok(score))
            continue;
        int r = !strcmp(type, "CVSS_V4") ? 2 : !strcmp(type, "CVSS_V3") ? 1 : 0;
        if (r > rank) {
            rank = r;
            best = score;
        }
    }
    return best;
}

int rp__osv_record(json_t *rec, rp__osv_affected_fn *fn, void *arg, struct rp_error *err)
{
    if (!json_is_object(rec)) {
        rp_error_set(err, "the record is not a JSON object");
        return RP_EINVAL;
    }
    struct rp__osv_info info = {0};
    info.id = json_string_value(json_object_get(rec, "id"));
    if (!info.id || !*info.id || !str_ok(info.id)) {
        rp_error_set(err, "the record has no 'id' string");
        return RP_EINVAL;
    }
    info.withdrawn = json_object_get(rec, "withdrawn") != NULL;
    info.modified = json_string_value(json_object_get(rec, "modified"));
    if (!info.modified)
        info.modified = "";
    char summary[SUMMARY_MAX + 4];
    info.summary = json_string_value(json_object_get(rec, "summary"));
    if (!info.summary || !*info.summary) {
        /* The first line of the details, cut at a character boundary. */
        const char *d = json_string_value(json_object_get(rec, "details"));
        size_t n = 0;
        for (; d && d[n] && d[n] != '\n' && n < SUMMARY_MAX; n++)
            ;
        bool cut = d && d[n] && d[n] != '\n';
        while (cut && n > 0 && ((unsigned char)d[n] & 0xc0) == 0x80)
            n--;
        memcpy(summary, d ? d : "", n);
        if (cut)
            memcpy(summary + n, "...", 4);
        else
            summary[n] = '\0';
        info.summary = summary;
    }
    int result = RP_OK;
    struct rp_buf aliases, ranges, versions;
    rp_buf_init(&aliases, AFFECTED_MAX);
    rp_buf_init(&ranges, AFFECTED_MAX);
    rp_buf_init(&versions, AFFECTED_MAX);
    json_t *al = json_object_get(rec, "aliases"), *v;
    size_t i;
    if (al && !json_is_array(al)) {
        rp_error_set(err, "%s: 'aliases' is not an array", info.id);
        result = RP_EINVAL;
        goto out;
    }
    json_array_foreach(al, i, v)
    {
        const char *s = json_string_value(v);
        if (s && *s && str_ok(s) && strcmp(s, info.id) && add_version(&aliases, 0, s)) {
            result = RP_ETOOBIG;
            goto out;
        }
    }
    info.aliases = aliases.ptr ? aliases.ptr : "";
    const char *top_severity = pick_severity(json_object_get(rec, "severity"));
    json_t *affected = json_object_get(rec, "affected");
    if (affected && !json_is_array(affected)) {
        rp_error_set(err, "%s: 'affected' is not an array", info.id);
        result = RP_EINVAL;
        goto out;
    }
    json_t *a;
    json_array_foreach(affected, i, a)
    {
        json_t *pkg = json_object_get(a, "package");
        const char *eco = json_string_value(json_object_get(pkg, "ecosystem"));
        const char *name = json_string_value(json_object_get(pkg, "name"));
        if (!json_is_object(a)) {
            rp_error_set(err, "%s: affected %zu is not an object", info.id, i);
            result = RP_EINVAL;
            goto out;
        }
        if (!eco || !name || !*name || !str_ok(name))
            continue; /* a GIT-only entry names no package */
        rp_buf_reset(&ranges);
        rp_buf_reset(&versions);
        struct rp_error e2;
        enum rp_eco e = rp_eco_from_osv(rp_str_from_cstr(eco));
        if ((result = encode_ranges(e, json_object_get(a, "ranges"), &ranges, &e2)) ||
            (result = encode_versions(e, json_object_get(a, "versions"), &versions, &e2))) {
            rp_error_set(err, "%s: affected %zu: %s", info.id, i, e2.msg);
            goto out;
        }
        const char *sev = pick_severity(json_object_get(a, "severity"));
        struct rp__osv_affected out = {
            .eco = e,
            .ecosystem = rp_str_from_cstr(eco),
            .name = rp_str_from_cstr(name),
            .ranges = {ranges.ptr ? ranges.ptr : "", ranges.len},
            .versions = {versions.ptr ? versions.ptr : "", versions.len},
            .severity = rp_str_from_cstr(*sev ? sev : top_severity),
        };
        if ((result = fn(arg, &info, &out)))
            goto out;
    }
out:
    rp_buf_release(&aliases);
    rp_buf_release(&ranges);
    rp_buf_release(&versions);
    return result;
}

bool rp__vuln_name_key(enum rp_eco eco, struct rp_str name, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        if (eco == RP_ECO_PYPI || eco == RP_ECO_CRATES) {
            if (c >= 'A' && c <= 'Z')
                c = (char)(c + 32);
            if (c == '_' || (eco == RP_ECO_PYPI && c == '.'))
                c = '-';
            if (eco == RP_ECO_PYPI && c == '-' && n > 0 && out[n - 1] == '-')
                continue;
        }
        if (n + 1 >= cap)
            return false;
        out[n++] = c;
    }
    if (n >= cap)
        return false;
    out[n] = '\0';
    return true;
}

/* ---- evaluation ---- */

/* Splits the next range off *s: its events, in the order they were written (sorted). */
static bool next_range(struct rp_str *s, struct event *ev, size_t cap, size_t *n)
{
    if (s->len < 2)
        return false;
    const char *p = s->ptr + 1, *end = s->ptr + s->len;
    *n = 0;
    while (p < end && *p != RP__RANGE_END) {
        char kind = *p++;
        const char *sep = memchr(p, RP__SEP, (size_t)(end - p));
        if (!sep)
            sep = end;
        if (*n < cap) {
            ev[*n] = (struct event){kind, {p, (size_t)(sep - p)}, *n};
            (*n)++;
        }
        p = sep < end ? sep + 1 : end;
    }
    p = p < end ? p + 1 : end;
    s->len -= (size_t)(p - s->ptr);
    s->ptr = p;
    return true;
}

/* Whether v is an explicit version: byte for byte anywhere in the list, or equal in eco's order
 * to one of the ordered part (binary search). */
static bool in_versions(enum rp_eco eco, struct rp_str v, bool v_valid, struct rp_str versions)
{
    const char *p = versions.ptr, *end = versions.ptr + versions.len;
    /* The ordered part, split into at most this many entries for the search. */
    enum { SPLIT_MAX = 8192 };
    static __thread struct rp_str part[SPLIT_MAX];
    size_t n = 0;
    bool ordered = true;
    while (p < end) {
        if (*p == RP__UNORDERED) {
            ordered = false;
            p++;
            continue;
        }
        const char *sep = memchr(p, RP__SEP, (size_t)(end - p));
        if (!sep)
            sep = end;
        struct rp_str x = {p, (size_t)(sep - p)};
        if (x.len == v.len && !memcmp(x.ptr, v.ptr, v.len))
            return true;
        if (ordered && v_valid) {
            int c;
            if (n < SPLIT_MAX)
                part[n++] = x;
            else if (!rp_version_cmp(eco, v, x, &c) && c == 0)
                return true;
        }
        p = sep + 1;
    }
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = rp__version_order(eco, v, part[mid]);
        if (c == 0)
            return true;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

/* The schema's evaluation of the ranges alone (versions aside), on events stored sorted: the
 * walk stops at the first event above v. */
static bool in_ranges(enum rp_eco eco, struct rp_str v, struct rp_str ranges, const char **fixed,
                      size_t *fixed_len, bool *forced)
{
    static __thread struct event ev[EVENTS_MAX];
    size_t n;
    struct rp_str s = ranges;
    while (next_range(&s, ev, EVENTS_MAX, &n)) {
        /* Limits come last: v must be below one of them, when there are any. */
        size_t k = n;
        bool below_limit = true;
        while (k > 0 && ev[k - 1].kind == 'm')
            k--;
        if (k < n) {
            below_limit = false;
            for (size_t i = k; i < n && !below_limit; i++)
                below_limit = is_star(ev[i].v) || (rp_version_valid(eco, ev[i].v) &&
                                                   rp__version_order(eco, v, ev[i].v) < 0);
        }
        if (!below_limit)
            continue;
        bool vulnerable = false;
        size_t at = 0;
        for (; at < k; at++) {
            int c = is_zero(&ev[at]) ? 1 : rp__version_order(eco, v, ev[at].v);
            if (c < 0)
                break;
            if (ev[at].kind == 'i')
                vulnerable = true;
            else if (ev[at].kind == 'f')
                vulnerable = false;
            else if (ev[at].kind == 'l' && c > 0)
                vulnerable = false;
        }
        if (!vulnerable)
            continue;
        /* Every version from v up to the fix is affected unless a last_affected comes first
         * or a limit bounds the range. */
        bool clear_run = k == n;
        for (size_t i = at; i < k; i++) {
            if (ev[i].kind == 'l')
                clear_run = false;
            if (ev[i].kind == 'f') {
                if (fixed) {
                    *fixed = ev[i].v.ptr;
                    *fixed_len = ev[i].v.len;
                }
                if (forced)
                    *forced = clear_run;
                break;
            }
        }
        return true;
    }
    return false;
}

struct first_fixed {
    enum rp_eco eco;
    struct rp_str v, best;
};

static void first_fixed_fn(void *arg, struct rp_str f)
{
    struct first_fixed *ff = arg;
    if (rp__version_order(ff->eco, f, ff->v) > 0 &&
        (!ff->best.ptr || rp__version_order(ff->eco, f, ff->best) < 0))
        ff->best = f;
}

bool rp__osv_affects(enum rp_eco eco, struct rp_str v, struct rp_str ranges, struct rp_str versions,
                     const char **fixed, size_t *fixed_len)
{
    return rp__osv_affects_ex(eco, v, ranges, versions, fixed, fixed_len, NULL);
}

bool rp__osv_affects_ex(enum rp_eco eco, struct rp_str v, struct rp_str ranges,
                        struct rp_str versions, const char **fixed, size_t *fixed_len, bool *forced)
{
    if (fixed)
        *fixed = NULL;
    if (forced)
        *forced = false;
    bool valid = rp_version_valid(eco, v);
    if (valid && in_ranges(eco, v, ranges, fixed, fixed_len, forced))
        return true;
    if (!in_versions(eco, v, valid, versions))
        return false;
    /* Listed, though the ranges do not say so: the first fix above it, if any. */
    if (fixed && valid) {
        struct first_fixed ff = {eco, v, {NULL, 0}};
        rp__osv_fixed_events(ranges, first_fixed_fn, &ff);
        *fixed = ff.best.ptr;
        *fixed_len = ff.best.len;
    }
    return true;
}

void rp__osv_fixed_events(struct rp_str ranges, void (*fn)(void *arg, struct rp_str v), void *arg)
{
    const char *p = ranges.ptr, *end = ranges.ptr + ranges.len;
    bool start = true; /* at the type letter of a range */
    while (p < end) {
        if (start) {
            p++;
            start = false;
            continue;
        }
        if (*p == RP__RANGE_END) {
            p++;
            start = true;
            continue;
        }
        char kind = *p++;
        const char *sep = memchr(p, RP__SEP, (size_t)(end - p));
        if (!sep)
            sep = end;
        if (kind == 'f')
            fn(arg, (struct rp_str){p, (size_t)(sep - p)});
        p = sep < end ? sep + 1 : end;
    }
}
