/* The guard's learned classifiers: a logistic model over hashed character 3- to 5-grams and
 * word uni- and bigrams of a text, computed incrementally so that a streamed answer is scored as
 * it arrives, and the model's text format (docs/guardrails.md, "Classifiers"). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rampart/learn.h"

#define MODEL_MAGIC "rampart-guard-model 1"
#define MODEL_FEATURES 2
/* Feature values are 1 / sqrt(n + SMOOTH) for n features: a short text moves the score less
 * than a long one (a greeting says little about intent). */
#define SMOOTH 100.0
#define MIN_BITS 10
#define MAX_BITS 22
#define MAX_TEXT (64u << 20)
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

/* Kinds of feature, mixed into the hash so that they fall in different buckets. */
enum { NS_GRAM = 0x67, NS_WORD = 0x77, NS_BIGRAM = 0x62 };

struct rp_guard_model {
    unsigned bits;
    unsigned grams; /* bit n set: character n-grams of n bytes (n = 3, 4, 5) are features */
    float *w;       /* while loading */
    int16_t *q;     /* the weights as scored: w / scale, rounded (half the memory of floats, so
                       that 2^18 of them stay in a core's cache) */
    double scale;
    double bias, threshold;
    char *notes;
};

/* Two multiplications and a shift: enough mixing for a hashed linear model, cheap enough to
 * run three times a byte. */
static inline uint32_t bucket(unsigned bits, uint64_t key, uint64_t ns)
{
    uint64_t x = (key ^ (ns << 56)) * 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    return (uint32_t)((x * 0xbf58476d1ce4e5b9ull) >> (64 - bits));
}

/* The byte a text byte becomes: ASCII lowercased, every space and control byte one ' '. */
static inline unsigned char norm(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return (unsigned char)(c + 32);
    if (c <= ' ' || c == 0x7f)
        return ' ';
    return c;
}

static inline bool word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
}

struct sink {
    const int16_t *w;       /* score: add weights (quantised) */
    rp_guard_feature_fn fn; /* or collect indices */
    void *arg;
    unsigned bits;
    unsigned grams; /* as in struct rp_guard_model */
    bool clear;     /* unmark what a feed of the same text marked as seen */
};

/* A feature counts once however often it occurs (presence, not counts): a text that repeats a
 * word 2,000 times says no more than one that says it once. */
static inline void emit(struct rp_guard_model_state *st, const struct sink *k, uint32_t idx)
{
    if (!k->w) {
        k->fn(k->arg, idx, 1.0f);
        return;
    }
    uint8_t bit = (uint8_t)(1u << (idx & 7));
    if (k->clear) {
        st->seen[idx >> 3] &= (uint8_t)~bit;
        return;
    }
    if (st->seen[idx >> 3] & bit)
        return;
    st->seen[idx >> 3] |= bit;
    st->sum += k->w[idx];
    st->count += 1;
}

static void word_end(struct rp_guard_model_state *st, const struct sink *k)
{
    emit(st, k, bucket(k->bits, st->cur_word, NS_WORD));
    if (st->prev_word)
        emit(st, k, bucket(k->bits, st->prev_word * 31 + st->cur_word, NS_BIGRAM));
    st->prev_word = st->cur_word;
    st->cur_word = FNV_OFFSET;
    st->in_word = false;
}

/* For each byte: its normalised form when that is a word byte, else 0 (norm() never gives 0). */
static unsigned char word_table[256];

__attribute__((constructor)) static void word_table_init(void)
{
    for (int c = 0; c < 256; c++)
        word_table[c] = word_byte(norm((unsigned char)c)) ? norm((unsigned char)c) : 0;
}

/* feed() for a model of words and word pairs only (no character n-grams): the same features,
 * without the n-gram window kept for every byte. Runs of word bytes are hashed in a tight loop;
 * what a space does for n-grams does not matter here. */
static void feed_words(struct rp_guard_model_state *st, const struct sink *k, struct rp_str piece)
{
    const unsigned char *p = (const unsigned char *)piece.ptr, *end = p + piece.len;
    uint64_t w = st->cur_word;
    while (p < end) {
        if (st->in_word) {
            unsigned char c;
            while (p < end && (c = word_table[*p]) != 0) {
                w = (w ^ c) * FNV_PRIME;
                p++;
            }
            if (p == end)
                break;
            st->cur_word = w;
            word_end(st, k);
            w = st->cur_word;
            st->space = norm(*p++) == ' ';
        } else {
            while (p < end && !word_table[*p])
                st->space = norm(*p++) == ' ';
            if (p < end) {
                st->in_word = true;
                st->space = false;
            }
        }
    }
    st->cur_word = w;
}

static void feed(struct rp_guard_model_state *st, const struct sink *k, struct rp_str piece)
{
    if (!(k->grams & (8 | 16 | 32))) {
        feed_words(st, k, piece);
        return;
    }
    const unsigned char *p = (const unsigned char *)piece.ptr;
    uint64_t g = st->grams;
    unsigned n = st->n_gram;
    for (size_t i = 0; i < piece.len; i++) {
        unsigned char c = norm(p[i]);
        if (c == ' ') {
            if (st->space)
                continue;
            st->space = true;
        } else {
            st->space = false;
        }
        if (word_byte(c)) {
            st->cur_word = (st->cur_word ^ c) * FNV_PRIME;
            st->in_word = true;
        } else if (st->in_word) {
            word_end(st, k);
        }
        /* The last five bytes in g (the newest lowest); n of them are real. */
        g = (g << 8) | c;
        n = n < 5 ? n + 1 : 5;
        if (n >= 3 && (k->grams & 8))
            emit(st, k, bucket(k->bits, (g & 0xffffffu) | (3ull << 48), NS_GRAM));
        if (n >= 4 && (k->grams & 16))
            emit(st, k, bucket(k->bits, (g & 0xffffffffu) | (4ull << 48), NS_GRAM));
        if (n >= 5 && (k->grams & 32))
            emit(st, k, bucket(k->bits, (g & 0xffffffffffull) | (5ull << 48), NS_GRAM));
    }
    st->grams = g;
    st->n_gram = n;
}

static void state_start(struct rp_guard_model_state *st)
{
    memset(st, 0, sizeof(*st));
    st->cur_word = FNV_OFFSET;
    st->space = true; /* a text starts as if after a space: leading spaces are dropped */
}

int rp_guard_model_state_init(struct rp_guard_model_state *st, const struct rp_guard_model *m)
{
    state_start(st);
    st->seen = calloc(((size_t)1 << m->bits) / 8, 1);
    return st->seen ? RP_OK : RP_ENOMEM;
}

void rp_guard_model_state_release(struct rp_guard_model_state *st)
{
    free(st->seen);
    st->seen = NULL;
}

void rp_guard_model_feed(const struct rp_guard_model *m, struct rp_guard_model_state *st,
                         struct rp_str piece)
{
    struct sink k = {m->q, NULL, NULL, m->bits, m->grams, false};
    feed(st, &k, piece);
}

double rp_guard_model_state_score(const struct rp_guard_model *m,
                                  const struct rp_guard_model_state *st)
{
    /* The word being read counts as complete: the text may end here (its features are added
     * here without being marked as seen, since the word may still grow). */
    double sum = st->sum, count = st->count;
    if (st->in_word) {
        uint32_t u = bucket(m->bits, st->cur_word, NS_WORD);
        uint32_t b = bucket(m->bits, st->prev_word * 31 + st->cur_word, NS_BIGRAM);
        if (!(st->seen[u >> 3] & (1u << (u & 7)))) {
            sum += m->q[u];
            count += 1;
        }
        if (st->prev_word && b != u && !(st->seen[b >> 3] & (1u << (b & 7)))) {
            sum += m->q[b];
            count += 1;
        }
    }
    double z = m->bias + m->scale * sum / sqrt(count + SMOOTH);
    if (z < -40)
        z = -40;
    if (z > 40)
        z = 40;
    return 1.0 / (1.0 + exp(-z));
}

#define CLEAR_BY_FEED_MAX 2048

double rp__guard_model_score_with(const struct rp_guard_model *m, struct rp_str text, uint8_t *seen)
{
    struct rp_guard_model_state st;
    state_start(&st);
    st.seen = seen;
    rp_guard_model_feed(m, &st, text);
    double p = rp_guard_model_state_score(m, &st);
    /* The bitmap is left clear for the next text: a short text unmarks its own features (a
     * second pass over it is cheaper than clearing 2^bits bits), a long one clears it all. */
    if (text.len < CLEAR_BY_FEED_MAX) {
        struct sink k = {m->q, NULL, NULL, m->bits, m->grams, true};
        state_start(&st);
        st.seen = seen;
        feed(&st, &k, text);
    } else {
        memset(seen, 0, ((size_t)1 << m->bits) / 8);
    }
    return p;
}

size_t rp__guard_model_bitmap_bytes(const struct rp_guard_model *m)
{
    return ((size_t)1 << m->bits) / 8;
}

double rp_guard_model_score(const struct rp_guard_model *m, struct rp_str text)
{
    struct rp_guard_model_state st;
    if (rp_guard_model_state_init(&st, m))
        return -1;
    rp_guard_model_feed(m, &st, text);
    double p = rp_guard_model_state_score(m, &st);
    rp_guard_model_state_release(&st);
    return p;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

struct collect {
    uint32_t *idx;
    size_t n, alloc;
    bool oom;
};

static void collect_fn(void *arg, uint32_t index, float value)
{
    (void)value;
    struct collect *c = arg;
    if (c->n == c->alloc) {
        size_t na = c->alloc ? c->alloc * 2 : 1024;
        uint32_t *ni = realloc(c->idx, na * sizeof(*ni));
        if (!ni) {
            c->oom = true;
            return;
        }
        c->idx = ni;
        c->alloc = na;
    }
    c->idx[c->n++] = index;
}

static unsigned gram_bits(unsigned min, unsigned max)
{
    unsigned b = 0;
    for (unsigned n = min; n && n <= max; n++)
        b |= 1u << n;
    return b;
}

void rp_guard_model_features(unsigned hash_bits, unsigned ngram_min, unsigned ngram_max,
                             struct rp_str text, rp_guard_feature_fn fn, void *arg)
{
    struct collect c = {0};
    struct rp_guard_model_state st;
    state_start(&st);
    struct sink k = {NULL, collect_fn, &c, hash_bits, gram_bits(ngram_min, ngram_max), false};
    feed(&st, &k, text);
    if (st.in_word)
        word_end(&st, &k);
    /* Each distinct feature once, as the scorer counts them. */
    size_t n = 0;
    if (c.n > 1)
        qsort(c.idx, c.n, sizeof(*c.idx), cmp_u32);
    for (size_t i = 0; i < c.n; i++)
        if (!n || c.idx[i] != c.idx[n - 1])
            c.idx[n++] = c.idx[i];
    float v = (float)(1.0 / sqrt((double)n + SMOOTH));
    for (size_t i = 0; i < n && !c.oom; i++)
        fn(arg, c.idx[i], v);
    free(c.idx);
}

/* ---- the file ------------------------------------------------------------------------------ */

void rp_guard_model_free(struct rp_guard_model *m)
{
    if (!m)
        return;
    free(m->w);
    free(m->q);
    free(m->notes);
    free(m);
}

double rp_guard_model_threshold(const struct rp_guard_model *m)
{
    return m->threshold;
}

const char *rp_guard_model_notes(const struct rp_guard_model *m)
{
    return m->notes ? m->notes : "";
}

/* Weights become 16-bit integers with one scale: the largest weight maps to 32767. */
static int quantise(struct rp_guard_model *m)
{
    size_t n = (size_t)1 << m->bits;
    double max = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(m->w[i]) > max)
            max = fabs(m->w[i]);
    m->scale = max > 0 ? max / 32767.0 : 1;
    m->q = malloc(n * sizeof(*m->q));
    if (!m->q)
        return RP_ENOMEM;
    for (size_t i = 0; i < n; i++)
        m->q[i] = (int16_t)lrint(m->w[i] / m->scale);
    free(m->w);
    m->w = NULL;
    return RP_OK;
}

static int bad(struct rp_error *err, unsigned line, const char *what)
{
    rp_error_set(err, "line %u: %s", line, what);
    return RP_EINVAL;
}

int rp_guard_model_load(struct rp_str text, struct rp_guard_model **out, struct rp_error *err)
{
    *out = NULL;
    if (text.len > MAX_TEXT) {
        rp_error_set(err, "a model file is at most 64 MiB");
        return RP_ETOOBIG;
    }
    struct rp_guard_model *m = calloc(1, sizeof(*m));
    struct rp_buf notes;
    rp_buf_init(&notes, 1u << 20);
    if (!m)
        return RP_ENOMEM;
    int result = RP_OK;
    m->grams = gram_bits(3, 5);
    bool have_bias = false, have_threshold = false, have_features = false;
    struct rp_learn_reader rd;
    struct rp_str ln;
    unsigned line = 0;
    rp_learn_reader_init(&rd, text);
    while (rp_learn_reader_line(&rd, &ln)) {
        line = (unsigned)rd.lineno;
        if (ln.len >= 512) {
            result = bad(err, line, "line too long");
            goto out;
        }
        if (memchr(ln.ptr, '\0', ln.len)) {
            result = bad(err, line, "NUL byte");
            goto out;
        }
        if (line == 1) {
            if (!rp_str_eq_cstr(ln, MODEL_MAGIC)) {
                result = bad(err, line, "not a rampart guard model (want '" MODEL_MAGIC "')");
                goto out;
            }
            continue;
        }
        if (!ln.len || ln.ptr[0] == '#')
            continue;
        if (rp_str_eq_cstr(ln, "note") || rp_str_has_prefix(ln, "note ")) {
            if (notes.len)
                rp_buf_addc(&notes, '\n');
            if (ln.len > 5)
                rp_buf_add(&notes, ln.ptr + 5, ln.len - 5);
            continue;
        }
        /* A key and its values; anything else on the line, or a value out of its range, is
         * answered by the one list of what a line may be. */
        struct rp_str rest = ln, key = rp_learn_word(&rest), v1 = rp_learn_word(&rest),
                      v2 = rp_learn_word(&rest);
        bool one = v1.len && !v2.len && !rest.len, two = v2.len && !rest.len;
        long idx, idx2;
        double d;
        if (one && rp_str_eq_cstr(key, "features") && rp_learn_word_long(v1, &idx)) {
            if (idx != MODEL_FEATURES) {
                result = bad(err, line, "the model was made for other features (want 2)");
                goto out;
            }
            have_features = true;
        } else if (one && rp_learn_key_is(key, "hash-bits") && rp_learn_word_long(v1, &idx)) {
            /* "hash-bits", the one spelling of both trainers; "hash_bits" from models before. */
            if (m->w || idx < MIN_BITS || idx > MAX_BITS) {
                result = bad(err, line, "hash_bits must come once, from 10 to 22");
                goto out;
            }
            m->bits = (unsigned)idx;
            m->w = calloc((size_t)1 << m->bits, sizeof(float));
            if (!m->w) {
                result = RP_ENOMEM;
                goto out;
            }
        } else if (two && rp_str_eq_cstr(key, "ngrams") && rp_learn_word_long(v1, &idx) &&
                   rp_learn_word_long(v2, &idx2)) {
            if (!((idx == 0 && idx2 == 0) || (idx >= 3 && idx <= idx2 && idx2 <= 5))) {
                result = bad(err, line, "ngrams must be '0 0' (none) or MIN MAX within 3..5");
                goto out;
            }
            m->grams = gram_bits((unsigned)idx, (unsigned)idx2);
        } else if (one && rp_str_eq_cstr(key, "bias") && rp_learn_word_double(v1, &d) &&
                   fabs(d) <= 1e6) {
            m->bias = d;
            have_bias = true;
        } else if (one && rp_str_eq_cstr(key, "threshold") && rp_learn_word_double(v1, &d) &&
                   d > 0 && d < 1) {
            m->threshold = d;
            have_threshold = true;
        } else if (two && rp_str_eq_cstr(key, "w") && rp_learn_word_long(v1, &idx) &&
                   rp_learn_word_double(v2, &d) && fabs(d) <= 1e6) {
            if (!m->w || idx < 0 || (size_t)idx >= ((size_t)1 << m->bits)) {
                result = bad(err, line, "weight index out of range (or before hash_bits)");
                goto out;
            }
            m->w[idx] = (float)d;
        } else {
            result = bad(err, line,
                         "expected 'features', 'hash_bits', 'bias', 'threshold' "
                         "(between 0 and 1), 'note' or 'w INDEX WEIGHT'");
            goto out;
        }
    }
    if (!line) {
        result = bad(err, 1, "empty model file");
        goto out;
    }
    if (!m->w || !have_bias || !have_threshold || !have_features) {
        result = bad(err, line, "the model lacks features, hash_bits, bias or threshold");
        goto out;
    }
    m->notes = rp_buf_detach(&notes);
    if (!m->notes) {
        result = RP_ENOMEM;
        goto out;
    }
    result = quantise(m);
out:
    rp_buf_release(&notes);
    if (result) {
        rp_guard_model_free(m);
        return result;
    }
    *out = m;
    return RP_OK;
}

int rp_guard_model_write(unsigned hash_bits, unsigned ngram_min, unsigned ngram_max,
                         const float *weights, double bias, double threshold, const char *notes,
                         struct rp_buf *out)
{
    int result =
        rp_buf_addf(out,
                    "%s\nfeatures %d\nhash-bits %u\nngrams %u %u\nbias %.6g\n"
                    "threshold %.6g\n",
                    MODEL_MAGIC, MODEL_FEATURES, hash_bits, ngram_min, ngram_max, bias, threshold);
    const char *s = notes ? notes : "";
    while (!result && *s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        result = rp_buf_addf(out, "note %.*s\n", (int)n, s);
        s += n + (nl ? 1 : 0);
    }
    for (size_t i = 0; !result && i < ((size_t)1 << hash_bits); i++)
        if (weights[i] != 0)
            result = rp_buf_addf(out, "w %zu %.4g\n", i, (double)weights[i]);
    return result;
}
