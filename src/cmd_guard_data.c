/* What the guard commands share: the guard built from a configuration, and labelled texts read
 * from JSON lines (src/cmd_guard.h). */
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

/* Reads the configuration file (or the defaults) and builds the guard from it. */
int cmd_guard_from(const char *prog, const char *config, const char *const *extra, size_t n_extra,
                   struct rp_config *cfg, struct rp_guard **g)
{
    struct rp_error err;
    int result = rp_config_init(cfg);
    if (!result && config)
        result = rp_config_load_file(cfg, config, &err);
    if (result) {
        fprintf(stderr, "rampart %s: %s\n", prog, result == RP_ENOMEM ? "out of memory" : err.msg);
        goto fail;
    }
    if (cfg->guard_mode == RP_MODE_OFF) {
        fprintf(stderr, "rampart %s: guard.mode is off in '%s': nothing would be inspected\n", prog,
                config);
        result = RP_EINVAL;
        goto fail;
    }
    struct rp_guard_options o;
    rp_guard_options_from_config(cfg, &o);
    if (o.n_rule_files + n_extra > RP_GUARD_MAX_PACKS) {
        fprintf(stderr, "rampart %s: at most %d rule packs (guard.rules and --rules together)\n",
                prog, RP_GUARD_MAX_PACKS);
        result = RP_EINVAL;
        goto fail;
    }
    for (size_t i = 0; i < n_extra; i++)
        o.rule_files[o.n_rule_files++] = extra[i];
    result = rp_guard_new(&o, g, &err);
    if (!result)
        return RP_OK;
    fprintf(stderr, "rampart %s: %s\n", prog, result == RP_ENOMEM ? "out of memory" : err.msg);
fail:
    /* Left empty, so that the caller can release it either way. */
    rp_config_release(cfg);
    memset(cfg, 0, sizeof(*cfg));
    return result;
}

int cmd_guard_parse_direction(const char *prog, const char *s, enum rp_guard_dir *out)
{
    if (!strcmp(s, "input"))
        *out = RP_GUARD_INPUT;
    else if (!strcmp(s, "output"))
        *out = RP_GUARD_OUTPUT;
    else {
        fprintf(stderr, "rampart %s: --direction must be input or output, not '%s'\n", prog, s);
        return RP_EINVAL;
    }
    return RP_OK;
}

void cmd_examples_release(struct examples *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].text);
        free(e->v[i].source);
        free(e->v[i].group);
    }
    free(e->v);
}

/* Reads {"text","label","kind"} lines (prompts) or {"response","jailbroken","category"} lines
 * (answers: jailbroken true is label 1, kind "harmful-answer" or "refusal"). */
int cmd_examples_read(const char *prog, const char *path, struct examples *e, bool benign)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "rampart %s: unable to open '%s'\n", prog, path);
        return RP_EIO;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int result = RP_OK;
    while (!result && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n <= 1)
            continue;
        json_t *j = json_loadb(line, (size_t)n, 0, NULL);
        json_t *t = json_object_get(j, "text"), *l = json_object_get(j, "label");
        json_t *k = json_object_get(j, "kind");
        bool answer = false;
        if (benign && json_is_string(t) && json_is_true(l) | (json_integer_value(l) != 0)) {
            /* A labelled file given as benign: its positives (e.g. spam) are left out. */
            json_decref(j);
            continue;
        }
        if (benign && json_is_string(t))
            l = json_false();
        else if (!t) {
            t = json_object_get(j, "response");
            l = json_object_get(j, "jailbroken");
            answer = true;
        }
        if (!json_is_string(t) || (!json_is_integer(l) && !json_is_boolean(l))) {
            fprintf(stderr,
                    "rampart %s: %s:%zu: want {\"text\",\"label\"} or "
                    "{\"response\",\"jailbroken\"}\n",
                    prog, path, lineno);
            json_decref(j);
            result = RP_EINVAL;
            break;
        }
        if (e->n == e->alloc) {
            size_t na = e->alloc ? e->alloc * 2 : 1024;
            void *nv = realloc(e->v, na * sizeof(*e->v));
            if (!nv) {
                json_decref(j);
                result = RP_ENOMEM;
                break;
            }
            e->v = nv;
            e->alloc = na;
        }
        struct example *x = &e->v[e->n];
        x->len = json_string_length(t);
        x->text = malloc(x->len + 1);
        if (!x->text) {
            json_decref(j);
            result = RP_ENOMEM;
            break;
        }
        memcpy(x->text, json_string_value(t), x->len + 1);
        /* Leave-one-source-out and grouped splits (guard-eval --split) need both; a file
         * without them is one source, and each of its rows a group of its own. A source is
         * the collection: "owner/repo" of "owner/repo:path" (the files of one repository share
         * their style, so holding out one file of it would flatter), the first of "a+b". */
        json_t *src = json_object_get(j, "source"), *grp = json_object_get(j, "group");
        /* An answer's harm category is its group: the answers to one kind of request are
         * alike, and a held-out group is then a behaviour the model never saw answered. */
        json_t *cat = json_object_get(j, "category");
        char own[160];
        if (!json_is_string(grp) && json_is_string(cat) && json_string_length(cat))
            snprintf(own, sizeof(own), "category:%.140s", json_string_value(cat));
        else
            snprintf(own, sizeof(own), "text:%016llx",
                     (unsigned long long)rp_hash64(x->text, x->len, 0x67726f7570ull));
        const char *from = json_is_string(src) && json_string_length(src) ? json_string_value(src)
                                                                          : cmd_base_name(path);
        x->source = strndup(from, strcspn(from, ":+"));
        x->group =
            strdup(json_is_string(grp) && json_string_length(grp) ? json_string_value(grp) : own);
        if (!x->source || !x->group) {
            free(x->text);
            free(x->source);
            free(x->group);
            json_decref(j);
            result = RP_ENOMEM;
            break;
        }
        x->label = json_is_boolean(l) ? json_is_true(l) : json_integer_value(l) != 0;
        x->extra = benign;
        snprintf(x->kind, sizeof(x->kind), "%s",
                 benign              ? "benign-extra"
                 : answer            ? (x->label ? "harmful-answer" : "refusal")
                 : json_is_string(k) ? json_string_value(k)
                                     : (x->label ? "attack" : "benign"));
        x->held = rp_guard_held_out((struct rp_str){x->text, x->len});
        e->n++;
        json_decref(j);
    }
    free(line);
    fclose(f);
    if (!result && !e->n) {
        fprintf(stderr, "rampart %s: '%s' has no examples\n", prog, path);
        result = RP_EINVAL;
    }
    return result;
}

const char *cmd_base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The true-positive rate at the highest cut where false positives stay at or below fpr. */
double cmd_tpr_at_fpr(struct rp_learn_scored *s, size_t n, double fpr)
{
    size_t pos = 0, neg = 0;
    for (size_t i = 0; i < n; i++)
        *(s[i].label ? &pos : &neg) += 1;
    if (!pos || !neg)
        return NAN;
    if (n > 1)
        qsort(s, n, sizeof(*s), rp_learn_scored_cmp_desc);
    size_t tp = 0, fp = 0;
    double best = 0;
    for (size_t i = 0; i < n;) {
        size_t k = i;
        while (k < n && s[k].score == s[i].score) {
            *(s[k].label ? &tp : &fp) += 1;
            k++;
        }
        if ((double)fp / (double)neg > fpr)
            break;
        best = (double)tp / (double)pos;
        i = k;
    }
    return best;
}
