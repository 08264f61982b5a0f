/* libFuzzer target: one OSV record read by rp__osv_record, then every affected package evaluated
 * with rp__osv_affects on versions taken from the record itself ("0", "1.0.0", "v1.2.3" and the
 * like besides), in every ecosystem. Crashes and sanitizer reports are findings, and so is any
 * difference from what is rebuilt here independently: the compact form (osv_internal.h), and,
 * in the record's own ecosystem (the one the compact form is sorted in), the verdict and fix of
 * an evaluator written from the schema's pseudocode that reads the JSON directly and never
 * sorts: a range's verdict is the kind of the greatest event at or below the version. A listed
 * version is affected in any ecosystem. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/vuln/osv_internal.h"

/* rp__osv_affects evaluates at most this many events of a range (osv.c's EVENTS_MAX). */
#define EVENTS_MAX 4096
#define CANDIDATES_MAX 48

static const char *const fixed_candidates[] = {"0",          "1.0.0",   "v1.2.3",   "1.0",
                                               "2.0.0-rc.1", "1:1.0-1", "1.0.post1"};

static void fail(const char *what, enum rp_eco eco, struct rp_str v)
{
    fprintf(stderr, "fuzz_osv: %s (ecosystem %s, version '%.*s')\n", what, rp_eco_name(eco),
            (int)v.len, v.ptr);
    abort();
}

/* Compares two versions the ecosystem calls valid: that must never fail. */
static int vcmp(enum rp_eco eco, struct rp_str a, struct rp_str b)
{
    int c;
    if (rp_version_cmp(eco, a, b, &c)) {
        fprintf(stderr, "fuzz_osv: '%.*s' and '%.*s' are valid %s versions that do not compare\n",
                (int)a.len, a.ptr, (int)b.len, b.ptr, rp_eco_name(eco));
        abort();
    }
    return c;
}

static bool is_star(struct rp_str v)
{
    return memchr(v.ptr, '*', v.len) != NULL;
}

/* The one field of an event: its kind letter ('i', 'f', 'l', 'm') and version. */
static char event_of(json_t *ev, struct rp_str *v)
{
    const char *key;
    json_t *val;
    char kind = 0;
    json_object_foreach(ev, key, val)
    {
        kind = !strcmp(key, "introduced")      ? 'i'
               : !strcmp(key, "fixed")         ? 'f'
               : !strcmp(key, "last_affected") ? 'l'
               : !strcmp(key, "limit")         ? 'm'
                                               : 0;
        *v = (struct rp_str){json_string_value(val), json_string_length(val)};
    }
    return kind;
}

static bool kept_range(json_t *r)
{
    const char *type = json_string_value(json_object_get(r, "type"));
    return type && (!strcmp(type, "SEMVER") || !strcmp(type, "ECOSYSTEM"));
}

/* The schema's IncludedInRanges for one range, events the ecosystem cannot read left out as
 * osv.c does. Unsorted: the verdict is set by the last event, in sorted order, that fires
 * ("introduced: 0" before all, equal versions in record order). *fixed is the smallest fixed
 * event above v (the first of equal ones). */
static bool ref_range(enum rp_eco eco, struct rp_str v, json_t *events, struct rp_str *fixed)
{
    bool has_limit = false, below_limit = false;
    struct rp_str best = {NULL, 0};
    char best_kind = 0;
    bool best_zero = false;
    size_t i;
    json_t *ev;
    *fixed = (struct rp_str){NULL, 0};
    json_array_foreach(events, i, ev)
    {
        struct rp_str e;
        char kind = event_of(ev, &e);
        if (kind == 'm') {
            has_limit = true;
            if (is_star(e) || (rp_version_valid(eco, e) && vcmp(eco, v, e) < 0))
                below_limit = true;
            continue;
        }
        bool zero = kind == 'i' && e.len == 1 && e.ptr[0] == '0';
        if (!zero && !rp_version_valid(eco, e))
            continue;
        int c = zero ? 1 : vcmp(eco, v, e);
        if (kind == 'f' && c < 0 && (!fixed->ptr || vcmp(eco, e, *fixed) < 0))
            *fixed = e;
        bool fires = kind == 'l' ? c > 0 : c >= 0;
        if (!fires)
            continue;
        bool later = !best_kind ? true : zero ? best_zero : best_zero || vcmp(eco, e, best) >= 0;
        if (later) {
            best = e;
            best_kind = kind;
            best_zero = zero;
        }
    }
    if (has_limit && !below_limit)
        return false;
    return best_kind == 'i';
}

/* The schema's IsVulnerable for one affected package, and the fix rp__osv_affects reports. */
static bool ref_affects(enum rp_eco eco, struct rp_str v, json_t *a, struct rp_str *fixed)
{
    bool valid = rp_version_valid(eco, v);
    json_t *ranges = json_object_get(a, "ranges"), *r;
    size_t i;
    *fixed = (struct rp_str){NULL, 0};
    if (valid)
        json_array_foreach(ranges, i, r)
        {
            if (kept_range(r) && ref_range(eco, v, json_object_get(r, "events"), fixed))
                return true;
        }
    *fixed = (struct rp_str){NULL, 0};
    bool listed = false;
    json_t *x;
    json_array_foreach(json_object_get(a, "versions"), i, x)
    {
        struct rp_str s = {json_string_value(x), json_string_length(x)};
        int c;
        if ((s.len == v.len && !memcmp(s.ptr, v.ptr, v.len)) ||
            (valid && !rp_version_cmp(eco, v, s, &c) && c == 0)) {
            listed = true;
            break;
        }
    }
    if (!listed || !valid)
        return listed;
    /* Listed though no range holds it: the smallest fix above it in any range. */
    json_array_foreach(ranges, i, r)
    {
        size_t j;
        json_t *ev;
        if (!kept_range(r))
            continue;
        json_array_foreach(json_object_get(r, "events"), j, ev)
        {
            struct rp_str e;
            if (event_of(ev, &e) == 'f' && rp_version_valid(eco, e) && vcmp(eco, e, v) > 0 &&
                (!fixed->ptr || vcmp(eco, e, *fixed) < 0))
                *fixed = e;
        }
    }
    return true;
}

struct walk {
    json_t *rec;
};

/* One event of a range, for the expected compact form. */
struct ev {
    char kind;
    struct rp_str v;
    int class; /* 0 introduced "0", 1 by version, 2 limit */
};

/* The compact ranges osv_internal.h describes, built here independently: each SEMVER or
 * ECOSYSTEM range's events that eco can read (and introduced "0", and limits), in a stable
 * insertion sort; *nfixed counts its fixed events. Returns false when it does not fit. */
static bool expected_ranges(enum rp_eco eco, json_t *ranges, struct rp_buf *out, size_t *nfixed)
{
    size_t i, j;
    json_t *r, *e;
    bool ok = true;
    json_array_foreach(ranges, i, r)
    {
        if (!kept_range(r))
            continue;
        json_t *events = json_object_get(r, "events");
        size_t n = json_array_size(events), k = 0;
        struct ev *v = calloc(n ? n : 1, sizeof(*v));
        if (!v)
            return false;
        json_array_foreach(events, j, e)
        {
            struct ev x = {0};
            x.kind = event_of(e, &x.v);
            bool zero = x.kind == 'i' && x.v.len == 1 && x.v.ptr[0] == '0';
            x.class = x.kind == 'm' ? 2 : zero ? 0 : 1;
            if (x.class == 1 && !rp_version_valid(eco, x.v))
                continue;
            *nfixed += x.kind == 'f';
            size_t at = k++;
            while (at > 0) {
                const struct ev *p = &v[at - 1];
                int c = x.class != p->class ? x.class - p->class
                        : x.class == 1      ? vcmp(eco, x.v, p->v)
                                            : 0;
                if (c >= 0)
                    break;
                v[at] = v[at - 1];
                at--;
            }
            v[at] = x;
        }
        ok = ok && !rp_buf_addc(out, json_string_value(json_object_get(r, "type"))[0]);
        for (size_t m = 0; ok && m < k; m++)
            ok = !rp_buf_addc(out, v[m].kind) && !rp_buf_add(out, v[m].v.ptr, v[m].v.len) &&
                 !rp_buf_addc(out, RP__SEP);
        ok = ok && !rp_buf_addc(out, RP__RANGE_END);
        free(v);
    }
    return ok;
}

static int by_bytes(const void *x, const void *y)
{
    const struct rp_str *a = x, *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->ptr, b->ptr, n);
    return c ? c : a->len < b->len ? -1 : a->len > b->len;
}

/* The compact versions hold the record's versions: those eco reads first, in its order, then
 * RP__UNORDERED and the others. */
static void check_versions(const struct rp__osv_affected *a, json_t *versions)
{
    size_t n = json_array_size(versions), got = 0;
    struct rp_str *want = calloc(n + 1, sizeof(*want)), *have = calloc(n + 1, sizeof(*have));
    if (!want || !have)
        abort();
    size_t i;
    json_t *x;
    json_array_foreach(versions, i, x)
    {
        want[i] = (struct rp_str){json_string_value(x), json_string_length(x)};
    }
    const char *p = a->versions.ptr, *end = p + a->versions.len;
    bool ordered = true;
    while (p < end) {
        if (*p == RP__UNORDERED) {
            if (!ordered)
                fail("two unordered marks in the versions", a->eco, a->name);
            ordered = false;
            p++;
            continue;
        }
        const char *sep = memchr(p, RP__SEP, (size_t)(end - p));
        if (!sep || got == n)
            fail("compact versions do not end with a separator, or too many", a->eco, a->name);
        struct rp_str v = {p, (size_t)(sep - p)};
        if (rp_version_valid(a->eco, v) != ordered)
            fail("a version in the wrong part of the list", a->eco, v);
        if (ordered && got > 0 && vcmp(a->eco, have[got - 1], v) > 0)
            fail("the ordered versions are not sorted", a->eco, v);
        have[got++] = v;
        p = sep + 1;
    }
    if (got != n)
        fail("compact versions fewer than the record's", a->eco, a->name);
    qsort(want, n, sizeof(*want), by_bytes);
    qsort(have, n, sizeof(*have), by_bytes);
    for (i = 0; i < n; i++)
        if (by_bytes(&want[i], &have[i]))
            fail("compact versions are not the record's", a->eco, want[i]);
    free(want);
    free(have);
}

struct fixed_count {
    const struct rp__osv_affected *a;
    size_t n;
};

static void count_fixed(void *arg, struct rp_str f)
{
    struct fixed_count *c = arg;
    c->n++;
    if (f.ptr < c->a->ranges.ptr || f.ptr + f.len > c->a->ranges.ptr + c->a->ranges.len)
        fail("a fixed event outside the ranges", c->a->eco, f);
}

static size_t add_candidate(struct rp_str *c, size_t n, struct rp_str v)
{
    if (n < CANDIDATES_MAX && v.ptr)
        c[n++] = v;
    return n;
}

/* Evaluates cand in eco; when eco is the record's own, against the reference too (the compact
 * form is sorted in the record's ecosystem: other ones only must not crash). */
static void evaluate(const struct rp__osv_affected *a, json_t *entry, enum rp_eco eco,
                     struct rp_str cand, bool compare)
{
    const char *f = NULL;
    size_t flen = 0;
    bool got = rp__osv_affects(eco, cand, a->ranges, a->versions, &f, &flen);
    if (got != rp__osv_affects(eco, cand, a->ranges, a->versions, NULL, NULL))
        fail("the verdict depends on asking for the fix", eco, cand);
    if (f && (!got || f < a->ranges.ptr || f + flen > a->ranges.ptr + a->ranges.len))
        fail("a fix outside the ranges, or for a version not affected", eco, cand);
    /* A listed version is affected, whatever the ranges say. */
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(entry, "versions"), i, x)
    {
        if (json_string_length(x) == cand.len &&
            !memcmp(json_string_value(x), cand.ptr, cand.len) && !got)
            fail("a listed version is not affected", eco, cand);
    }
    if (eco != a->eco || !compare)
        return;
    if (f && (!rp_version_valid(eco, (struct rp_str){f, flen}) ||
              vcmp(eco, cand, (struct rp_str){f, flen}) >= 0))
        fail("a fix that is not above the version", eco, cand);
    struct rp_str want;
    bool ref = ref_affects(eco, cand, entry, &want);
    if (ref != got)
        fail(got ? "affected, the schema says not" : "not affected, the schema says it is", eco,
             cand);
    if ((f == NULL) != (want.ptr == NULL) || (f && (flen != want.len || memcmp(f, want.ptr, flen))))
        fail("the fix differs from the schema's", eco, cand);
}

static int check_affected(void *arg, const struct rp__osv_info *info,
                          const struct rp__osv_affected *a)
{
    struct walk *w = arg;
    if (info->withdrawn != (json_object_get(w->rec, "withdrawn") != NULL))
        fail("withdrawn flag differs from the record", a->eco, a->name);
    /* The JSON entry this package came from: its name is the very string. */
    json_t *entry = NULL, *x;
    size_t i;
    json_array_foreach(json_object_get(w->rec, "affected"), i, x)
    {
        if (json_string_value(json_object_get(json_object_get(x, "package"), "name")) ==
            a->name.ptr)
            entry = x;
    }
    if (!entry)
        fail("an affected package that is not in the record", a->eco, a->name);
    if (a->eco != rp_eco_from_osv(a->ecosystem))
        fail("the ecosystem differs from its name's", a->eco, a->ecosystem);

    json_t *ranges = json_object_get(entry, "ranges");
    json_t *versions = json_object_get(entry, "versions");
    check_versions(a, versions);
    struct rp_buf want;
    rp_buf_init(&want, 1u << 24);
    size_t nfixed = 0;
    if (expected_ranges(a->eco, ranges, &want, &nfixed) && !rp_str_eq(rp_buf_str(&want), a->ranges))
        fail("compact ranges differ from the record's, sorted", a->eco, a->name);
    rp_buf_release(&want);
    struct fixed_count fc = {a, 0};
    rp__osv_fixed_events(a->ranges, count_fixed, &fc);
    if (fc.n != nfixed)
        fail("rp__osv_fixed_events hands out another number of fixed events", a->eco, a->name);

    /* Name keys are stable: the key of a key is itself. */
    for (int eco = RP_ECO_OTHER; eco < RP_ECO_COUNT; eco++) {
        char k1[256], k2[256];
        if (rp__vuln_name_key((enum rp_eco)eco, a->name, k1, sizeof(k1))) {
            if (!rp__vuln_name_key((enum rp_eco)eco, rp_str_from_cstr(k1), k2, sizeof(k2)) ||
                strcmp(k1, k2))
                fail("name key is not stable", (enum rp_eco)eco, a->name);
        }
    }

    /* Too many events for osv.c to look at all of them: evaluate for crashes only. */
    bool compare = true;
    json_array_foreach(ranges, i, x)
    {
        if (json_array_size(json_object_get(x, "events")) > EVENTS_MAX)
            compare = false;
    }

    struct rp_str cand[CANDIDATES_MAX];
    size_t n = 0;
    for (size_t k = 0; k < sizeof(fixed_candidates) / sizeof(fixed_candidates[0]); k++)
        n = add_candidate(cand, n, rp_str_from_cstr(fixed_candidates[k]));
    json_array_foreach(ranges, i, x)
    {
        size_t j;
        json_t *ev;
        json_array_foreach(json_object_get(x, "events"), j, ev)
        {
            struct rp_str e = {NULL, 0};
            event_of(ev, &e);
            n = add_candidate(cand, n, e);
        }
    }
    json_array_foreach(versions, i, x)
    {
        n = add_candidate(cand, n, (struct rp_str){json_string_value(x), json_string_length(x)});
    }
    for (int e = RP_ECO_OTHER; e < RP_ECO_COUNT; e++)
        for (size_t k = 0; k < n; k++)
            evaluate(a, entry, (enum rp_eco)e, cand[k], compare);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *rec = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!rec)
        return 0;
    struct walk w = {rec};
    struct rp_error err;
    rp__osv_record(rec, check_affected, &w, &err);
    json_decref(rec);
    return 0;
}
