/* The learned URL phishing score: feature extraction (hashed n-grams, tokens and structure of an
 * address), the model's text format, and logistic scoring. docs/url-model.md describes both. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/learn.h"
#include "rampart/url_model.h"

/* How much of an address is featurised. Feature version 1 is defined with these numbers: change
 * them and RP_URL_MODEL_FEATURES must change too. */
#define HOST_CAP 128  /* bytes of the host */
#define PQ_CAP 256    /* bytes of path, '?' and query */
#define RAW_CAP 4096  /* bytes of the raw input scanned for counts */
#define TOKEN_MAX 20  /* longer path tokens are featurised by their shape, not their text */
#define TOKENS_CAP 64 /* tokens per field */

/* Hash seeds that keep the kinds of feature apart in the one hashed space. */
enum {
    NS_HOST_NGRAM = 0x101,
    NS_PQ_NGRAM,
    NS_HOST_LABEL,
    NS_HOST_WORD,
    NS_TLD,
    NS_DOMAIN2,
    NS_SUB1,
    NS_PQ_TOKEN,
    NS_EXT,
    NS_STRUCT
};

/* Structural features: each is a (kind, small value) pair hashed to one bucket with value 1. */
enum {
    S_PARSED = 1,
    S_SCHEME,
    S_HOST_TYPE,
    S_LEN,
    S_HOST_LEN,
    S_PATH_LEN,
    S_QUERY_LEN,
    S_LABELS,
    S_DEPTH,
    S_HOST_DIGITS,
    S_PQ_DIGITS,
    S_HOST_HYPHENS,
    S_AT,
    S_USERINFO,
    S_PORT,
    S_FRAGMENT,
    S_PUNYCODE,
    S_WWW,
    S_EMBEDDED_URL,
    S_DOUBLE_SLASH,
    S_PERCENT,
    S_NON_ASCII,
    S_CONTROL,
    S_QUERY_PARAMS,
    S_PATH_DOTS,
    S_LONGEST_LABEL,
    S_BARE,
    S_DIGIT_RATIO,
    S_LONG_TOKEN
};

struct rp_url_model {
    struct rp_url_model_params params;
    float *weights; /* 2^hash_bits */
    double bias;
    double threshold;
    char *notes; /* "note" lines joined by '\n' */
};

/* The parts of an address the features look at, lowercased and cut to the caps above. */
struct view {
    bool parsed;
    int scheme; /* 0 none or unknown, 1 http, 2 https, 3 another scheme */
    enum rp_url_host_type host_type;
    char host[HOST_CAP + 2]; /* '^' host '$' */
    size_t host_len;         /* bytes in host[], markers included */
    size_t host_full;        /* length of the whole host */
    char pq[PQ_CAP];
    size_t pq_len;
    size_t path_full, query_full;
    size_t path_cut; /* bytes of pq[] that are path */
    bool has_query, has_fragment, has_userinfo, has_port;
};

struct sink {
    struct rp_url_feature *out;
    size_t n;
    unsigned shift;
};

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static inline bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline bool is_alnum(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* floor(log2(x + 1)), capped: 0 -> 0, 1 -> 1, 2..3 -> 2, 4..7 -> 3, ... */
static unsigned log_bucket(size_t x, unsigned cap)
{
    unsigned b = 0;
    while (x && b < cap) {
        x >>= 1;
        b++;
    }
    return b;
}

static unsigned min_u(size_t x, unsigned cap)
{
    return x < cap ? (unsigned)x : cap;
}

/* Fibonacci hashing of the FNV hash: its top bits spread short keys better than its low bits. */
static inline void emit_hash(struct sink *s, uint64_t h, float v)
{
    /* Not an invariant: hostile input (a megabyte of "a/a/...") under the widest parameters
     * makes more; the first RP_URL_MODEL_MAX_FEATURES are kept (test_hostile_input_is_scored). */
    if (s->n >= RP_URL_MODEL_MAX_FEATURES)
        return;
    s->out[s->n].index = (uint32_t)((h * 0x9e3779b97f4a7c15ULL) >> s->shift);
    s->out[s->n].value = v;
    s->n++;
}

static void emit_struct(struct sink *s, unsigned kind, unsigned value)
{
    unsigned char key[2] = {(unsigned char)kind, (unsigned char)value};
    emit_hash(s, rp_hash64(key, sizeof(key), NS_STRUCT), 1.0f);
}

static void emit_token(struct sink *s, uint64_t ns, const char *p, size_t len)
{
    emit_hash(s, rp_hash64(p, len, ns), 1.0f);
}

/* Features from start on get value 1/sqrt(their number), so a long field does not outweigh the
 * rest of the address just by being long. */
static void normalise_from(struct sink *s, size_t start)
{
    if (s->n <= start)
        return;
    float v = 1.0f / sqrtf((float)(s->n - start));
    for (size_t i = start; i < s->n; i++)
        s->out[i].value *= v;
}

/* One step of FNV-1a, the hash rp_hash64 is defined as (base.h: stable across builds). An
 * n-gram's hash is rp_hash64(ngram, n, ns); the longer n-grams at a position extend the shorter
 * one's hash by a step each instead of hashing from the start again. */
static inline uint64_t fnv_step(uint64_t h, unsigned char c)
{
    return (h ^ c) * 0x100000001b3ULL;
}

static void emit_ngrams(struct sink *s, const struct rp_url_model_params *p, uint64_t ns,
                        const char *buf, size_t len)
{
    size_t start = s->n;
    for (size_t i = 0; i + p->ngram_min <= len; i++) {
        uint64_t h = rp_hash64(buf + i, p->ngram_min, ns);
        emit_hash(s, h, 1.0f);
        for (unsigned n = p->ngram_min + 1; n <= p->ngram_max && i + n <= len; n++) {
            h = fnv_step(h, (unsigned char)buf[i + n - 1]);
            emit_hash(s, h, 1.0f);
        }
    }
    normalise_from(s, start);
}

static void copy_lower(char *dst, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)lower((unsigned char)src[i]);
}

static void set_host(struct view *v, const char *host, size_t len)
{
    v->host_full = len;
    size_t n = len < HOST_CAP ? len : HOST_CAP;
    v->host[0] = '^';
    copy_lower(v->host + 1, host, n);
    v->host[n + 1] = '$';
    v->host_len = n + 2;
}

static void set_path_query(struct view *v, const char *path, size_t path_len, const char *query,
                           size_t query_len, bool has_query)
{
    v->path_full = path_len;
    v->query_full = query_len;
    v->has_query = has_query;
    size_t n = path_len < PQ_CAP ? path_len : PQ_CAP;
    copy_lower(v->pq, path, n);
    v->path_cut = n;
    if (has_query && n < PQ_CAP) {
        v->pq[n++] = '?';
        size_t q = query_len < PQ_CAP - n ? query_len : PQ_CAP - n;
        copy_lower(v->pq + n, query, q);
        n += q;
    }
    v->pq_len = n;
}

static int scheme_kind(const char *s, size_t len)
{
    struct rp_str str = {s, len};
    if (rp_str_ieq_cstr(str, "http"))
        return 1;
    if (rp_str_ieq_cstr(str, "https"))
        return 2;
    return len ? 3 : 0;
}

static void view_from_url(struct view *v, const struct rp_url *url)
{
    v->parsed = true;
    v->scheme = url->scheme ? scheme_kind(url->scheme, strlen(url->scheme)) : 0;
    v->host_type = url->host_type;
    const char *host = url->host && url->host_type != RP_URL_HOST_NONE ? url->host : "";
    set_host(v, host, strnlen(host, RP_URL_MAX_INPUT));
    const char *path = url->path ? url->path : "";
    const char *query = url->query ? url->query : "";
    set_path_query(v, path, strnlen(path, RP_URL_MAX_INPUT), query,
                   strnlen(query, RP_URL_MAX_INPUT), url->query != NULL);
    v->has_fragment = url->fragment != NULL;
    v->has_userinfo = (url->username && url->username[0]) || (url->password && url->password[0]);
    v->has_port = url->port >= 0;
}

static bool looks_ipv4(const char *p, size_t len)
{
    bool dot = false;
    if (!len)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '.')
            dot = true;
        else if (!is_digit((unsigned char)p[i]))
            return false;
    }
    return dot;
}

/* A rough split of an input the URL parser refused: [scheme:][//][userinfo@]host[:port][path]
 * [?query][#fragment], where a missing scheme means the input starts with the host. */
static void view_from_raw(struct view *v, struct rp_str in)
{
    const char *p = in.ptr ? in.ptr : "";
    size_t len = in.len, i = 0;
    while (i < len && (unsigned char)p[i] <= ' ')
        i++;
    size_t s = i;
    if (s < len && ((p[s] | 0x20) >= 'a' && (p[s] | 0x20) <= 'z')) {
        size_t j = s + 1;
        while (j < len && j - s < 32 &&
               (is_alnum((unsigned char)p[j]) || p[j] == '+' || p[j] == '-' || p[j] == '.'))
            j++;
        if (j < len && p[j] == ':' && !(j + 1 < len && is_digit((unsigned char)p[j + 1]))) {
            v->scheme = scheme_kind(p + s, j - s);
            i = j + 1;
        }
    }
    bool authority = v->scheme == 0 || v->scheme == 1 || v->scheme == 2;
    while (i < len && (p[i] == '/' || p[i] == '\\')) {
        authority = true;
        i++;
    }
    size_t a = i, host_start = i, host_end = i;
    if (authority) {
        size_t e = a;
        while (e < len && p[e] != '/' && p[e] != '\\' && p[e] != '?' && p[e] != '#')
            e++;
        for (size_t k = a; k < e; k++) {
            if (p[k] == '@') {
                v->has_userinfo = true;
                host_start = k + 1;
            }
        }
        host_end = e;
        if (host_start < e && p[host_start] != '[') {
            for (size_t k = host_start; k < e; k++) {
                if (p[k] == ':') {
                    v->has_port = k + 1 < e;
                    host_end = k;
                    break;
                }
            }
        }
        i = e;
    }
    size_t hl = host_end - host_start;
    set_host(v, p + host_start, hl);
    if (!authority)
        v->host_type = RP_URL_HOST_NONE;
    else if (!hl)
        v->host_type = RP_URL_HOST_EMPTY;
    else if (p[host_start] == '[')
        v->host_type = RP_URL_HOST_IPV6;
    else if (looks_ipv4(p + host_start, hl))
        v->host_type = RP_URL_HOST_IPV4;
    else
        v->host_type = RP_URL_HOST_DOMAIN;
    size_t path_start = i;
    while (i < len && p[i] != '?' && p[i] != '#')
        i++;
    size_t path_end = i, q_start = i, q_end = i;
    bool has_query = i < len && p[i] == '?';
    if (has_query) {
        q_start = ++i;
        while (i < len && p[i] != '#')
            i++;
        q_end = i;
    }
    v->has_fragment = i < len && p[i] == '#';
    set_path_query(v, p + path_start, path_end - path_start, p + q_start, q_end - q_start,
                   has_query);
}

/* Labels of the host as tokens: each label, the words of hyphenated labels, the TLD, the last two
 * labels (a rough registrable domain) and the first label of a deeper name. */
static void emit_host_tokens(struct sink *s, const struct view *v)
{
    if (v->host_type != RP_URL_HOST_DOMAIN && v->host_type != RP_URL_HOST_OPAQUE)
        return;
    const char *h = v->host + 1;
    size_t len = v->host_len - 2;
    while (len && h[len - 1] == '.')
        len--;
    if (!len)
        return;
    size_t start = s->n, labels = 0, last = 0, prev = 0, first_end = len;
    size_t i = 0;
    while (i <= len && labels < TOKENS_CAP) {
        size_t b = i;
        while (i < len && h[i] != '.')
            i++;
        if (i > b) {
            emit_token(s, NS_HOST_LABEL, h + b, i - b);
            if (memchr(h + b, '-', i - b)) {
                size_t w = b;
                for (size_t k = b; k <= i; k++) {
                    if (k == i || h[k] == '-') {
                        if (k > w)
                            emit_token(s, NS_HOST_WORD, h + w, k - w);
                        w = k + 1;
                    }
                }
            }
        }
        if (labels == 0)
            first_end = i;
        prev = last;
        last = b;
        labels++;
        i++;
    }
    emit_token(s, NS_TLD, h + last, len - last);
    if (labels >= 2)
        emit_token(s, NS_DOMAIN2, h + prev, len - prev);
    if (labels >= 3)
        emit_token(s, NS_SUB1, h, first_end);
    normalise_from(s, start);
}

/* Alphanumeric runs of path and query as tokens; long runs (ids, hashes, base64) by shape. */
static void emit_pq_tokens(struct sink *s, const struct view *v)
{
    size_t start = s->n, count = 0, i = 0;
    while (i < v->pq_len && count < TOKENS_CAP) {
        while (i < v->pq_len && !is_alnum((unsigned char)v->pq[i]))
            i++;
        size_t b = i;
        bool hex = true, digits = true;
        while (i < v->pq_len && is_alnum((unsigned char)v->pq[i])) {
            unsigned char c = (unsigned char)v->pq[i];
            hex = hex && (is_digit(c) || (c >= 'a' && c <= 'f'));
            digits = digits && is_digit(c);
            i++;
        }
        size_t n = i - b;
        if (n < 2)
            continue;
        count++;
        if (n <= TOKEN_MAX)
            emit_token(s, NS_PQ_TOKEN, v->pq + b, n);
        else
            emit_struct(s, S_LONG_TOKEN, (digits ? 0 : hex ? 16 : 32) + log_bucket(n, 15));
    }
    normalise_from(s, start);
}

/* The extension of the last path segment (".php", ".html"), when it has a short one. */
static void emit_extension(struct sink *s, const struct view *v)
{
    size_t end = v->path_cut, b = end;
    while (b > 0 && v->pq[b - 1] != '/')
        b--;
    for (size_t k = end; k > b; k--) {
        if (v->pq[k - 1] == '.') {
            if (end - k >= 1 && end - k <= 6)
                emit_token(s, NS_EXT, v->pq + k, end - k);
            return;
        }
    }
}

/* Counts over the host in one pass. */
struct host_counts {
    size_t dots, digits, hyphens, longest_label;
    bool punycode;
};

static void count_host(const char *h, size_t len, struct host_counts *c)
{
    size_t run = 0;
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)h[i];
        c->digits += is_digit(ch);
        c->hyphens += ch == '-';
        if (ch == '.') {
            c->dots++;
            run = 0;
        } else {
            run++;
            c->longest_label = run > c->longest_label ? run : c->longest_label;
        }
        if (ch == 'x' && len - i >= 4 && memcmp(h + i, "xn--", 4) == 0)
            c->punycode = true;
    }
}

/* Counts over path and query in one pass: slashes, dots and "//" of the path, '&' of the query,
 * digits of both, and "http" or "www." anywhere (an address inside the address). */
struct pq_counts {
    size_t slashes, dots, digits, amps, embedded;
    bool double_slash;
};

static void count_pq(const struct view *v, struct pq_counts *c)
{
    const char *p = v->pq;
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < v->pq_len; i++) {
        unsigned char ch = (unsigned char)p[i];
        bool in_path = i < v->path_cut;
        c->digits += is_digit(ch);
        if (in_path) {
            c->slashes += ch == '/';
            c->dots += ch == '.';
            c->double_slash |= ch == '/' && i + 1 < v->path_cut && p[i + 1] == '/';
        } else {
            c->amps += ch == '&';
        }
        if ((ch == 'h' && v->pq_len - i >= 4 && memcmp(p + i, "http", 4) == 0) ||
            (ch == 'w' && v->pq_len - i >= 4 && memcmp(p + i, "www.", 4) == 0))
            c->embedded++;
    }
}

static void emit_structure(struct sink *s, const struct view *v, struct rp_str in)
{
    const char *host = v->host + 1;
    size_t hl = v->host_len - 2;
    const unsigned char *raw = (const unsigned char *)(in.ptr ? in.ptr : "");
    size_t rl = in.len < RAW_CAP ? in.len : RAW_CAP;
    size_t at = 0, pct = 0, high = 0, ctl = 0;
    for (size_t i = 0; i < rl; i++) {
        at += raw[i] == '@';
        pct += raw[i] == '%';
        high += raw[i] >= 0x80;
        ctl += raw[i] < 0x20 || raw[i] == 0x7f || raw[i] == ' ';
    }
    struct host_counts hc;
    struct pq_counts pc;
    count_host(host, hl, &hc);
    count_pq(v, &pc);

    emit_struct(s, S_PARSED, v->parsed);
    emit_struct(s, S_SCHEME, (unsigned)v->scheme);
    emit_struct(s, S_HOST_TYPE, (unsigned)v->host_type);
    emit_struct(s, S_LEN, log_bucket(in.len, 14));
    emit_struct(s, S_HOST_LEN, min_u(v->host_full / 4, 20));
    emit_struct(s, S_PATH_LEN, log_bucket(v->path_full, 14));
    emit_struct(s, S_QUERY_LEN, v->has_query ? 1 + log_bucket(v->query_full, 14) : 0);
    emit_struct(s, S_LABELS, min_u(hl ? hc.dots + 1 : 0, 10));
    emit_struct(s, S_DEPTH, min_u(pc.slashes, 12));
    emit_struct(s, S_HOST_DIGITS,
                hc.digits < 4 ? (unsigned)hc.digits : 4 + log_bucket(hc.digits - 4, 4));
    emit_struct(s, S_PQ_DIGITS, log_bucket(pc.digits, 9));
    emit_struct(s, S_HOST_HYPHENS, min_u(hc.hyphens, 5));
    emit_struct(s, S_AT, min_u(at, 2));
    emit_struct(s, S_USERINFO, v->has_userinfo);
    emit_struct(s, S_PORT, v->has_port);
    emit_struct(s, S_FRAGMENT, v->has_fragment);
    emit_struct(s, S_PUNYCODE, hc.punycode);
    emit_struct(s, S_WWW, hl >= 4 && memcmp(host, "www.", 4) == 0);
    emit_struct(s, S_EMBEDDED_URL, min_u(pc.embedded, 3));
    emit_struct(s, S_DOUBLE_SLASH, pc.double_slash);
    emit_struct(s, S_PERCENT, log_bucket(pct, 6));
    emit_struct(s, S_NON_ASCII, min_u(high ? 1 + (high > 8) : 0, 2));
    emit_struct(s, S_CONTROL, ctl > 0);
    emit_struct(s, S_QUERY_PARAMS, v->has_query ? 1 + min_u(pc.amps, 8) : 0);
    emit_struct(s, S_PATH_DOTS, min_u(pc.dots, 5));
    emit_struct(s, S_LONGEST_LABEL, min_u(hc.longest_label / 4, 16));
    emit_struct(s, S_BARE, v->path_full <= 1 && !v->has_query);
    emit_struct(s, S_DIGIT_RATIO, v->pq_len ? (unsigned)(pc.digits * 10 / v->pq_len) : 11);
}

int rp_url_model_params_check(const struct rp_url_model_params *p, struct rp_error *err)
{
    if (p->hash_bits < RP_URL_MODEL_MIN_BITS || p->hash_bits > RP_URL_MODEL_MAX_BITS) {
        rp_error_set(err, "hash-bits must be %d to %d, not %u", RP_URL_MODEL_MIN_BITS,
                     RP_URL_MODEL_MAX_BITS, p->hash_bits);
        return RP_EINVAL;
    }
    if (p->ngram_min < 1 || p->ngram_min > p->ngram_max || p->ngram_max > RP_URL_MODEL_MAX_NGRAM) {
        rp_error_set(err, "n-gram lengths must satisfy 1 <= min <= max <= %d, not %u %u",
                     RP_URL_MODEL_MAX_NGRAM, p->ngram_min, p->ngram_max);
        return RP_EINVAL;
    }
    return RP_OK;
}

size_t rp_url_model_features(const struct rp_url_model_params *params, struct rp_str input,
                             const struct rp_url *url, struct rp_url_feature *out)
{
    struct view v;
    memset(&v, 0, sizeof(v));
    if (url)
        view_from_url(&v, url);
    else
        view_from_raw(&v, input);
    struct sink s = {out, 0, 64 - params->hash_bits};
    emit_ngrams(&s, params, NS_HOST_NGRAM, v.host, v.host_len);
    emit_ngrams(&s, params, NS_PQ_NGRAM, v.pq, v.pq_len);
    emit_host_tokens(&s, &v);
    emit_pq_tokens(&s, &v);
    emit_extension(&s, &v);
    emit_structure(&s, &v, input);
    return s.n;
}

double rp_url_model_sigmoid(double z)
{
    return rp_learn_sigmoid(z);
}

double rp_url_model_score(const struct rp_url_model *m, struct rp_str input,
                          const struct rp_url *url)
{
    struct rp_url_feature f[RP_URL_MODEL_MAX_FEATURES];
    size_t n = rp_url_model_features(&m->params, input, url, f);
    double z = m->bias;
    for (size_t i = 0; i < n; i++)
        z += (double)m->weights[f[i].index] * f[i].value;
    return rp_url_model_sigmoid(z);
}

/* Rounds to the 4 significant digits the text format keeps, so that a model in memory and the
 * same model saved and loaded score exactly alike. */
static float round_weight(float w)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%.4g", (double)w);
    return (float)strtod(tmp, NULL); /* as the loader converts, not strtof: no double rounding */
}

/* The bias and threshold keep 6 significant digits in the file. */
static double round_6(double x)
{
    char tmp[40];
    snprintf(tmp, sizeof(tmp), "%.6g", x);
    return strtod(tmp, NULL);
}

double rp_url_model_threshold(const struct rp_url_model *m)
{
    return m->threshold;
}

void rp_url_model_set_threshold(struct rp_url_model *m, double threshold)
{
    m->threshold = round_6(threshold);
}

const struct rp_url_model_params *rp_url_model_params(const struct rp_url_model *m)
{
    return &m->params;
}

const char *rp_url_model_notes(const struct rp_url_model *m)
{
    return m->notes ? m->notes : "";
}

void rp_url_model_free(struct rp_url_model *m)
{
    if (!m)
        return;
    free(m->weights);
    free(m->notes);
    free(m);
}

/* An empty model with room for its weights (all zero). */
static int model_alloc(const struct rp_url_model_params *p, struct rp_url_model **out)
{
    struct rp_url_model *m = calloc(1, sizeof(*m));
    if (!m)
        return RP_ENOMEM;
    m->params = *p;
    m->weights = calloc((size_t)1 << p->hash_bits, sizeof(float));
    if (!m->weights) {
        free(m);
        return RP_ENOMEM;
    }
    *out = m;
    return RP_OK;
}

static bool valid_notes(const char *notes)
{
    for (const unsigned char *p = (const unsigned char *)notes; *p; p++)
        if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

int rp_url_model_new(const struct rp_url_model_params *params, const float *weights, double bias,
                     double threshold, const char *notes, struct rp_url_model **out,
                     struct rp_error *err)
{
    struct rp_url_model *m = NULL;
    *out = NULL;
    int result = rp_url_model_params_check(params, err);
    if (result)
        return result;
    if (!isfinite(bias) || !(threshold >= 0 && threshold <= 1)) {
        rp_error_set(err, "bias must be finite and threshold within 0..1");
        return RP_EINVAL;
    }
    result = model_alloc(params, &m);
    if (result)
        goto out;
    size_t n = (size_t)1 << params->hash_bits;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(weights[i])) {
            rp_error_set(err, "weight %zu is not finite", i);
            result = RP_EINVAL;
            goto out;
        }
        m->weights[i] = weights[i] != 0 ? round_weight(weights[i]) : 0;
    }
    m->bias = round_6(bias);
    m->threshold = round_6(threshold);
    result = rp_url_model_set_notes(m, notes, err);
    if (result)
        goto out;
    *out = m;
    m = NULL;
out:
    if (result == RP_ENOMEM)
        rp_error_set(err, "out of memory");
    rp_url_model_free(m);
    return result;
}

int rp_url_model_set_notes(struct rp_url_model *m, const char *notes, struct rp_error *err)
{
    char *copy = NULL;
    if (notes && !valid_notes(notes)) {
        rp_error_set(err, "notes must not hold control characters other than tab and newline");
        return RP_EINVAL;
    }
    if (notes && notes[0]) {
        size_t len = strlen(notes);
        while (len && notes[len - 1] == '\n')
            len--;
        copy = strndup(notes, len);
        if (!copy) {
            rp_error_set(err, "out of memory");
            return RP_ENOMEM;
        }
    }
    free(m->notes);
    m->notes = copy;
    return RP_OK;
}

int rp_url_model_save(const struct rp_url_model *m, struct rp_buf *out)
{
    const struct rp_url_model_params *p = &m->params;
    size_t n = (size_t)1 << p->hash_bits, nonzero = 0;
    for (size_t i = 0; i < n; i++)
        nonzero += m->weights[i] != 0;
    int result = rp_buf_addf(out,
                             "rampart-url-model %d\nfeatures %d\nhash-bits %u\nngrams %u %u\n"
                             "bias %.6g\nthreshold %.6g\n",
                             RP_URL_MODEL_FORMAT, RP_URL_MODEL_FEATURES, p->hash_bits, p->ngram_min,
                             p->ngram_max, m->bias, m->threshold);
    const char *note = m->notes;
    while (!result && note && *note) {
        const char *end = strchr(note, '\n');
        size_t len = end ? (size_t)(end - note) : strlen(note);
        result = rp_buf_addf(out, "note %.*s\n", (int)len, note);
        note = end ? end + 1 : note + len;
    }
    if (!result)
        result = rp_buf_addf(out, "weights %zu\n", nonzero);
    for (size_t i = 0; i < n && !result; i++)
        if (m->weights[i] != 0)
            result = rp_buf_addf(out, "%zu %.4g\n", i, (double)m->weights[i]);
    return result;
}

/* Loading. The reader (rp_learn_reader, the one both model loaders use) walks the text line by
 * line; every complaint names its line. */
struct reader {
    struct rp_learn_reader in;
    struct rp_error *err;
};

static bool next_line(struct reader *r, struct rp_str *line)
{
    return rp_learn_reader_line(&r->in, line);
}

static int parse_long(struct reader *r, struct rp_str w, const char *what, long lo, long hi,
                      long *out)
{
    long v;
    if (rp_learn_word_long(w, &v) && v >= lo && v <= hi) {
        *out = v;
        return RP_OK;
    }
    rp_error_set(r->err, "line %zu: %s must be an integer from %ld to %ld, not '%.*s'",
                 r->in.lineno, what, lo, hi, (int)(w.len > 40 ? 40 : w.len), w.ptr);
    return RP_EINVAL;
}

static int parse_double(struct reader *r, struct rp_str w, const char *what, double *out)
{
    if (rp_learn_word_double(w, out))
        return RP_OK;
    rp_error_set(r->err, "line %zu: %s must be a finite number, not '%.*s'", r->in.lineno, what,
                 (int)(w.len > 40 ? 40 : w.len), w.ptr);
    return RP_EINVAL;
}

static int expect_end(struct reader *r, struct rp_str rest, const char *key)
{
    if (rest.len == 0)
        return RP_OK;
    rp_error_set(r->err, "line %zu: unexpected text after '%s' value", r->in.lineno, key);
    return RP_EINVAL;
}

/* What the header has given so far. */
struct header {
    bool magic, features, bits, ngrams, bias, threshold;
    long hash_bits, ngram_min, ngram_max;
    double bias_v, threshold_v;
};

static int header_line(struct reader *r, struct header *h, struct rp_str line, struct rp_buf *notes)
{
    struct rp_str rest = line;
    struct rp_str key = rp_learn_word(&rest);
    long v = 0;
    int result;
    if (!h->magic) {
        if (!rp_str_eq_cstr(key, "rampart-url-model")) {
            rp_error_set(r->err,
                         "line %zu: not a rampart URL model (expected "
                         "'rampart-url-model %d')",
                         r->in.lineno, RP_URL_MODEL_FORMAT);
            return RP_EINVAL;
        }
        result = parse_long(r, rp_learn_word(&rest), "format version", 0, 1000000, &v);
        if (!result && v != RP_URL_MODEL_FORMAT) {
            rp_error_set(r->err, "line %zu: unsupported format version %ld (this build reads %d)",
                         r->in.lineno, v, RP_URL_MODEL_FORMAT);
            result = RP_EINVAL;
        }
        h->magic = true;
        return result ? result : expect_end(r, rest, "rampart-url-model");
    }
    if (rp_str_eq_cstr(key, "note")) {
        if (notes->len && (result = rp_buf_addc(notes, '\n')))
            return result;
        for (size_t i = 0; i < rest.len; i++) {
            unsigned char c = (unsigned char)rest.ptr[i];
            if (c < 0x20 && c != '\t') {
                rp_error_set(r->err, "line %zu: control character in note", r->in.lineno);
                return RP_EINVAL;
            }
        }
        return rp_buf_add(notes, rest.ptr, rest.len);
    }
    bool *seen = NULL;
    if (rp_str_eq_cstr(key, "features"))
        seen = &h->features;
    else if (rp_learn_key_is(key, "hash-bits"))
        seen = &h->bits;
    else if (rp_str_eq_cstr(key, "ngrams"))
        seen = &h->ngrams;
    else if (rp_str_eq_cstr(key, "bias"))
        seen = &h->bias;
    else if (rp_str_eq_cstr(key, "threshold"))
        seen = &h->threshold;
    if (!seen) {
        rp_error_set(r->err, "line %zu: unknown header key '%.*s'", r->in.lineno,
                     (int)(key.len > 40 ? 40 : key.len), key.ptr);
        return RP_EINVAL;
    }
    if (*seen) {
        rp_error_set(r->err, "line %zu: '%.*s' given twice", r->in.lineno, (int)key.len, key.ptr);
        return RP_EINVAL;
    }
    *seen = true;
    if (seen == &h->features) {
        result = parse_long(r, rp_learn_word(&rest), "features", 0, 1000000, &v);
        if (!result && v != RP_URL_MODEL_FEATURES) {
            rp_error_set(r->err,
                         "line %zu: model uses feature version %ld, this build computes "
                         "version %d (retrain with rampart url-train)",
                         r->in.lineno, v, RP_URL_MODEL_FEATURES);
            result = RP_EINVAL;
        }
    } else if (seen == &h->bits) {
        result = parse_long(r, rp_learn_word(&rest), "hash-bits", RP_URL_MODEL_MIN_BITS,
                            RP_URL_MODEL_MAX_BITS, &h->hash_bits);
    } else if (seen == &h->ngrams) {
        result = parse_long(r, rp_learn_word(&rest), "n-gram minimum", 1, RP_URL_MODEL_MAX_NGRAM,
                            &h->ngram_min);
        if (!result)
            result = parse_long(r, rp_learn_word(&rest), "n-gram maximum", h->ngram_min,
                                RP_URL_MODEL_MAX_NGRAM, &h->ngram_max);
    } else if (seen == &h->bias) {
        result = parse_double(r, rp_learn_word(&rest), "bias", &h->bias_v);
    } else {
        result = parse_double(r, rp_learn_word(&rest), "threshold", &h->threshold_v);
        if (!result && !(h->threshold_v >= 0 && h->threshold_v <= 1)) {
            rp_error_set(r->err, "line %zu: threshold must be within 0..1", r->in.lineno);
            result = RP_EINVAL;
        }
    }
    return result ? result : expect_end(r, rest, "header");
}

static int header_complete(struct reader *r, const struct header *h)
{
    const char *missing = !h->features    ? "features"
                          : !h->bits      ? "hash-bits"
                          : !h->ngrams    ? "ngrams"
                          : !h->bias      ? "bias"
                          : !h->threshold ? "threshold"
                                          : NULL;
    if (!missing)
        return RP_OK;
    rp_error_set(r->err, "line %zu: 'weights' before the header gave '%s'", r->in.lineno, missing);
    return RP_EINVAL;
}

static int read_weights(struct reader *r, struct rp_url_model *m, long count)
{
    struct rp_str line;
    long prev = -1, have = 0;
    long max_index = ((long)1 << m->params.hash_bits) - 1;
    while (have < count) {
        if (!next_line(r, &line)) {
            rp_error_set(r->err, "line %zu: the file ends after %ld of %ld weights",
                         r->in.lineno + 1, have, count);
            return RP_EINVAL;
        }
        struct rp_str rest = line;
        long index;
        double w;
        int result = parse_long(r, rp_learn_word(&rest), "weight index", 0, max_index, &index);
        if (!result)
            result = parse_double(r, rp_learn_word(&rest), "weight", &w);
        if (!result)
            result = expect_end(r, rest, "weight");
        if (result)
            return result;
        if (index <= prev) {
            rp_error_set(r->err, "line %zu: weight indices must increase (%ld after %ld)",
                         r->in.lineno, index, prev);
            return RP_EINVAL;
        }
        if (!isfinite((float)w)) {
            rp_error_set(r->err, "line %zu: weight out of range", r->in.lineno);
            return RP_EINVAL;
        }
        m->weights[index] = (float)w;
        prev = index;
        have++;
    }
    while (next_line(r, &line)) {
        if (line.len) {
            rp_error_set(r->err, "line %zu: text after the %ld weights the header announced",
                         r->in.lineno, count);
            return RP_EINVAL;
        }
    }
    return RP_OK;
}

int rp_url_model_load(struct rp_str text, struct rp_url_model **out, struct rp_error *err)
{
    struct reader r = {.err = err};
    struct header h;
    struct rp_url_model *m = NULL;
    struct rp_buf notes;
    struct rp_str line;
    int result = RP_OK;
    memset(&h, 0, sizeof(h));
    rp_buf_init(&notes, 65536);
    *out = NULL;
    if (text.len > RP_URL_MODEL_MAX_TEXT) {
        rp_error_set(err, "model text larger than %u bytes", RP_URL_MODEL_MAX_TEXT);
        return RP_ETOOBIG;
    }
    rp_learn_reader_init(&r.in, text);
    for (;;) {
        if (!next_line(&r, &line)) {
            rp_error_set(err, "line %zu: %s", r.in.lineno + 1,
                         h.magic ? "the file ends before its 'weights' line"
                                 : "empty file, not a rampart URL model");
            result = RP_EINVAL;
            goto out;
        }
        if (line.len == 0 || line.ptr[0] == '#')
            continue;
        if (h.magic && rp_str_has_prefix(line, "weights") &&
            (line.len == 7 || line.ptr[7] == ' ')) {
            struct rp_str rest = line;
            long count;
            rp_learn_word(&rest);
            result = header_complete(&r, &h);
            if (!result)
                result = parse_long(&r, rp_learn_word(&rest), "weight count", 0,
                                    (long)1 << RP_URL_MODEL_MAX_BITS, &count);
            if (!result)
                result = expect_end(&r, rest, "weights");
            if (result)
                goto out;
            struct rp_url_model_params p = {(unsigned)h.hash_bits, (unsigned)h.ngram_min,
                                            (unsigned)h.ngram_max};
            if (count > (1L << p.hash_bits)) {
                rp_error_set(err, "line %zu: %ld weights do not fit in 2^%u buckets", r.in.lineno,
                             count, p.hash_bits);
                result = RP_EINVAL;
                goto out;
            }
            result = model_alloc(&p, &m);
            if (result)
                goto out;
            m->bias = h.bias_v;
            m->threshold = h.threshold_v;
            result = read_weights(&r, m, count);
            if (result)
                goto out;
            break;
        }
        result = header_line(&r, &h, line, &notes);
        if (result)
            goto out;
    }
    if (notes.len) {
        m->notes = rp_buf_detach(&notes);
        if (!m->notes) {
            result = RP_ENOMEM;
            goto out;
        }
    }
    *out = m;
    m = NULL;
out:
    if (result == RP_ENOMEM)
        rp_error_set(err, "out of memory");
    else if (result == RP_ETOOBIG)
        rp_error_set(err, "line %zu: notes too long", r.in.lineno);
    rp_url_model_free(m);
    rp_buf_release(&notes);
    return result;
}
