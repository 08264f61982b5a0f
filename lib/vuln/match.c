/* Matching: which advisories affect each package of an inventory, records about one flaw merged
 * by their aliases, and the remediation: the smallest version that fixes them all. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

/* A package with more index rows than this is cut (no real package has near as many). */
#define HITS_MAX 100000

/* One index row, copied out of the lookup. */
static char *dup_str(struct rp_str s)
{
    char *p = malloc(s.len + 1);
    if (p) {
        memcpy(p, s.ptr, s.len);
        p[s.len] = '\0';
    }
    return p;
}

struct hit {
    char *id, *aliases, *summary, *severity; /* into the arena */
    struct rp_str ranges, versions;          /* into the arena */
    char *ecosystem;                         /* as the record writes it ("Debian:12") */
    size_t off[7];                           /* the same as offsets, while the arena grows */
    bool affects;
    bool forced;       /* every version from the current one up to fixed is affected */
    const char *fixed; /* into ranges, or NULL */
    size_t fixed_len;
    size_t group;
};

/* The index rows of one package. Their text is copied into one arena, reset per package, so a
 * package with hundreds of records costs no more than a few allocations. */
struct hits {
    struct hit *v;
    size_t n, alloc;
    struct rp_buf arena;
};

/* The arena holds at most this much (a package's records are a few MB at most). */
#define ARENA_MAX (1u << 30)

static void hits_clear(struct hits *h)
{
    h->n = 0;
    rp_buf_reset(&h->arena);
}

/* Copies s and a NUL into the arena; its offset in *off. */
static int keep(struct hits *h, const void *s, size_t len, size_t *off)
{
    *off = h->arena.len;
    int result = rp_buf_add(&h->arena, s, len);
    return result ? result : rp_buf_addc(&h->arena, '\0');
}

static int collect(void *arg, const struct rp__vuln_hit *x)
{
    struct hits *h = arg;
    if (h->n == HITS_MAX)
        return RP_OK;
    if (h->n == h->alloc) {
        size_t na = h->alloc ? h->alloc * 2 : 16;
        struct hit *nv = realloc(h->v, na * sizeof(*nv));
        if (!nv)
            return RP_ENOMEM;
        h->v = nv;
        h->alloc = na;
    }
    struct hit *e = &h->v[h->n];
    *e = (struct hit){0};
    e->ranges.len = x->ranges.len;
    e->versions.len = x->versions.len;
    int result = keep(h, x->id, strlen(x->id), &e->off[0]);
    if (!result)
        result = keep(h, x->aliases, strlen(x->aliases), &e->off[1]);
    if (!result)
        result = keep(h, x->summary, strlen(x->summary), &e->off[2]);
    if (!result)
        result = keep(h, x->severity, strlen(x->severity), &e->off[3]);
    if (!result)
        result = keep(h, x->ranges.ptr, x->ranges.len, &e->off[4]);
    if (!result)
        result = keep(h, x->versions.ptr, x->versions.len, &e->off[5]);
    if (!result)
        result = keep(h, x->ecosystem, strlen(x->ecosystem), &e->off[6]);
    if (result)
        return result;
    h->n++;
    return RP_OK;
}

/* Points the hits into the arena once it has stopped growing. */
static void resolve(struct hits *h)
{
    char *base = h->arena.ptr;
    for (size_t i = 0; i < h->n; i++) {
        struct hit *e = &h->v[i];
        e->id = base + e->off[0];
        e->aliases = base + e->off[1];
        e->summary = base + e->off[2];
        e->severity = base + e->off[3];
        e->ranges.ptr = base + e->off[4];
        e->versions.ptr = base + e->off[5];
        e->ecosystem = base + e->off[6];
    }
}

/* One identifier (id or alias) of an affecting record, for merging records by identifier. */
struct ident {
    struct rp_str s;
    size_t hit;
};

static int by_ident(const void *x, const void *y)
{
    const struct ident *a = x, *b = y;
    size_t n = a->s.len < b->s.len ? a->s.len : b->s.len;
    int c = memcmp(a->s.ptr, b->s.ptr, n);
    return c ? c : a->s.len < b->s.len ? -1 : a->s.len > b->s.len;
}

/* Union-find over the hits: the root of i's group, halving paths as it goes. */
static size_t root(struct hits *h, size_t i)
{
    while (h->v[i].group != i) {
        h->v[i].group = h->v[h->v[i].group].group;
        i = h->v[i].group;
    }
    return i;
}

/* Puts affecting records that share an identifier (id or alias) in one group: sort all their
 * identifiers, join the records of equal neighbours. Afterwards each hit's group is its root,
 * the smallest index of its group. */
static int merge_flaws(struct hits *h)
{
    size_t n = 0, alloc = 0;
    struct ident *ids = NULL;
    for (size_t i = 0; i < h->n; i++) {
        const struct hit *x = &h->v[i];
        if (!x->affects)
            continue;
        const char *p = x->id;
        size_t len = strlen(p);
        for (const char *q = x->aliases;;) {
            if (n == alloc) {
                size_t na = alloc ? alloc * 2 : 64;
                struct ident *ni = realloc(ids, na * sizeof(*ni));
                if (!ni) {
                    free(ids);
                    return RP_ENOMEM;
                }
                ids = ni;
                alloc = na;
            }
            ids[n++] = (struct ident){{p, len}, i};
            if (!*q)
                break;
            const char *sep = strchr(q, RP__SEP);
            p = q;
            len = sep ? (size_t)(sep - q) : strlen(q);
            q += len + (sep ? 1 : 0);
        }
    }
    qsort(ids, n, sizeof(*ids), by_ident);
    for (size_t k = 1; k < n; k++)
        if (!by_ident(&ids[k - 1], &ids[k])) {
            size_t a = root(h, ids[k - 1].hit), b = root(h, ids[k].hit);
            if (a != b)
                h->v[a > b ? a : b].group = a < b ? a : b;
        }
    for (size_t i = 0; i < h->n; i++)
        h->v[i].group = root(h, i);
    free(ids);
    return RP_OK;
}

/* Which id names a merged flaw: the ecosystem database's own (PYSEC-, GO-, RUSTSEC-...) before
 * GHSA- before CVE-, then the smallest. */
static int id_rank(const char *id)
{
    return !strncmp(id, "CVE-", 4) ? 2 : !strncmp(id, "GHSA-", 5) ? 1 : 0;
}

static bool id_before(const char *a, const char *b)
{
    int ra = id_rank(a), rb = id_rank(b);
    return ra != rb ? ra < rb : strcmp(a, b) < 0;
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds s to a sorted-later list unless it is already there. */
static int add_unique(char ***v, size_t *n, const char *s, size_t len)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen((*v)[i]) == len && !memcmp((*v)[i], s, len))
            return RP_OK;
    char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv)
        return RP_ENOMEM;
    *v = nv;
    if (!(nv[*n] = dup_str((struct rp_str){s, len})))
        return RP_ENOMEM;
    (*n)++;
    return RP_OK;
}

/* A version as the inventory writes them: Go's go.mod versions carry a 'v' that OSV's do not. */
static char *as_written(const struct rp_pkg *p, struct rp_str v)
{
    if (p->eco == RP_ECO_GO && p->version[0] == 'v' && v.len && v.ptr[0] != 'v') {
        char *s = malloc(v.len + 2);
        if (s) {
            s[0] = 'v';
            memcpy(s + 1, v.ptr, v.len);
            s[v.len + 1] = '\0';
        }
        return s;
    }
    return dup_str(v);
}

/* Builds the merged advisory of group g. */
static int make_advisory(const struct rp_pkg *p, struct hits *h, size_t g,
                         struct rp_vuln_advisory *a)
{
    *a = (struct rp_vuln_advisory){.score = -1};
    const struct hit *first = NULL;
    const char *fixed = NULL;
    size_t fixed_len = 0;
    bool unfixed = false;
    char **ids = NULL;
    size_t nids = 0;
    int result = RP_OK;
    for (size_t i = 0; !result && i < h->n; i++) {
        const struct hit *x = &h->v[i];
        if (!x->affects || x->group != g)
            continue;
        if (!first || id_before(x->id, first->id))
            first = x;
        result = add_unique(&ids, &nids, x->id, strlen(x->id));
        for (const char *q = x->aliases; !result && *q;) {
            const char *sep = strchr(q, RP__SEP);
            size_t n = sep ? (size_t)(sep - q) : strlen(q);
            result = add_unique(&ids, &nids, q, n);
            q += n + (sep ? 1 : 0);
        }
        double score;
        struct rp_error err;
        if (*x->severity && !rp_cvss_base_score(rp_str_from_cstr(x->severity), &score, &err) &&
            score > a->score) {
            a->score = score;
            free(a->severity);
            a->severity = strdup(x->severity);
        }
        /* Every record must be fixed: the latest of their fixes; none when one has none. */
        if (!x->fixed)
            unfixed = true;
        else if (!fixed || rp__version_order(p->eco, (struct rp_str){x->fixed, x->fixed_len},
                                             (struct rp_str){fixed, fixed_len}) > 0) {
            fixed = x->fixed;
            fixed_len = x->fixed_len;
        }
    }
    if (!result && first) {
        a->id = strdup(first->id);
        a->summary = strdup(first->summary);
        for (size_t i = 0; !a->summary[0] && i < h->n; i++)
            if (h->v[i].affects && h->v[i].group == g && h->v[i].summary[0]) {
                free(a->summary);
                a->summary = strdup(h->v[i].summary);
            }
        if (fixed && !unfixed)
            a->fixed = as_written(p, (struct rp_str){fixed, fixed_len});
    }
    /* The aliases: every identifier but the chosen one, sorted. */
    for (size_t i = 0; i < nids; i++) {
        if (result || !first || !strcmp(ids[i], first->id)) {
            free(ids[i]);
            continue;
        }
        char **nv = realloc(a->aliases, (a->naliases + 1) * sizeof(*nv));
        if (!nv) {
            free(ids[i]);
            result = RP_ENOMEM;
            continue;
        }
        a->aliases = nv;
        a->aliases[a->naliases++] = ids[i];
    }
    free(ids);
    if (!result && a->naliases)
        qsort(a->aliases, a->naliases, sizeof(char *), by_str);
    if (!result && (!a->id || !a->summary || (a->severity == NULL && a->score >= 0)))
        result = RP_ENOMEM;
    return result;
}

/* Compares identifiers with their digit runs as numbers: PYSEC-2021-7 before PYSEC-2021-66. */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            size_t na = strspn(a, "0123456789"), nb = strspn(b, "0123456789");
            if (na != nb)
                return na < nb ? -1 : 1;
            int c = strncmp(a, b, na);
            if (c)
                return c;
            a += na;
            b += nb;
        } else if (*a != *b) {
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        } else {
            a++;
            b++;
        }
    }
    return *a ? 1 : *b ? -1 : 0;
}

/* Advisories of a result: the most severe first, then by identifier. */
static int by_severity(const void *x, const void *y)
{
    const struct rp_vuln_advisory *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return natural_cmp(a->id, b->id);
}

/* Whether pass looks at hit x: 0 every record of the package, 1 those affecting the current
 * version, 2 those of them that have a fix. */
static bool in_pass(const struct hit *x, int pass)
{
    return pass == 0 || (x->affects && (pass == 1 || x->fixed));
}

struct candidates {
    enum rp_eco eco;
    struct rp_str current;
    struct rp_str *v;
    size_t n, alloc;
    bool oom;
};

static void add_candidate(void *arg, struct rp_str v)
{
    struct candidates *c = arg;
    if (c->oom || !rp_version_valid(c->eco, v) || rp__version_order(c->eco, v, c->current) <= 0)
        return;
    if (c->n == c->alloc) {
        size_t na = c->alloc ? c->alloc * 2 : 16;
        struct rp_str *nv = realloc(c->v, na * sizeof(*nv));
        if (!nv) {
            c->oom = true;
            return;
        }
        c->v = nv;
        c->alloc = na;
    }
    c->v[c->n++] = v;
}

static int by_version(const void *a, const void *b, void *eco)
{
    return rp__version_order(*(enum rp_eco *)eco, *(const struct rp_str *)a,
                             *(const struct rp_str *)b);
}

/* The index of the first candidate at or above x. */
static size_t first_at_or_above(const struct candidates *c, struct rp_str x)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rp__version_order(c->eco, c->v[mid], x) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The upgrade. The candidates are the records' fixed versions above the current one, in order;
 * the answer is the first that the pass's records leave alone. The walk starts at the latest
 * fix the affecting records force (a record whose range holds every version from the current
 * one up to its fix cannot be cleared below it) and, when a record affects a candidate, jumps
 * past everything that record forces, else steps to the next candidate: each skipped candidate
 * is affected, so the first that stands is the smallest. Pass 0 asks that no record of the
 * package affects it; pass 1 that the affecting records do not; pass 2 that those of them with
 * a fix do not. */
static int find_fix(const struct rp_pkg *p, struct hits *h, struct rp_vuln_result *r)
{
    struct candidates c = {.eco = p->eco, .current = rp_str_from_cstr(p->version)};
    for (size_t i = 0; i < h->n; i++)
        rp__osv_fixed_events(h->v[i].ranges, add_candidate, &c);
    if (c.oom) {
        free(c.v);
        return RP_ENOMEM;
    }
    enum rp_eco eco = p->eco;
    if (c.n > 1)
        qsort_r(c.v, c.n, sizeof(c.v[0]), by_version, &eco);
    for (int pass = 0; pass < 3 && !r->fix; pass++) {
        size_t k = 0;
        for (size_t i = 0; i < h->n; i++) {
            const struct hit *x = &h->v[i];
            if (in_pass(x, pass) && x->affects && x->forced && x->fixed) {
                size_t at = first_at_or_above(&c, (struct rp_str){x->fixed, x->fixed_len});
                k = at > k ? at : k;
            }
        }
        while (k < c.n) {
            const struct hit *by = NULL;
            const char *next = NULL;
            size_t next_len = 0;
            bool forced = false;
            for (size_t i = 0; i < h->n && !by; i++)
                if (in_pass(&h->v[i], pass) &&
                    rp__osv_affects_ex(p->eco, c.v[k], h->v[i].ranges, h->v[i].versions, &next,
                                       &next_len, &forced))
                    by = &h->v[i];
            if (!by)
                break;
            size_t jump =
                forced && next ? first_at_or_above(&c, (struct rp_str){next, next_len}) : 0;
            k = jump > k + 1 ? jump : k + 1;
        }
        if (k == c.n)
            continue;
        r->fix_clean = pass == 0;
        if (!(r->fix = as_written(p, c.v[k]))) {
            free(c.v);
            return RP_ENOMEM;
        }
        /* The advisories (merged groups) it removes. */
        for (size_t g = 0; g < h->n; g++) {
            bool gone = h->v[g].affects && h->v[g].group == g;
            for (size_t i = 0; gone && i < h->n; i++)
                if (h->v[i].affects && h->v[i].group == g &&
                    rp__osv_affects(p->eco, c.v[k], h->v[i].ranges, h->v[i].versions, NULL, NULL))
                    gone = false;
            r->fix_removes += gone;
        }
    }
    free(c.v);
    return RP_OK;
}

static void result_release(struct rp_vuln_result *r)
{
    for (size_t i = 0; i < r->nadv; i++) {
        struct rp_vuln_advisory *a = &r->adv[i];
        free(a->id);
        for (size_t k = 0; k < a->naliases; k++)
            free(a->aliases[k]);
        free(a->aliases);
        free(a->summary);
        free(a->severity);
        free(a->fixed);
    }
    free(r->adv);
    free(r->fix);
}

/* Matches one package; appends a result when something affects it. */
/* Whether a record is for another release of the package's distribution than the one the
 * options name ("Debian:11" when the machine runs Debian 12); records without a release apply
 * to every release. */
static bool other_release(const struct rp_pkg *p, const struct hit *x,
                          const struct rp_vuln_match_options *opt)
{
    if (p->eco != RP_ECO_DEBIAN || !opt || !opt->debian_release || !*opt->debian_release)
        return false;
    const char *colon = strchr(x->ecosystem, ':');
    return colon && strcmp(colon + 1, opt->debian_release) != 0;
}

/* The first identifier (id or alias) of the options' ignore list that a record carries, or
 * SIZE_MAX. */
static size_t ignored(const struct hit *x, const struct rp_vuln_match_options *opt)
{
    for (size_t i = 0; opt && i < opt->n_ignore; i++) {
        const char *id = opt->ignore[i];
        size_t len = strlen(id);
        if (!strcmp(x->id, id))
            return i;
        for (const char *q = x->aliases; *q;) {
            const char *sep = strchr(q, RP__SEP);
            size_t n = sep ? (size_t)(sep - q) : strlen(q);
            if (n == len && !memcmp(q, id, len))
                return i;
            q += n + (sep ? 1 : 0);
        }
    }
    return SIZE_MAX;
}

static int match_one(struct rp_vuln_db *db, const struct rp_inventory *inv, size_t idx,
                     const struct rp_vuln_match_options *opt, struct hits *h,
                     struct rp_vuln_report *rep)
{
    const struct rp_pkg *p = &inv->pkgs[idx];
    char key[1024];
    if (!rp__vuln_name_key(p->eco, rp_str_from_cstr(p->name), key, sizeof(key)))
        return RP_OK;
    hits_clear(h);
    int result = rp__vuln_db_lookup(db, p->eco, key, collect, h);
    if (result)
        return result;
    resolve(h);
    struct rp_str v = rp_str_from_cstr(p->version);
    size_t naff = 0, kept = 0;
    for (size_t i = 0; i < h->n; i++) {
        struct hit *x = &h->v[i];
        x->affects = rp__osv_affects_ex(p->eco, v, x->ranges, x->versions, &x->fixed, &x->fixed_len,
                                        &x->forced);
        size_t ig = opt && opt->n_ignore ? ignored(x, opt) : SIZE_MAX;
        if (ig != SIZE_MAX) {
            rep->ignored += x->affects;
            if (x->affects)
                rep->ignore_use[ig] = RP_VULN_IGNORE_USED;
            continue;
        }
        if (other_release(p, x, opt))
            continue;
        h->v[kept] = *x;
        h->v[kept].group = kept;
        naff += x->affects;
        kept++;
    }
    h->n = kept;
    if (!naff)
        return RP_OK;
    result = merge_flaws(h);
    if (result)
        return result;
    struct rp_vuln_result r = {.pkg = idx, .max_score = -1};
    size_t groups = 0;
    for (size_t g = 0; g < h->n; g++)
        groups += h->v[g].affects && h->v[g].group == g;
    if (!(r.adv = calloc(groups, sizeof(*r.adv))))
        return RP_ENOMEM;
    for (size_t g = 0; !result && g < h->n; g++) {
        if (!h->v[g].affects || h->v[g].group != g)
            continue;
        result = make_advisory(p, h, g, &r.adv[r.nadv]);
        r.nadv++;
        if (!result && r.adv[r.nadv - 1].score > r.max_score)
            r.max_score = r.adv[r.nadv - 1].score;
    }
    if (!result)
        result = find_fix(p, h, &r);
    if (!result)
        qsort(r.adv, r.nadv, sizeof(r.adv[0]), by_severity);
    if (!result && rep->n == SIZE_MAX / sizeof(r))
        result = RP_ENOMEM;
    if (!result && rep->n == rep->alloc) {
        size_t na = rep->alloc ? rep->alloc * 2 : 16;
        struct rp_vuln_result *nr = realloc(rep->results, na * sizeof(r));
        if (!nr)
            result = RP_ENOMEM;
        else
            rep->results = nr, rep->alloc = na;
    }
    if (result) {
        result_release(&r);
        return result;
    }
    rep->results[rep->n++] = r;
    rep->advisories += r.nadv;
    if (r.fix) {
        rep->fixable++;
        rep->fixable_advisories += r.fix_removes;
    }
    return RP_OK;
}

int rp_vuln_match(struct rp_vuln_db *db, const struct rp_inventory *inv, struct rp_vuln_report *out,
                  struct rp_error *err)
{
    return rp_vuln_match_ex(db, inv, NULL, out, err);
}

const char *rp_vuln_skip_name(enum rp_vuln_skip why)
{
    switch (why) {
    case RP_VULN_UNPINNED: return "unpinned";
    case RP_VULN_UNORDERED: return "unsupported_ecosystem";
    case RP_VULN_NO_ADVISORIES: return "no_advisories";
    }
    return "unknown";
}

/* Distinct packages: the inventory's packages sorted by (ecosystem, name key, pinned, version),
 * then by position, so that each run of equal ones is a package and its copies in file order. */
struct distinct {
    const struct rp_inventory *inv;
    struct rp_buf keys; /* each package's name key with its NUL */
    size_t *off;
};

static int by_package(const void *a, const void *b, void *arg)
{
    const struct distinct *d = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const struct rp_pkg *p = &d->inv->pkgs[i], *q = &d->inv->pkgs[j];
    int c = (int)p->eco - (int)q->eco;
    if (!c)
        c = strcmp(d->keys.ptr + d->off[i], d->keys.ptr + d->off[j]);
    if (!c)
        c = (p->version != NULL) - (q->version != NULL);
    if (!c && p->version)
        c = strcmp(p->version, q->version);
    if (!c)
        c = i < j ? -1 : i > j;
    return c;
}

static bool same_package(const struct distinct *d, size_t i, size_t j)
{
    const struct rp_pkg *p = &d->inv->pkgs[i], *q = &d->inv->pkgs[j];
    return p->eco == q->eco && !strcmp(d->keys.ptr + d->off[i], d->keys.ptr + d->off[j]) &&
           (p->version != NULL) == (q->version != NULL) &&
           (!p->version || !strcmp(p->version, q->version));
}

/* Fills same[] (rp_vuln_report.same). */
static int group_packages(const struct rp_inventory *inv, size_t *same)
{
    struct distinct d = {.inv = inv};
    size_t *order = malloc((inv->n ? inv->n : 1) * sizeof(*order));
    d.off = malloc((inv->n ? inv->n : 1) * sizeof(*d.off));
    rp_buf_init(&d.keys, SIZE_MAX / 2);
    int result = order && d.off ? RP_OK : RP_ENOMEM;
    for (size_t i = 0; !result && i < inv->n; i++) {
        const struct rp_pkg *p = &inv->pkgs[i];
        char key[1024];
        /* A name too long for a key is compared as written. */
        if (!rp__vuln_name_key(p->eco, rp_str_from_cstr(p->name), key, sizeof(key)))
            snprintf(key, sizeof(key), "%s", p->name);
        d.off[i] = d.keys.len;
        result = rp_buf_add(&d.keys, key, strlen(key) + 1);
        order[i] = i;
        same[i] = SIZE_MAX;
    }
    if (!result && inv->n > 1)
        qsort_r(order, inv->n, sizeof(*order), by_package, &d);
    for (size_t k = 1; !result && k < inv->n; k++)
        if (same_package(&d, order[k - 1], order[k]))
            same[order[k - 1]] = order[k];
    free(order);
    free(d.off);
    rp_buf_release(&d.keys);
    return result;
}

static int add_unchecked(struct rp_vuln_report *r, size_t *alloc, size_t pkg, enum rp_vuln_skip why)
{
    if (r->nunchecked == *alloc) {
        size_t na = *alloc ? *alloc * 2 : 16;
        struct rp_vuln_unchecked *nv = realloc(r->unchecked, na * sizeof(*nv));
        if (!nv)
            return RP_ENOMEM;
        r->unchecked = nv;
        *alloc = na;
    }
    r->unchecked[r->nunchecked++] = (struct rp_vuln_unchecked){pkg, why};
    return RP_OK;
}

int rp_vuln_match_ex(struct rp_vuln_db *db, const struct rp_inventory *inv,
                     const struct rp_vuln_match_options *opt, struct rp_vuln_report *out,
                     struct rp_error *err)
{
    *out = (struct rp_vuln_report){0};
    struct hits h = {0};
    rp_buf_init(&h.arena, ARENA_MAX);
    size_t n_ignore = opt ? opt->n_ignore : 0, unchecked_alloc = 0;
    out->same = malloc((inv->n ? inv->n : 1) * sizeof(*out->same));
    out->ignore_use = calloc(n_ignore ? n_ignore : 1, sizeof(*out->ignore_use));
    /* A package that is the next copy of another is not matched again. */
    bool *copy = calloc(inv->n ? inv->n : 1, sizeof(*copy));
    int result = out->same && out->ignore_use && copy ? RP_OK : RP_ENOMEM;
    for (size_t i = 0; i < n_ignore && !result; i++)
        out->ignore_use[i] = RP_VULN_IGNORE_UNUSED;
    if (!result)
        result = group_packages(inv, out->same);
    for (size_t i = 0; !result && i < inv->n; i++)
        if (out->same[i] != SIZE_MAX)
            copy[out->same[i]] = true;
    for (size_t i = 0; !result && i < inv->n; i++) {
        const struct rp_pkg *p = &inv->pkgs[i];
        if (copy[i])
            continue;
        out->packages++;
        enum rp_vuln_skip why = 0;
        if (p->unpinned || !p->version)
            why = RP_VULN_UNPINNED, out->unpinned++;
        else if (p->eco == RP_ECO_OTHER)
            why = RP_VULN_UNORDERED, out->unsupported++;
        else if (!rp_vuln_db_has_ecosystem(db, p->eco))
            why = RP_VULN_NO_ADVISORIES, out->no_advisories++;
        if (why) {
            result = add_unchecked(out, &unchecked_alloc, i, why);
            continue;
        }
        out->scanned++;
        if (!rp_version_valid(p->eco, rp_str_from_cstr(p->version)))
            out->bad_version++;
        result = match_one(db, inv, i, opt, &h, out);
    }
    /* An id that left nothing out: is it in the database at all? */
    for (size_t i = 0; !result && i < n_ignore; i++) {
        bool found = true;
        if (out->ignore_use[i] == RP_VULN_IGNORE_UNUSED &&
            !(result = rp_vuln_db_has_id(db, opt->ignore[i], &found)) && !found)
            out->ignore_use[i] = RP_VULN_IGNORE_UNKNOWN;
    }
    free(copy);
    rp_buf_release(&h.arena);
    free(h.v);
    if (result) {
        rp_error_set(err, result == RP_ENOMEM ? "out of memory" : "cannot read the index");
        rp_vuln_report_release(out);
    }
    return result;
}

void rp_vuln_report_release(struct rp_vuln_report *r)
{
    for (size_t i = 0; i < r->n; i++)
        result_release(&r->results[i]);
    free(r->results);
    free(r->same);
    free(r->unchecked);
    free(r->ignore_use);
    *r = (struct rp_vuln_report){0};
}
