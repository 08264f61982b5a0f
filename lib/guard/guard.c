/* The guard: rule packs compiled into Hyperscan databases (block mode for whole texts, stream
 * mode with start-of-match for answers that stream), the checks written in C, the classifiers'
 * share of the anomaly score, and the verdict. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/uspoof.h>
#include <unicode/utf8.h>

#include "internal.h"
#include "rampart/json.h"

/* The embedded defaults (lib/base/embed.S). */
extern const char rp__embed_guard_rules[], rp__embed_guard_rules_end[];
extern const char rp__embed_guard_input_model[], rp__embed_guard_input_model_end[];
extern const char rp__embed_guard_output_model[], rp__embed_guard_output_model_end[];

#define DEFAULT_REFUSE 5.0
#define DEFAULT_FLAG 2.0
/* The prompt classifier can refuse on its own; the answer classifier only flags (at most 2 x 2
 * points): it withheld about 7% of everyday answers when it could refuse (docs/abuse.md). */
static const double default_classifier[RP_GUARD_NDIR] = {5.0, 2.0};
/* A text's modified form is at most this many times its length plus this many bytes. */
#define GROWTH 8
#define GROWTH_PAD 4096

const char *rp_guard_verdict_name(enum rp_guard_verdict v)
{
    switch (v) {
    case RP_GUARD_ALLOW: return "allow";
    case RP_GUARD_FLAG: return "flag";
    case RP_GUARD_MODIFY: return "modify";
    case RP_GUARD_REFUSE: return "refuse";
    }
    return "allow";
}

/* ---- validators ---------------------------------------------------------------------------- */

static bool luhn(const char *p, size_t n)
{
    int sum = 0, digits = 0;
    for (size_t i = n; i-- > 0;) {
        if (p[i] == ' ' || p[i] == '-')
            continue;
        if (!isdigit((unsigned char)p[i]))
            return false;
        int d = p[i] - '0';
        if (digits++ & 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return digits >= 13 && digits <= 19 && sum % 10 == 0;
}

/* ISO 13616: the first four characters moved to the end, letters as 10..35, mod 97 is 1. */
static bool iban(const char *p, size_t n)
{
    char s[40];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ')
            continue;
        if (k == sizeof(s) || !isalnum((unsigned char)p[i]))
            return false;
        s[k++] = (char)toupper((unsigned char)p[i]);
    }
    if (k < 15 || k > 34 || !isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1]) ||
        !isdigit((unsigned char)s[2]) || !isdigit((unsigned char)s[3]))
        return false;
    unsigned rem = 0;
    for (size_t i = 0; i < k; i++) {
        char c = s[(i + 4) % k];
        if (isdigit((unsigned char)c))
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        else
            rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
    }
    return rem == 1;
}

bool rp__guard_validate(const struct rp_guard *g, const struct rp__guard_rule *r, const char *p,
                        size_t n)
{
    switch (r->validate) {
    case V_NONE: return true;
    case V_LUHN: return luhn(p, n);
    case V_IBAN: return iban(p, n);
    case V_URL: {
        struct rp_url_report rep;
        if (!g->urls || rp_url_inspect(g->urls, (struct rp_str){p, n}, &rep))
            return false;
        bool danger = rep.valid && rep.verdict == RP_URL_DANGER;
        rp_url_report_release(&rep);
        return danger;
    }
    }
    return true;
}

/* ---- results -------------------------------------------------------------------------------- */

void rp__guard_add_reason(struct rp_guard_result *res, const char *code, const char *category,
                          const char *message, double points, size_t start, size_t end)
{
    res->points += points;
    if (res->n_reasons == RP_GUARD_MAX_REASONS) {
        res->n_more++;
        return;
    }
    res->reasons[res->n_reasons++] =
        (struct rp_guard_reason){code, category, message, points, start, end};
}

double rp__guard_classifier_points(const struct rp__guard_dir *d, double p)
{
    if (!d->model || d->cls_points <= 0)
        return 0;
    double share = d->cls_points * p / rp_guard_model_threshold(d->model);
    return share > 2 * d->cls_points ? 2 * d->cls_points : share;
}

void rp__guard_decide(const struct rp_guard *g, const struct rp__guard_dir *d, bool modified,
                      struct rp_guard_result *res)
{
    res->enforced = !g->monitor;
    double hard = res->points - res->neutralised;
    res->score = hard >= d->refuse ? 1 : hard / d->refuse;
    res->confidence = 0;
    if (hard >= d->refuse) {
        double cls = res->classifier >= 0 ? rp__guard_classifier_points(d, res->classifier) : 0;
        if (hard - cls >= d->refuse || hard >= d->confident)
            res->confidence = 1;
        else
            res->confidence = (hard - d->refuse) / (d->confident - d->refuse);
    }
    if (hard >= d->refuse)
        res->verdict = RP_GUARD_REFUSE;
    else if (modified)
        res->verdict = RP_GUARD_MODIFY;
    else if (res->points >= d->flag)
        res->verdict = RP_GUARD_FLAG;
    else
        res->verdict = RP_GUARD_ALLOW;
}

double rp_guard_refuse_score(const struct rp_guard *g, enum rp_guard_dir dir)
{
    return g->dir[dir].refuse;
}

void rp_guard_result_release(struct rp_guard_result *res)
{
    rp_buf_release(&res->text);
}

int rp_guard_result_json(const struct rp_guard_result *res, struct rp_buf *out)
{
    int result = rp_buf_addf(out,
                             "{\"verdict\":\"%s\",\"enforced\":%s,\"score\":%.4f,"
                             "\"points\":%.2f,\"reasons\":[",
                             rp_guard_verdict_name(res->verdict), res->enforced ? "true" : "false",
                             res->score, res->points);
    for (size_t i = 0; !result && i < res->n_reasons; i++) {
        const struct rp_guard_reason *r = &res->reasons[i];
        result = rp_buf_addf(out, "%s{\"code\":", i ? "," : "");
        result = result ? result : rp_json_add_cstr(out, r->code);
        result = result ? result : rp_buf_adds(out, ",\"category\":");
        result = result ? result : rp_json_add_cstr(out, r->category);
        result = result ? result : rp_buf_adds(out, ",\"message\":");
        result = result ? result : rp_json_add_cstr(out, r->message);
        result = result ? result : rp_buf_addf(out, ",\"points\":%.2f}", r->points);
    }
    if (!result && res->classifier >= 0)
        result = rp_buf_addf(out, "],\"classifier\":%.4f", res->classifier);
    else if (!result)
        result = rp_buf_adds(out, "]");
    if (!result && res->verdict == RP_GUARD_REFUSE)
        result = rp_buf_addf(out, ",\"confidence\":%.4f", res->confidence);
    if (!result && res->verdict == RP_GUARD_MODIFY) {
        result = rp_buf_adds(out, ",\"text\":");
        result = result ? result : rp_json_add_string(out, res->text.ptr, res->text.len);
    }
    return result ? result : rp_buf_adds(out, "}");
}

/* ---- rewriting ------------------------------------------------------------------------------ */

int rp__guard_rewrite(const struct rp__guard_rule *r, const char *p, size_t n, struct rp_buf *out)
{
    if (r->modify == RP_GUARD_REDACT) {
        if (r->replacement)
            return rp_buf_adds(out, r->replacement);
        return rp_buf_addf(out, "[REDACTED:%s]", r->id);
    }
    /* Defang: the scheme loses its "t"s (hxxps) and the host's dots become "[.]", so the link
     * can be read but not clicked. */
    int result = RP_OK;
    size_t i = 0;
    if (n >= 4 && (p[0] == 'h' || p[0] == 'H') && (p[1] == 't' || p[1] == 'T') &&
        (p[2] == 't' || p[2] == 'T') && (p[3] == 'p' || p[3] == 'P')) {
        result = rp_buf_addf(out, "%cxx%c", p[0], p[3]);
        i = 4;
    }
    const char *sep = memmem(p, n, "://", 3);
    size_t host_from = sep ? (size_t)(sep - p) + 3 : 0, host_to = n;
    for (size_t k = host_from; k < n; k++)
        if (p[k] == '/' || p[k] == '?' || p[k] == '#') {
            host_to = k;
            break;
        }
    for (; !result && i < n; i++) {
        if (p[i] == '.' && i >= host_from && i < host_to)
            result = rp_buf_adds(out, "[.]");
        else
            result = rp_buf_addc(out, p[i]);
    }
    return result;
}

/* ---- compiling ------------------------------------------------------------------------------ */

int rp__guard_on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                       void *ctx)
{
    (void)flags;
    struct rp_guard_scratch *s = ctx;
    if (s->n == s->alloc) {
        size_t na = s->alloc ? s->alloc * 2 : 64;
        void *nm = realloc(s->m, na * sizeof(*s->m));
        if (!nm) {
            s->oom = true;
            return 1; /* stop the scan */
        }
        s->m = nm;
        s->alloc = na;
    }
    s->m[s->n++] = (struct rp__guard_match){id, from, to};
    return 0;
}

const char *rp__guard_hs_text(struct rp_str text, struct rp_buf *pad)
{
    static const char zeros[RP__GUARD_HS_SLACK];
    uintptr_t in_block = ((uintptr_t)text.ptr + text.len) % 4096;
    if (in_block && 4096 - in_block >= RP__GUARD_HS_SLACK)
        return text.ptr;
    rp_buf_reset(pad);
    if (rp_buf_add(pad, text.ptr, text.len) || rp_buf_add(pad, zeros, sizeof(zeros)))
        return NULL;
    rp_buf_truncate(pad, text.len);
    return pad->ptr;
}

/* A literal as a Hyperscan expression: every byte that is not a letter or digit escaped. */
static char *escape_literal(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (; *s; s++) {
        if (isalnum((unsigned char)*s))
            *o++ = *s;
        else
            o += snprintf(o, 5, "\\x%02x", (unsigned char)*s);
    }
    *o = '\0';
    return out;
}

/* Start of match is costly in Hyperscan: only rules that need the matched bytes (to rewrite or
 * validate them) ask for it. The others report their first match only. */
bool rp__guard_rule_som(const struct rp__guard_rule *r)
{
    return r->modify != RP_GUARD_KEEP || r->validate != V_NONE;
}

static unsigned rule_flags(const struct rp__guard_rule *r)
{
    return (rp__guard_rule_som(r) ? HS_FLAG_SOM_LEFTMOST : HS_FLAG_SINGLEMATCH) |
           (r->caseless ? HS_FLAG_CASELESS : 0) | (r->utf8 ? HS_FLAG_UTF8 : 0);
}

/* ---- the compilation cache ------------------------------------------------------------- */

/* Compiling a rule pack costs seconds (Hyperscan optimises hard for scanning speed), so compiled
 * databases are kept in a cache directory, named by a SHA-256 of everything that decides them:
 * Hyperscan's version, this machine's platform, the mode and every pattern with its flags and
 * id. A file that is missing, unreadable or refused by hs_deserialize_database is compiled
 * anew; the cache only ever saves time. Directory: rp_cache_dir(). */
static bool cache_file(const char **expr, const unsigned *flags, const unsigned *ids, size_t n,
                       unsigned mode, char *out, size_t cap)
{
    char dir[PATH_MAX - 80];
    if (!rp_cache_dir(dir, sizeof(dir)))
        return false;
    hs_platform_info_t plat;
    if (hs_populate_platform(&plat) != HS_SUCCESS)
        return false;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    const char *ver = hs_version();
    ok = ok && EVP_DigestUpdate(ctx, "rampart-hs-cache 1", 18) &&
         EVP_DigestUpdate(ctx, ver, strlen(ver) + 1) &&
         EVP_DigestUpdate(ctx, &plat, sizeof(plat)) && EVP_DigestUpdate(ctx, &mode, sizeof(mode));
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(ctx, expr[i], strlen(expr[i]) + 1) &&
             EVP_DigestUpdate(ctx, &flags[i], sizeof(flags[i])) &&
             EVP_DigestUpdate(ctx, &ids[i], sizeof(ids[i]));
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return false;
    int k = snprintf(out, cap, "%s/hs-", dir);
    for (unsigned i = 0; i < 16 && k > 0 && (size_t)k + 3 < cap; i++)
        k += snprintf(out + k, cap - (size_t)k, "%02x", md[i]);
    return k > 0 && (size_t)k + 4 < cap && snprintf(out + k, cap - (size_t)k, ".db") == 3;
}

static bool cache_load(const char *path, hs_database_t **db)
{
    char *bytes;
    size_t len;
    struct rp_error err;
    if (rp_file_read(path, 256u << 20, &bytes, &len, &err))
        return false;
    bool ok = hs_deserialize_database(bytes, len, db) == HS_SUCCESS;
    free(bytes);
    return ok;
}

/* Written to a temporary name and renamed, so that a reader never sees half a file. */
static void cache_store(const char *path, const hs_database_t *db)
{
    char *bytes = NULL, tmp[PATH_MAX + 32];
    size_t len = 0;
    if (hs_serialize_database(db, &bytes, &len) != HS_SUCCESS)
        return;
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(bytes, 1, len, f) == len;
    if (f && fclose(f))
        ok = false;
    if (!ok || rename(tmp, path))
        unlink(tmp);
    free(bytes);
}

/* Whether a rule belongs in the database of the de-obfuscated view: rules that read words
 * (injection, jailbreak, harmful requests). Rules that rewrite or validate (secrets) are left
 * out, since view matches are never rewritten, and so are the hidden-text rules, whose
 * characters the view has removed; what remains scans fast (no start of match). */
static bool view_rule(const struct rp__guard_rule *r)
{
    return !rp__guard_rule_som(r) && strcmp(r->category, "hidden-text") != 0;
}

/* The note a program asked for (rp_guard_options.on_compile): once, before the first database
 * the cache does not hold is compiled. */
struct compile_note {
    const struct rp_guard_options *opt;
    bool told;
};

static int compile(const struct rp__guard_dir *d, unsigned mode, bool openers, bool view,
                   struct compile_note *note, hs_database_t **db, struct rp_error *err)
{
    size_t cap = 2 * d->n_rules;
    const char **expr = calloc(cap + 1, sizeof(*expr));
    unsigned *flags = calloc(cap + 1, sizeof(*flags)), *ids = calloc(cap + 1, sizeof(*ids));
    char **owned = calloc(cap + 1, sizeof(*owned));
    size_t n = 0;
    int result = RP_OK;
    if (!expr || !flags || !ids || !owned) {
        result = RP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < d->n_rules; i++) {
        if (view && !view_rule(d->rules[i]))
            continue;
        expr[n] = d->rules[i]->pattern;
        flags[n] = rule_flags(d->rules[i]);
        ids[n++] = (unsigned)i;
        if (openers && d->rules[i]->starts_with) {
            owned[i] = escape_literal(d->rules[i]->starts_with);
            if (!owned[i]) {
                result = RP_ENOMEM;
                goto out;
            }
            expr[n] = owned[i];
            flags[n] = HS_FLAG_SOM_LEFTMOST | (d->rules[i]->caseless ? HS_FLAG_CASELESS : 0);
            ids[n++] = RP__OPENER + (unsigned)i;
        }
    }
    if (!n) {
        *db = NULL; /* no rule for this database */
        goto out;
    }
    char cache_path[PATH_MAX];
    bool cached = cache_file(expr, flags, ids, n, mode, cache_path, sizeof(cache_path));
    if (cached && cache_load(cache_path, db))
        goto out;
    if (!note->told && note->opt->on_compile)
        note->opt->on_compile(note->opt->on_compile_arg);
    note->told = true;
    hs_compile_error_t *ce = NULL;
    if (hs_compile_multi(expr, flags, ids, (unsigned)n, mode, NULL, db, &ce) == HS_SUCCESS) {
        if (cached)
            cache_store(cache_path, *db);
    } else {
        const struct rp__guard_rule *r = ce && ce->expression >= 0 && (size_t)ce->expression < n
                                             ? d->rules[ids[ce->expression] & (RP__OPENER - 1)]
                                             : NULL;
        if (r)
            rp_error_set(err, "%s:%u: rule '%s': the pattern does not compile: %s", r->file,
                         r->line, r->id, ce->message);
        else
            rp_error_set(err, "the rules do not compile: %s", ce ? ce->message : "?");
        hs_free_compile_error(ce);
        result = RP_EINVAL;
    }
out:
    for (size_t i = 0; owned && i < cap + 1; i++)
        free(owned[i]);
    free(owned);
    free(expr);
    free(flags);
    free(ids);
    return result;
}

static int cmp_hold_width(const void *a, const void *b)
{
    const struct rp__guard_hold *x = a, *y = b;
    return x->width < y->width ? -1 : x->width > y->width;
}

/* Fills the hold classes of the output direction: one entry per distinct class, with the
 * widest match of its rules. */
static int holds(struct rp__guard_dir *d)
{
    d->holds = calloc(d->n_rules ? d->n_rules : 1, sizeof(*d->holds));
    if (!d->holds)
        return RP_ENOMEM;
    for (size_t i = 0; i < d->n_rules; i++) {
        const struct rp__guard_rule *r = d->rules[i];
        if (r->starts_with)
            continue;
        if (!r->has_hold) {
            if (r->max_width > d->unbounded_width)
                d->unbounded_width = r->max_width;
            continue;
        }
        size_t k = 0;
        while (k < d->n_holds && memcmp(d->holds[k].bytes, r->hold, 32))
            k++;
        if (k == d->n_holds) {
            memcpy(d->holds[k].bytes, r->hold, 32);
            d->n_holds++;
        }
        if (r->max_width > d->holds[k].width)
            d->holds[k].width = r->max_width;
    }
    /* Sorted by width, so that a walk back from the end drops them in order. */
    if (d->n_holds > 1)
        qsort(d->holds, d->n_holds, sizeof(*d->holds), cmp_hold_width);
    d->hold_masked = d->n_holds <= 64;
    for (size_t k = 0; d->hold_masked && k < d->n_holds; k++)
        for (unsigned c = 0; c < 256; c++)
            if (d->holds[k].bytes[c >> 3] & (1u << (c & 7)))
                d->hold_mask[c] |= 1ull << k;
    d->starts = calloc(d->n_rules ? d->n_rules : 1, sizeof(*d->starts));
    if (!d->starts)
        return RP_ENOMEM;
    for (size_t i = 0; i < d->n_rules; i++) {
        const char *lit = d->rules[i]->starts_with;
        if (!lit)
            continue;
        d->starts[d->n_starts++] = i;
        for (; *lit; lit++) {
            unsigned char cs[2] = {(unsigned char)*lit, (unsigned char)*lit};
            if (d->rules[i]->caseless) {
                cs[0] = (unsigned char)tolower(cs[0]);
                cs[1] = (unsigned char)toupper(cs[1]);
            }
            for (int q = 0; q < 2; q++)
                d->start_bytes[cs[q] >> 3] |= (uint8_t)(1u << (cs[q] & 7));
        }
    }
    return RP_OK;
}

static int read_text(const char *path, const char *embedded, const char *embedded_end, char **owned,
                     struct rp_str *out, struct rp_error *err)
{
    *owned = NULL;
    if (!path) {
        *out = (struct rp_str){embedded, (size_t)(embedded_end - embedded)};
        return RP_OK;
    }
    size_t len;
    int result = rp_file_read(path, 64u << 20, owned, &len, err);
    if (!result)
        *out = (struct rp_str){*owned, len};
    return result;
}

static bool is_disabled(const struct rp_guard_options *opt, const char *id)
{
    for (size_t i = 0; i < opt->n_disable; i++)
        if (!strcmp(opt->disable[i], id))
            return true;
    return false;
}

static int load_rules(const struct rp_guard_options *opt, struct rp__guard_rules *rs,
                      struct rp_error *err)
{
    int result = RP_OK;
    if (!opt->no_default_rules)
        result =
            rp__guard_rules_load(rs, "conf/guard-rules.yaml (embedded)", rp__embed_guard_rules,
                                 (size_t)(rp__embed_guard_rules_end - rp__embed_guard_rules), err);
    for (size_t i = 0; !result && i < opt->n_rule_files; i++) {
        char *text = NULL; /* freed below also when the read failed */
        size_t len;
        result = rp_file_read(opt->rule_files[i], RP_GUARD_MAX_RULE_FILE, &text, &len, err);
        if (result == RP_ETOOBIG)
            rp_error_set(err, "%s: a rule pack is at most 1 MiB", opt->rule_files[i]);
        if (!result)
            result = rp__guard_rules_load(rs, opt->rule_files[i], text, len, err);
        free(text);
    }
    for (size_t i = 0; !result && i < opt->n_disable; i++) {
        bool found = false;
        for (size_t k = 0; k < rs->n; k++)
            found |= !strcmp(rs->v[k].id, opt->disable[i]);
        if (!found) {
            rp_error_set(err, "guard.disable: no rule has the id '%.80s'", opt->disable[i]);
            result = RP_EINVAL;
        }
    }
    for (size_t k = 0; !result && k < rs->n; k++)
        rs->v[k].disabled = is_disabled(opt, rs->v[k].id);
    return result;
}

/* Checks each rule's pattern alone (for its width, and an error that names it). */
static int rule_info(struct rp__guard_rule *r, struct rp_error *err)
{
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *ce = NULL;
    if (hs_expression_info(r->pattern, rule_flags(r), &info, &ce) != HS_SUCCESS) {
        rp_error_set(err, "%s:%u: rule '%s': the pattern does not compile: %s", r->file, r->line,
                     r->id, ce ? ce->message : "?");
        hs_free_compile_error(ce);
        return RP_EINVAL;
    }
    r->max_width = info->max_width == UINT_MAX || info->max_width > RP_GUARD_MAX_HOLD
                       ? RP_GUARD_MAX_HOLD
                       : info->max_width;
    bool empty = info->min_width == 0;
    free(info);
    if (empty) {
        rp_error_set(err, "%s:%u: rule '%s': the pattern matches the empty string", r->file,
                     r->line, r->id);
        return RP_EINVAL;
    }
    return RP_OK;
}

static double or_default(double v, double def)
{
    return v != 0 ? v : def;
}

static int build_dir(struct rp_guard *g, const struct rp_guard_options *opt, int dir,
                     struct compile_note *note, struct rp_error *err)
{
    struct rp__guard_dir *d = &g->dir[dir];
    d->refuse = or_default(opt->refuse_score[dir], DEFAULT_REFUSE);
    d->flag = or_default(opt->flag_score[dir], DEFAULT_FLAG);
    d->confident = or_default(opt->confident_score[dir], RP_GUARD_CONFIDENT_FACTOR * d->refuse);
    d->cls_points = or_default(opt->classifier_points[dir], default_classifier[dir]);
    const char *name = dir == RP_GUARD_INPUT ? "input" : "output";
    if (d->flag >= d->refuse) {
        rp_error_set(err, "guard.%s: flag_score must be below refuse_score", name);
        return RP_EINVAL;
    }
    if (d->confident < d->refuse) {
        rp_error_set(err, "guard.%s: confident_score (%g) must be at least refuse_score (%g)", name,
                     d->confident, d->refuse);
        return RP_EINVAL;
    }
    d->rules = calloc(g->rules.n ? g->rules.n : 1, sizeof(*d->rules));
    if (!d->rules)
        return RP_ENOMEM;
    for (size_t i = 0; i < g->rules.n; i++)
        if ((g->rules.v[i].dirs & (1u << dir)) && !g->rules.v[i].disabled)
            d->rules[d->n_rules++] = &g->rules.v[i];
    int result = RP_OK;
    if (d->n_rules) {
        /* Answers are scanned whole with the streaming database too: one compilation, not two
         * (compiling is what costs at start-up). */
        if (dir == RP_GUARD_OUTPUT) {
            result = compile(d, HS_MODE_STREAM | HS_MODE_SOM_HORIZON_LARGE, true, false, note,
                             &d->stream, err);
        } else {
            result = compile(d, HS_MODE_BLOCK, false, false, note, &d->block, err);
            if (!result)
                result = compile(d, HS_MODE_BLOCK, false, true, note, &d->view, err);
        }
    }
    if (!result && dir == RP_GUARD_OUTPUT)
        result = holds(d);
    if (result || d->cls_points < 0)
        return result;
    char *owned;
    struct rp_str text;
    const char *emb =
        dir == RP_GUARD_INPUT ? rp__embed_guard_input_model : rp__embed_guard_output_model;
    const char *emb_end =
        dir == RP_GUARD_INPUT ? rp__embed_guard_input_model_end : rp__embed_guard_output_model_end;
    result = read_text(opt->model_files[dir], emb, emb_end, &owned, &text, err);
    if (result)
        return result;
    struct rp_error inner;
    result = rp_guard_model_load(text, &d->model, &inner);
    if (result == RP_EINVAL || result == RP_ETOOBIG)
        rp_error_set(err, "%s: %s",
                     opt->model_files[dir] ? opt->model_files[dir] : "embedded guard model",
                     inner.msg);
    free(owned);
    return result;
}

void rp_guard_free(struct rp_guard *g)
{
    if (!g)
        return;
    for (int i = 0; i < RP_GUARD_NDIR; i++) {
        hs_free_database(g->dir[i].block);
        hs_free_database(g->dir[i].stream);
        hs_free_database(g->dir[i].view);
        free(g->dir[i].rules);
        free(g->dir[i].holds);
        free(g->dir[i].starts);
        rp_guard_model_free(g->dir[i].model);
    }
    rp__guard_rules_release(&g->rules);
    rp_url_inspector_free(g->own_urls);
    if (g->spoof)
        uspoof_close(g->spoof);
    free(g);
}

int rp_guard_new(const struct rp_guard_options *opt, struct rp_guard **out, struct rp_error *err)
{
    *out = NULL;
    struct rp_guard *g = calloc(1, sizeof(*g));
    if (!g)
        return RP_ENOMEM;
    g->monitor = opt->monitor;
    /* The confusables data for reading look-alike letters (uspoof_getSkeleton is const: the
     * checker is shared by every thread). */
    UErrorCode ust = U_ZERO_ERROR;
    g->spoof = uspoof_open(&ust);
    if (U_FAILURE(ust)) {
        free(g);
        rp_error_set(err, "cannot open ICU's spoof checker: %s", u_errorName(ust));
        return RP_ENOMEM;
    }
    int result = load_rules(opt, &g->rules, err);
    /* The width of a match matters to streams only; asking Hyperscan costs about as much as
     * compiling the pattern, so input-only rules are not asked (their compilation reports their
     * errors). */
    for (size_t i = 0; !result && i < g->rules.n; i++)
        if (!g->rules.v[i].disabled && (g->rules.v[i].dirs & (1u << RP_GUARD_OUTPUT)))
            result = rule_info(&g->rules.v[i], err);
    struct compile_note note = {.opt = opt};
    for (int d = 0; !result && d < RP_GUARD_NDIR; d++)
        result = build_dir(g, opt, d, &note, err);
    if (!result) {
        g->urls = opt->urls;
        if (!g->urls) {
            struct rp_url_inspector_options uo = {0};
            result = rp_url_inspector_new(&uo, &g->own_urls, err);
            g->urls = g->own_urls;
        }
    }
    if (result) {
        rp_guard_free(g);
        return result;
    }
    *out = g;
    return RP_OK;
}

int rp_guard_check(const struct rp_guard_options *opt, size_t *n_rules, struct rp_error *err)
{
    struct rp_guard *g;
    *n_rules = 0;
    int result = rp_guard_new(opt, &g, err);
    if (!result)
        *n_rules = g->rules.n;
    rp_guard_free(g);
    return result;
}

int rp_guard_scratch_new(const struct rp_guard *g, struct rp_guard_scratch **out)
{
    *out = NULL;
    struct rp_guard_scratch *s = calloc(1, sizeof(*s));
    if (!s)
        return RP_ENOMEM;
    for (int i = 0; i < RP_GUARD_NDIR; i++)
        if (g->dir[i].model && rp__guard_model_bitmap_bytes(g->dir[i].model) > s->seen_bytes)
            s->seen_bytes = rp__guard_model_bitmap_bytes(g->dir[i].model);
    s->seen = s->seen_bytes ? calloc(s->seen_bytes, 1) : NULL;
    if (s->seen_bytes && !s->seen) {
        free(s);
        return RP_ENOMEM;
    }
    for (int i = 0; i < RP_GUARD_NDIR; i++) {
        hs_database_t *dbs[3] = {g->dir[i].block, g->dir[i].stream, g->dir[i].view};
        for (int k = 0; k < 3; k++)
            if (dbs[k] && hs_alloc_scratch(dbs[k], &s->hs) != HS_SUCCESS) {
                rp_guard_scratch_free(s);
                return RP_ENOMEM;
            }
    }
    *out = s;
    return RP_OK;
}

void rp_guard_scratch_free(struct rp_guard_scratch *s)
{
    if (!s)
        return;
    hs_free_scratch(s->hs);
    free(s->seen);
    free(s->m);
    free(s);
}

/* ---- whole texts ---------------------------------------------------------------------------- */

static int cmp_match(const void *a, const void *b)
{
    const struct rp__guard_match *x = a, *y = b;
    if (x->rule != y->rule)
        return x->rule < y->rule ? -1 : 1;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return x->to > y->to ? -1 : x->to < y->to;
}

static int cmp_span(const void *a, const void *b)
{
    const struct rp__guard_match *x = a, *y = b;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return x->to > y->to ? -1 : x->to < y->to;
}

/* Sorts matches by rule and start, and keeps of each run of overlapping matches of one rule
 * the first and longest: Hyperscan reports every end of a match, and "ab", "abc" and "abcd"
 * are one finding. Returns the new count. */
size_t rp__guard_dedupe(const struct rp_guard *g, const struct rp__guard_dir *d,
                        struct rp__guard_match *m, size_t n, const char *text, uint64_t base)
{
    /* Luhn and IBAN check digits hold for one exact match, not for the union of overlapping
     * ones: each raw match is checked first (a regression found by fuzz_guard_stream, where
     * block and stream merged different sets of matches and disagreed). */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct rp__guard_rule *r = m[i].rule < RP__OPENER ? d->rules[m[i].rule] : NULL;
        if (r && (r->validate == V_LUHN || r->validate == V_IBAN)) {
            uint64_t from = m[i].from < base ? base : m[i].from;
            if (!rp__guard_validate(g, r, text + (from - base), (size_t)(m[i].to - from)))
                continue;
        }
        m[k++] = m[i];
    }
    n = k;
    if (n > 1)
        qsort(m, n, sizeof(*m), cmp_match);
    k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && m[k - 1].rule == m[i].rule && m[i].from < m[k - 1].to) {
            if (m[i].to > m[k - 1].to)
                m[k - 1].to = m[i].to;
            continue;
        }
        m[k++] = m[i];
    }
    return k;
}

static void push_span(struct rp__guard_scan *sc, struct rp__guard_match m)
{
    if (sc->n_spans == sc->alloc_spans) {
        size_t na = sc->alloc_spans ? sc->alloc_spans * 2 : 16;
        void *ns = realloc(sc->spans, na * sizeof(*sc->spans));
        if (!ns) {
            sc->oom = true;
            return;
        }
        sc->spans = ns;
        sc->alloc_spans = na;
    }
    sc->spans[sc->n_spans++] = m;
}

/* Takes the deduplicated matches of rules over text (whose first byte is at offset base):
 * validates them, adds each rule's points once, and keeps the spans to modify. hidden marks
 * matches in the de-obfuscated view, which count only for rules that did not fire on the text
 * itself and are never modified (their offsets are the view's). */
void rp__guard_take(struct rp__guard_scan *sc, const struct rp__guard_match *m, size_t n,
                    const char *text, uint64_t base, bool hidden)
{
    for (size_t i = 0; i < n; i++) {
        if (m[i].rule >= RP__OPENER)
            continue;
        const struct rp__guard_rule *r = sc->d->rules[m[i].rule];
        /* Without start of match Hyperscan says 0: such a finding is placed at its end. */
        uint64_t from = !rp__guard_rule_som(r) ? m[i].to : m[i].from < base ? base : m[i].from;
        /* Check digits were validated match by match, before merging (rp__guard_dedupe). */
        if (r->validate == V_URL &&
            !rp__guard_validate(sc->g, r, text + (from - base), (size_t)(m[i].to - from)))
            continue;
        uint8_t bit = (uint8_t)(1u << (m[i].rule & 7));
        if (!(sc->fired[m[i].rule >> 3] & bit)) {
            sc->fired[m[i].rule >> 3] |= bit;
            rp__guard_add_reason(sc->res, r->id, r->category, r->message, r->points,
                                 hidden ? 0 : (size_t)from, hidden ? 0 : (size_t)m[i].to);
            if (r->modify && !hidden)
                sc->res->neutralised += r->points;
            if (hidden)
                rp__guard_add_reason(sc->res, "obfuscated", "hidden-text",
                                     "the text hides a trigger phrase behind look-alike or "
                                     "invisible characters",
                                     2, 0, 0);
        }
        if (r->modify && !hidden)
            push_span(sc, (struct rp__guard_match){m[i].rule, from, m[i].to});
    }
}

/* Appends text with the spans (absolute offsets; text starts at base) rewritten. Spans must lie
 * within the text; overlapping ones are merged and rewritten by the first one's rule. */
int rp__guard_apply_spans(const struct rp__guard_dir *d, struct rp__guard_match *spans, size_t n,
                          const char *text, uint64_t base, size_t len, struct rp_buf *out)
{
    if (n > 1)
        qsort(spans, n, sizeof(*spans), cmp_span);
    uint64_t at = base;
    int result = RP_OK;
    for (size_t i = 0; !result && i < n;) {
        uint64_t from = spans[i].from, to = spans[i].to;
        size_t k = i + 1;
        while (k < n && spans[k].from < to) {
            if (spans[k].to > to)
                to = spans[k].to;
            k++;
        }
        if (from < at)
            from = at;
        result = rp_buf_add(out, text + (at - base), (size_t)(from - at));
        if (!result && to > from)
            result = rp__guard_rewrite(d->rules[spans[i].rule], text + (from - base),
                                       (size_t)(to - from), out);
        at = to > at ? to : at;
        i = k;
    }
    if (!result && at < base + len)
        result = rp_buf_add(out, text + (at - base), (size_t)(base + len - at));
    return result;
}

/* Blocks whose letters are taken for Latin ones (UTS #39 confusables with an ASCII skeleton):
 * Latin with accents, Greek, Cyrillic, Armenian, Cherokee, phonetic extensions, letterlike
 * symbols, fullwidth forms and mathematical alphanumerics. Text in other scripts (CJK, Arabic,
 * Devanagari...) is left as it is, which keeps the cost of this view low for it. */
static bool latin_lookalike_block(UChar32 c)
{
    return (c >= 0x00C0 && c <= 0x024F) || (c >= 0x0370 && c <= 0x058F) ||
           (c >= 0x13A0 && c <= 0x13FF) || (c >= 0x1D00 && c <= 0x1DBF) ||
           (c >= 0x1E00 && c <= 0x1EFF) || (c >= 0x2100 && c <= 0x214F) ||
           (c >= 0xFF00 && c <= 0xFFEF) || (c >= 0x1D400 && c <= 0x1D7FF);
}

/* The ASCII letter or digit a letter is taken for, or 0. The skeleton of the lowercase letter:
 * UTS #39 maps capital-I look-alikes to 'l' (a regression of test_hidden_capital_i: "Іgnore"
 * read as "lgnore"). */
static char ascii_lookalike(const USpoofChecker *sc, UChar32 c)
{
    if (!u_isalnum(c))
        return 0;
    char sk[16], lc[8];
    int32_t lc_len = 0;
    UBool bad = false;
    U8_APPEND((uint8_t *)lc, lc_len, (int32_t)sizeof(lc), u_tolower(c), bad);
    UErrorCode e = U_ZERO_ERROR;
    int32_t n = bad ? 0 : uspoof_getSkeletonUTF8(sc, 0, lc, lc_len, sk, sizeof(sk), &e);
    return U_SUCCESS(e) && n == 1 && isalnum((unsigned char)sk[0]) ? sk[0] : 0;
}

#define LOOKALIKE_CACHE 64
struct lookalike {
    UChar32 cp;
    char ascii;
};

/* The text as a reader sees it: invisible characters dropped, Unicode tag characters read as
 * the ASCII they encode, and letters that look like ASCII letters (UTS #39 confusables, e.g.
 * Cyrillic 'о') replaced by them. Returns true when that differs from the text. */
static bool deobfuscate(const USpoofChecker *sc, struct rp_str text, struct rp_buf *view)
{
    const uint8_t *s = (const uint8_t *)text.ptr;
    size_t i = 0;
    bool changed = false, in_tags = false;
    while (i < text.len && s[i] < 0x80)
        i++;
    if (i == text.len)
        return false;
    struct lookalike cache[LOOKALIKE_CACHE];
    for (size_t k = 0; k < LOOKALIKE_CACHE; k++)
        cache[k].cp = -1;
    rp_buf_add(view, text.ptr, i);
    while (i < text.len) {
        if (s[i] < 0x80) {
            /* A run of ASCII goes over whole. */
            size_t run = i;
            while (run < text.len && s[run] < 0x80)
                run++;
            rp_buf_add(view, s + i, run - i);
            in_tags = false;
            i = run;
            continue;
        }
        size_t at = i;
        UChar32 c;
        U8_NEXT(s, i, text.len, c);
        if (c == 0xAD || (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
            (c >= 0x2060 && c <= 0x2064) || (c >= 0x2066 && c <= 0x2069) || c == 0xFEFF ||
            c == 0xE0001 || c == 0xE007F) {
            changed = true;
            continue;
        }
        if (c >= 0xE0020 && c <= 0xE007E) {
            /* A run of tag characters is a message of its own: it starts a word. */
            if (!in_tags)
                rp_buf_addc(view, ' ');
            in_tags = true;
            rp_buf_addc(view, (char)(c - 0xE0000));
            changed = true;
            continue;
        }
        in_tags = false;
        if (c > 0 && latin_lookalike_block(c)) {
            /* Each letter's answer is kept in a small cache: a text in Greek or with accents
             * repeats its letters. */
            struct lookalike *slot = &cache[(uint32_t)c % LOOKALIKE_CACHE];
            if (slot->cp != c) {
                slot->cp = c;
                slot->ascii = ascii_lookalike(sc, c);
            }
            if (slot->ascii) {
                rp_buf_addc(view, slot->ascii);
                changed = true;
                continue;
            }
        }
        rp_buf_add(view, s + at, i - at);
    }
    return changed;
}

/* Scans the de-obfuscated view of an input text: rules that fire only there count too. */
static int scan_hidden(struct rp__guard_scan *sc, struct rp_guard_scratch *s, struct rp_str text)
{
    struct rp_buf view;
    rp_buf_init(&view, text.len + 16);
    int result = RP_OK;
    struct rp_buf pad;
    rp_buf_init(&pad, view.cap + RP__GUARD_HS_SLACK);
    if (sc->d->view && deobfuscate(sc->g->spoof, text, &view)) {
        s->n = 0;
        const char *p = rp__guard_hs_text(rp_buf_str(&view), &pad);
        if (!p || (hs_scan(sc->d->view, p, (unsigned)view.len, 0, s->hs, rp__guard_on_match, s) !=
                       HS_SUCCESS &&
                   s->oom))
            result = RP_ENOMEM;
        size_t n = rp__guard_dedupe(sc->g, sc->d, s->m, s->n, view.ptr, 0);
        if (!result)
            rp__guard_take(sc, s->m, n, view.ptr, 0, true);
    }
    rp_buf_release(&pad);
    rp_buf_release(&view);
    return result;
}

int rp_guard_inspect(const struct rp_guard *g, struct rp_guard_scratch *s, enum rp_guard_dir dir,
                     struct rp_str text, struct rp_guard_result *res)
{
    memset(res, 0, sizeof(*res));
    res->classifier = -1;
    if (!text.ptr)
        text = RP_STR(""); /* Hyperscan refuses a NULL buffer, even an empty one */
    const struct rp__guard_dir *d = &g->dir[dir];
    struct rp_buf clean;
    rp_buf_init(&clean, text.len * 3 + 16);
    /* Hyperscan's UTF-8 mode requires well-formed input: ill-formed bytes become U+FFFD. */
    if (!rp_utf8_valid(text.ptr, text.len)) {
        if (rp_utf8_sanitize(text, &clean)) {
            rp_buf_release(&clean);
            return RP_ENOMEM;
        }
        text = rp_buf_str(&clean);
    }
    if (text.len > UINT32_MAX) {
        rp_buf_release(&clean);
        return RP_ETOOBIG;
    }
    /* The text as Hyperscan may read it, a few bytes past its end (rp__guard_hs_text). */
    struct rp_buf pad;
    rp_buf_init(&pad, text.len + RP__GUARD_HS_SLACK);
    const char *safe = rp__guard_hs_text(text, &pad);
    if (!safe) {
        rp_buf_release(&clean);
        return RP_ENOMEM;
    }
    text.ptr = safe;
    rp_buf_init(&res->text, text.len * GROWTH + GROWTH_PAD);
    struct rp__guard_scan sc = {.g = g, .d = d, .res = res};
    int result = RP_OK;
    s->n = 0;
    s->oom = false;
    if (d->block && hs_scan(d->block, text.ptr, (unsigned)text.len, 0, s->hs, rp__guard_on_match,
                            s) != HS_SUCCESS)
        result = RP_ENOMEM;
    if (d->stream) {
        hs_stream_t *hs = NULL;
        if (hs_open_stream(d->stream, 0, &hs) != HS_SUCCESS ||
            hs_scan_stream(hs, text.ptr, (unsigned)text.len, 0, s->hs, rp__guard_on_match, s) !=
                HS_SUCCESS)
            result = RP_ENOMEM;
        if (hs && hs_close_stream(hs, s->hs, rp__guard_on_match, s) != HS_SUCCESS)
            result = RP_ENOMEM;
    }
    if (!result) {
        size_t n = rp__guard_dedupe(g, d, s->m, s->n, text.ptr, 0);
        rp__guard_take(&sc, s->m, n, text.ptr, 0, false);
    }
    if (!result && dir == RP_GUARD_INPUT)
        result = scan_hidden(&sc, s, text);
    /* An answer's classifier speaks from RP_GUARD_CLASSIFIER_MIN bytes on, as on a stream: the
     * first words of an answer say too little about it, and whole and streamed answers must
     * be judged alike. */
    if (!result && d->model && d->cls_points > 0 &&
        (dir == RP_GUARD_INPUT || text.len >= RP_GUARD_CLASSIFIER_MIN)) {
        double p = rp__guard_model_score_with(d->model, text, s->seen);
        double pts = p < 0 ? 0 : rp__guard_classifier_points(d, p);
        res->classifier = p;
        if (p < 0)
            result = RP_ENOMEM;
        else if (p >= rp_guard_model_threshold(d->model) / 2 || pts >= 1)
            rp__guard_add_reason(
                res, "classifier", dir == RP_GUARD_INPUT ? "prompt-attack" : "harmful-answer",
                dir == RP_GUARD_INPUT ? "the learned classifier rates the prompt as an attack"
                                      : "the learned classifier rates the answer as harmful help",
                pts, 0, 0);
        else
            res->points += pts;
    }
    if (!result && sc.n_spans)
        result = rp__guard_apply_spans(d, sc.spans, sc.n_spans, text.ptr, 0, text.len, &res->text);
    if (sc.oom && !result)
        result = RP_ENOMEM;
    if (!result)
        rp__guard_decide(g, d, sc.n_spans > 0, res);
    free(sc.spans);
    rp_buf_release(&pad);
    rp_buf_release(&clean);
    if (result)
        rp_guard_result_release(res);
    return result;
}
