/* The guard's options as a configuration file gives them, and the evaluation split of the labelled
 * texts that the trainer never sees. */
#include <string.h>

#include "rampart/config.h"
#include "rampart/guard.h"
#include "rampart/learn.h"

void rp_guard_options_from_config(const struct rp_config *c, struct rp_guard_options *o)
{
    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < c->guard_rules.n && i < RP_GUARD_MAX_PACKS; i++)
        o->rule_files[o->n_rule_files++] = c->guard_rules.v[i];
    o->no_default_rules = !c->guard_default_rules;
    o->disable = (const char *const *)c->guard_disable.v;
    o->n_disable = c->guard_disable.n;
    for (int d = 0; d < RP_GUARD_NDIR; d++) {
        o->model_files[d] = c->guard_model[d];
        o->refuse_score[d] = c->guard_refuse_score[d];
        o->flag_score[d] = c->guard_flag_score[d];
        o->confident_score[d] = c->guard_confident_score[d];
        o->classifier_points[d] =
            c->guard_classifier_points[d] > 0 ? c->guard_classifier_points[d] : -1;
    }
    o->monitor = c->guard_mode == RP_MODE_MONITOR;
}

bool rp_guard_held_out(struct rp_str text)
{
    return rp_learn_held_out(text, 0x6775617264ull, 5, 1);
}
