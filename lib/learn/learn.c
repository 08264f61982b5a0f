/* The learning steps both trainers share (include/rampart/learn.h, docs/training.md). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

struct rp_learn_opt {
    struct rp_learn_params p;
    size_t dim;
    /* AdaGrad: the weights and their sums of squared gradients in float (the weights end up
     * float in a model file; half the memory of double), the bias's in double. */
    float *w, *g2;
    double bias, bias_g2;
    /* FTRL-proximal: per coordinate z and n. */
    double *z, *n;
};

int rp_learn_opt_new(const struct rp_learn_params *p, size_t dim, struct rp_learn_opt **out)
{
    *out = NULL;
    if (!dim || (p->method != RP_LEARN_ADAGRAD && p->method != RP_LEARN_FTRL))
        return RP_EINVAL;
    struct rp_learn_opt *o = calloc(1, sizeof(*o));
    if (!o)
        return RP_ENOMEM;
    o->p = *p;
    o->dim = dim;
    o->bias_g2 = 1e-8;
    if (p->method == RP_LEARN_ADAGRAD) {
        o->w = calloc(dim, sizeof(*o->w));
        o->g2 = calloc(dim, sizeof(*o->g2));
    } else {
        o->z = calloc(dim, sizeof(*o->z));
        o->n = calloc(dim, sizeof(*o->n));
    }
    if (p->method == RP_LEARN_ADAGRAD ? !o->w || !o->g2 : !o->z || !o->n) {
        rp_learn_opt_free(o);
        return RP_ENOMEM;
    }
    *out = o;
    return RP_OK;
}

void rp_learn_opt_free(struct rp_learn_opt *o)
{
    if (!o)
        return;
    free(o->w);
    free(o->g2);
    free(o->z);
    free(o->n);
    free(o);
}

double rp_learn_opt_weight(const struct rp_learn_opt *o, size_t i)
{
    bool bias = i == o->dim - 1;
    if (o->p.method == RP_LEARN_ADAGRAD)
        return bias ? o->bias : o->w[i];
    double l1 = bias ? 0 : o->p.l1, z = o->z[i];
    if (fabs(z) <= l1)
        return 0;
    double sign = z < 0 ? -1 : 1;
    return -(z - sign * l1) / ((o->p.beta + sqrt(o->n[i])) / o->p.alpha + o->p.l2);
}

void rp_learn_opt_step(struct rp_learn_opt *o, size_t i, double g)
{
    if (o->p.method == RP_LEARN_ADAGRAD) {
        if (i == o->dim - 1) {
            o->bias_g2 += g * g;
            o->bias -= o->p.alpha * g / sqrt(o->bias_g2);
            return;
        }
        double gj = g + o->p.l2 * o->w[i];
        o->g2[i] += (float)(gj * gj);
        o->w[i] -= (float)(o->p.alpha * gj / sqrt(o->g2[i] + 1e-8));
        return;
    }
    double w = rp_learn_opt_weight(o, i);
    double sigma = (sqrt(o->n[i] + g * g) - sqrt(o->n[i])) / o->p.alpha;
    o->z[i] += g - sigma * w;
    o->n[i] += g * g;
}

double rp_learn_round_up(double x, int digits)
{
    char tmp[48];
    snprintf(tmp, sizeof(tmp), "%.*g", digits, x);
    double r = strtod(tmp, NULL);
    if (r >= x || !isfinite(x) || x == 0)
        return r;
    /* One unit in the last kept digit up, which "%g" then writes with as many digits. */
    double unit = pow(10, floor(log10(fabs(x))) - digits + 1);
    snprintf(tmp, sizeof(tmp), "%.*g", digits, r + unit);
    return strtod(tmp, NULL);
}

void rp_learn_reader_init(struct rp_learn_reader *r, struct rp_str text)
{
    r->p = text.ptr ? text.ptr : "";
    r->end = r->p + (text.ptr ? text.len : 0);
    r->lineno = 0;
}

bool rp_learn_reader_line(struct rp_learn_reader *r, struct rp_str *line)
{
    if (r->p >= r->end)
        return false;
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    const char *stop = nl ? nl : r->end;
    line->ptr = r->p;
    line->len = (size_t)(stop - r->p);
    if (line->len && line->ptr[line->len - 1] == '\r')
        line->len--;
    r->p = nl ? nl + 1 : r->end;
    r->lineno++;
    return true;
}

struct rp_str rp_learn_word(struct rp_str *rest)
{
    size_t i = 0;
    while (i < rest->len && rest->ptr[i] != ' ' && rest->ptr[i] != '\t')
        i++;
    struct rp_str w = {rest->ptr, i};
    while (i < rest->len && (rest->ptr[i] == ' ' || rest->ptr[i] == '\t'))
        i++;
    rest->ptr += i;
    rest->len -= i;
    return w;
}

/* Copies a word into a NUL-terminated buffer for strtol/strtod; false when it does not fit. */
static bool word_cstr(struct rp_str w, char *buf, size_t size)
{
    if (w.len == 0 || w.len >= size || memchr(w.ptr, '\0', w.len))
        return false;
    memcpy(buf, w.ptr, w.len);
    buf[w.len] = '\0';
    return true;
}

bool rp_learn_word_long(struct rp_str w, long *out)
{
    char buf[32], *end;
    if (!word_cstr(w, buf, sizeof(buf)) || !((buf[0] >= '0' && buf[0] <= '9') || buf[0] == '-'))
        return false;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool rp_learn_word_double(struct rp_str w, double *out)
{
    char buf[64], *end;
    if (!word_cstr(w, buf, sizeof(buf)))
        return false;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}
