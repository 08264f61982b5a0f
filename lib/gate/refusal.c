/* How much a refused prompt counts towards a ban: fully when the guard is confident of it, a
 * little when it is borderline, fully again when the account keeps sending the same refused
 * prompt in other words past what an honest rephrasing looks like (docs/abuse.md, "What a
 * refusal counts"). Each account's recent refusals are kept as word sketches in a bounded,
 * sharded table, so that a repeat is recognised without the store. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/policy.h"

#define SHARDS 16
#define SHARD_SLOTS (RP_REFUSALS_ACCOUNTS / SHARDS)
#define PROBE 8

struct kept {
    double at;        /* when it was last refused, seconds; 0: empty */
    unsigned repeats; /* refusals of it before that one, within the window of each other */
    struct rp_sketch sketch;
};

struct slot {
    int64_t account;
    double seen; /* the newest refusal, seconds */
    struct kept kept[RP_REFUSALS_KEPT];
};

struct rp_refusals {
    struct rp_refusal_rules rules;
    struct {
        pthread_mutex_t mu;
        struct slot s[SHARD_SLOTS];
    } shard[SHARDS];
};

/* ---- sketches ------------------------------------------------------------------------------ */

static bool word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* Inserts h into the sorted, distinct s->h (the RP_SKETCH_WORDS smallest are kept). */
static void sketch_add(struct rp_sketch *s, uint32_t h)
{
    size_t i = s->n;
    while (i > 0 && s->h[i - 1] > h)
        i--;
    if ((i > 0 && s->h[i - 1] == h) || i == RP_SKETCH_WORDS)
        return;
    size_t keep = s->n < RP_SKETCH_WORDS ? s->n : RP_SKETCH_WORDS - 1;
    memmove(&s->h[i + 1], &s->h[i], (keep - i) * sizeof(s->h[0]));
    s->h[i] = h;
    s->n = keep + 1;
}

void rp_sketch_text(struct rp_str text, struct rp_sketch *out)
{
    char word[64];
    size_t len = 0;
    out->n = 0;
    for (size_t i = 0; i <= text.len; i++) {
        unsigned char c = i < text.len ? (unsigned char)text.ptr[i] : ' ';
        if (word_byte(c)) {
            if (len < sizeof(word))
                word[len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            continue;
        }
        if (len)
            sketch_add(out, (uint32_t)rp_hash64(word, len, 0x776f7264ull));
        len = 0;
    }
}

double rp_sketch_resemblance(const struct rp_sketch *a, const struct rp_sketch *b)
{
    /* The bottom-k estimate of the Jaccard index: of the k smallest words of the union, the
     * share both hold (exact while both texts have at most k distinct words). */
    size_t i = 0, j = 0, taken = 0, both = 0;
    while (taken < RP_SKETCH_WORDS && (i < a->n || j < b->n)) {
        if (j == b->n || (i < a->n && a->h[i] < b->h[j])) {
            i++;
        } else if (i == a->n || b->h[j] < a->h[i]) {
            j++;
        } else {
            both++;
            i++;
            j++;
        }
        taken++;
    }
    return taken ? (double)both / (double)taken : 0;
}

/* ---- the table ----------------------------------------------------------------------------- */

int rp_refusals_new(const struct rp_refusal_rules *rules, struct rp_refusals **out)
{
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return RP_ENOMEM;
    (*out)->rules = *rules;
    for (size_t i = 0; i < SHARDS; i++)
        pthread_mutex_init(&(*out)->shard[i].mu, NULL);
    return RP_OK;
}

void rp_refusals_free(struct rp_refusals *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < SHARDS; i++)
        pthread_mutex_destroy(&t->shard[i].mu);
    free(t);
}

/* The slot of account (found, or a new one in place of the stalest of its probe run). Called
 * with its shard's lock held. */
static struct slot *slot_of(struct slot *base, size_t h, int64_t account)
{
    struct slot *stalest = &base[h % SHARD_SLOTS];
    for (size_t i = 0; i < PROBE; i++) {
        struct slot *s = &base[(h + i) % SHARD_SLOTS];
        if (s->account == account)
            return s;
        if (s->seen < stalest->seen)
            stalest = s;
    }
    memset(stalest, 0, sizeof(*stalest));
    stalest->account = account;
    return stalest;
}

/* The kept refusal of s that t resembles most, at or above the rules' similarity and within the
 * window at now (NULL: none); *spare becomes the one to replace when there is none. */
static struct kept *repeated(const struct rp_refusals *t, struct slot *s,
                             const struct rp_sketch *sk, double now, struct kept **spare)
{
    struct kept *best = NULL;
    double best_r = 0;
    *spare = &s->kept[0];
    for (size_t i = 0; i < RP_REFUSALS_KEPT; i++) {
        struct kept *k = &s->kept[i];
        if (k->at < (*spare)->at)
            *spare = k;
        if (k->at <= 0 || now - k->at > t->rules.retry_window)
            continue;
        double r = rp_sketch_resemblance(sk, &k->sketch);
        if (r >= t->rules.retry_similarity && r > best_r) {
            best = k;
            best_r = r;
        }
    }
    return best;
}

void rp_refusals_count(struct rp_refusals *t, int64_t account, const struct rp_sketch *words,
                       double confidence, double now, struct rp_refusal_weight *out)
{
    memset(out, 0, sizeof(*out));
    out->confidence = confidence;
    size_t h = (size_t)((uint64_t)account * 0x9e3779b97f4a7c15ull >> 40);
    pthread_mutex_lock(&t->shard[h % SHARDS].mu);
    struct slot *s = slot_of(t->shard[h % SHARDS].s, h / SHARDS, account);
    struct kept *spare, *k = repeated(t, s, words, now, &spare);
    if (k) {
        out->repeats = k->repeats + 1;
    } else {
        k = spare;
        out->repeats = 0;
    }
    k->at = now;
    k->repeats = out->repeats;
    k->sketch = *words;
    s->seen = now;
    pthread_mutex_unlock(&t->shard[h % SHARDS].mu);
    rp_refusal_weigh(&t->rules, out);
}

void rp_refusal_weigh(const struct rp_refusal_rules *rules, struct rp_refusal_weight *w)
{
    if (w->confidence >= 1) {
        w->weight = 1;
        w->code = "confident";
    } else if (w->repeats > rules->retries_forgiven) {
        w->weight = 1;
        w->code = "repeated";
    } else {
        w->weight = rules->borderline_weight;
        w->code = "borderline";
    }
}
