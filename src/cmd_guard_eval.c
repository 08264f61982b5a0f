/* `rampart guard-eval`: the rates of the guardrails on labelled texts (docs/guardrails.md). */
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

static void eval_usage(FILE *f)
{
    fprintf(f,
            "usage: rampart guard-eval --data FILE.jsonl [--data FILE.jsonl]...\n"
            "                          [--split all|held-out|train|by-source|by-group]\n"
            "                          [--direction input|output] [--config FILE] [--json]\n"
            "                          [training options, for by-source and by-group]\n"
            "\n"
            "Inspects every labelled text of FILE and prints, per kind and overall, the rate of\n"
            "attacks refused (true positives) and of ordinary texts refused (false positives) at\n"
            "the configured refuse score, and the true-positive rate at 1%% false positives.\n"
            "FILE holds {\"text\",\"label\",\"kind\"} lines (label 1 = attack) or\n"
            "{\"response\",\"jailbroken\"} lines (answers; the output direction is then implied).\n"
            "\n"
            "  --split by-source   leave one source out: for every source in turn, train a\n"
            "                      model as `rampart guard-train` does on the texts of all the\n"
            "                      other sources, and inspect the source's texts with the rules\n"
            "                      and that model; prints each source's refused and flagged\n"
            "                      shares and the TPR at 0.5%% and 1%% FPR over all of them.\n"
            "                      The figures that predict texts from elsewhere\n"
            "  --split by-group    the same over 5 folds of whole groups (\"group\"; an\n"
            "                      answer's \"category\" when it has none)\n"
            "  --split held-out    only the 20%% split by hash of the text that guard-train\n"
            "                      never trains on (near-copies land on both sides: flatters);\n"
            "                      train: the other 80%%; default: all, with the configured\n"
            "                      model\n"
            "  --direction DIR     input or output (default: input; output for answers)\n"
            "  --config FILE       the guard: section of a `rampart serve` configuration\n"
            "  --json              the figures as one JSON object\n"
            "\n"
            "With --split by-source or by-group, each fold's model is trained with these, as\n"
            "`rampart guard-train` takes them (give the recipe of the model to be "
            "judged):\n" CMD_GUARD_RECIPE_HELP);
}

struct kind_stat {
    char kind[32];
    size_t n, pos, tp, neg, fp;
};

int cmd_guard_eval(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'D'},
        {"split", required_argument, NULL, 's'},
        {"direction", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        CMD_GUARD_RECIPE_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct cmd_guard_recipe recipe = CMD_GUARD_RECIPE_DEFAULT;
    const char *data[8], *config = NULL;
    size_t n_data = 0;
    bool held_only = false, train_only = false, json = false, dir_set = false;
    int folds = 0; /* 1: by source, 2: by group */
    enum rp_guard_dir dir = RP_GUARD_INPUT;
    const char *recipe_opt = NULL; /* a training option given, for the check below */
    int c, index = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, &index)) != -1) {
        int taken = cmd_guard_recipe_option("guard-eval", c, optarg, &recipe);
        if (taken < 0)
            return CMD_EXIT_USAGE;
        if (taken) {
            recipe_opt = longopts[index].name;
            continue;
        }
        switch (c) {
        case 'D':
            if (n_data == 8) {
                fprintf(stderr, "rampart guard-eval: at most 8 --data files\n");
                return CMD_EXIT_USAGE;
            }
            data[n_data++] = optarg;
            break;
        case 's':
            if (strcmp(optarg, "all") && strcmp(optarg, "held-out") && strcmp(optarg, "train") &&
                strcmp(optarg, "by-source") && strcmp(optarg, "by-group")) {
                fprintf(stderr,
                        "rampart guard-eval: --split must be all, held-out, train, "
                        "by-source or by-group, not '%s'\n",
                        optarg);
                return CMD_EXIT_USAGE;
            }
            held_only = !strcmp(optarg, "held-out");
            train_only = !strcmp(optarg, "train");
            folds = !strcmp(optarg, "by-source") ? 1 : !strcmp(optarg, "by-group") ? 2 : 0;
            break;
        case 'd':
            if (cmd_guard_parse_direction("guard-eval", optarg, &dir))
                return CMD_EXIT_USAGE;
            dir_set = true;
            break;
        case 'c': config = optarg; break;
        case 'j': json = true; break;
        case 'h': eval_usage(stdout); return CMD_EXIT_OK;
        default: eval_usage(stderr); return CMD_EXIT_USAGE;
        }
    }
    if (recipe_opt && !folds) {
        /* Only the fold splits train a model; the others judge the configured one. */
        fprintf(stderr,
                "rampart guard-eval: --%s trains the models of --split by-source or by-group; "
                "the other splits judge the configured model\n",
                recipe_opt);
        return CMD_EXIT_USAGE;
    }
    if (!n_data || optind < argc) {
        fprintf(stderr, "rampart guard-eval: --data FILE is required\n");
        eval_usage(stderr);
        return CMD_EXIT_USAGE;
    }
    struct examples ex = {0};
    for (size_t i = 0; i < n_data; i++) {
        if (cmd_examples_read("guard-eval", data[i], &ex, false)) {
            cmd_examples_release(&ex);
            return CMD_EXIT_USAGE;
        }
    }
    if (!dir_set && (!strcmp(ex.v[0].kind, "harmful-answer") || !strcmp(ex.v[0].kind, "refusal")))
        dir = RP_GUARD_OUTPUT;
    if (folds) {
        int st = cmd_guard_eval_folds("guard-eval", &ex, folds == 2, dir, config, &recipe, json);
        cmd_examples_release(&ex);
        return st;
    }
    struct rp_config cfg = {0};
    struct rp_guard *g = NULL;
    struct rp_guard_scratch *s = NULL;
    struct rp_learn_scored *all = calloc(ex.n, sizeof(*all));
    struct kind_stat kinds[32];
    size_t n_kinds = 0, n_all = 0;
    int status = CMD_EXIT_USAGE;
    if (!all || cmd_guard_from("guard-eval", config, NULL, 0, &cfg, &g) ||
        rp_guard_scratch_new(g, &s))
        goto out;
    memset(kinds, 0, sizeof(kinds));
    struct kind_stat total = {.kind = "all"};
    for (size_t i = 0; i < ex.n; i++) {
        struct example *x = &ex.v[i];
        if ((held_only && !x->held) || (train_only && x->held))
            continue;
        struct rp_guard_result r;
        if (rp_guard_inspect(g, s, dir, (struct rp_str){x->text, x->len}, &r)) {
            fprintf(stderr, "rampart guard-eval: out of memory\n");
            goto out;
        }
        bool refused = r.verdict == RP_GUARD_REFUSE;
        all[n_all++] = (struct rp_learn_scored){r.points - r.neutralised, x->label};
        rp_guard_result_release(&r);
        size_t k = 0;
        while (k < n_kinds && strcmp(kinds[k].kind, x->kind))
            k++;
        if (k == n_kinds && n_kinds < 31)
            snprintf(kinds[n_kinds++].kind, sizeof(kinds[0].kind), "%s", x->kind);
        struct kind_stat *ks[2] = {&kinds[k < 31 ? k : 30], &total};
        for (int q = 0; q < 2; q++) {
            ks[q]->n++;
            if (x->label) {
                ks[q]->pos++;
                ks[q]->tp += refused;
            } else {
                ks[q]->neg++;
                ks[q]->fp += refused;
            }
        }
    }
    double t1 = cmd_tpr_at_fpr(all, n_all, 0.01);
    json_t *j = json_object();
    json_t *jk = json_array();
    if (!json)
        printf("%-16s %6s %8s %8s\n", "kind", "texts", "TPR", "FPR");
    for (size_t k = 0; k <= n_kinds; k++) {
        const struct kind_stat *st = k < n_kinds ? &kinds[k] : &total;
        double tpr = st->pos ? (double)st->tp / (double)st->pos : NAN;
        double fpr = st->neg ? (double)st->fp / (double)st->neg : NAN;
        if (json) {
            json_t *o = json_pack("{s:s,s:I,s:I,s:I}", "kind", st->kind, "texts", (json_int_t)st->n,
                                  "attacks", (json_int_t)st->pos, "ordinary", (json_int_t)st->neg);
            json_object_set_new(o, "tpr", isnan(tpr) ? json_null() : json_real(tpr));
            json_object_set_new(o, "fpr", isnan(fpr) ? json_null() : json_real(fpr));
            json_array_append_new(jk, o);
        } else {
            char a[16] = "-", b[16] = "-";
            if (!isnan(tpr))
                snprintf(a, sizeof(a), "%.4f", tpr);
            if (!isnan(fpr))
                snprintf(b, sizeof(b), "%.4f", fpr);
            printf("%-16s %6zu %8s %8s\n", st->kind, st->n, a, b);
        }
    }
    if (json) {
        json_object_set_new(j, "data", json_string(data[0]));
        json_object_set_new(j, "split",
                            json_string(held_only    ? "held-out"
                                        : train_only ? "train"
                                                     : "all"));
        json_object_set_new(j, "direction",
                            json_string(dir == RP_GUARD_INPUT ? "input" : "output"));
        json_object_set_new(j, "kinds", jk);
        json_object_set_new(j, "tpr_at_1pct_fpr", isnan(t1) ? json_null() : json_real(t1));
        char *txt = json_dumps(j, JSON_COMPACT);
        printf("%s\n", txt ? txt : "{}");
        free(txt);
    } else {
        json_decref(jk);
        printf("TPR at 1%% FPR (ranking by anomaly points): %s%.4f\n", isnan(t1) ? "n/a " : "",
               isnan(t1) ? 0 : t1);
        printf("(%s%s, %s split, %s direction; refused = at or over the refuse score)\n", data[0],
               n_data > 1 ? " and more" : "",
               held_only    ? "held-out"
               : train_only ? "training"
                            : "whole",
               dir == RP_GUARD_INPUT ? "input" : "output");
    }
    json_decref(j);
    status = CMD_EXIT_OK;
out:
    free(all);
    rp_guard_scratch_free(s);
    rp_guard_free(g);
    rp_config_release(&cfg);
    cmd_examples_release(&ex);
    return status;
}
