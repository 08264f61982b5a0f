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
    bool extra; /* from --benign: trained on, but not used to choose the threshold */
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

/* The true-positive rate at the highest cut where false positives stay at or below fpr; sorts s.
 * NAN when s lacks either label. */
double cmd_tpr_at_fpr(struct rp_learn_scored *s, size_t n, double fpr);

#endif
