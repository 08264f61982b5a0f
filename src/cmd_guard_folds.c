/* `rampart guard-eval --split by-source|by-group`: the guardrails on sources (or groups) that
 * their classifier never saw. Every source in turn is held out, a model is trained on the rest
 * as `rampart guard-train` trains one, and the held-out texts are inspected by the whole guard
 * (rules and that model); docs/guardrails.md. */
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
#include "rampart/learn.h"

/* by-group: groups are many (thousands), so they are dealt into this many folds by hash. */
#define GROUP_FOLDS 5

/* What the guard did to the held-out texts of one source and kind. */
struct cell {
    const char *source; /* borrowed from the examples */
    char kind[32];
    size_t n, refused, flagged;
};

struct cells {
    struct cell *v;
    size_t n, alloc;
};

static struct cell *cell_for(struct cells *c, const char *source, const char *kind)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].source, source) && !strcmp(c->v[i].kind, kind))
            return &c->v[i];
    if (c->n == c->alloc) {
        size_t na = c->alloc ? c->alloc * 2 : 64;
        struct cell *nv = realloc(c->v, na * sizeof(*nv));
        if (!nv)
            return NULL;
        c->v = nv;
        c->alloc = na;
    }
    struct cell *x = &c->v[c->n++];
    memset(x, 0, sizeof(*x));
    x->source = source;
    snprintf(x->kind, sizeof(x->kind), "%s", kind);
    return x;
}

static int cell_cmp(const void *a, const void *b)
{
    const struct cell *x = a, *y = b;
    int s = strcmp(x->source, y->source);
    return s ? s : strcmp(x->kind, y->kind);
}

/* The fold of every example: by source, one fold a distinct source (numbered in order of first
 * appearance); by group, the group's hash modulo GROUP_FOLDS. Returns the number of folds. */
static size_t assign_folds(const struct examples *ex, bool by_group, size_t *fold,
                           const char **names)
{
    size_t n_folds = 0;
    for (size_t i = 0; i < ex->n; i++) {
        const struct example *x = &ex->v[i];
        if (by_group) {
            fold[i] = rp_hash64(x->group, strlen(x->group), 0x666f6c64ull) % GROUP_FOLDS;
            continue;
        }
        size_t f = 0;
        while (f < n_folds && strcmp(names[f], x->source))
            f++;
        if (f == n_folds)
            names[n_folds++] = x->source;
        fold[i] = f;
    }
    return by_group ? GROUP_FOLDS : n_folds;
}

/* Writes the model text to a new file in the temporary directory; path gets its name. */
static int write_temp(const struct rp_buf *text, char *path, size_t size)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, size, "%s/rampart-fold-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return RP_EIO;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(path);
        return RP_EIO;
    }
    bool ok = fwrite(text->ptr, 1, text->len, f) == text->len;
    if (fclose(f) || !ok) {
        unlink(path);
        return RP_EIO;
    }
    return RP_OK;
}

static json_t *rate_json(size_t k, size_t n)
{
    return n ? json_real((double)k / (double)n) : json_null();
}

static void print_rate(size_t k, size_t n)
{
    if (n)
        printf(" %8.4f", (double)k / (double)n);
    else
        printf(" %8s", "-");
}

int cmd_guard_eval_folds(const char *prog, struct examples *ex, bool by_group,
                         enum rp_guard_dir dir, const char *config,
                         const struct cmd_guard_recipe *how, bool json)
{
    struct rp_config cfg = {0};
    struct cmd_guard_feats f = {0};
    struct cmd_guard_recipe recipe = *how;
    recipe.quiet = true;
    struct cells cells = {0};
    struct rp_buf model;
    struct rp_error err;
    size_t *fold = calloc(ex->n, sizeof(*fold));
    size_t *train = malloc(ex->n * sizeof(*train));
    const char **names = calloc(ex->n, sizeof(*names));
    struct rp_learn_scored *scored = malloc(ex->n * sizeof(*scored));
    size_t n_scored = 0;
    int status = CMD_EXIT_USAGE, result;
    rp_buf_init(&model, 256u << 20);
    if (!fold || !train || !names || !scored)
        goto oom;
    size_t n_folds = assign_folds(ex, by_group, fold, names);
    if (n_folds < 2) {
        fprintf(stderr, "rampart %s: --split by-source needs texts from two sources or more\n",
                prog);
        goto out;
    }
    result = rp_config_init(&cfg);
    if (!result && config)
        result = rp_config_load_file(&cfg, config, &err);
    if (result) {
        fprintf(stderr, "rampart %s: %s\n", prog, result == RP_ENOMEM ? "out of memory" : err.msg);
        goto out;
    }
    if (cmd_guard_feats_build(ex, &recipe, &f))
        goto oom;
    for (size_t k = 0; k < n_folds; k++) {
        size_t n_train = 0, n_test = 0;
        for (size_t i = 0; i < ex->n; i++) {
            if (fold[i] != k)
                train[n_train++] = i;
            else
                n_test++;
        }
        fprintf(stderr, "%s: fold %zu of %zu: %s (%zu texts held out, %zu trained on)\n", prog,
                k + 1, n_folds, by_group ? "groups" : names[k], n_test, n_train);
        if (!n_test)
            continue;
        struct cmd_guard_fit m;
        result = cmd_guard_fit_model(ex, &f, train, n_train, &recipe, &m);
        if (result == RP_EINVAL) {
            fprintf(stderr,
                    "rampart %s: the texts outside fold %zu lack attacks or ordinary texts to "
                    "train on\n",
                    prog, k + 1);
            goto out;
        }
        if (result)
            goto oom;
        rp_buf_reset(&model);
        result = rp_guard_model_write(recipe.bits, recipe.gram_min, recipe.gram_max, m.w, m.bias,
                                      m.threshold, "a fold of guard-eval", &model);
        free(m.w);
        if (result)
            goto oom;
        char path[4096];
        if (write_temp(&model, path, sizeof(path))) {
            fprintf(stderr, "rampart %s: unable to write a model to the temporary directory\n",
                    prog);
            goto out;
        }
        struct rp_guard_options o;
        struct rp_guard *g = NULL;
        struct rp_guard_scratch *s = NULL;
        rp_guard_options_from_config(&cfg, &o);
        o.model_files[dir] = path;
        result = rp_guard_new(&o, &g, &err);
        unlink(path);
        if (result) {
            fprintf(stderr, "rampart %s: %s\n", prog,
                    result == RP_ENOMEM ? "out of memory" : err.msg);
            goto out;
        }
        if (rp_guard_scratch_new(g, &s)) {
            rp_guard_free(g);
            goto oom;
        }
        for (size_t i = 0; i < ex->n && !result; i++) {
            const struct example *x = &ex->v[i];
            struct rp_guard_result r;
            struct cell *c = NULL;
            if (fold[i] != k)
                continue;
            result = rp_guard_inspect(g, s, dir, (struct rp_str){x->text, x->len}, &r);
            if (result)
                break;
            if ((c = cell_for(&cells, x->source, x->kind))) {
                c->n++;
                c->refused += r.verdict == RP_GUARD_REFUSE;
                c->flagged += r.verdict == RP_GUARD_FLAG || r.verdict == RP_GUARD_MODIFY;
                scored[n_scored++] = (struct rp_learn_scored){r.points - r.neutralised, x->label};
            } else {
                result = RP_ENOMEM;
            }
            rp_guard_result_release(&r);
        }
        rp_guard_scratch_free(s);
        rp_guard_free(g);
        if (result)
            goto oom;
    }
    if (cells.n > 1)
        qsort(cells.v, cells.n, sizeof(*cells.v), cell_cmp);

    /* Totals a kind, after the rows a source and kind. */
    struct cell kinds[32];
    size_t n_kinds = 0;
    for (size_t i = 0; i < cells.n; i++) {
        size_t q = 0;
        while (q < n_kinds && strcmp(kinds[q].kind, cells.v[i].kind))
            q++;
        if (q == n_kinds) {
            if (n_kinds == 32)
                continue;
            memset(&kinds[q], 0, sizeof(kinds[q]));
            kinds[q].source = "(all)";
            snprintf(kinds[q].kind, sizeof(kinds[q].kind), "%s", cells.v[i].kind);
            n_kinds++;
        }
        kinds[q].n += cells.v[i].n;
        kinds[q].refused += cells.v[i].refused;
        kinds[q].flagged += cells.v[i].flagged;
    }
    double t05 = cmd_tpr_at_fpr(scored, n_scored, 0.005);
    double t1 = cmd_tpr_at_fpr(scored, n_scored, 0.01);
    const char *split = by_group ? "by-group" : "by-source";
    if (json) {
        json_t *rows = json_array(), *totals = json_array();
        for (size_t i = 0; i < cells.n + n_kinds; i++) {
            const struct cell *c = i < cells.n ? &cells.v[i] : &kinds[i - cells.n];
            json_t *o = json_pack("{s:s, s:s, s:I, s:o, s:o}", "source", c->source, "kind", c->kind,
                                  "texts", (json_int_t)c->n, "refused", rate_json(c->refused, c->n),
                                  "flagged", rate_json(c->flagged, c->n));
            json_array_append_new(i < cells.n ? rows : totals, o);
        }
        json_t *j = json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o}", "split", split, "direction",
                              dir == RP_GUARD_INPUT ? "input" : "output", "folds",
                              (json_int_t)n_folds, "sources", rows, "kinds", totals,
                              "tpr_at_0.5pct_fpr", isnan(t05) ? json_null() : json_real(t05),
                              "tpr_at_1pct_fpr", isnan(t1) ? json_null() : json_real(t1));
        char *txt = json_dumps(j, JSON_COMPACT);
        printf("%s\n", txt ? txt : "{}");
        free(txt);
        json_decref(j);
    } else {
        printf("%-60s %-12s %6s %8s %8s\n", "source", "kind", "texts", "refused", "flagged");
        for (size_t i = 0; i < cells.n + n_kinds; i++) {
            const struct cell *c = i < cells.n ? &cells.v[i] : &kinds[i - cells.n];
            if (i == cells.n)
                printf("\n");
            printf("%-60.60s %-12s %6zu", c->source, c->kind, c->n);
            print_rate(c->refused, c->n);
            print_rate(c->flagged, c->n);
            printf("\n");
        }
        printf("\nTPR at 0.5%% FPR %s%.4f, at 1%% FPR %s%.4f (ranking by anomaly points, all "
               "folds pooled)\n",
               isnan(t05) ? "n/a " : "", isnan(t05) ? 0 : t05, isnan(t1) ? "n/a " : "",
               isnan(t1) ? 0 : t1);
        printf("(%s split, %zu folds, %s direction: each fold's texts inspected by the rules and "
               "a model trained without them; refused = at or over the refuse score, flagged = "
               "flagged or modified)\n",
               split, n_folds, dir == RP_GUARD_INPUT ? "input" : "output");
    }
    status = CMD_EXIT_OK;
    goto out;
oom:
    fprintf(stderr, "rampart %s: out of memory\n", prog);
out:
    rp_buf_release(&model);
    cmd_guard_feats_release(&f);
    rp_config_release(&cfg);
    free(cells.v);
    free(fold);
    free(train);
    free(names);
    free(scored);
    return status;
}
