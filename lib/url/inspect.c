/* The URL inspector: reads an address as the browser does, finds who controls it (Public
 * Suffix List) and the deceptions attackers use (userinfo, lookalikes, brands out of place). */
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unicode/uspoof.h>

#include "internal.h"
#include "rampart/url_inspect.h"
#include "rampart/url_model.h"

extern const char rp__embed_brands[], rp__embed_brands_end[];
extern const char rp__embed_shorteners[], rp__embed_shorteners_end[];
extern const char rp__embed_suspicious_tlds[], rp__embed_suspicious_tlds_end[];
extern const char rp__embed_url_model[], rp__embed_url_model_end[];

/* Labels shorter than this are not compared for one-letter typos: "ups" and "upd" are both
 * ordinary words. */
#define TYPO_MIN_LEN 5
/* Subdomain labels beyond this count are unusual for a real site and common in phishing. */
#define MANY_SUBDOMAINS 4
/* Only the start of a long path is searched for brand names. */
#define PATH_SCAN_MAX 2048
#define LIST_FILE_MAX (8u << 20)

struct brand {
    char *name;
    size_t len;
    bool match_word; /* the name is looked for in hosts and paths */
};

/* A label of a brand's own domain ("paypal" of paypal.com), the target of lookalikes. */
struct target {
    char *label;
    char *skeleton;
    size_t label_len, skeleton_len;
    size_t brand;
};

struct name_hash {
    uint64_t hash;
    size_t brand;
};

struct rp_url_inspector {
    psl_ctx_t *psl;
    bool psl_owned;
    USpoofChecker *spoof;
    /* The UTS #39 skeleton of each ASCII character, case-folded: the skeleton maps one code
     * point at a time, and ASCII maps to ASCII, so an ASCII label's skeleton is the
     * concatenation of these (ICU's answer, read once). */
    char ascii_skeleton[128][4];
    struct rp_url_model *model;
    struct brand *brands;
    size_t n_brands;
    char **official; /* sorted registrable domains that belong to a brand */
    size_t n_official;
    struct target *targets;
    size_t n_targets;
    struct name_hash *names; /* sorted by hash, for token lookups */
    size_t n_names;
    char **shorteners;
    size_t n_shorteners;
    char **tlds;
    size_t n_tlds;
};

/* ---- small helpers ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_hash(const void *a, const void *b)
{
    const struct name_hash *x = a, *y = b;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

static bool in_sorted(char *const *list, size_t n, const char *s)
{
    return s && bsearch(&s, list, n, sizeof(char *), cmp_str) != NULL;
}

static int push_str(char ***list, size_t *n, const char *s, size_t len)
{
    char **grown = realloc(*list, (*n + 1) * sizeof(char *));
    if (!grown)
        return RP_ENOMEM;
    *list = grown;
    grown[*n] = strndup(s, len);
    if (!grown[*n])
        return RP_ENOMEM;
    (*n)++;
    return RP_OK;
}

static void free_strs(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static uint64_t hash_lower(const char *s, size_t len)
{
    char tmp[64];
    if (len > sizeof(tmp))
        len = sizeof(tmp);
    for (size_t i = 0; i < len; i++)
        tmp[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
    return rp_hash64(tmp, len, 0);
}

/* The UTS #39 skeleton of a label, case-folded so that "g00gle" and "google" meet. */
static char *skeleton_icu(const USpoofChecker *sc, const char *s, size_t len)
{
    UErrorCode st = U_ZERO_ERROR;
    if (len > 256)
        return NULL;
    char buf[2048];
    int32_t n = uspoof_getSkeletonUTF8(sc, 0, s, (int32_t)len, buf, sizeof(buf) - 1, &st);
    if (U_FAILURE(st) || n < 0 || n >= (int32_t)sizeof(buf))
        return NULL;
    buf[n] = '\0';
    for (int32_t i = 0; i < n; i++)
        if (buf[i] >= 'A' && buf[i] <= 'Z')
            buf[i] = (char)(buf[i] + 32);
    return strndup(buf, (size_t)n);
}

static char *skeleton(const struct rp_url_inspector *in, const char *s, size_t len)
{
    char buf[4 * 256 + 1];
    size_t n = 0;
    if (len > 256)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 || !in->ascii_skeleton[c][0])
            return skeleton_icu(in->spoof, s, len);
        size_t k = strlen(in->ascii_skeleton[c]);
        memcpy(buf + n, in->ascii_skeleton[c], k);
        n += k;
    }
    return strndup(buf, n);
}

char *rp_url_skeleton(const struct rp_url_inspector *in, struct rp_str s)
{
    return skeleton(in, s.ptr, s.len);
}

/* Fills the ASCII skeleton table; characters whose skeleton is not short ASCII are left empty
 * and make skeleton() ask ICU. */
static void ascii_skeletons(struct rp_url_inspector *in)
{
    for (int c = 0x21; c < 0x7f; c++) {
        char ch = (char)c;
        char *sk = skeleton_icu(in->spoof, &ch, 1);
        bool ascii = sk && strlen(sk) < sizeof(in->ascii_skeleton[c]);
        for (const char *p = sk; ascii && *p; p++)
            ascii = (unsigned char)*p < 0x80;
        if (ascii)
            memcpy(in->ascii_skeleton[c], sk, strlen(sk) + 1);
        free(sk);
    }
}

/* ---- lists ---- */

struct list_ctx {
    const char *file;
    struct rp_error *err;
};

typedef int (*line_fn)(void *arg, size_t lineno, char **words, size_t n_words,
                       const struct list_ctx *ctx);

/* Calls fn for each non-empty, non-comment line, split on blanks (at most 64 words). */
static int each_line(const char *text, size_t len, line_fn fn, void *arg,
                     const struct list_ctx *ctx)
{
    size_t lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        lineno++;
        char line[1024];
        size_t n = (size_t)(eol - p);
        if (n >= sizeof(line)) {
            rp_error_set(ctx->err, "%s:%zu: line longer than %zu bytes", ctx->file, lineno,
                         sizeof(line) - 1);
            return RP_EINVAL;
        }
        memcpy(line, p, n);
        line[n] = '\0';
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *words[64];
        size_t nw = 0;
        char *save = NULL;
        for (char *w = strtok_r(line, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
            if (nw == 64) {
                rp_error_set(ctx->err, "%s:%zu: more than 64 words", ctx->file, lineno);
                return RP_EINVAL;
            }
            words[nw++] = w;
        }
        if (nw) {
            int result = fn(arg, lineno, words, nw, ctx);
            if (result)
                return result;
        }
        p = eol + 1;
    }
    return RP_OK;
}

static void lowercase(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s + 32);
}

static bool is_domainish(const char *s)
{
    if (!*s || *s == '.')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
            return false;
    return true;
}

struct simple_list {
    char ***list;
    size_t *n;
    bool tld;
};

static int simple_line(void *arg, size_t lineno, char **w, size_t nw, const struct list_ctx *ctx)
{
    struct simple_list *l = arg;
    if (nw != 1) {
        rp_error_set(ctx->err, "%s:%zu: expected one %s a line", ctx->file, lineno,
                     l->tld ? "top-level domain" : "domain");
        return RP_EINVAL;
    }
    lowercase(w[0]);
    if (!is_domainish(w[0])) {
        rp_error_set(ctx->err, "%s:%zu: '%s' is not a domain in ASCII", ctx->file, lineno, w[0]);
        return RP_EINVAL;
    }
    return push_str(l->list, l->n, w[0], strlen(w[0]));
}

static int brand_line(void *arg, size_t lineno, char **w, size_t nw, const struct list_ctx *ctx)
{
    struct rp_url_inspector *in = arg;
    if (nw < 2) {
        rp_error_set(ctx->err, "%s:%zu: expected 'name domain [domain...]'", ctx->file, lineno);
        return RP_EINVAL;
    }
    bool word = w[0][0] != '!';
    char *name = word ? w[0] : w[0] + 1;
    lowercase(name);
    if (!is_domainish(name) || strchr(name, '.')) {
        rp_error_set(ctx->err, "%s:%zu: brand name '%s' must be one ASCII word", ctx->file, lineno,
                     name);
        return RP_EINVAL;
    }
    struct brand *grown = realloc(in->brands, (in->n_brands + 1) * sizeof(*grown));
    if (!grown)
        return RP_ENOMEM;
    in->brands = grown;
    size_t bi = in->n_brands;
    grown[bi].name = strdup(name);
    grown[bi].match_word = word;
    grown[bi].len = strlen(name);
    if (!grown[bi].name)
        return RP_ENOMEM;
    in->n_brands++;
    if (word) {
        struct name_hash *nh = realloc(in->names, (in->n_names + 1) * sizeof(*nh));
        if (!nh)
            return RP_ENOMEM;
        in->names = nh;
        nh[in->n_names++] = (struct name_hash){hash_lower(name, strlen(name)), bi};
    }
    for (size_t i = 1; i < nw; i++) {
        lowercase(w[i]);
        if (!is_domainish(w[i]) || !strchr(w[i], '.')) {
            rp_error_set(ctx->err, "%s:%zu: '%s' is not a domain in ASCII", ctx->file, lineno,
                         w[i]);
            return RP_EINVAL;
        }
        int result = push_str(&in->official, &in->n_official, w[i], strlen(w[i]));
        if (result)
            return result;
        size_t label_len = strcspn(w[i], ".");
        bool seen = false;
        for (size_t t = 0; t < in->n_targets; t++)
            if (in->targets[t].label_len == label_len &&
                memcmp(in->targets[t].label, w[i], label_len) == 0)
                seen = true;
        if (seen || label_len < 3)
            continue;
        struct target *tg = realloc(in->targets, (in->n_targets + 1) * sizeof(*tg));
        if (!tg)
            return RP_ENOMEM;
        in->targets = tg;
        tg[in->n_targets].label = strndup(w[i], label_len);
        tg[in->n_targets].skeleton = skeleton(in, w[i], label_len);
        tg[in->n_targets].brand = bi;
        if (!tg[in->n_targets].label || !tg[in->n_targets].skeleton) {
            free(tg[in->n_targets].label);
            free(tg[in->n_targets].skeleton);
            return RP_ENOMEM;
        }
        tg[in->n_targets].label_len = label_len;
        tg[in->n_targets].skeleton_len = strlen(tg[in->n_targets].skeleton);
        in->n_targets++;
    }
    return RP_OK;
}

/* Runs fn over a file's lines, or over the embedded copy when path is NULL. */
static int load_list(const char *path, const char *emb, const char *emb_end, const char *name,
                     line_fn fn, void *arg, struct rp_error *err)
{
    struct list_ctx ctx = {path ? path : name, err};
    if (!path)
        return each_line(emb, (size_t)(emb_end - emb), fn, arg, &ctx);
    char *text;
    size_t len;
    int result = rp_file_read(path, LIST_FILE_MAX, &text, &len, err);
    if (result)
        return result;
    result = each_line(text, len, fn, arg, &ctx);
    free(text);
    return result;
}

int rp_url_inspector_new(const struct rp_url_inspector_options *opt, struct rp_url_inspector **out,
                         struct rp_error *err)
{
    static const struct rp_url_inspector_options none;
    int result = RP_OK;
    if (!opt)
        opt = &none;
    *out = NULL;
    struct rp_url_inspector *in = calloc(1, sizeof(*in));
    if (!in)
        return RP_ENOMEM;

    if (opt->psl_file) {
        in->psl = psl_load_file(opt->psl_file);
        in->psl_owned = true;
        if (!in->psl) {
            rp_error_set(err, "unable to load the public suffix list '%s'", opt->psl_file);
            result = RP_EIO;
            goto out;
        }
        /* libpsl takes any text as rules; the real list always has "com". */
        if (!psl_is_public_suffix2(in->psl, "com", PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE)) {
            rp_error_set(err,
                         "'%s' is not a public suffix list (it has no rule for 'com'; "
                         "want the .dat file of publicsuffix.org)",
                         opt->psl_file);
            result = RP_EINVAL;
            goto out;
        }
    } else {
        /* The newer of libpsl's built-in list and the system's (package publicsuffix). */
        in->psl = psl_latest(NULL);
        in->psl_owned = in->psl != psl_builtin();
        if (!in->psl) {
            in->psl = (psl_ctx_t *)psl_builtin();
            in->psl_owned = false;
        }
        if (!in->psl) {
            rp_error_set(err, "no public suffix list: install 'publicsuffix' or use --psl FILE");
            result = RP_EIO;
            goto out;
        }
    }

    UErrorCode st = U_ZERO_ERROR;
    in->spoof = uspoof_open(&st);
    if (U_SUCCESS(st))
        uspoof_setChecks(in->spoof, USPOOF_RESTRICTION_LEVEL | USPOOF_INVISIBLE, &st);
    if (U_SUCCESS(st))
        uspoof_setRestrictionLevel(in->spoof, USPOOF_HIGHLY_RESTRICTIVE);
    if (U_FAILURE(st)) {
        rp_error_set(err, "unable to open ICU's spoof checker: %s", u_errorName(st));
        result = RP_ENOMEM;
        goto out;
    }

    ascii_skeletons(in);
    result = load_list(opt->brands_file, rp__embed_brands, rp__embed_brands_end,
                       "(built-in brands)", brand_line, in, err);
    if (result)
        goto out;
    struct simple_list sl = {&in->shorteners, &in->n_shorteners, false};
    result = load_list(opt->shorteners_file, rp__embed_shorteners, rp__embed_shorteners_end,
                       "(built-in shorteners)", simple_line, &sl, err);
    if (result)
        goto out;
    struct simple_list tl = {&in->tlds, &in->n_tlds, true};
    result = load_list(opt->tlds_file, rp__embed_suspicious_tlds, rp__embed_suspicious_tlds_end,
                       "(built-in suspicious TLDs)", simple_line, &tl, err);
    if (result)
        goto out;
    qsort(in->official, in->n_official, sizeof(char *), cmp_str);
    qsort(in->shorteners, in->n_shorteners, sizeof(char *), cmp_str);
    qsort(in->tlds, in->n_tlds, sizeof(char *), cmp_str);
    qsort(in->names, in->n_names, sizeof(*in->names), cmp_hash);

    struct rp_error merr = {{0}};
    if (opt->model_file) {
        char *text;
        size_t len;
        result = rp_file_read(opt->model_file, RP_URL_MODEL_MAX_TEXT, &text, &len, err);
        if (result)
            goto out;
        result = rp_url_model_load((struct rp_str){text, len}, &in->model, &merr);
        free(text);
    } else {
        result = rp_url_model_load(
            (struct rp_str){rp__embed_url_model,
                            (size_t)(rp__embed_url_model_end - rp__embed_url_model)},
            &in->model, &merr);
    }
    if (result) {
        rp_error_set(err, "%s: %s", opt->model_file ? opt->model_file : "(built-in model)",
                     merr.msg);
        goto out;
    }
out:
    if (result) {
        rp_url_inspector_free(in);
        return result;
    }
    *out = in;
    return RP_OK;
}

int rp__url_lists_parse(struct rp_str text, struct rp_error *err)
{
    struct rp_url_inspector *in = calloc(1, sizeof(*in));
    if (!in)
        return RP_ENOMEM;
    UErrorCode st = U_ZERO_ERROR;
    in->spoof = uspoof_open(&st);
    int result = U_SUCCESS(st) ? RP_OK : RP_ENOMEM;
    struct list_ctx ctx = {"(fuzz)", err};
    if (!result) {
        ascii_skeletons(in);
        result = each_line(text.ptr, text.len, brand_line, in, &ctx);
    }
    struct simple_list sl = {&in->shorteners, &in->n_shorteners, false};
    int result2 = each_line(text.ptr, text.len, simple_line, &sl, &ctx);
    rp_url_inspector_free(in);
    return result ? result : result2;
}

void rp_url_inspector_free(struct rp_url_inspector *in)
{
    if (!in)
        return;
    if (in->psl_owned)
        psl_free(in->psl);
    if (in->spoof)
        uspoof_close(in->spoof);
    rp_url_model_free(in->model);
    for (size_t i = 0; i < in->n_brands; i++)
        free(in->brands[i].name);
    free(in->brands);
    for (size_t i = 0; i < in->n_targets; i++) {
        free(in->targets[i].label);
        free(in->targets[i].skeleton);
    }
    free(in->targets);
    free(in->names);
    free_strs(in->official, in->n_official);
    free_strs(in->shorteners, in->n_shorteners);
    free_strs(in->tlds, in->n_tlds);
    free(in);
}

/* ---- who controls a name ---- */

/* The registrable domain of a lowercase ASCII host: a pointer into host, or NULL when the host
 * is a public suffix itself or has an empty first label (".example.com"). */
static const char *registrable(const struct rp_url_inspector *in, const char *host)
{
    if (host[0] == '.' || host[0] == '\0')
        return NULL;
    return psl_registrable_domain(in->psl, host);
}

int rp_url_registrable_domain(const struct rp_url_inspector *in, struct rp_str domain, char **out,
                              struct rp_error *err)
{
    *out = NULL;
    if (domain.len > 0 && domain.ptr[0] == '.')
        return RP_OK;
    struct rp_buf ascii;
    enum rp_url_host_type type;
    rp_buf_init(&ascii, 4 * domain.len + 64);
    int result = domain.len ? rp__url_host_parse(domain, false, &ascii, &type, err) : RP_EINVAL;
    if (!domain.len)
        rp_error_set(err, "the domain is empty");
    if (!result && type == RP_URL_HOST_DOMAIN) {
        const char *rd = registrable(in, ascii.ptr);
        if (rd && (*out = strdup(rd)) == NULL)
            result = RP_ENOMEM;
    }
    rp_buf_release(&ascii);
    return result;
}

/* ---- the checks ---- */

const char *rp_url_verdict_name(enum rp_url_verdict v)
{
    return v == RP_URL_DANGER ? "danger" : v == RP_URL_CAUTION ? "caution" : "ok";
}

static int add_reason(struct rp_url_report *r, const char *code, enum rp_url_verdict sev,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int add_reason(struct rp_url_report *r, const char *code, enum rp_url_verdict sev,
                      const char *fmt, ...)
{
    if (r->n_reasons == RP_URL_MAX_REASONS)
        return RP_OK;
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return RP_ENOMEM;
    r->reasons[r->n_reasons++] = (struct rp_url_reason){code, sev, msg};
    return RP_OK;
}

/* Optimal string alignment distance, stopping early: returns true when a and b differ by exactly
 * one insertion, deletion, substitution or swap of neighbours. */
static bool one_edit(const char *a, size_t la, const char *b, size_t lb)
{
    if (la == lb) {
        size_t i = 0;
        while (i < la && a[i] == b[i])
            i++;
        if (i == la)
            return false;
        if (strncmp(a + i + 1, b + i + 1, la - i - 1) == 0)
            return true; /* substitution */
        return i + 1 < la && a[i] == b[i + 1] && a[i + 1] == b[i] &&
               strncmp(a + i + 2, b + i + 2, la - i - 2) == 0; /* swap */
    }
    if (la + 1 == lb)
        return one_edit(b, lb, a, la);
    if (la != lb + 1)
        return false;
    size_t i = 0;
    while (i < lb && a[i] == b[i])
        i++;
    return strncmp(a + i + 1, b + i, lb - i) == 0; /* a has one extra byte at i */
}

static const struct brand *brand_by_token(const struct rp_url_inspector *in, const char *s,
                                          size_t len)
{
    if (len < 3 || len > 64)
        return NULL;
    struct name_hash key = {hash_lower(s, len), 0};
    const struct name_hash *h = bsearch(&key, in->names, in->n_names, sizeof(*in->names), cmp_hash);
    if (!h)
        return NULL;
    const struct brand *b = &in->brands[h->brand];
    return b->len == len && strncasecmp(b->name, s, len) == 0 ? b : NULL;
}

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The first brand named by a token (a run of letters and digits) of s[0..len). */
static const struct brand *brand_in_tokens(const struct rp_url_inspector *in, const char *s,
                                           size_t len)
{
    for (size_t i = 0; i < len;) {
        while (i < len && !is_alnum((unsigned char)s[i]))
            i++;
        size_t start = i;
        while (i < len && is_alnum((unsigned char)s[i]))
            i++;
        const struct brand *b = brand_by_token(in, s + start, i - start);
        if (b)
            return b;
    }
    return NULL;
}

/* Words of sign-in and account pages, looked for as substrings ("signin", "verify-account"). */
static const char *const account_words[] = {
    "login",   "logon",    "signin",  "sign-in",  "sign_in", "verify",  "verification", "account",
    "secure",  "security", "update",  "password", "passwd",  "webscr",  "auth",         "wallet",
    "billing", "payment",  "confirm", "unlock",   "recover", "restore", "suspend",      "validate",
};

static const char *account_word(struct rp_str s)
{
    char low[PATH_SCAN_MAX + 1];
    size_t n = s.len < PATH_SCAN_MAX ? s.len : PATH_SCAN_MAX;
    for (size_t i = 0; i < n; i++)
        low[i] = (s.ptr[i] >= 'A' && s.ptr[i] <= 'Z') ? (char)(s.ptr[i] + 32) : s.ptr[i];
    for (size_t w = 0; w < sizeof(account_words) / sizeof(account_words[0]); w++)
        if (memmem(low, n, account_words[w], strlen(account_words[w])))
            return account_words[w];
    return NULL;
}

/* The brand whose official domains include registrable domain rd, if any. */
static bool is_official(const struct rp_url_inspector *in, const char *rd)
{
    return in_sorted(in->official, in->n_official, rd);
}

static int check_lookalike(const struct rp_url_inspector *in, struct rp_url_report *r)
{
    const char *cw = r->controlling_word;
    size_t len = strlen(cw);
    char *sk = skeleton(in, cw, len);
    const char *ascii_label = r->registrable_domain;
    size_t ascii_len = strcspn(ascii_label, ".");
    int result = RP_OK;
    size_t sk_len = sk ? strlen(sk) : 0;
    /* Lookalike letters, possibly with one more change: ICU reads Cyrillic palochka as 'i', so
     * "раураӏ" is "paypai", one step from "paypal". ASCII labels are left to the typo check. */
    bool intl = !rp_str_eq(rp_str_from_cstr(cw), (struct rp_str){ascii_label, ascii_len});
    for (size_t t = 0; t < in->n_targets && !result; t++) {
        const struct target *tg = &in->targets[t];
        if (tg->label_len == len && memcmp(tg->label, cw, len) == 0)
            continue;
        if (sk && ((sk_len == tg->skeleton_len && memcmp(sk, tg->skeleton, sk_len) == 0) ||
                   (intl && tg->skeleton_len >= TYPO_MIN_LEN && tg->skeleton_len + 1 >= sk_len &&
                    sk_len + 1 >= tg->skeleton_len &&
                    one_edit(sk, sk_len, tg->skeleton, tg->skeleton_len)))) {
            result = add_reason(r, "confusable", RP_URL_DANGER,
                                "'%s' is made to look like '%s' (a %s address) but is a different "
                                "name, owned by someone else",
                                cw, tg->label, in->brands[tg->brand].name);
            break;
        }
        if (tg->label_len >= TYPO_MIN_LEN && tg->label_len + 1 >= ascii_len &&
            ascii_len + 1 >= tg->label_len &&
            one_edit(ascii_label, ascii_len, tg->label, tg->label_len)) {
            result = add_reason(r, "typosquat", RP_URL_DANGER,
                                "'%s' is one letter away from '%s' (a %s address): a typo trap", cw,
                                tg->label, in->brands[tg->brand].name);
            break;
        }
    }
    free(sk);
    return result;
}

static bool has_punycode_label(const char *host)
{
    for (const char *p = host; *p;) {
        if (strncasecmp(p, "xn--", 4) == 0)
            return true;
        p = strchr(p, '.');
        if (!p)
            break;
        p++;
    }
    return false;
}

static bool has_non_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

/* Labels of the Unicode host that mix scripts beyond what one language writes. */
static int check_scripts(const struct rp_url_inspector *in, struct rp_url_report *r)
{
    const char *p = r->host_unicode;
    while (*p) {
        size_t len = strcspn(p, ".");
        UErrorCode st = U_ZERO_ERROR;
        int32_t flags = len < 1024 ? uspoof_checkUTF8(in->spoof, p, (int32_t)len, NULL, &st) : 0;
        if (U_SUCCESS(st) && (flags & USPOOF_RESTRICTION_LEVEL))
            return add_reason(r, "mixed-script", RP_URL_DANGER,
                              "the name '%.*s' mixes letters of different alphabets, a trick to "
                              "imitate another name",
                              (int)len, p);
        p += len;
        if (*p)
            p++;
    }
    return RP_OK;
}

/* Sets r->network (and network_what, network_mapped) from the host: an IP range, a name
 * rule, or a name without a dot that is no top-level domain ("router": the network's own
 * resolver completes it). */
static void classify_network(const struct rp_url_inspector *in, struct rp_url_report *r)
{
    const struct rp_url *u = &r->url;
    const char *what = NULL;
    enum rp_url_network n = RP_URL_NET_PUBLIC;
    if (u->host_type == RP_URL_HOST_IPV4 || u->host_type == RP_URL_HOST_IPV6) {
        n = rp__url_ip_network(u, &what, &r->network_mapped);
    } else if (u->host_type == RP_URL_HOST_DOMAIN) {
        n = rp__url_name_network(u->host, &what);
        size_t len = strlen(u->host);
        if (n == RP_URL_NET_PUBLIC && len && !memchr(u->host, '.', len - 1) && u->host[0] != '.') {
            char label[256];
            size_t k = u->host[len - 1] == '.' ? len - 1 : len;
            if (k < sizeof(label)) {
                memcpy(label, u->host, k);
                label[k] = '\0';
                if (!psl_is_public_suffix2(in->psl, label, PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE)) {
                    n = RP_URL_NET_LOCAL_NAME;
                    what = "a name without a dot is completed by the network you are on";
                }
            }
        }
    }
    r->network = n;
    r->network_what = n == RP_URL_NET_PUBLIC ? NULL : what;
}

/* The reason that says where a host off the public internet leads, in plain words. */
static int network_reason(struct rp_url_report *r, bool disguised)
{
    const struct rp_url *u = &r->url;
    const char *what = r->network_what ? r->network_what : "";
    const char *dis = disguised ? "; the address is written in a disguised form" : "";
    char port[32] = "";
    if (u->port >= 0)
        snprintf(port, sizeof(port), " (port %d)", u->port);
    switch (r->network) {
    case RP_URL_NET_LOOPBACK:
        return add_reason(r, "loopback", RP_URL_CAUTION,
                          "'%s' is your own computer (%s), not a site on the internet: the link "
                          "opens whatever program runs on it%s, and a message from someone else "
                          "has no reason to send you there%s",
                          u->host, what, port, dis);
    case RP_URL_NET_UNSPECIFIED:
        return add_reason(r, "unspecified-address", RP_URL_CAUTION,
                          "%s is no real destination (%s): browsers take it to mean your own "
                          "computer and open whatever program runs on it%s%s",
                          u->host, what, port, dis);
    case RP_URL_NET_PRIVATE:
        return add_reason(r, "private-address", RP_URL_CAUTION,
                          "%s is a device on a private network (%s), such as a router, a printer "
                          "or a company server, not a site on the internet: a link from outside "
                          "can use it to change settings there%s",
                          u->host, what, dis);
    case RP_URL_NET_LINK_LOCAL:
        return add_reason(r, "link-local", RP_URL_CAUTION,
                          "%s only reaches a device on the same local network (%s), such as a "
                          "router or a cloud machine's metadata service, never a site on the "
                          "internet%s",
                          u->host, what, dis);
    case RP_URL_NET_SHARED:
        return add_reason(r, "shared-address", RP_URL_CAUTION,
                          "%s is inside an internet provider's own network (shared address space "
                          "%s), not a site on the public internet%s",
                          u->host, what, dis);
    case RP_URL_NET_RESERVED:
        return add_reason(r, "reserved-address", RP_URL_CAUTION,
                          "%s is set aside (%s): no public site uses it%s", u->host, what, dis);
    case RP_URL_NET_LOCAL_NAME:
        return add_reason(r, "local-name", RP_URL_CAUTION,
                          "'%s' is a name only a local network gives a meaning to (%s), not one "
                          "registered on the internet: whoever runs that network decides where it "
                          "goes",
                          r->host_unicode ? r->host_unicode : u->host, what);
    case RP_URL_NET_PUBLIC: break;
    }
    return RP_OK;
}

static int inspect_host(const struct rp_url_inspector *in, struct rp_url_report *r,
                        struct rp_str input)
{
    const struct rp_url *u = &r->url;
    int result = RP_OK;
    if (u->host_type == RP_URL_HOST_IPV4 || u->host_type == RP_URL_HOST_IPV6) {
        r->ip = true;
        r->host_unicode = strdup(u->host);
        if (!r->host_unicode)
            return RP_ENOMEM;
        /* "0x7f.1" and "2130706433" are 127.0.0.1 to the browser, but not to a reader; so is
         * [::ffff:7f00:1]. */
        bool disguised = (u->host_type == RP_URL_HOST_IPV4 &&
                          !memmem(input.ptr, input.len, u->host, strlen(u->host))) ||
                         r->network_mapped;
        if (r->network != RP_URL_NET_PUBLIC)
            return network_reason(r, disguised);
        return add_reason(r, "ip-host", RP_URL_CAUTION,
                          "the address is a bare IP address (%s)%s; real sites use names", u->host,
                          disguised ? ", written in a disguised form" : "");
    }
    if (u->host_type != RP_URL_HOST_DOMAIN)
        return RP_OK;

    result = rp_url_host_to_unicode(u->host, &r->host_unicode);
    if (result)
        return result;
    const char *rd = registrable(in, u->host);
    const char *suffix = psl_unregistrable_domain(in->psl, u->host);
    if (suffix && (r->public_suffix = strdup(suffix)) == NULL)
        return RP_ENOMEM;
    if (rd) {
        r->registrable_domain = strdup(rd);
        if (!r->registrable_domain)
            return RP_ENOMEM;
        result = rp_url_host_to_unicode(rd, &r->registrable_domain_unicode);
        if (result)
            return result;
        size_t cw_len = strcspn(r->registrable_domain_unicode, ".");
        r->controlling_word = strndup(r->registrable_domain_unicode, cw_len);
        if (!r->controlling_word)
            return RP_ENOMEM;
    }

    if (r->network != RP_URL_NET_PUBLIC) {
        result = network_reason(r, false);
        if (result)
            return result;
    }

    if (has_punycode_label(u->host)) {
        result = add_reason(r, "punycode", RP_URL_CAUTION,
                            "the name is written with international letters ('%s' is shown as "
                            "'%s'); check each letter",
                            u->host, r->host_unicode);
        if (result)
            return result;
        result = check_scripts(in, r);
        if (result)
            return result;
    } else if (has_non_ascii(r->host_unicode)) {
        result = check_scripts(in, r);
        if (result)
            return result;
    }

    if (!rd)
        return RP_OK;
    bool official = is_official(in, rd);
    if (!official) {
        result = check_lookalike(in, r);
        if (result)
            return result;
    }

    /* What stands left of the registrable domain: "paypal.com.secure" of
     * paypal.com.secure.evil.example. */
    size_t sub_len = (size_t)(rd - u->host);
    size_t labels = 0;
    for (size_t i = 0; i < sub_len; i++)
        labels += u->host[i] == '.';
    if (labels >= MANY_SUBDOMAINS) {
        result = add_reason(r, "many-subdomains", RP_URL_CAUTION,
                            "the name has %zu parts before '%s', often used to push the real "
                            "owner out of sight",
                            labels, rd);
        if (result)
            return result;
    }
    if (official)
        return RP_OK;
    const struct brand *b = brand_in_tokens(in, u->host, sub_len);
    if (b) {
        result = add_reason(r, "brand-in-subdomain", RP_URL_DANGER,
                            "'%s' appears at the start of the name, but the site belongs to '%s', "
                            "not to %s",
                            b->name, r->registrable_domain_unicode, b->name);
        if (result)
            return result;
    }
    b = brand_in_tokens(in, rd, strcspn(rd, "."));
    if (!b) {
        /* "paypalsecure.com": a long brand name inside the controlling word. */
        size_t cw_len = strcspn(rd, ".");
        for (size_t i = 0; i < in->n_brands && !b; i++) {
            const struct brand *c = &in->brands[i];
            if (!c->match_word || c->len < 6 || c->len > cw_len)
                continue;
            for (size_t k = 0; k + c->len <= cw_len && !b; k++)
                if (rd[k] == c->name[0] && memcmp(rd + k, c->name, c->len) == 0)
                    b = c;
        }
    }
    if (b) {
        result = add_reason(r, "brand-in-domain", RP_URL_CAUTION,
                            "the name '%s' contains '%s' but is not one of %s's own domains",
                            r->registrable_domain_unicode, b->name, b->name);
        if (result)
            return result;
    }
    if (in_sorted(in->shorteners, in->n_shorteners, rd)) {
        result = add_reason(r, "shortener", RP_URL_CAUTION,
                            "'%s' is a link shortener: the real destination is hidden until you "
                            "open it",
                            rd);
        if (result)
            return result;
    }
    const char *tld = strrchr(u->host, '.');
    tld = tld ? tld + 1 : u->host;
    if (in_sorted(in->tlds, in->n_tlds, tld)) {
        result = add_reason(r, "suspicious-tld", RP_URL_CAUTION,
                            "the ending '.%s' is used much more by scams than by established "
                            "sites",
                            tld);
    }
    return result;
}

static int inspect_valid(const struct rp_url_inspector *in, struct rp_url_report *r,
                         struct rp_str input)
{
    const struct rp_url *u = &r->url;
    int result;
    classify_network(in, r);
    if (strcmp(u->scheme, "javascript") == 0)
        return add_reason(r, "javascript-url", RP_URL_DANGER,
                          "this is not a web address but a program that runs when clicked");
    if (strcmp(u->scheme, "data") == 0)
        return add_reason(r, "data-url", RP_URL_DANGER,
                          "this is not a web address: the page is carried inside the link "
                          "itself, so no site stands behind it");
    if (u->username[0] || u->password[0]) {
        bool looks_like_host = strchr(u->username, '.') != NULL;
        result = add_reason(r, "userinfo", looks_like_host ? RP_URL_DANGER : RP_URL_CAUTION,
                            "the part before '@' ('%s') is only a user name handed to the site; "
                            "the site itself is '%s'",
                            u->username, u->host ? u->host : "");
        if (result)
            return result;
    }
    if (u->special) {
        /* Browsers read '\' as '/' in web addresses: "https://evil.example\@paypal.com" goes to
         * evil.example, while a reader sees "user@paypal.com". */
        size_t end = 0;
        while (end < input.len && input.ptr[end] != '?' && input.ptr[end] != '#')
            end++;
        const char *bs = memchr(input.ptr, '\\', end);
        if (bs) {
            bool at = memchr(bs, '@', end - (size_t)(bs - input.ptr)) != NULL;
            result = add_reason(r, "backslash", at ? RP_URL_DANGER : RP_URL_CAUTION,
                                "the address has a backslash, which the browser reads as '/': it "
                                "goes to '%s'%s",
                                u->host ? u->host : "", at ? ", not to what follows the '@'" : "");
            if (result)
                return result;
        }
    }
    /* To this computer the connection never leaves it: nobody on the network can read it
     * (browsers count http://localhost as secure). */
    bool stays_here = r->network == RP_URL_NET_LOOPBACK || r->network == RP_URL_NET_UNSPECIFIED;
    if (!stays_here && (strcmp(u->scheme, "http") == 0 || strcmp(u->scheme, "ws") == 0 ||
                        strcmp(u->scheme, "ftp") == 0)) {
        result = add_reason(r, "not-https", RP_URL_CAUTION,
                            "the connection is not encrypted (%s, not https): others on the "
                            "network can read and change it",
                            u->scheme);
        if (result)
            return result;
    }
    result = inspect_host(in, r, input);
    if (result)
        return result;
    if (u->special && u->host_type == RP_URL_HOST_DOMAIN && r->registrable_domain &&
        !is_official(in, r->registrable_domain)) {
        /* A brand named in a news article's path is ordinary; a brand next to a sign-in word
         * is how phishing kits dress a page ("/paypal/signin", "?apple-id-verify"). */
        size_t plen = strlen(u->path), qlen = u->query ? strlen(u->query) : 0;
        struct rp_str path = {u->path, plen < PATH_SCAN_MAX ? plen : PATH_SCAN_MAX};
        struct rp_str query = {u->query ? u->query : "",
                               qlen < PATH_SCAN_MAX ? qlen : PATH_SCAN_MAX};
        const struct brand *b = brand_in_tokens(in, path.ptr, path.len);
        if (!b)
            b = brand_in_tokens(in, query.ptr, query.len);
        const char *word = b ? account_word(path) : NULL;
        if (b && !word)
            word = account_word(query);
        if (word)
            result = add_reason(r, "brand-in-path", RP_URL_CAUTION,
                                "'%s' and '%s' appear after the name, but the site is '%s', not %s",
                                b->name, word, r->registrable_domain_unicode, b->name);
    }
    return result;
}

/* Whether input, which has no scheme, starts like a host name a person would type or paste:
 * letters, digits, '-', '.' or non-ASCII up to the first '/', '?' or '#', with a dot inside. */
static bool looks_like_bare_host(struct rp_str s)
{
    size_t i = 0;
    bool dot = false;
    while (i < s.len && s.ptr[i] != '/' && s.ptr[i] != '?' && s.ptr[i] != '#') {
        unsigned char c = (unsigned char)s.ptr[i];
        if (!(is_alnum(c) || c == '-' || c >= 0x80 || (c == '.' && i > 0)))
            return false;
        dot |= c == '.';
        i++;
    }
    return i > 0 && dot && is_alnum((unsigned char)s.ptr[0]);
}

int rp_url_inspect(const struct rp_url_inspector *in, struct rp_str input, struct rp_url_report *r)
{
    memset(r, 0, sizeof(*r));
    struct rp_error err = {{0}};
    int result = rp_url_parse(input, NULL, &r->url, &err);
    struct rp_buf typed;
    rp_buf_init(&typed, input.len + 8);
    if (result == RP_EINVAL && looks_like_bare_host(input)) {
        /* "consumer.ftc.gov/articles": the address bar reads it as https://. */
        int fix = rp_buf_adds(&typed, "https://");
        fix = fix ? fix : rp_buf_add(&typed, input.ptr, input.len);
        if (fix == RP_OK && rp_url_parse(rp_buf_str(&typed), NULL, &r->url, &err) == RP_OK) {
            result = RP_OK;
            r->scheme_added = true;
            input = rp_buf_str(&typed);
        }
    }
    if (result == RP_ENOMEM) {
        rp_buf_release(&typed);
        return result;
    }
    r->valid = result == RP_OK;
    if (!r->valid) {
        r->error = strdup(err.msg[0] ? err.msg : "not a web address");
        if (!r->error) {
            rp_buf_release(&typed);
            return RP_ENOMEM;
        }
        result =
            add_reason(r, "invalid", RP_URL_CAUTION, "a browser would not open this: %s", r->error);
    } else {
        result = inspect_valid(in, r, input);
    }
    if (!result) {
        r->score = rp_url_model_score(in->model, input, r->valid ? &r->url : NULL);
        /* The model knows brands' names from phishing pages; on the brands' own domains the
         * name is no evidence, and the brand checks already vouch for who owns the site. */
        bool official = r->registrable_domain && is_official(in, r->registrable_domain);
        /* The model learned public web addresses, where a bare IP is a phishing sign; what it
         * says of a host on this computer or a private network is no evidence, and the host's
         * own reason says what matters there. */
        if (r->valid && !official && r->network == RP_URL_NET_PUBLIC &&
            r->score >= rp_url_model_threshold(in->model))
            result =
                add_reason(r, "learned-phishing", RP_URL_CAUTION,
                           "the address resembles known phishing addresses (score %.2f)", r->score);
    }
    rp_buf_release(&typed);
    if (result) {
        rp_url_report_release(r);
        return result;
    }
    /* One danger reason, or three cautions together, make an address dangerous. */
    size_t cautions = 0;
    for (size_t i = 0; i < r->n_reasons; i++) {
        if (r->reasons[i].severity > r->verdict)
            r->verdict = r->reasons[i].severity;
        cautions += r->reasons[i].severity == RP_URL_CAUTION;
    }
    if (cautions >= 3)
        r->verdict = RP_URL_DANGER;
    return RP_OK;
}

void rp_url_report_release(struct rp_url_report *r)
{
    if (!r)
        return;
    rp_url_release(&r->url);
    free(r->error);
    free(r->host_unicode);
    free(r->registrable_domain);
    free(r->registrable_domain_unicode);
    free(r->public_suffix);
    free(r->controlling_word);
    for (size_t i = 0; i < r->n_reasons; i++)
        free(r->reasons[i].message);
    memset(r, 0, sizeof(*r));
}
