/* GCRA rate limiting and in-flight counting in bounded, sharded hash tables (see gate.h). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/gate.h"

#define SHARDS 16
/* Cells probed for a free or reusable slot before the least recently due one is taken. */
#define PROBE 8

bool rp_gcra(double *tat, const struct rp_rate *r, double now, double cost, double *retry_after)
{
    double interval = r->period / r->rate;    /* seconds per unit */
    double tau = interval * (r->burst - 1.0); /* how far ahead of now the TAT may run */
    double t = *tat > now ? *tat : now;
    double next = t + cost * interval;
    if (next - now > tau + interval + 1e-9) {
        /* Would finish beyond the allowance: refuse, and say when cost units will fit. */
        *retry_after = next - now - tau - interval;
        return false;
    }
    *tat = next;
    *retry_after = 0;
    return true;
}

struct cell {
    uint64_t hash; /* 0: empty */
    double value;  /* the TAT for limits, the count for in-flight tables */
};

struct shard {
    pthread_mutex_t lock;
    struct cell *cells;
    size_t n;
};

struct table {
    struct shard shards[SHARDS];
};

static int table_init(struct table *t, size_t capacity)
{
    size_t per = capacity / SHARDS + PROBE;
    for (size_t i = 0; i < SHARDS; i++) {
        t->shards[i].cells = calloc(per, sizeof(struct cell));
        t->shards[i].n = per;
        pthread_mutex_init(&t->shards[i].lock, NULL);
        if (!t->shards[i].cells)
            return RP_ENOMEM;
    }
    return RP_OK;
}

static void table_release(struct table *t)
{
    for (size_t i = 0; i < SHARDS; i++) {
        free(t->shards[i].cells);
        pthread_mutex_destroy(&t->shards[i].lock);
    }
}

/* The cell of key in a locked shard: the existing one, else an empty one, else the one with the
 * smallest value (least recently due, or fewest in flight) among the probed slots. */
static struct cell *table_find(struct shard *s, uint64_t h, bool *fresh)
{
    struct cell *victim = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        struct cell *c = &s->cells[(h + i) % s->n];
        if (c->hash == h) {
            *fresh = false;
            return c;
        }
        if (c->hash == 0 && (!victim || victim->hash != 0))
            victim = c;
        else if (!victim || (victim->hash != 0 && c->value < victim->value))
            victim = c;
    }
    victim->hash = h;
    victim->value = 0;
    *fresh = true;
    return victim;
}

static uint64_t key_hash(struct rp_str key)
{
    uint64_t h = rp_hash64(key.ptr, key.len, 0x9e3779b97f4a7c15ULL);
    return h ? h : 1;
}

struct rp_limiter {
    struct table t;
};

int rp_limiter_new(size_t capacity, struct rp_limiter **out)
{
    struct rp_limiter *l = calloc(1, sizeof(*l));
    if (!l)
        return RP_ENOMEM;
    if (table_init(&l->t, capacity)) {
        rp_limiter_free(l);
        return RP_ENOMEM;
    }
    *out = l;
    return RP_OK;
}

void rp_limiter_free(struct rp_limiter *l)
{
    if (!l)
        return;
    table_release(&l->t);
    free(l);
}

bool rp_limiter_take(struct rp_limiter *l, struct rp_str key, const struct rp_rate *r, double now,
                     double cost, double *retry_after)
{
    uint64_t h = key_hash(key);
    struct shard *s = &l->t.shards[h % SHARDS];
    bool fresh;
    pthread_mutex_lock(&s->lock);
    struct cell *c = table_find(s, h, &fresh);
    bool ok = rp_gcra(&c->value, r, now, cost, retry_after);
    pthread_mutex_unlock(&s->lock);
    return ok;
}

unsigned rp_limiter_room(struct rp_limiter *l, struct rp_str key, const struct rp_rate *r,
                         double now)
{
    uint64_t h = key_hash(key);
    struct shard *s = &l->t.shards[h % SHARDS];
    bool fresh;
    pthread_mutex_lock(&s->lock);
    struct cell *c = table_find(s, h, &fresh);
    double ahead = c->value > now ? c->value - now : 0;
    pthread_mutex_unlock(&s->lock);
    /* rp_gcra lets n units pass while ahead + n * interval <= tau + interval, that is while
     * n <= burst - ahead / interval (with its tolerance of 1e-9 seconds). */
    double interval = r->period / r->rate;
    double room = floor(r->burst - (ahead - 1e-9) / interval);
    return room <= 0 ? 0 : room >= r->burst ? (unsigned)r->burst : (unsigned)room;
}

void rp_limiter_charge(struct rp_limiter *l, struct rp_str key, const struct rp_rate *r, double now,
                       double cost)
{
    uint64_t h = key_hash(key);
    struct shard *s = &l->t.shards[h % SHARDS];
    bool fresh;
    pthread_mutex_lock(&s->lock);
    struct cell *c = table_find(s, h, &fresh);
    c->value = (c->value > now ? c->value : now) + cost * r->period / r->rate;
    pthread_mutex_unlock(&s->lock);
}

struct rp_inflight {
    struct table t;
};

int rp_inflight_new(size_t capacity, struct rp_inflight **out)
{
    struct rp_inflight *f = calloc(1, sizeof(*f));
    if (!f)
        return RP_ENOMEM;
    if (table_init(&f->t, capacity)) {
        rp_inflight_free(f);
        return RP_ENOMEM;
    }
    *out = f;
    return RP_OK;
}

void rp_inflight_free(struct rp_inflight *f)
{
    if (!f)
        return;
    table_release(&f->t);
    free(f);
}

bool rp_inflight_acquire(struct rp_inflight *f, struct rp_str key, unsigned max)
{
    uint64_t h = key_hash(key);
    struct shard *s = &f->t.shards[h % SHARDS];
    bool fresh, ok;
    pthread_mutex_lock(&s->lock);
    struct cell *c = table_find(s, h, &fresh);
    ok = c->value < max;
    if (ok)
        c->value += 1;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void rp_inflight_release(struct rp_inflight *f, struct rp_str key)
{
    uint64_t h = key_hash(key);
    struct shard *s = &f->t.shards[h % SHARDS];
    bool fresh;
    pthread_mutex_lock(&s->lock);
    struct cell *c = table_find(s, h, &fresh);
    if (c->value >= 1)
        c->value -= 1;
    pthread_mutex_unlock(&s->lock);
}
