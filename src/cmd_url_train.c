/* rampart url-train: trains the URL phishing model (conf/url-model.txt) from labelled addresses,
 * chooses its threshold on sites it never saw, and reports how well it scores addresses it never
 * saw, split by URL and, stricter, by site. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libpsl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commands.h"
#include "rampart/learn.h"
#include "rampart/url.h"
#include "rampart/url_model.h"

#define DATA_CAP ((size_t)1 << 30)
#define MODEL_CAP ((size_t)RP_URL_MODEL_MAX_TEXT)
/* An example is held out when its hash modulo 100 is below this. */
#define HOLDOUT_PERCENT 20
/* Seeds of the split hashes: the test split, and the validation split inside the training side. */
#define SPLIT_SEED 0
#define VALIDATE_SEED 1
#define TARGET_FPR 0.01
/* --data may be given this many times. */
#define MAX_DATA 8

struct options {
    const char *data[MAX_DATA]; /* data[0] is the main labelled file; the others add lines */
    size_t ndata;
    const char *out;
    long epochs;
    unsigned long long seed;
    struct rp_url_model_params params;
    double alpha, beta, l1, l2;
    bool augment;
    bool validate;
    bool json;
};

struct example {
    char *url; /* as featurised: the file's "url" with "&amp;" unescaped */
    int label;
    unsigned char file; /* index of the --data file the line comes from */
    uint64_t site;      /* rp_hash64(site, SPLIT_SEED): the grouped split's key, counts sites */
    bool test_by_url;   /* held out by the hash of the URL */
    bool test_by_host;  /* held out by the hash of the site (registrable domain) */
    bool valid_by_host; /* validation split inside either split's training side, by site */
    bool variant;       /* a training copy made by augmentation: never evaluated */
    size_t feat_off, feat_n;
};

struct dataset {
    struct example *ex;
    size_t n, alloc;
    struct rp_url_feature *feat; /* every example's features, duplicates merged, by index */
    size_t nfeat, feat_alloc;
    size_t parsed, variants;
    uint64_t *roots; /* hashes of the front pages added by augmentation, open addressing */
    size_t roots_n, roots_cap;
    struct {
        char name[48];
        size_t file, count;
    } sources[16]; /* lines per "source" of each file, for the model's notes */
    size_t nsources, other_sources;
    struct {
        size_t lines, phishing;
    } files[MAX_DATA]; /* lines per --data file */
};

/* What one threshold does to a set of scored lines: the share of its phishing and of its benign
 * lines at or above it (NAN when not measured), and how many sites the benign ones flagged come
 * from: a few large sites can make most of a false-positive rate. */
struct rates {
    double threshold, tpr, fpr;
    size_t fp_sites;
};

/* Figures for one set of lines a model never trained on. */
struct report {
    size_t train_n, train_pos; /* lines the model trained on, of which phishing */
    size_t train_copies;       /* augmented copies trained on besides the train_n lines */
    size_t test_n, test_pos;   /* lines scored, of which phishing */
    size_t test_pos_sites, test_neg_sites; /* distinct sites of the phishing and benign lines */
    double auc;
    struct rates best;   /* at the score that flags TARGET_FPR of these benign lines: a figure */
    struct rates stored; /* at the threshold stored in the model */
    struct rates own;    /* site-grouped split: at its own threshold, chosen as the stored one */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rampart url-train --data FILE [--data FILE]... --out FILE [--epochs N]\n"
            "           [--seed N] [--hash-bits N] [--alpha X] [--l1 X] [--l2 X]\n"
            "           [--no-augment] [--validate] [--json]\n"
            "\n"
            "Trains the URL phishing model from JSON lines {\"url\": ..., \"label\": 0|1} and\n"
            "writes it in the text format of docs/url-model.md. A line is held out for testing\n"
            "when rp_hash64(url, seed 0) %% 100 < %d, url being the bytes of the \"url\" string;\n"
            "the model never trains on it. The threshold stored flags 1%% of the benign lines of\n"
            "sites a model never saw: a site-grouped validation split of the training side\n"
            "(registrable domain, seed 1), scored by a model trained on the rest of that side.\n"
            "Prints ROC-AUC, the true-positive rate at 1%% false positives, and both rates at\n"
            "the stored threshold, on the held-out lines of the first --data file and on all\n"
            "held-out lines; then the same for a stricter split that holds out whole sites\n"
            "(with a model trained for it). The model written is the one of the URL split.\n"
            "\n"
            "  --data FILE     labelled URLs (required); given again, each further file\n"
            "                  adds its lines (at most %d)\n"
            "  --out FILE      where to write the model (required unless --validate)\n"
            "  --epochs N      passes over the training data (default 6)\n"
            "  --seed N        seed of the shuffling between passes (default 1)\n"
            "  --hash-bits N   2^N feature buckets (default %u)\n"
            "  --alpha X       FTRL-proximal learning rate (default 0.05)\n"
            "  --l1 X, --l2 X  L1 and L2 strengths (default 1 and 0)\n"
            "  --no-augment    train on the file's lines only, without the copies that\n"
            "                  neutralise scheme, \"www.\" and front pages (docs/url-model.md)\n"
            "  --validate      report on the site-grouped validation split of the training\n"
            "                  side only, for choosing settings; writes no model\n"
            "  --json          print the figures as one JSON object\n"
            "  --help          print this and exit\n"
            "\n"
            "Exit status: 0 on success, 2 on a usage, input or output error.\n",
            HOLDOUT_PERCENT, MAX_DATA, RP_URL_MODEL_PARAMS_DEFAULT.hash_bits);
}

static bool held(const char *s, size_t len, uint64_t seed)
{
    return rp_learn_held_out((struct rp_str){s, len}, seed, 100, HOLDOUT_PERCENT);
}

/* PhishTank's export HTML-escaped the ampersands of its URLs; no browser ever sees "&amp;", and
 * a model that learnt it would learn the export, not phishing. */
static char *unescape_amp(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        out[j++] = s[i];
        if (s[i] == '&' && len - i >= 5 && memcmp(s + i + 1, "amp;", 4) == 0)
            i += 4;
    }
    out[j] = '\0';
    return out;
}

/* The site an address belongs to, for the grouped split: the registrable domain (libpsl's built-in
 * list) of the parsed host, else the host itself, else the part after "//" up to the path. */
static void site_key(const struct rp_url *u, const char *raw, const char **key, size_t *len)
{
    static const psl_ctx_t *psl;
    if (!psl)
        psl = psl_builtin();
    if (u && u->host && u->host[0]) {
        const char *reg = NULL;
        if (u->host_type == RP_URL_HOST_DOMAIN && psl)
            reg = psl_registrable_domain(psl, u->host);
        *key = reg ? reg : u->host;
        *len = strlen(*key);
        return;
    }
    const char *p = strstr(raw, "//");
    p = p ? p + 2 : raw;
    *key = p;
    *len = strcspn(p, "/?#");
}

static int cmp_feature(const void *a, const void *b)
{
    const struct rp_url_feature *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

static int dataset_add_features(struct dataset *d, struct example *e, const struct rp_url *u,
                                const struct rp_url_model_params *params)
{
    struct rp_url_feature f[RP_URL_MODEL_MAX_FEATURES];
    size_t n = rp_url_model_features(params, rp_str_from_cstr(e->url), u, f);
    qsort(f, n, sizeof(f[0]), cmp_feature);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && f[m - 1].index == f[i].index)
            f[m - 1].value += f[i].value;
        else
            f[m++] = f[i];
    }
    if (d->nfeat + m > d->feat_alloc) {
        size_t na = d->feat_alloc ? d->feat_alloc * 2 : 1 << 20;
        while (na < d->nfeat + m)
            na *= 2;
        void *p = realloc(d->feat, na * sizeof(*d->feat));
        if (!p)
            return RP_ENOMEM;
        d->feat = p;
        d->feat_alloc = na;
    }
    memcpy(d->feat + d->nfeat, f, m * sizeof(f[0]));
    e->feat_off = d->nfeat;
    e->feat_n = m;
    d->nfeat += m;
    return RP_OK;
}

/* Appends an example: url is taken over (freed on failure too), the split flags come from proto.
 * Returns 0 or RP_ENOMEM. */
static int dataset_push(struct dataset *d, char *url, const struct example *proto, bool variant,
                        const struct rp_url_model_params *params)
{
    struct rp_url u;
    int result = RP_ENOMEM;
    if (d->n == d->alloc) {
        size_t na = d->alloc ? d->alloc * 2 : 4096;
        void *p = realloc(d->ex, na * sizeof(*d->ex));
        if (!p) {
            free(url);
            return RP_ENOMEM;
        }
        d->ex = p;
        d->alloc = na;
    }
    struct example *e = &d->ex[d->n];
    *e = *proto;
    e->url = url;
    e->variant = variant;
    bool parsed = rp_url_parse(rp_str_from_cstr(url), NULL, &u, NULL) == RP_OK;
    result = dataset_add_features(d, e, parsed ? &u : NULL, params);
    if (parsed)
        rp_url_release(&u);
    if (result) {
        free(url);
        return result;
    }
    d->parsed += parsed && !variant;
    d->variants += variant;
    d->n++;
    return RP_OK;
}

/* A copy of url with "http://" and "https://" swapped; NULL for other schemes (or no memory). */
static char *swap_scheme(const char *url)
{
    struct rp_buf b;
    rp_buf_init(&b, RP_URL_MAX_INPUT);
    int result = RP_EINVAL;
    if (strncmp(url, "http://", 7) == 0)
        result = rp_buf_addf(&b, "https://%s", url + 7);
    else if (strncmp(url, "https://", 8) == 0)
        result = rp_buf_addf(&b, "http://%s", url + 8);
    char *out = result ? NULL : rp_buf_detach(&b);
    rp_buf_release(&b);
    return out;
}

/* A copy of url with "www." taken off the host, or put on it; NULL when the host is not a domain
 * or the authority has userinfo. */
static char *toggle_www(const char *url, const struct rp_url *u)
{
    const char *host = strstr(url, "://");
    if (!host || u->host_type != RP_URL_HOST_DOMAIN || u->username[0] || u->password[0])
        return NULL;
    host += 3;
    size_t before = (size_t)(host - url);
    struct rp_buf b;
    rp_buf_init(&b, RP_URL_MAX_INPUT);
    int result = rp_buf_add(&b, url, before);
    if (!result && strncasecmp(host, "www.", 4) == 0)
        result = rp_buf_adds(&b, host + 4);
    else if (!result)
        result = rp_buf_addf(&b, "www.%s", host);
    char *out = result ? NULL : rp_buf_detach(&b);
    rp_buf_release(&b);
    return out;
}

/* Adds s to the set of host roots already added; false when it was there. */
static int root_set_add(struct dataset *d, const char *s, bool *added)
{
    uint64_t h = rp_hash64(s, strlen(s), 0) | 1;
    if (2 * (d->roots_n + 1) > d->roots_cap) {
        size_t nc = d->roots_cap ? d->roots_cap * 2 : 1024;
        uint64_t *t = calloc(nc, sizeof(uint64_t));
        if (!t)
            return RP_ENOMEM;
        for (size_t i = 0; i < d->roots_cap; i++) {
            if (!d->roots[i])
                continue;
            size_t j = d->roots[i] & (nc - 1);
            while (t[j])
                j = (j + 1) & (nc - 1);
            t[j] = d->roots[i];
        }
        free(d->roots);
        d->roots = t;
        d->roots_cap = nc;
    }
    size_t j = h & (d->roots_cap - 1);
    while (d->roots[j] && d->roots[j] != h)
        j = (j + 1) & (d->roots_cap - 1);
    *added = !d->roots[j];
    d->roots[j] = h;
    d->roots_n += *added;
    return RP_OK;
}

/* The training copies of one example (docs/url-model.md, "Augmentation"): the same address with
 * the other scheme and with "www." toggled, so that neither carries the year the two sources were
 * collected in; and, for a benign address, its site's front page under both schemes, since the
 * benign source has no front pages at all. The copies inherit the example's split. */
static int add_variants(struct dataset *d, const struct example *proto, const struct rp_url *u,
                        const struct rp_url_model_params *params)
{
    char *swapped = swap_scheme(proto->url);
    char *toggled = toggle_www(proto->url, u);
    char *both = toggled ? swap_scheme(toggled) : NULL;
    int result = RP_OK;
    if (swapped)
        result = dataset_push(d, swapped, proto, true, params);
    if (toggled && !result)
        result = dataset_push(d, toggled, proto, true, params);
    else
        free(toggled);
    if (both && !result)
        result = dataset_push(d, both, proto, true, params);
    else
        free(both);
    if (result || proto->label != 0 || u->host_type != RP_URL_HOST_DOMAIN || !u->host)
        return result;
    for (int i = 0; i < 2 && !result; i++) {
        struct rp_buf b;
        bool added = false;
        rp_buf_init(&b, RP_URL_MAX_INPUT);
        result = rp_buf_addf(&b, "%s://%s/", i ? "https" : "http", u->host);
        if (!result)
            result = root_set_add(d, b.ptr, &added);
        if (!result && added)
            result = dataset_push(d, rp_buf_detach(&b), proto, true, params);
        rp_buf_release(&b);
    }
    return result;
}

static void count_source(struct dataset *d, size_t file, const char *name)
{
    for (size_t i = 0; i < d->nsources; i++) {
        if (d->sources[i].file == file && strcmp(d->sources[i].name, name) == 0) {
            d->sources[i].count++;
            return;
        }
    }
    if (d->nsources == sizeof(d->sources) / sizeof(d->sources[0])) {
        d->other_sources++;
        return;
    }
    snprintf(d->sources[d->nsources].name, sizeof(d->sources[0].name), "%s", name);
    d->sources[d->nsources].file = file;
    d->sources[d->nsources++].count = 1;
}

/* Checks one JSON line of the file-th --data file and adds it (and, with augmentation, its training
 * copies). Returns 0, RP_EINVAL with a message in err, or RP_ENOMEM. */
static int dataset_add_line(struct dataset *d, size_t file, const char *line, size_t len,
                            const struct options *o, struct rp_error *err)
{
    json_error_t jerr;
    struct rp_url u;
    struct example proto;
    bool parsed = false;
    int result = RP_OK;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rp_error_set(err, "invalid JSON: %s", jerr.text);
        return RP_EINVAL;
    }
    json_t *url = json_object_get(root, "url");
    json_t *label = json_object_get(root, "label");
    if (!json_is_object(root) || !json_is_string(url) || json_string_length(url) == 0) {
        rp_error_set(err, "expected an object with a non-empty string \"url\"");
        result = RP_EINVAL;
        goto out;
    }
    if (!json_is_integer(label) ||
        (json_integer_value(label) != 0 && json_integer_value(label) != 1)) {
        rp_error_set(err, "\"label\" must be 0 (benign) or 1 (phishing)");
        result = RP_EINVAL;
        goto out;
    }
    json_t *source = json_object_get(root, "source");
    if (source && (!json_is_string(source) || json_string_length(source) == 0 ||
                   json_string_length(source) >= sizeof(d->sources[0].name) ||
                   strpbrk(json_string_value(source), "\n\r\t,"))) {
        rp_error_set(err, "\"source\" must be a short name (under %zu bytes, no commas)",
                     sizeof(d->sources[0].name));
        result = RP_EINVAL;
        goto out;
    }
    count_source(d, file, source ? json_string_value(source) : "unnamed");
    memset(&proto, 0, sizeof(proto));
    const char *raw = json_string_value(url);
    size_t raw_len = json_string_length(url);
    proto.label = (int)json_integer_value(label);
    proto.file = (unsigned char)file;
    d->files[file].lines++;
    d->files[file].phishing += proto.label == 1;
    proto.test_by_url = held(raw, raw_len, SPLIT_SEED);
    char *unescaped = unescape_amp(raw, raw_len);
    if (!unescaped) {
        result = RP_ENOMEM;
        goto out;
    }
    parsed = rp_url_parse(rp_str_from_cstr(unescaped), NULL, &u, NULL) == RP_OK;
    const char *key;
    size_t key_len;
    site_key(parsed ? &u : NULL, unescaped, &key, &key_len);
    proto.site = rp_hash64(key, key_len, SPLIT_SEED);
    proto.test_by_host = proto.site % 100 < HOLDOUT_PERCENT;
    proto.valid_by_host = held(key, key_len, VALIDATE_SEED);
    result = dataset_push(d, unescaped, &proto, false, &o->params);
    if (!result && o->augment && parsed) {
        proto.url = d->ex[d->n - 1].url;
        result = add_variants(d, &proto, &u, &o->params);
    }
out:
    if (parsed)
        rp_url_release(&u);
    json_decref(root);
    return result;
}

/* Reads the file-th --data file, JSON lines. Blank lines are skipped; any other bad line is an
 * error naming it. */
static int dataset_read(struct dataset *d, size_t file, const struct options *o)
{
    const char *path = o->data[file];
    struct rp_error err = {{0}};
    char *text = NULL;
    size_t len = 0, lineno = 0;
    int result = rp_file_read(path, DATA_CAP, &text, &len, &err);
    if (result) {
        fprintf(stderr, "rampart url-train: %s\n", err.msg);
        return result;
    }
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        lineno++;
        size_t n = (size_t)(stop - p);
        bool blank = true;
        for (size_t i = 0; i < n && blank; i++)
            blank = p[i] == ' ' || p[i] == '\t' || p[i] == '\r';
        if (!blank) {
            result = dataset_add_line(d, file, p, n, o, &err);
            if (result == RP_ENOMEM) {
                fprintf(stderr, "rampart url-train: out of memory\n");
                goto out;
            }
            if (result) {
                fprintf(stderr, "%s:%zu: %s\n", path, lineno, err.msg);
                goto out;
            }
        }
        if (lineno % 5000 == 0)
            fprintf(stderr, "url-train: read %zu lines\r", lineno);
        p = nl ? nl + 1 : end;
    }
    if (d->files[file].lines == 0) {
        fprintf(stderr, "%s: no examples\n", path);
        result = RP_EINVAL;
    }
out:
    free(text);
    return result;
}

static void dataset_release(struct dataset *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->ex[i].url);
    free(d->ex);
    free(d->feat);
    free(d->roots);
}

/* Trains logistic regression on the examples listed in idx (shuffled in place between passes).
 * On success *out is a new model (threshold 0.5 until the caller sets one). */
static int train(const struct dataset *d, size_t *idx, size_t count, const struct options *o,
                 const char *what, struct rp_url_model **out)
{
    const size_t dim = ((size_t)1 << o->params.hash_bits) + 1, bias = dim - 1;
    const struct rp_learn_params params = {RP_LEARN_FTRL, o->alpha, o->beta, o->l1, o->l2};
    struct rp_learn_opt *opt = NULL;
    float *weights = NULL;
    struct rp_error err = {{0}};
    int result = RP_ENOMEM;
    uint64_t rng = o->seed;
    weights = calloc(dim - 1, sizeof(float));
    if (!weights || rp_learn_opt_new(&params, dim, &opt))
        goto out;
    for (long epoch = 0; epoch < o->epochs; epoch++) {
        rp_learn_shuffle(idx, count, &rng);
        double loss = 0;
        for (size_t k = 0; k < count; k++) {
            const struct example *e = &d->ex[idx[k]];
            const struct rp_url_feature *x = d->feat + e->feat_off;
            double z = rp_learn_opt_weight(opt, bias);
            for (size_t i = 0; i < e->feat_n; i++)
                z += rp_learn_opt_weight(opt, x[i].index) * x[i].value;
            double p = rp_learn_sigmoid(z);
            loss -= e->label ? log(p > 1e-15 ? p : 1e-15) : log(1 - p > 1e-15 ? 1 - p : 1e-15);
            double g = rp_learn_logloss_gradient(p, e->label, 1);
            rp_learn_opt_step(opt, bias, g);
            for (size_t i = 0; i < e->feat_n; i++)
                rp_learn_opt_step(opt, x[i].index, g * x[i].value);
        }
        fprintf(stderr, "url-train: %s: pass %ld/%ld, mean log loss %.4f\n", what, epoch + 1,
                o->epochs, loss / (double)(count ? count : 1));
    }
    for (size_t i = 0; i < dim - 1; i++)
        weights[i] = (float)rp_learn_opt_weight(opt, i);
    result =
        rp_url_model_new(&o->params, weights, rp_learn_opt_weight(opt, bias), 0.5, NULL, out, &err);
    if (result)
        fprintf(stderr, "rampart url-train: %s\n", err.msg);
out:
    if (result == RP_ENOMEM)
        fprintf(stderr, "rampart url-train: out of memory\n");
    rp_learn_opt_free(opt);
    free(weights);
    return result;
}

struct scored {
    double score;
    int label;
    uint64_t site;
};

static int cmp_scored(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    return (x->score > y->score) - (x->score < y->score);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The number of distinct values among h[0..n), which it sorts. */
static size_t count_distinct(uint64_t *h, size_t n)
{
    size_t distinct = 0;
    qsort(h, n, sizeof(*h), cmp_u64);
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || h[i] != h[i - 1];
    return distinct;
}

/* The rates of threshold t on count scores sorted by score, pos of them phishing and neg benign:
 * a line is flagged when its score is at or above t. NAN rates when t is NAN. scratch has room
 * for count hashes. */
static struct rates rates_at(const struct scored *s, size_t count, size_t pos, size_t neg, double t,
                             uint64_t *scratch)
{
    struct rates r = {t, NAN, NAN, 0};
    size_t tp = 0, fp = 0;
    if (isnan(t))
        return r;
    for (size_t i = 0; i < count; i++) {
        if (s[i].score >= t) {
            tp += s[i].label == 1;
            if (s[i].label == 0)
                scratch[fp++] = s[i].site;
        }
    }
    r.tpr = pos ? (double)tp / (double)pos : NAN;
    r.fpr = neg ? (double)fp / (double)neg : NAN;
    r.fp_sites = count_distinct(scratch, fp);
    return r;
}

/* The number of distinct sites among the count scored lines with the given label. */
static size_t count_sites(const struct scored *s, size_t count, int label, uint64_t *scratch)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (s[i].label == label)
            scratch[n++] = s[i].site;
    return count_distinct(scratch, n);
}

/* Scores the examples in idx end to end (parse, then rp_url_model_score), as the inspector will,
 * and fills r: the ROC-AUC; the score that keeps false positives at TARGET_FPR on these very
 * lines, with the rates there (a point of the ROC curve, never stored); and the rates at the
 * thresholds stored and own (NAN: not measured). Returns 0 or RP_ENOMEM. */
static int evaluate(const struct dataset *d, const size_t *idx, size_t count,
                    const struct rp_url_model *m, double stored, double own, struct report *r)
{
    struct scored *s = malloc((count ? count : 1) * sizeof(*s));
    uint64_t *scratch = malloc((count ? count : 1) * sizeof(*scratch));
    size_t pos = 0, neg = 0;
    if (!s || !scratch) {
        free(s);
        free(scratch);
        return RP_ENOMEM;
    }
    for (size_t k = 0; k < count; k++) {
        const struct example *e = &d->ex[idx[k]];
        struct rp_url u;
        struct rp_str in = rp_str_from_cstr(e->url);
        bool parsed = rp_url_parse(in, NULL, &u, NULL) == RP_OK;
        s[k].score = rp_url_model_score(m, in, parsed ? &u : NULL);
        s[k].label = e->label;
        s[k].site = e->site;
        pos += e->label;
        if (parsed)
            rp_url_release(&u);
    }
    neg = count - pos;
    qsort(s, count, sizeof(*s), cmp_scored);

    /* Mann-Whitney: AUC from the ranks of the positives, ties sharing their mean rank. */
    double rank_sum = 0;
    for (size_t i = 0; i < count;) {
        size_t j = i;
        while (j < count && s[j].score == s[i].score)
            j++;
        double mean_rank = (double)(i + 1 + j) / 2.0;
        for (size_t k = i; k < j; k++)
            if (s[k].label)
                rank_sum += mean_rank;
        i = j;
    }
    r->auc = pos && neg
                 ? (rank_sum - (double)pos * (double)(pos + 1) / 2.0) / ((double)pos * (double)neg)
                 : NAN;

    /* The threshold just above the (k+1)-th highest benign score, k = floor(TARGET_FPR *
     * benign), so that at most k benign are at or above it; rounded up to the 6 digits the
     * model file keeps, so that the stored one keeps out what this one does. */
    double t = NAN;
    if (neg) {
        struct rp_learn_scored *negs = malloc(neg * sizeof(*negs));
        if (!negs) {
            free(s);
            free(scratch);
            return RP_ENOMEM;
        }
        size_t q = 0;
        for (size_t i = count; i > 0; i--)
            if (!s[i - 1].label)
                negs[q++] = (struct rp_learn_scored){s[i - 1].score, 0};
        t = rp_learn_round_up(rp_learn_threshold_at_fpr(negs, neg, TARGET_FPR, 1.0), 6);
        free(negs);
    }
    r->best = rates_at(s, count, pos, neg, t, scratch);
    r->stored = rates_at(s, count, pos, neg, stored, scratch);
    r->own = rates_at(s, count, pos, neg, own, scratch);
    r->test_n = count;
    r->test_pos = pos;
    r->test_pos_sites = count_sites(s, count, 1, scratch);
    r->test_neg_sites = count_sites(s, count, 0, scratch);
    free(s);
    free(scratch);
    return RP_OK;
}

/* The URL split and the site-grouped split, each with its validation split: the lines of the
 * split's training side whose site is held out with VALIDATE_SEED. */
enum split { SPLIT_URL, SPLIT_HOST, SPLIT_URL_VALIDATE, SPLIT_HOST_VALIDATE };

/* Lists the training and test examples of a split; fills r's training counts. */
static void split_indices(const struct dataset *d, enum split sp, size_t *train_idx, size_t *ntrain,
                          size_t *test_idx, size_t *ntest, struct report *r)
{
    *ntrain = *ntest = 0;
    r->train_pos = r->train_copies = 0;
    for (size_t i = 0; i < d->n; i++) {
        const struct example *e = &d->ex[i];
        bool test;
        if (sp == SPLIT_URL_VALIDATE || sp == SPLIT_HOST_VALIDATE) {
            if (sp == SPLIT_URL_VALIDATE ? e->test_by_url : e->test_by_host)
                continue;
            test = e->valid_by_host;
        } else {
            test = sp == SPLIT_URL ? e->test_by_url : e->test_by_host;
        }
        if (test && e->variant)
            continue;
        if (test) {
            test_idx[(*ntest)++] = i;
        } else {
            train_idx[(*ntrain)++] = i;
            r->train_pos += !e->variant && e->label;
            r->train_copies += e->variant;
        }
    }
    r->train_n = *ntrain - r->train_copies;
}

/* Trains on one split's training side. On success *model is the new model (threshold 0.5 until the
 * caller sets one) and *test_idx (caller frees) lists the *ntest lines of its test side. */
static int train_split(const struct dataset *d, enum split sp, const struct options *o,
                       const char *what, struct report *r, struct rp_url_model **model,
                       size_t **test_idx, size_t *ntest)
{
    size_t ntrain;
    size_t *train_idx = malloc(d->n * sizeof(size_t));
    int result = RP_ENOMEM;
    *test_idx = malloc(d->n * sizeof(size_t));
    if (!train_idx || !*test_idx) {
        fprintf(stderr, "rampart url-train: out of memory\n");
        goto out;
    }
    split_indices(d, sp, train_idx, &ntrain, *test_idx, ntest, r);
    fprintf(stderr, "url-train: %s: training on %zu, testing on %zu\n", what, ntrain, *ntest);
    result = train(d, train_idx, ntrain, o, what, model);
out:
    if (result) {
        free(*test_idx);
        *test_idx = NULL;
    }
    free(train_idx);
    return result;
}

/* Chooses a threshold the way the stored one is chosen: trains on the validation split sp's
 * training side, scores its validation lines (sites that model never saw) and takes the score
 * that flags TARGET_FPR of their benign lines, rounded as the model file keeps it, into
 * *threshold. r gets the validation figures, its stored rates at *threshold. */
static int choose_threshold(const struct dataset *d, enum split sp, const struct options *o,
                            const char *what, struct report *r, double *threshold)
{
    struct rp_url_model *m = NULL;
    size_t *idx = NULL, n = 0;
    int result = train_split(d, sp, o, what, r, &m, &idx, &n);
    if (!result)
        result = evaluate(d, idx, n, m, NAN, NAN, r);
    if (!result && isnan(r->best.threshold)) {
        fprintf(stderr, "rampart url-train: %s: no benign lines to choose a threshold on\n", what);
        result = RP_EINVAL;
    }
    if (!result) {
        rp_url_model_set_threshold(m, r->best.threshold);
        *threshold = rp_url_model_threshold(m);
        result = evaluate(d, idx, n, m, *threshold, NAN, r);
    }
    if (result == RP_ENOMEM)
        fprintf(stderr, "rampart url-train: out of memory\n");
    rp_url_model_free(m);
    free(idx);
    return result;
}

/* Evaluates model m on the test lines idx of a split: all of them when !first_only, else those of
 * the first --data file. train holds the split's training counts, copied into r. */
static int report_held_out(const struct dataset *d, const size_t *idx, size_t count,
                           bool first_only, const struct rp_url_model *m, double stored, double own,
                           const struct report *train, struct report *r)
{
    size_t *sub = malloc((count ? count : 1) * sizeof(*sub)), n = 0;
    int result = RP_ENOMEM;
    if (sub) {
        for (size_t k = 0; k < count; k++)
            if (!first_only || d->ex[idx[k]].file == 0)
                sub[n++] = idx[k];
        *r = *train;
        result = evaluate(d, sub, n, m, stored, own, r);
    }
    if (result)
        fprintf(stderr, "rampart url-train: out of memory\n");
    free(sub);
    return result;
}

/* Everyday addresses written for this check (not from the data set), scored by the saved model
 * after every training: the labelled file's benign side is 296 sites of 2016, and even with more
 * benign sites added held-out figures say little about the web at large; this list shows the
 * model's behaviour on ordinary sites at once. A smoke test, not an evaluation: it is never used
 * to choose anything, and some of its sites appear in the added data (github.com does). */
static const char *const everyday_benign[] = {
    "https://www.google.com/",
    "https://github.com/torvalds/linux",
    "https://en.wikipedia.org/wiki/Phishing",
    "https://www.amazon.com/gp/product/B08N5WRWNW",
    "https://www.bbc.co.uk/news/world-europe-12345678",
    "https://stackoverflow.com/questions/11227809/why-is-processing-a-sorted-array-faster",
    "https://mail.google.com/mail/u/0/#inbox",
    "https://www.paypal.com/signin",
    "https://docs.python.org/3/library/urllib.parse.html",
    "https://www.nytimes.com/2024/05/10/us/politics/election-results.html",
};
static const char *const everyday_phishing[] = {
    "http://paypal.com.secure-login.verify-account.xyz/webscr.php?cmd=_login",
    "http://192.168.13.7/bank/login.php",
    "http://secure-appleid.apple.com.verify-login.tk/index.php",
    "https://login-microsoftonline.com-session.ru/owa/auth.php?user=x",
    "http://xn--pypal-4ve.com/signin/",
};

/* Scores the everyday lists; counts how many of each the threshold flags. */
static void smoke_test(const struct rp_url_model *m, bool print, size_t *benign_flagged,
                       size_t *phishing_flagged)
{
    *benign_flagged = *phishing_flagged = 0;
    for (int list = 0; list < 2; list++) {
        const char *const *urls = list ? everyday_phishing : everyday_benign;
        size_t n = list ? sizeof(everyday_phishing) / sizeof(*urls)
                        : sizeof(everyday_benign) / sizeof(*urls);
        for (size_t i = 0; i < n; i++) {
            struct rp_url u;
            struct rp_str in = rp_str_from_cstr(urls[i]);
            bool parsed = rp_url_parse(in, NULL, &u, NULL) == RP_OK;
            double score = rp_url_model_score(m, in, parsed ? &u : NULL);
            bool flagged = score >= rp_url_model_threshold(m);
            *(list ? phishing_flagged : benign_flagged) += flagged;
            if (print)
                printf("  %.4f %-8s %s %s\n", score, list ? "phishing" : "benign",
                       flagged ? "flagged" : "passed ", urls[i]);
            if (parsed)
                rp_url_release(&u);
        }
    }
}

/* The part of path after its last '/'. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Appends what each --data file gave: "NAME LINES lines (SOURCE COUNT, ...); NAME ...". */
static int describe_data(struct rp_buf *b, const struct dataset *d, const struct options *o)
{
    int result = RP_OK;
    for (size_t f = 0; f < o->ndata && !result; f++) {
        const char *sep = " (";
        result = rp_buf_addf(b, "%s%s %zu lines", f ? "; " : "", base_name(o->data[f]),
                             d->files[f].lines);
        for (size_t i = 0; i < d->nsources && !result; i++) {
            if (d->sources[i].file != f)
                continue;
            result = rp_buf_addf(b, "%s%s %zu", sep, d->sources[i].name, d->sources[i].count);
            sep = ", ";
        }
        if (!result && sep[0] == ',')
            result = rp_buf_adds(b, ")");
    }
    if (!result && d->other_sources)
        result = rp_buf_addf(b, "; %zu lines of further sources", d->other_sources);
    return result;
}

static void print_training(const struct report *r)
{
    printf("  training   %zu URLs (%zu phishing, %zu benign) and %zu augmented copies\n",
           r->train_n, r->train_pos, r->train_n - r->train_pos, r->train_copies);
}

static void print_lines(const char *what, const struct report *r)
{
    printf("  %-10s %zu URLs: %zu phishing (%zu sites), %zu benign (%zu sites)\n", what, r->test_n,
           r->test_pos, r->test_pos_sites, r->test_n - r->test_pos, r->test_neg_sites);
}

/* The validation split that chose a threshold. */
static void print_validation(const char *title, const struct report *r)
{
    printf("%s\n", title);
    print_training(r);
    print_lines("validation", r);
    printf("  ROC-AUC    %.5f\n", r->auc);
    printf("  threshold  %.6g: FPR %.4f (benign of %zu sites), TPR %.4f on the validation lines\n",
           r->stored.threshold, r->stored.fpr, r->stored.fp_sites, r->stored.tpr);
}

/* Held-out lines: the ROC figures, then the rates at the thresholds that were chosen elsewhere. */
static void print_report(const char *title, const struct report *r)
{
    printf("%s\n", title);
    print_lines("held out", r);
    printf("  ROC-AUC    %.5f\n", r->auc);
    printf("  TPR        %.4f at FPR %.4f (threshold %.6g, taken on these lines: a figure only)\n",
           r->best.tpr, r->best.fpr, r->best.threshold);
    printf("  stored     TPR %.4f, FPR %.4f (benign of %zu sites) at the stored threshold %.6g\n",
           r->stored.tpr, r->stored.fpr, r->stored.fp_sites, r->stored.threshold);
    if (!isnan(r->own.threshold))
        printf(
            "  own        TPR %.4f, FPR %.4f (benign of %zu sites) at this split's own threshold "
            "%.6g\n",
            r->own.tpr, r->own.fpr, r->own.fp_sites, r->own.threshold);
}

/* A figure for JSON: null when it could not be measured (no phishing or no benign held out). */
static json_t *json_figure(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *rates_json(const struct rates *x)
{
    if (isnan(x->threshold))
        return json_null();
    return json_pack("{s:o, s:o, s:o, s:I}", "threshold", json_figure(x->threshold), "tpr",
                     json_figure(x->tpr), "fpr", json_figure(x->fpr), "false_positive_sites",
                     (json_int_t)x->fp_sites);
}

static json_t *report_json(const struct report *r)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "train",
                     (json_int_t)r->train_n, "train_phishing", (json_int_t)r->train_pos,
                     "train_copies", (json_int_t)r->train_copies, "held_out", (json_int_t)r->test_n,
                     "held_out_phishing", (json_int_t)r->test_pos, "held_out_phishing_sites",
                     (json_int_t)r->test_pos_sites, "held_out_benign_sites",
                     (json_int_t)r->test_neg_sites, "roc_auc", json_figure(r->auc), "at_1pct_fpr",
                     rates_json(&r->best), "at_stored_threshold", rates_json(&r->stored),
                     "at_own_threshold", rates_json(&r->own));
}

/* The --data files as JSON: [{"file", "lines", "phishing", "sources": {name: lines}}]; NULL when
 * out of memory. */
static json_t *data_json(const struct dataset *d, const struct options *o)
{
    json_t *all = json_array();
    for (size_t f = 0; all && f < o->ndata; f++) {
        json_t *sources = json_object();
        for (size_t i = 0; sources && i < d->nsources; i++) {
            if (d->sources[i].file == f &&
                json_object_set_new(sources, d->sources[i].name,
                                    json_integer((json_int_t)d->sources[i].count))) {
                json_decref(sources);
                sources = NULL;
            }
        }
        json_t *one = json_pack("{s:s, s:I, s:I, s:o}", "file", o->data[f], "lines",
                                (json_int_t)d->files[f].lines, "phishing",
                                (json_int_t)d->files[f].phishing, "sources", sources);
        if (json_array_append_new(all, one)) {
            json_decref(all);
            all = NULL;
        }
    }
    return all;
}

/* Prints a JSON report; false when it could not be built (out of memory). */
static bool print_json(json_t *j)
{
    if (!j) {
        fprintf(stderr, "rampart url-train: out of memory\n");
        return false;
    }
    json_dumpf(j, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(j);
    return true;
}

/* Writes the model next to path, then renames it over path, so a failed write leaves the old
 * model in place. */
static int write_model(const char *path, struct rp_str text)
{
    struct rp_buf tmp;
    int result = RP_EIO;
    rp_buf_init(&tmp, 4096);
    if (rp_buf_addf(&tmp, "%s.tmp", path)) {
        fprintf(stderr, "rampart url-train: output path too long\n");
        goto out;
    }
    FILE *f = fopen(tmp.ptr, "wb");
    if (!f) {
        fprintf(stderr, "rampart url-train: unable to open '%s': %s\n", tmp.ptr, strerror(errno));
        goto out;
    }
    bool ok = fwrite(text.ptr, 1, text.len, f) == text.len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp.ptr, path) != 0) {
        fprintf(stderr, "rampart url-train: unable to write '%s': %s\n", path, strerror(errno));
        remove(tmp.ptr);
        goto out;
    }
    result = RP_OK;
out:
    rp_buf_release(&tmp);
    return result;
}

/* Everything a run measures. */
struct figures {
    double threshold;     /* the one stored: chosen on valid */
    double own_threshold; /* the site-grouped split's, chosen the same way on host_valid */
    struct report valid;  /* validation split of the URL split's training side */
    struct report url_first, url_all;               /* (a), (b): URL split, the model saved */
    struct report host_valid, host_all, host_first; /* (c): site-grouped split */
};

/* The model's "note" lines: what it was trained on, how, and how well it did. */
static int model_notes(struct rp_buf *b, const struct dataset *d, const struct options *o,
                       const struct figures *g)
{
    const char *first = base_name(o->data[0]);
    int result = rp_buf_adds(b, "data: ");
    if (!result)
        result = describe_data(b, d, o);
    if (result)
        return result;
    return rp_buf_addf(
        b,
        "\nsplit: held out when rp_hash64(url, seed %d) %% 100 < %d; trained on %zu lines (%zu "
        "phishing) and %zu augmented copies, held out %zu\n"
        "training: FTRL-proximal logistic regression, %ld passes, seed %llu, alpha %g, beta %g, "
        "l1 %g, l2 %g, %s\n"
        "threshold: flags %g of the benign lines of sites its model never saw: site-grouped "
        "validation split of the training side, rp_hash64(registrable domain, seed %d) %% 100 < "
        "%d, scored by a model trained on the rest (there FPR %.4f, TPR %.4f)\n"
        "(a) held out, %s only: ROC-AUC %.5f, TPR %.4f at FPR %.4f; at the threshold TPR %.4f, "
        "FPR %.4f\n"
        "(b) held out, all files: ROC-AUC %.5f, TPR %.4f at FPR %.4f; at the threshold TPR %.4f, "
        "FPR %.4f\n"
        "(c) site-grouped split, rp_hash64(registrable domain, seed %d) %% 100 < %d (a separate "
        "model): all files ROC-AUC %.5f, TPR %.4f at FPR %.4f, at the threshold TPR %.4f, FPR "
        "%.4f; %s only ROC-AUC %.5f, TPR %.4f at FPR %.4f, at the threshold TPR %.4f, FPR %.4f\n"
        "caveat: phishing and benign come from different sources and years, the benign side from "
        "few sites; see docs/url-model.md",
        SPLIT_SEED, HOLDOUT_PERCENT, g->url_all.train_n, g->url_all.train_pos,
        g->url_all.train_copies, g->url_all.test_n, o->epochs, o->seed, o->alpha, o->beta, o->l1,
        o->l2, o->augment ? "augmented (scheme, www., front pages)" : "not augmented", TARGET_FPR,
        VALIDATE_SEED, HOLDOUT_PERCENT, g->valid.stored.fpr, g->valid.stored.tpr, first,
        g->url_first.auc, g->url_first.best.tpr, g->url_first.best.fpr, g->url_first.stored.tpr,
        g->url_first.stored.fpr, g->url_all.auc, g->url_all.best.tpr, g->url_all.best.fpr,
        g->url_all.stored.tpr, g->url_all.stored.fpr, SPLIT_SEED, HOLDOUT_PERCENT, g->host_all.auc,
        g->host_all.best.tpr, g->host_all.best.fpr, g->host_all.stored.tpr, g->host_all.stored.fpr,
        first, g->host_first.auc, g->host_first.best.tpr, g->host_first.best.fpr,
        g->host_first.stored.tpr, g->host_first.stored.fpr);
}

/* Saves the model with its notes, reads the text back and checks that the reloaded model scores
 * every example exactly as the one in memory: the figures printed are those of the file written. */
static int save_and_check(const struct dataset *d, struct rp_url_model *m, const char *notes,
                          const char *path, size_t *size, size_t *nweights)
{
    struct rp_url_model *loaded = NULL;
    struct rp_buf text;
    struct rp_error err = {{0}};
    rp_buf_init(&text, MODEL_CAP);
    int result = rp_url_model_set_notes(m, notes, &err);
    if (!result)
        result = rp_url_model_save(m, &text);
    if (!result)
        result = rp_url_model_load(rp_buf_str(&text), &loaded, &err);
    if (result) {
        fprintf(stderr, "rampart url-train: %s\n", err.msg[0] ? err.msg : rp_strerror(result));
        goto out;
    }
    for (size_t i = 0; i < d->n; i++) {
        struct rp_str in = rp_str_from_cstr(d->ex[i].url);
        if (rp_url_model_score(loaded, in, NULL) != rp_url_model_score(m, in, NULL) ||
            rp_url_model_threshold(loaded) != rp_url_model_threshold(m)) {
            fprintf(stderr, "rampart url-train: the saved model scores '%s' differently\n",
                    d->ex[i].url);
            result = RP_EINVAL;
            goto out;
        }
    }
    const char *w = strstr(text.ptr, "\nweights ");
    *nweights = w ? strtoul(w + 9, NULL, 10) : 0;
    *size = text.len;
    result = write_model(path, rp_buf_str(&text));
out:
    rp_url_model_free(loaded);
    rp_buf_release(&text);
    return result;
}

static int parse_opt_long(const char *name, const char *arg, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < lo || v > hi) {
        fprintf(stderr, "rampart url-train: --%s must be an integer from %ld to %ld, not '%s'\n",
                name, lo, hi, arg);
        return RP_EINVAL;
    }
    *out = v;
    return RP_OK;
}

static int parse_opt_double(const char *name, const char *arg, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !isfinite(v) || v < 0) {
        fprintf(stderr, "rampart url-train: --%s must be a number >= 0, not '%s'\n", name, arg);
        return RP_EINVAL;
    }
    *out = v;
    return RP_OK;
}

/* Fills o from the command line; *help is set when --help was given (and printed). */
static int parse_options(int argc, char **argv, struct options *o, bool *help)
{
    enum { O_HASH_BITS = 256, O_ALPHA, O_L1, O_L2, O_NO_AUGMENT, O_VALIDATE, O_JSON };
    static const struct option longopts[] = {{"data", required_argument, NULL, 'd'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"epochs", required_argument, NULL, 'e'},
                                             {"seed", required_argument, NULL, 's'},
                                             {"hash-bits", required_argument, NULL, O_HASH_BITS},
                                             {"alpha", required_argument, NULL, O_ALPHA},
                                             {"l1", required_argument, NULL, O_L1},
                                             {"l2", required_argument, NULL, O_L2},
                                             {"no-augment", no_argument, NULL, O_NO_AUGMENT},
                                             {"validate", no_argument, NULL, O_VALIDATE},
                                             {"json", no_argument, NULL, O_JSON},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c, result = RP_OK;
    long v;
    optind = 1;
    while (!result && (c = getopt_long(argc, argv, "d:o:e:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (o->ndata == MAX_DATA) {
                fprintf(stderr, "rampart url-train: --data given more than %d times\n", MAX_DATA);
                result = RP_EINVAL;
                break;
            }
            o->data[o->ndata++] = optarg;
            break;
        case 'o': o->out = optarg; break;
        case 'e': result = parse_opt_long("epochs", optarg, 1, 1000, &o->epochs); break;
        case 's':
            result = parse_opt_long("seed", optarg, 0, 0x7fffffffL, &v);
            o->seed = (unsigned long long)v;
            break;
        case O_HASH_BITS:
            result = parse_opt_long("hash-bits", optarg, RP_URL_MODEL_MIN_BITS,
                                    RP_URL_MODEL_MAX_BITS, &v);
            o->params.hash_bits = (unsigned)v;
            break;
        case O_ALPHA:
            result = parse_opt_double("alpha", optarg, &o->alpha);
            if (!result && o->alpha == 0) {
                fprintf(stderr, "rampart url-train: --alpha must be above 0\n");
                result = RP_EINVAL;
            }
            break;
        case O_L1: result = parse_opt_double("l1", optarg, &o->l1); break;
        case O_L2: result = parse_opt_double("l2", optarg, &o->l2); break;
        case O_NO_AUGMENT: o->augment = false; break;
        case O_VALIDATE: o->validate = true; break;
        case O_JSON: o->json = true; break;
        case 'h':
            usage(stdout);
            *help = true;
            return RP_OK;
        default: usage(stderr); return RP_EINVAL;
        }
    }
    if (!result && optind < argc) {
        fprintf(stderr, "rampart url-train: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        result = RP_EINVAL;
    }
    /* No default: the binary names no file of the development tree. */
    if (!result && o->ndata == 0) {
        fprintf(stderr, "rampart url-train: --data FILE is required\n");
        usage(stderr);
        result = RP_EINVAL;
    }
    if (!result && o->out == NULL && !o->validate) {
        fprintf(stderr, "rampart url-train: --out FILE is required\n");
        usage(stderr);
        result = RP_EINVAL;
    }
    return result;
}

int cmd_url_train(int argc, char **argv)
{
    struct options o = {.epochs = 6,
                        .seed = 1,
                        .params = RP_URL_MODEL_PARAMS_DEFAULT,
                        .alpha = 0.05,
                        .beta = 1.0,
                        .l1 = 1.0,
                        .l2 = 0.0,
                        .augment = true};
    struct dataset d;
    struct figures g;
    struct rp_url_model *m = NULL, *hm = NULL;
    size_t *url_test = NULL, *host_test = NULL, nurl_test = 0, nhost_test = 0;
    struct rp_buf data_text, notes;
    int status = CMD_EXIT_USAGE;
    memset(&d, 0, sizeof(d));
    memset(&g, 0, sizeof(g));
    rp_buf_init(&data_text, 65536);
    rp_buf_init(&notes, 65536);
    bool help = false;
    if (parse_options(argc, argv, &o, &help))
        return CMD_EXIT_USAGE;
    if (help)
        return CMD_EXIT_OK;
    for (size_t f = 0; f < o.ndata; f++)
        if (dataset_read(&d, f, &o))
            goto out;
    fprintf(stderr,
            "url-train: %zu lines (%zu parse as URLs), %zu augmented copies, %zu "
            "features\n",
            d.n - d.variants, d.parsed, d.variants, d.nfeat);
    if (describe_data(&data_text, &d, &o)) {
        fprintf(stderr, "rampart url-train: out of memory\n");
        goto out;
    }

    /* The stored threshold, from a model that never saw the validation sites; nothing is chosen
     * on held-out lines. */
    if (choose_threshold(&d, SPLIT_URL_VALIDATE, &o, "validation split", &g.valid, &g.threshold))
        goto out;
    const char *valid_title = "threshold: chosen on a site-grouped validation split of the URL "
                              "split's training side,\n  rp_hash64(registrable domain, seed 1) "
                              "% 100 < 20, scored by a model trained on the rest (not saved)";
    if (o.validate) {
        if (o.json) {
            if (!print_json(json_pack("{s:o, s:o, s:o}", "data", data_json(&d, &o), "threshold",
                                      json_figure(g.threshold), "validation",
                                      report_json(&g.valid))))
                goto out;
        } else {
            printf("data: %s\n", data_text.ptr);
            print_validation(valid_title, &g.valid);
        }
        status = CMD_EXIT_OK;
        goto out;
    }

    /* (a), (b): the model saved, trained on the whole training side of the URL split. */
    struct report train_counts;
    memset(&train_counts, 0, sizeof(train_counts));
    if (train_split(&d, SPLIT_URL, &o, "URL split", &train_counts, &m, &url_test, &nurl_test))
        goto out;
    rp_url_model_set_threshold(m, g.threshold);
    if (report_held_out(&d, url_test, nurl_test, true, m, g.threshold, NAN, &train_counts,
                        &g.url_first) ||
        report_held_out(&d, url_test, nurl_test, false, m, g.threshold, NAN, &train_counts,
                        &g.url_all))
        goto out;

    /* (c): a model that never saw the held-out sites, at the stored threshold and at the one the
     * same rule picks inside this split's own training side. */
    if (choose_threshold(&d, SPLIT_HOST_VALIDATE, &o, "site-grouped validation split",
                         &g.host_valid, &g.own_threshold))
        goto out;
    memset(&train_counts, 0, sizeof(train_counts));
    if (train_split(&d, SPLIT_HOST, &o, "site-grouped split", &train_counts, &hm, &host_test,
                    &nhost_test))
        goto out;
    if (report_held_out(&d, host_test, nhost_test, false, hm, g.threshold, g.own_threshold,
                        &train_counts, &g.host_all) ||
        report_held_out(&d, host_test, nhost_test, true, hm, g.threshold, g.own_threshold,
                        &train_counts, &g.host_first))
        goto out;

    size_t size = 0, nweights = 0;
    if (model_notes(&notes, &d, &o, &g)) {
        fprintf(stderr, "rampart url-train: notes too long\n");
        goto out;
    }
    if (save_and_check(&d, m, notes.ptr, o.out, &size, &nweights))
        goto out;
    size_t benign_flagged, phishing_flagged;
    if (o.json) {
        smoke_test(m, false, &benign_flagged, &phishing_flagged);
        json_t *j = json_pack(
            "{s:o, s:o, s:o, s:{s:o, s:o}, s:{s:o, s:o, s:o, s:o}, s:{s:I, s:I, s:I, s:I}, s:s, "
            "s:I, s:I}",
            "data", data_json(&d, &o), "threshold", json_figure(g.threshold), "validation",
            report_json(&g.valid), "url_split", "first_file", report_json(&g.url_first), "all",
            report_json(&g.url_all), "site_grouped_split", "own_threshold",
            json_figure(g.own_threshold), "validation", report_json(&g.host_valid), "all",
            report_json(&g.host_all), "first_file", report_json(&g.host_first), "everyday",
            "benign", (json_int_t)(sizeof(everyday_benign) / sizeof(everyday_benign[0])),
            "benign_flagged", (json_int_t)benign_flagged, "phishing",
            (json_int_t)(sizeof(everyday_phishing) / sizeof(everyday_phishing[0])),
            "phishing_flagged", (json_int_t)phishing_flagged, "model", o.out, "bytes",
            (json_int_t)size, "weights", (json_int_t)nweights);
        if (!print_json(j))
            goto out;
    } else {
        const char *first = base_name(o.data[0]);
        struct rp_buf title;
        rp_buf_init(&title, 4096);
        printf("data: %s\n", data_text.ptr);
        print_validation(valid_title, &g.valid);
        printf("URL split: held out when rp_hash64(url, seed 0) %% 100 < 20; the model saved\n");
        print_training(&g.url_all);
        if (rp_buf_addf(&title, "(a) held-out lines of %s", first) == RP_OK)
            print_report(title.ptr, &g.url_first);
        print_report("(b) all held-out lines", &g.url_all);
        printf("site-grouped split: held out when rp_hash64(registrable domain, seed 0) %% 100 < "
               "20 (a separate model, not saved)\n");
        print_training(&g.host_all);
        printf("  own threshold %.6g, chosen as the stored one inside this split's training side "
               "(FPR %.4f, TPR %.4f on its %zu validation URLs)\n",
               g.own_threshold, g.host_valid.stored.fpr, g.host_valid.stored.tpr,
               g.host_valid.test_n);
        print_report("(c) all held-out lines", &g.host_all);
        rp_buf_reset(&title);
        if (rp_buf_addf(&title, "(c) held-out lines of %s", first) == RP_OK)
            print_report(title.ptr, &g.host_first);
        rp_buf_release(&title);
        printf("everyday addresses written for this check, not from the data (a smoke test):\n");
        smoke_test(m, true, &benign_flagged, &phishing_flagged);
        printf("  flagged %zu of %zu benign, %zu of %zu phishing-shaped\n", benign_flagged,
               sizeof(everyday_benign) / sizeof(everyday_benign[0]), phishing_flagged,
               sizeof(everyday_phishing) / sizeof(everyday_phishing[0]));
        printf("model written to %s (%zu non-zero weights, %zu bytes)\n", o.out, nweights, size);
    }
    status = CMD_EXIT_OK;
out:
    rp_url_model_free(m);
    rp_url_model_free(hm);
    free(url_test);
    free(host_test);
    rp_buf_release(&data_text);
    rp_buf_release(&notes);
    dataset_release(&d);
    return status;
}
