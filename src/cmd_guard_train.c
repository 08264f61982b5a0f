/* `rampart guard-train`: trains the guardrails' learned classifiers (docs/guardrails.md,
 * docs/training.md). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_guard.h"
#include "commands.h"
#include "rampart/config.h"
#include "rampart/guard.h"
#include "rampart/json.h"
#include "rampart/learn.h"

static void train_usage(FILE *f)
{
    fprintf(f,
            "usage: rampart guard-train --data FILE.jsonl [--data FILE.jsonl]... --out MODEL\n"
            "                           [--bits N] [--epochs N]\n"
            "                           [--target-fpr X] [--ngrams MIN-MAX] [--l2 X]\n"
            "                           [--ordinary-weight W] [--calibrate] [--benign FILE]...\n"
            "\n"
            "Trains a guard classifier (logistic regression over hashed word and character\n"
            "n-grams) on the 80%% of each FILE outside the evaluation split, and chooses its\n"
            "threshold by 5-fold cross-validation on that 80%%, with whole groups in a fold\n"
            "(\"group\", else each text its own), so that about X of the ordinary texts score\n"
            "above it. FILE as for guard-eval (up to 8); answers train the output classifier.\n"
            "\n"
            "  --benign FILE       more ordinary texts ({\"text\"} lines) to train on; they do\n"
            "                      not decide the threshold (repeatable)\n" CMD_GUARD_RECIPE_HELP);
}

int cmd_guard_recipe_option(const char *prog, int c, const char *arg, struct cmd_guard_recipe *r)
{
    char *end = NULL;
    const char *name = NULL;
    bool ok = true;
    unsigned long u;
    switch (c) {
    case CMD_GUARD_O_BITS:
        name = "bits";
        u = strtoul(arg, &end, 10);
        ok = u >= 10 && u <= 22;
        r->bits = (unsigned)u;
        break;
    case CMD_GUARD_O_EPOCHS:
        name = "epochs";
        u = strtoul(arg, &end, 10);
        ok = u >= 1 && u <= 1000;
        r->epochs = (int)u;
        break;
    case CMD_GUARD_O_TARGET_FPR:
        name = "target-fpr";
        r->target_fpr = strtod(arg, &end);
        ok = r->target_fpr > 0 && r->target_fpr < 0.5;
        break;
    case CMD_GUARD_O_L2:
        name = "l2";
        r->l2 = strtod(arg, &end);
        ok = r->l2 >= 0 && r->l2 <= 1;
        break;
    case CMD_GUARD_O_ORDINARY_WEIGHT:
        name = "ordinary-weight";
        r->ordinary_weight = strtod(arg, &end);
        ok = r->ordinary_weight >= 1 && r->ordinary_weight <= 1000;
        break;
    case CMD_GUARD_O_CALIBRATE: r->calibrate = true; return 1;
    case CMD_GUARD_O_NGRAMS:
        if (sscanf(arg, "%u-%u", &r->gram_min, &r->gram_max) != 2 ||
            !((r->gram_min == 0 && r->gram_max == 0) ||
              (r->gram_min >= 3 && r->gram_min <= r->gram_max && r->gram_max <= 5))) {
            fprintf(stderr, "rampart %s: --ngrams wants MIN-MAX within 3-5, or 0-0\n", prog);
            return -1;
        }
        return 1;
    default: return 0;
    }
    if (end == arg || *end || !ok) {
        fprintf(stderr, "rampart %s: bad value '%s' for --%s\n", prog, arg, name);
        return -1;
    }
    return 1;
}

static void feat_fn(void *arg, uint32_t index, float value)
{
    struct cmd_guard_feats *f = arg;
    if (f->n == f->alloc) {
        size_t na = f->alloc ? f->alloc * 2 : 1u << 20;
        uint32_t *ni = realloc(f->idx, na * sizeof(*ni));
        float *nv = ni ? realloc(f->val, na * sizeof(*nv)) : NULL;
        if (ni)
            f->idx = ni;
        if (!nv) {
            f->oom = true;
            return;
        }
        f->val = nv;
        f->alloc = na;
    }
    f->idx[f->n] = index;
    f->val[f->n++] = value;
}

/* Logistic regression by AdaGrad over the examples listed in order (count of them). The loss of
 * an ordinary text of --data is weighted: at a low false-positive rate what counts is how far
 * the highest-scoring ordinary texts sit below the attacks, and weighting them pushes the
 * ordinary texts down harder than it pulls the attacks up. The --benign texts keep weight 1: in
 * cross-validation, weighting them alike undid most of the gain. */
static int fit(const struct cmd_guard_feats *f, const struct example *ex, const size_t *order,
               size_t count, const struct cmd_guard_recipe *fp, float *w, double *bias)
{
    size_t nw = (size_t)1 << fp->bits;
    const struct rp_learn_params params = {RP_LEARN_ADAGRAD, 0.5, 0, 0, fp->l2};
    struct rp_learn_opt *opt = NULL;
    size_t *ord = malloc(count * sizeof(*ord));
    if (!ord || rp_learn_opt_new(&params, nw + 1, &opt)) {
        free(ord);
        return RP_ENOMEM;
    }
    memcpy(ord, order, count * sizeof(*ord));
    uint64_t rs = 0x9e3779b97f4a7c15ull;
    for (int e = 0; e < fp->epochs; e++) {
        rp_learn_shuffle(ord, count, &rs);
        for (size_t q = 0; q < count; q++) {
            size_t i = ord[q];
            double z = rp_learn_opt_weight(opt, nw);
            for (size_t k = f->start[i]; k < f->start[i + 1]; k++)
                z += rp_learn_opt_weight(opt, f->idx[k]) * f->val[k];
            double p = rp_learn_sigmoid(z);
            double gr = rp_learn_logloss_gradient(
                p, ex[i].label, !ex[i].label && !ex[i].extra ? fp->ordinary_weight : 1);
            for (size_t k = f->start[i]; k < f->start[i + 1]; k++)
                rp_learn_opt_step(opt, f->idx[k], gr * f->val[k]);
            rp_learn_opt_step(opt, nw, gr);
        }
    }
    for (size_t j = 0; j < nw; j++)
        w[j] = (float)rp_learn_opt_weight(opt, j);
    /* Weighting the ordinary texts by W lowers every log-odds by about log W; given back here,
     * so that p stays near a probability for the data's own mix (the ranking, and so the rates,
     * are unchanged) and the threshold keeps clear of its floor of 0.05. */
    *bias = rp_learn_opt_weight(opt, nw) + log(fp->ordinary_weight);
    rp_learn_opt_free(opt);
    free(ord);
    return RP_OK;
}

/* The log-odds of example i. */
static double logit_of(const struct cmd_guard_feats *f, size_t i, const float *w, double b)
{
    double z = b;
    for (size_t k = f->start[i]; k < f->start[i + 1]; k++)
        z += w[f->idx[k]] * f->val[k];
    return z;
}

int cmd_guard_feats_build(const struct examples *ex, const struct cmd_guard_recipe *r,
                          struct cmd_guard_feats *f)
{
    f->start = malloc((ex->n + 1) * sizeof(*f->start));
    if (!f->start)
        return RP_ENOMEM;
    for (size_t i = 0; i < ex->n; i++) {
        f->start[i] = f->n;
        rp_guard_model_features(r->bits, r->gram_min, r->gram_max,
                                (struct rp_str){ex->v[i].text, ex->v[i].len}, feat_fn, f);
    }
    f->start[ex->n] = f->n;
    return f->oom ? RP_ENOMEM : RP_OK;
}

void cmd_guard_feats_release(struct cmd_guard_feats *f)
{
    free(f->idx);
    free(f->val);
    free(f->start);
    memset(f, 0, sizeof(*f));
}

/* The fold of cross-validation an example falls in: by its group, so that the near-copies of a
 * group (one template filled with many questions, one question in many wrappers) are never on
 * both sides of a fold, and the threshold is chosen on scores of texts like none trained on. */
static uint64_t cv_fold(const struct example *x)
{
    return rp_hash64(x->group, strlen(x->group), 0x666f6c64ull) % 5;
}

int cmd_guard_fit_model(const struct examples *ex, const struct cmd_guard_feats *f,
                        const size_t *train, size_t n_train, const struct cmd_guard_recipe *r,
                        struct cmd_guard_fit *out)
{
    memset(out, 0, sizeof(*out));
    size_t pos = 0, neg = 0;
    for (size_t q = 0; q < n_train; q++)
        *(ex->v[train[q]].label ? &pos : &neg) += 1;
    if (!pos || !neg)
        return RP_EINVAL;
    float *w = malloc(((size_t)1 << r->bits) * sizeof(*w));
    struct rp_learn_scored *oof = malloc(n_train * sizeof(*oof));
    size_t *fold_train = malloc(n_train * sizeof(*fold_train));
    double *oof_score = calloc(ex->n, sizeof(*oof_score));
    if (!w || !oof || !fold_train || !oof_score)
        goto oom;
    /* Out-of-fold scores of the training part: the threshold is chosen on them. */
    for (uint64_t fold = 0; fold < 5; fold++) {
        size_t nf = 0;
        for (size_t q = 0; q < n_train; q++)
            if (cv_fold(&ex->v[train[q]]) != fold)
                fold_train[nf++] = train[q];
        double b;
        if (fit(f, ex->v, fold_train, nf, r, w, &b))
            goto oom;
        for (size_t q = 0; q < n_train; q++)
            if (cv_fold(&ex->v[train[q]]) == fold)
                oof_score[train[q]] = logit_of(f, train[q], w, b);
        if (!r->quiet)
            fprintf(stderr, "guard-train: fold %d of 5 done\n", (int)fold + 1);
    }
    /* With calibration, the log-odds are rescaled and shifted to fit the out-of-fold labels of
     * the texts of --data; the model gets the same a and c. */
    double ca = 1, cc = 0;
    if (r->calibrate) {
        size_t n_cal = 0;
        for (size_t q = 0; q < n_train; q++)
            if (!ex->v[train[q]].extra)
                oof[n_cal++] = (struct rp_learn_scored){oof_score[train[q]], ex->v[train[q]].label};
        rp_learn_platt(oof, n_cal, &ca, &cc);
    }
    for (size_t q = 0; q < n_train; q++)
        oof_score[train[q]] = rp_learn_sigmoid(ca * oof_score[train[q]] + cc);
    /* The threshold: the smallest score with at most target of ordinary texts at or above. */
    size_t n_neg = 0;
    for (size_t q = 0; q < n_train; q++)
        if (!ex->v[train[q]].label && !ex->v[train[q]].extra)
            oof[n_neg++] = (struct rp_learn_scored){oof_score[train[q]], 0};
    if (n_neg > 1)
        qsort(oof, n_neg, sizeof(*oof), rp_learn_scored_cmp_desc);
    double threshold = rp_learn_threshold_at_fpr(oof, n_neg, r->target_fpr, nextafter(0.5, 1.0));
    if (threshold < 0.05)
        threshold = 0.05;
    if (threshold > 0.9999)
        threshold = 0.9999;
    for (size_t q = 0; q < n_train; q++) {
        const struct example *x = &ex->v[train[q]];
        bool hit = oof_score[train[q]] >= threshold;
        if (x->extra)
            continue;
        if (x->label)
            out->tp += hit;
        else
            out->fp += hit;
        if (!strcmp(x->kind, "benign-hard")) {
            out->hard++;
            out->hard_fp += hit;
        }
    }
    size_t n_all = 0;
    for (size_t q = 0; q < n_train; q++)
        if (!ex->v[train[q]].extra)
            oof[n_all++] = (struct rp_learn_scored){oof_score[train[q]], ex->v[train[q]].label};
    out->tpr_at_1pct = cmd_tpr_at_fpr(oof, n_all, 0.01);
    free(oof_score);
    free(fold_train);
    free(oof);
    double bias;
    if (fit(f, ex->v, train, n_train, r, w, &bias)) {
        free(w);
        return RP_ENOMEM;
    }
    for (size_t j = 0; j < ((size_t)1 << r->bits); j++)
        w[j] = (float)(ca * w[j]);
    out->w = w;
    out->bias = ca * bias + cc;
    out->threshold = threshold;
    out->scale = ca;
    out->shift = cc;
    out->n_train = n_train;
    out->pos = pos;
    out->neg = n_neg;
    return RP_OK;
oom:
    free(w);
    free(oof);
    free(fold_train);
    free(oof_score);
    return RP_ENOMEM;
}

int cmd_guard_train(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'D'},
        {"out", required_argument, NULL, 'o'},
        {"benign", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        CMD_GUARD_RECIPE_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *data[8], *outp = NULL;
    size_t n_data = 0;
    struct cmd_guard_recipe recipe = CMD_GUARD_RECIPE_DEFAULT;
    const char *benign[8];
    size_t n_benign = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int taken = cmd_guard_recipe_option("guard-train", c, optarg, &recipe);
        if (taken < 0)
            return CMD_EXIT_USAGE;
        if (taken)
            continue;
        switch (c) {
        case 'D':
            if (n_data == 8) {
                fprintf(stderr, "rampart guard-train: at most 8 --data files\n");
                return CMD_EXIT_USAGE;
            }
            data[n_data++] = optarg;
            break;
        case 'o': outp = optarg; break;
        case 'B':
            if (n_benign == 8) {
                fprintf(stderr, "rampart guard-train: at most 8 --benign files\n");
                return CMD_EXIT_USAGE;
            }
            benign[n_benign++] = optarg;
            break;
        case 'h': train_usage(stdout); return CMD_EXIT_OK;
        default: train_usage(stderr); return CMD_EXIT_USAGE;
        }
    }
    if (!n_data || !outp || optind < argc) {
        train_usage(stderr);
        return CMD_EXIT_USAGE;
    }
    struct examples ex = {0};
    struct cmd_guard_feats f = {0};
    struct cmd_guard_fit fit_out = {0};
    size_t *train = NULL;
    int status = CMD_EXIT_USAGE, result;
    char names[256] = "";
    for (size_t i = 0; i < n_data; i++) {
        if (cmd_examples_read("guard-train", data[i], &ex, false))
            goto out;
        size_t len = strlen(names);
        snprintf(names + len, sizeof(names) - len, "%s%s", i ? " and " : "",
                 cmd_base_name(data[i]));
    }
    for (size_t i = 0; i < n_benign; i++)
        if (cmd_examples_read("guard-train", benign[i], &ex, true))
            goto out;
    train = malloc(ex.n * sizeof(*train));
    if (!train || cmd_guard_feats_build(&ex, &recipe, &f))
        goto oom;
    size_t n_train = 0;
    for (size_t i = 0; i < ex.n; i++)
        if (!ex.v[i].held)
            train[n_train++] = i;
    fprintf(stderr, "guard-train: %zu examples, %zu for training, %zu held out\n", ex.n, n_train,
            ex.n - n_train);
    result = cmd_guard_fit_model(&ex, &f, train, n_train, &recipe, &fit_out);
    if (result == RP_EINVAL) {
        fprintf(stderr, "rampart guard-train: %s: needs both attacks and ordinary texts\n", names);
        goto out;
    }
    if (result)
        goto oom;
    const struct cmd_guard_fit *m = &fit_out;
    double ca = m->scale, cc = m->shift, threshold = m->threshold;
    char cal[128] = "";
    if (recipe.calibrate)
        snprintf(cal, sizeof(cal), "\nlog-odds calibrated on the out-of-fold scores: x %.4g, %+.4g",
                 ca, cc);
    /* Only settings off their defaults are noted: a model trained as before reads as before. */
    char shape[96] = "";
    if (recipe.l2 != CMD_GUARD_DEFAULT_L2 || recipe.ordinary_weight != 1)
        snprintf(shape, sizeof(shape), ", L2 %g, ordinary texts weighted %g", recipe.l2,
                 recipe.ordinary_weight);
    char notes[1024];
    snprintf(notes, sizeof(notes),
             "trained by rampart guard-train on %zu of the %zu texts of %s and the --benign\n"
             "files (the 20%% whose text hash is 0 mod 5 held out for evaluation); %d epochs,\n"
             "2^%u weights%s\n"
             "threshold from 5-fold cross-validation by group on the training part: %.4f of\n"
             "ordinary "
             "texts, %.4f of attacks at or above it (%zu/%zu benign-hard); TPR %.4f at 1%% FPR%s",
             n_train, ex.n, names, recipe.epochs, recipe.bits, shape,
             m->neg ? (double)m->fp / (double)m->neg : 0,
             m->pos ? (double)m->tp / (double)m->pos : 0, m->hard_fp, m->hard, m->tpr_at_1pct, cal);
    fprintf(stderr, "guard-train: %s\n", notes);
    struct rp_buf text;
    rp_buf_init(&text, 256u << 20);
    if (rp_guard_model_write(recipe.bits, recipe.gram_min, recipe.gram_max, m->w, m->bias,
                             threshold, notes, &text)) {
        rp_buf_release(&text);
        goto oom;
    }
    FILE *o = fopen(outp, "w");
    if (!o || fwrite(text.ptr, 1, text.len, o) != text.len || fclose(o)) {
        fprintf(stderr, "rampart guard-train: unable to write '%s'\n", outp);
        rp_buf_release(&text);
        goto out;
    }
    rp_buf_release(&text);
    fprintf(stderr, "guard-train: wrote %s (threshold %.4f)\n", outp, threshold);
    status = CMD_EXIT_OK;
    goto out;
oom:
    fprintf(stderr, "rampart guard-train: out of memory\n");
out:
    cmd_examples_release(&ex);
    cmd_guard_feats_release(&f);
    free(train);
    free(fit_out.w);
    return status;
}
