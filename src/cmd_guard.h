/* What `rampart guard`, `guard-eval` and `guard-train` share (src/cmd_guard_data.c): building the
 * guard from a configuration, and reading labelled texts. */
#ifndef RAMPART_CMD_GUARD_H
#define RAMPART_CMD_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "rampart/config.h"
#include "rampart/guard.h"
#include "rampart/learn.h"

/* Reads the configuration file config (NULL: the defaults), adds the n_extra rule packs of extra,
 * and builds the guard from it into *g (the caller frees it with rp_guard_free() and cfg with
 * rp_config_release()). Prints what went wrong, as "rampart prog: ...", and returns nonzero on
 * failure. */
int cmd_guard_from(const char *prog, const char *config, const char *const *extra, size_t n_extra,
                   struct rp_config *cfg, struct rp_guard **g);

/* Reads "input" or "output" into *out; else prints why and returns RP_EINVAL. */
int cmd_guard_parse_direction(const char *prog, const char *s, enum rp_guard_dir *out);

/* One labelled text. */
struct example {
    char *text;
    size_t len;
    int label;
    char kind[32];
    bool held;
    bool extra;   /* from --benign: trained on, but not used to choose the threshold */
    char *source; /* its collection ("source" up to ':' or '+', else the file name) */
    char *group;  /* what it shares with other rows ("group", else its own text's hash); owned */
};

struct examples {
    struct example *v;
    size_t n, alloc;
};

/* Frees the texts and the array of e (not e itself). */
void cmd_examples_release(struct examples *e);

/* Appends the labelled texts of the JSON lines file path to e: {"text","label","kind"} lines
 * (prompts) or {"response","jailbroken","category"} lines (answers). With benign, every line is
 * an ordinary text ({"text"}) marked extra. Prints what went wrong and returns nonzero on
 * failure; e keeps what was read, for cmd_examples_release(). */
int cmd_examples_read(const char *prog, const char *path, struct examples *e, bool benign);

/* The file name of path without its folders. */
const char *cmd_base_name(const char *path);

/* The true-positive rate at the highest cut where false positives stay at or below fpr; sorts s.
 * NAN when s lacks either label. */
double cmd_tpr_at_fpr(struct rp_learn_scored *s, size_t n, double fpr);

/* How `rampart guard-train` makes a model: its options, and so what guard-eval's by-source
 * split measures. */
struct cmd_guard_recipe {
    unsigned bits;               /* 2^bits weights */
    unsigned gram_min, gram_max; /* character n-grams, or 0 0: words only */
    int epochs;
    double l2;              /* penalty l2 * w on each weight a text touches, per step */
    double ordinary_weight; /* the gradient of an ordinary text of --data counts this much */
    double target_fpr;      /* share of ordinary texts at or above the threshold in CV */
    bool calibrate;         /* Platt scaling of the log-odds on the out-of-fold scores */
    bool quiet;             /* no progress on stderr */
};

#define CMD_GUARD_DEFAULT_L2 1e-6
#define CMD_GUARD_RECIPE_DEFAULT                                                                   \
    {                                                                                              \
        18, 3, 5, 12, CMD_GUARD_DEFAULT_L2, 1, 0.005, false, false                                 \
    }

/* The recipe's command-line options, shared by guard-train and guard-eval's fold splits: the
 * entries of a getopt_long table (their values are the CMD_GUARD_O_* codes) and their help. */
enum {
    CMD_GUARD_O_BITS = 0x100,
    CMD_GUARD_O_EPOCHS,
    CMD_GUARD_O_TARGET_FPR,
    CMD_GUARD_O_NGRAMS,
    CMD_GUARD_O_L2,
    CMD_GUARD_O_ORDINARY_WEIGHT,
    CMD_GUARD_O_CALIBRATE
};
#define CMD_GUARD_RECIPE_LONGOPTS                                                                  \
    {"bits", required_argument, NULL, CMD_GUARD_O_BITS},                                           \
        {"epochs", required_argument, NULL, CMD_GUARD_O_EPOCHS},                                   \
        {"target-fpr", required_argument, NULL, CMD_GUARD_O_TARGET_FPR},                           \
        {"ngrams", required_argument, NULL, CMD_GUARD_O_NGRAMS},                                   \
        {"l2", required_argument, NULL, CMD_GUARD_O_L2},                                           \
        {"ordinary-weight", required_argument, NULL, CMD_GUARD_O_ORDINARY_WEIGHT},                 \
    {                                                                                              \
        "calibrate", no_argument, NULL, CMD_GUARD_O_CALIBRATE                                      \
    }
#define CMD_GUARD_RECIPE_HELP                                                                      \
    "  --bits N            2^N weights (10..22, default 18)\n"                                     \
    "  --epochs N          passes over the data (default 12)\n"                                    \
    "  --ngrams MIN-MAX    character n-grams as features, 3-5 (default) or 0-0 (words\n"           \
    "                      only: cheaper to score)\n"                                              \
    "  --l2 X              L2 penalty on the weights (0 to 1, default 0.000001)\n"                 \
    "  --ordinary-weight W weight of the ordinary texts of --data against its attacks and\n"      \
    "                      the --benign texts (1 to 1000, default 1): more pushes the\n"          \
    "                      scores of the ordinary texts down, for a low false-positive rate\n"    \
    "  --target-fpr X      share of ordinary texts at or above the threshold in the\n"           \
    "                      cross-validation (0 to 0.5, default 0.005)\n"                          \
    "  --calibrate         rescale the log-odds by Platt scaling on the out-of-fold scores\n"

/* Takes option c (a CMD_GUARD_O_* code) with its argument into r: 1 when taken, 0 when c is no
 * recipe option, -1 when its value is bad (said on stderr, after "rampart PROG: "). */
int cmd_guard_recipe_option(const char *prog, int c, const char *arg, struct cmd_guard_recipe *r);

/* The hashed features of every example, computed once for all the fits over them. */
struct cmd_guard_feats {
    uint32_t *idx;
    float *val;
    size_t *start; /* example i has features start[i] .. start[i+1] */
    size_t n, alloc;
    bool oom;
};

/* Fills f (zeroed by the caller) with the features of every example of ex; RP_ENOMEM. The
 * caller releases f with cmd_guard_feats_release() either way. */
int cmd_guard_feats_build(const struct examples *ex, const struct cmd_guard_recipe *r,
                          struct cmd_guard_feats *f);
void cmd_guard_feats_release(struct cmd_guard_feats *f);

/* A model fitted by cmd_guard_fit_model, with what cross-validation said of its threshold. */
struct cmd_guard_fit {
    float *w; /* 2^bits weights, owned: free() */
    double bias, threshold;
    double scale, shift;  /* the calibration applied (1, 0 without) */
    size_t n_train, pos;  /* examples trained on, of them attacks */
    size_t neg, fp, tp;   /* out of fold: ordinary texts of --data, those at or over the
                             threshold, attacks at or over it */
    size_t hard, hard_fp; /* benign-hard texts, and those at or over the threshold */
    double tpr_at_1pct;   /* out of fold */
};

/* Trains on the n examples train lists, choosing the threshold by 5-fold cross-validation
 * over them (folds by text hash), as guard-train does. On success out->w is the caller's.
 * RP_EINVAL when the examples lack attacks or ordinary texts, RP_ENOMEM. */
int cmd_guard_fit_model(const struct examples *ex, const struct cmd_guard_feats *f,
                        const size_t *train, size_t n, const struct cmd_guard_recipe *r,
                        struct cmd_guard_fit *out);

/* guard-eval --split by-source (by_group false) or by-group: prints the figures; returns the
 * exit status. */
int cmd_guard_eval_folds(const char *prog, struct examples *ex, bool by_group,
                         enum rp_guard_dir dir, const char *config,
                         const struct cmd_guard_recipe *recipe, bool json);

#endif
