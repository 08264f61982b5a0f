/* The learning steps both trainers share (include/rampart/learn.h, docs/training.md). */
#include <math.h>
#include <string.h>

#include "rampart/learn.h"

uint64_t rp_learn_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rp_learn_shuffle(size_t *v, size_t n, uint64_t *state)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rp_learn_random(state) % i);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

double rp_learn_sigmoid(double z)
{
    return 1 / (1 + exp(-(z < -40 ? -40 : z > 40 ? 40 : z)));
}

double rp_learn_logloss_gradient(double p, int label, double weight)
{
    return (p - label) * weight;
}

bool rp_learn_held_out(struct rp_str key, uint64_t seed, unsigned modulus, unsigned count)
{
    return modulus && rp_hash64(key.ptr, key.len, seed) % modulus < count;
}

int rp_learn_scored_cmp_desc(const void *a, const void *b)
{
    const struct rp_learn_scored *x = a, *y = b;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : 0;
}

double rp_learn_threshold_at_fpr(const struct rp_learn_scored *neg_desc, size_t n, double fpr,
                                 double fallback)
{
    size_t allowed = (size_t)floor(fpr * (double)n);
    return allowed < n ? nextafter(neg_desc[allowed].score, 1.0) : fallback;
}

void rp_learn_platt(const struct rp_learn_scored *s, size_t n, double *a, double *c)
{
    double npos = 0, nneg = 0;
    for (size_t i = 0; i < n; i++)
        *(s[i].label ? &npos : &nneg) += 1;
    double thi = (npos + 1) / (npos + 2), tlo = 1 / (nneg + 2);
    double scale = 1, shift = 0, loss = INFINITY;
    for (int it = 0; it < 100; it++) {
        double ga = 0, gc = 0, haa = 1e-12, hac = 0, hcc = 1e-12, l = 0;
        for (size_t i = 0; i < n; i++) {
            double z = s[i].score, p = rp_learn_sigmoid(scale * z + shift),
                   t = s[i].label ? thi : tlo;
            double v = p * (1 - p);
            ga += (p - t) * z;
            gc += p - t;
            haa += v * z * z;
            hac += v * z;
            hcc += v;
            l -= t * log(p + 1e-300) + (1 - t) * log(1 - p + 1e-300);
        }
        if (l > loss - 1e-12)
            break;
        loss = l;
        double det = haa * hcc - hac * hac;
        if (!(det > 0))
            break;
        /* The Newton step, halved until the loss goes down. */
        double da = (hcc * ga - hac * gc) / det, dc = (haa * gc - hac * ga) / det;
        double step = 1;
        for (; step > 1e-6; step /= 2) {
            double na = scale - step * da, nc = shift - step * dc, nl = 0;
            for (size_t i = 0; i < n; i++) {
                double p = rp_learn_sigmoid(na * s[i].score + nc), t = s[i].label ? thi : tlo;
                nl -= t * log(p + 1e-300) + (1 - t) * log(1 - p + 1e-300);
            }
            if (nl < loss) {
                scale = na;
                shift = nc;
                break;
            }
        }
        if (step <= 1e-6)
            break;
    }
    if (scale > 0 && isfinite(scale) && isfinite(shift)) {
        *a = scale;
        *c = shift;
    } else {
        *a = 1;
        *c = 0;
    }
}

bool rp_learn_key_is(struct rp_str word, const char *key)
{
    size_t n = strlen(key);
    if (word.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (word.ptr[i] != key[i] && !(key[i] == '-' && word.ptr[i] == '_'))
            return false;
    return true;
}
