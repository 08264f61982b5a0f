/* `rampart guard` (inspect texts given with --text, as plain lines or as JSON lines),
 * `rampart guard-eval` (rates on labelled data) and `rampart guard-train` (the learned
 * classifiers): docs/guardrails.md. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rampart.h"
#include "rampart/config.h"
#include "rampart/guard.h"
#include "rampart/json.h"

#define LINE_MAX_BYTES (16u << 20)

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
        o->classifier_points[d] =
            c->guard_classifier_points[d] > 0 ? c->guard_classifier_points[d] : -1;
    }
    o->monitor = c->guard_mode && !strcmp(c->guard_mode, "monitor");
}

bool rp_guard_held_out(struct rp_str text)
{
    return rp_hash64(text.ptr, text.len, 0x6775617264ull) % 5 == 0;
}

/* Reads the configuration file (or the defaults) and builds the guard from it. */
static int guard_from(const char *prog, const char *config, const char *const *extra,
                      size_t n_extra, struct rp_config *cfg, struct rp_guard **g)
{
    struct rp_error err;
    int result = rp_config_init(cfg);
    if (!result && config)
        result = rp_config_load_file(cfg, config, &err);
    if (result) {
        fprintf(stderr, "rampart %s: %s\n", prog, result == RP_ENOMEM ? "out of memory" : err.msg);
        goto fail;
    }
    if (!strcmp(cfg->guard_mode, "off")) {
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

static int parse_direction(const char *prog, const char *s, enum rp_guard_dir *out)
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

/* ---- rampart guard ------------------------------------------------------------------------ */

/* How standard input is read: decided from its first non-empty line (auto), or told. */
enum input_format { INPUT_AUTO, INPUT_JSONL, INPUT_LINES };

static void guard_usage(FILE *f)
{
    fprintf(f,
            "usage: rampart guard [--json] [--direction input|output] [--config FILE]\n"
            "                     [--rules FILE]... [--stream-chunk N]\n"
            "                     [--text TEXT]... | [--input-format auto|jsonl|lines] < texts\n"
            "\n"
            "Inspects each text with the guardrails of docs/guardrails.md: prompts (input, the\n"
            "default) or answers (output). The texts are those of --text, else the lines of\n"
            "standard input: JSON lines {\"text\": ...} when its first non-empty line starts\n"
            "with '{', else plain text, one text a line.\n"
            "\n"
            "  --json              one JSON object a line: verdict, score, reasons, text\n"
            "  --direction DIR     input (prompts) or output (answers)\n"
            "  --text TEXT         inspect TEXT (repeatable); standard input is not read\n"
            "  --input-format F    auto (the default), jsonl ({\"text\": ...} a line) or lines\n"
            "                      (every line is a text, also one starting with '{')\n"
            "  --config FILE       the guard: section of a `rampart serve` configuration\n"
            "  --rules FILE        one more rule pack (repeatable)\n"
            "  --stream-chunk N    (output) feed each text in N-byte pieces through the streaming\n"
            "                      scanner, as the gateway does with a streamed answer\n"
            "  -h, --help          this text\n"
            "\n"
            "Exit status: 0 when every text is allowed, 1 when any is flagged, modified or\n"
            "refused, 2 on usage or input errors.\n");
}

/* Runs one text through the stream scanner in pieces of chunk bytes. */
static int guard_stream(const struct rp_guard *g, struct rp_guard_scratch *s, struct rp_str text,
                        size_t chunk, struct rp_guard_result *res)
{
    struct rp_guard_stream *st;
    int result = rp_guard_stream_new(g, s, &st);
    if (result)
        return result;
    struct rp_buf out;
    rp_buf_init(&out, text.len * 8 + 4096);
    for (size_t at = 0; !result && at < text.len && !rp_guard_stream_refused(st); at += chunk) {
        size_t n = text.len - at < chunk ? text.len - at : chunk;
        result = rp_guard_stream_feed(st, (struct rp_str){text.ptr + at, n}, &out);
    }
    if (!result)
        result = rp_guard_stream_finish(st, &out);
    if (!result) {
        *res = *rp_guard_stream_result(st);
        res->text = out;
    } else {
        rp_buf_release(&out);
    }
    rp_guard_stream_free(st);
    return result;
}

static void print_plain(const struct rp_guard_result *r, bool streamed)
{
    printf("%s%s (score %.2f)\n", rp_guard_verdict_name(r->verdict),
           r->enforced ? "" : " (monitor: not enforced)", r->score);
    for (size_t i = 0; i < r->n_reasons; i++)
        printf("  %s [%s, %+.1f]: %s\n", r->reasons[i].code, r->reasons[i].category,
               r->reasons[i].points, r->reasons[i].message);
    if (r->verdict == RP_GUARD_MODIFY || (streamed && r->verdict != RP_GUARD_REFUSE))
        printf("  text: %.*s\n", (int)r->text.len, r->text.ptr ? r->text.ptr : "");
}

/* What one run of `rampart guard` shares across its texts. */
struct guard_run {
    const struct rp_guard *g;
    struct rp_guard_scratch *s;
    enum rp_guard_dir dir;
    size_t chunk; /* 0: the whole text at once */
    bool json;
    struct rp_buf out; /* one JSON report */
    int status;
};

/* An input that could not be inspected: an error line in the text's place (so that reports
 * stay in step with the inputs), a message on standard error, exit status 2. where is
 * "line N" or "--text N". */
static void guard_input_error(struct guard_run *run, const char *where, const char *why)
{
    if (run->json)
        printf("{\"error\":\"%s: %s\"}\n", where, why);
    else
        printf("error: %s: %s\n", where, why);
    fprintf(stderr, "rampart guard: %s: %s\n", where, why);
    run->status = RP_EXIT_USAGE;
}

/* Inspects one text and prints its report. */
static void guard_one(struct guard_run *run, const char *where, struct rp_str text)
{
    struct rp_guard_result r;
    int result = run->chunk ? guard_stream(run->g, run->s, text, run->chunk, &r)
                            : rp_guard_inspect(run->g, run->s, run->dir, text, &r);
    if (result) {
        guard_input_error(run, where, rp_strerror(result));
        return;
    }
    if (run->json) {
        rp_buf_reset(&run->out);
        rp_guard_result_json(&r, &run->out);
        /* A streamed answer's text is what the client got: always shown. */
        if (run->chunk && r.verdict != RP_GUARD_MODIFY && run->out.len) {
            rp_buf_truncate(&run->out, run->out.len - 1);
            rp_buf_adds(&run->out, ",\"text\":");
            rp_json_add_string(&run->out, r.text.ptr, r.text.len);
            rp_buf_adds(&run->out, "}");
        }
        printf("%s\n", run->out.ptr ? run->out.ptr : "");
    } else {
        print_plain(&r, run->chunk > 0);
    }
    if (r.verdict != RP_GUARD_ALLOW && run->status == RP_EXIT_OK)
        run->status = RP_EXIT_FINDINGS;
    rp_guard_result_release(&r);
}

/* Inspects one line of JSON lines input: the string of its "text" member. */
static void guard_json_line(struct guard_run *run, const char *where, struct rp_str line)
{
    json_error_t je;
    json_t *j = json_loadb(line.ptr, line.len, 0, &je);
    json_t *t = json_object_get(j, "text");
    if (!json_is_string(t))
        guard_input_error(run, where,
                          !j ? "not JSON (plain text? --input-format lines reads every line as "
                               "a text)"
                             : "no text string");
    else
        guard_one(run, where, (struct rp_str){json_string_value(t), json_string_length(t)});
    json_decref(j);
}

/* Whether a first line makes the input JSON lines: it starts with '{', after blanks. */
static bool looks_like_json(struct rp_str line)
{
    size_t i = 0;
    while (i < line.len && (line.ptr[i] == ' ' || line.ptr[i] == '\t'))
        i++;
    return i < line.len && line.ptr[i] == '{';
}

/* Reads standard input one line at a time, each line a text (plain) or a JSON object. */
static void guard_stdin(struct guard_run *run, enum input_format format)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        struct rp_str text = {line, (size_t)n};
        /* The first text decides for the whole input, so that one mistyped line of a JSON
         * lines file is an error rather than a prompt of its own. */
        if (format == INPUT_AUTO)
            format = looks_like_json(text) ? INPUT_JSONL : INPUT_LINES;
        char where[32];
        snprintf(where, sizeof(where), "line %zu", lineno);
        if (text.len > LINE_MAX_BYTES)
            guard_input_error(run, where, "longer than 16 MiB");
        else if (format == INPUT_JSONL)
            guard_json_line(run, where, text);
        else
            guard_one(run, where, text);
    }
    if (ferror(stdin)) {
        fprintf(stderr, "rampart guard: unable to read standard input: %s\n", strerror(errno));
        run->status = RP_EXIT_USAGE;
    }
    free(line);
}

int rp_cmd_guard(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"direction", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"rules", required_argument, NULL, 'r'},
        {"stream-chunk", required_argument, NULL, 's'},
        {"text", required_argument, NULL, 't'},
        {"input-format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct guard_run run = {.dir = RP_GUARD_INPUT, .status = RP_EXIT_OK};
    enum input_format format = INPUT_AUTO;
    bool format_given = false;
    const char *config = NULL, *extra[RP_GUARD_MAX_PACKS];
    size_t n_extra = 0, n_texts = 0;
    /* The --text arguments, in order; argv outlives the run, so they are borrowed. */
    const char **texts = calloc((size_t)argc + 1, sizeof(*texts));
    if (!texts) {
        fprintf(stderr, "rampart guard: out of memory\n");
        return RP_EXIT_USAGE;
    }
    int c, status = RP_EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': run.json = true; break;
        case 'd':
            if (parse_direction("guard", optarg, &run.dir))
                goto usage_out;
            break;
        case 'c': config = optarg; break;
        case 'r':
            if (n_extra == RP_GUARD_MAX_PACKS) {
                fprintf(stderr, "rampart guard: at most %d --rules\n", RP_GUARD_MAX_PACKS);
                goto usage_out;
            }
            extra[n_extra++] = optarg;
            break;
        case 's': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 1 << 20) {
                fprintf(stderr, "rampart guard: --stream-chunk wants 1 to 1048576, not '%s'\n",
                        optarg);
                goto usage_out;
            }
            run.chunk = (size_t)n;
            break;
        }
        case 't':
            if (!*optarg) {
                fprintf(stderr, "rampart guard: --text wants a text, not an empty string\n");
                goto usage_out;
            }
            texts[n_texts++] = optarg;
            break;
        case 'f':
            format_given = true;
            if (!strcmp(optarg, "auto"))
                format = INPUT_AUTO;
            else if (!strcmp(optarg, "jsonl"))
                format = INPUT_JSONL;
            else if (!strcmp(optarg, "lines"))
                format = INPUT_LINES;
            else {
                fprintf(stderr,
                        "rampart guard: --input-format must be auto, jsonl or lines, not '%s'\n",
                        optarg);
                goto usage_out;
            }
            break;
        case 'h':
            guard_usage(stdout);
            status = RP_EXIT_OK;
            goto usage_out;
        default: guard_usage(stderr); goto usage_out;
        }
    }
    if (optind < argc) {
        fprintf(stderr,
                "rampart guard: unexpected argument '%s' (give texts with --text, or on "
                "standard input)\n",
                argv[optind]);
        goto usage_out;
    }
    if (run.chunk && run.dir != RP_GUARD_OUTPUT) {
        fprintf(stderr, "rampart guard: --stream-chunk needs --direction output\n");
        goto usage_out;
    }
    if (n_texts && format_given) {
        fprintf(stderr, "rampart guard: --input-format is for standard input, which --text "
                        "leaves unread\n");
        goto usage_out;
    }
    /* On a terminal, a command that waits without a word looks hung: say what it waits for
     * before the guard is built (the first build compiles the rules, which takes seconds). */
    if (!n_texts && isatty(STDIN_FILENO))
        fprintf(stderr,
                "rampart guard: reading %s from standard input, one a line (plain text, or JSON "
                "lines {\"text\": ...}); Ctrl-D to end\n",
                run.dir == RP_GUARD_OUTPUT ? "answers" : "prompts");
    struct rp_config cfg;
    struct rp_guard *g = NULL;
    if (guard_from("guard", config, extra, n_extra, &cfg, &g)) {
        rp_config_release(&cfg);
        goto usage_out;
    }
    run.g = g;
    rp_buf_init(&run.out, 64u << 20);
    if (rp_guard_scratch_new(g, &run.s)) {
        fprintf(stderr, "rampart guard: out of memory\n");
        run.status = RP_EXIT_USAGE;
        goto out;
    }
    if (n_texts) {
        for (size_t i = 0; i < n_texts; i++) {
            char where[32];
            snprintf(where, sizeof(where), "--text %zu", i + 1);
            guard_one(&run, where, rp_str_from_cstr(texts[i]));
        }
    } else {
        guard_stdin(&run, format);
    }
out:
    status = run.status;
    rp_buf_release(&run.out);
    rp_guard_scratch_free(run.s);
    rp_guard_free(g);
    rp_config_release(&cfg);
usage_out:
    free(texts);
    return status;
}

/* ---- labelled data ------------------------------------------------------------------------ */

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

static void examples_release(struct examples *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].text);
    free(e->v);
}

/* Reads {"text","label","kind"} lines (prompts) or {"response","jailbroken","category"} lines
 * (answers: jailbroken true is label 1, kind "harmful-answer" or "refusal"). */
static int examples_read(const char *prog, const char *path, struct examples *e, bool benign)
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

struct scored {
    double score;
    int label;
};

static int cmp_scored_desc(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : 0;
}

/* The true-positive rate at the highest cut where false positives stay at or below fpr. */
static double tpr_at_fpr(struct scored *s, size_t n, double fpr)
{
    size_t pos = 0, neg = 0;
    for (size_t i = 0; i < n; i++)
        *(s[i].label ? &pos : &neg) += 1;
    if (!pos || !neg)
        return NAN;
    if (n > 1)
        qsort(s, n, sizeof(*s), cmp_scored_desc);
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

/* ---- rampart guard-eval -------------------------------------------------------------------- */

static void eval_usage(FILE *f)
{
    fprintf(f,
            "usage: rampart guard-eval --data FILE.jsonl [--split all|held-out|train]\n"
            "                          [--direction input|output] [--config FILE] [--json]\n"
            "\n"
            "Inspects every labelled text of FILE and prints, per kind and overall, the rate of\n"
            "attacks refused (true positives) and of ordinary texts refused (false positives) at\n"
            "the configured refuse score, and the true-positive rate at 1%% false positives.\n"
            "FILE holds {\"text\",\"label\",\"kind\"} lines (label 1 = attack) or\n"
            "{\"response\",\"jailbroken\"} lines (answers; the output direction is then implied).\n"
            "\n"
            "  --split held-out    only the 20%% evaluation split (by hash of the text) that\n"
            "                      `rampart guard-train` never trains on; train: the other\n"
            "                      80%%; default: all\n"
            "  --direction DIR     input or output (default: input; output for answers)\n"
            "  --config FILE       the guard: section of a `rampart serve` configuration\n"
            "  --json              the figures as one JSON object\n");
}

struct kind_stat {
    char kind[32];
    size_t n, pos, tp, neg, fp;
};

int rp_cmd_guard_eval(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'D'},
        {"split", required_argument, NULL, 's'},
        {"direction", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data = NULL, *config = NULL;
    bool held_only = false, train_only = false, json = false, dir_set = false;
    enum rp_guard_dir dir = RP_GUARD_INPUT;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'D': data = optarg; break;
        case 's':
            if (strcmp(optarg, "all") && strcmp(optarg, "held-out") && strcmp(optarg, "train")) {
                fprintf(stderr, "rampart guard-eval: --split must be all, held-out or train\n");
                return RP_EXIT_USAGE;
            }
            held_only = !strcmp(optarg, "held-out");
            train_only = !strcmp(optarg, "train");
            break;
        case 'd':
            if (parse_direction("guard-eval", optarg, &dir))
                return RP_EXIT_USAGE;
            dir_set = true;
            break;
        case 'c': config = optarg; break;
        case 'j': json = true; break;
        case 'h': eval_usage(stdout); return RP_EXIT_OK;
        default: eval_usage(stderr); return RP_EXIT_USAGE;
        }
    }
    if (!data || optind < argc) {
        fprintf(stderr, "rampart guard-eval: --data FILE is required\n");
        eval_usage(stderr);
        return RP_EXIT_USAGE;
    }
    struct examples ex = {0};
    if (examples_read("guard-eval", data, &ex, false)) {
        examples_release(&ex);
        return RP_EXIT_USAGE;
    }
    if (!dir_set && (!strcmp(ex.v[0].kind, "harmful-answer") || !strcmp(ex.v[0].kind, "refusal")))
        dir = RP_GUARD_OUTPUT;
    struct rp_config cfg = {0};
    struct rp_guard *g = NULL;
    struct rp_guard_scratch *s = NULL;
    struct scored *all = calloc(ex.n, sizeof(*all));
    struct kind_stat kinds[32];
    size_t n_kinds = 0, n_all = 0;
    int status = RP_EXIT_USAGE;
    if (!all || guard_from("guard-eval", config, NULL, 0, &cfg, &g) || rp_guard_scratch_new(g, &s))
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
        all[n_all++] = (struct scored){r.points - r.neutralised, x->label};
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
    double t1 = tpr_at_fpr(all, n_all, 0.01);
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
        json_object_set_new(j, "data", json_string(data));
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
        printf("(%s, %s split, %s direction; refused = at or over the refuse score)\n", data,
               held_only    ? "held-out"
               : train_only ? "training"
                            : "whole",
               dir == RP_GUARD_INPUT ? "input" : "output");
    }
    json_decref(j);
    status = RP_EXIT_OK;
out:
    free(all);
    rp_guard_scratch_free(s);
    rp_guard_free(g);
    rp_config_release(&cfg);
    examples_release(&ex);
    return status;
}

/* ---- rampart guard-train ------------------------------------------------------------------- */

static void train_usage(FILE *f)
{
    fprintf(f,
            "usage: rampart guard-train --data FILE.jsonl --out MODEL [--bits N] [--epochs N]\n"
            "                           [--target-fpr X] [--ngrams MIN-MAX] [--l2 X]\n"
            "                           [--ordinary-weight W] [--calibrate] [--benign FILE]...\n"
            "\n"
            "Trains a guard classifier (logistic regression over hashed word and character\n"
            "n-grams) on the 80%% of FILE outside the evaluation split, and chooses its threshold\n"
            "by 5-fold cross-validation on that 80%% so that about X of the ordinary texts score\n"
            "above it. FILE as for guard-eval; answers train the output classifier.\n"
            "\n"
            "  --bits N            2^N weights (10..22, default 18)\n"
            "  --epochs N          passes over the data (default 12)\n"
            "  --benign FILE       more ordinary texts ({\"text\"} lines) to train on; they do\n"
            "                      not decide the threshold (repeatable)\n"
            "  --ngrams MIN-MAX    character n-grams as features, 3-5 (default) or 0-0 (words\n"
            "                      only: cheaper to score)\n"
            "  --l2 X              L2 penalty on the weights (0 to 1, default 0.000001)\n"
            "  --ordinary-weight W weight of FILE's ordinary texts against its attacks and the\n"
            "                      --benign texts (1 to 1000, default 1): more pushes the scores\n"
            "                      of the ordinary texts down, for a low false-positive rate\n"
            "  --calibrate         rescale the log-odds to fit the cross-validated scores of\n"
            "                      FILE (Platt scaling), so that the score is a probability\n"
            "  --target-fpr X      share of ordinary texts at or above the threshold in\n"
            "                      cross-validation (default 0.005)\n");
}

struct feats {
    uint32_t *idx;
    float *val;
    size_t *start; /* example i has features start[i] .. start[i+1] */
    size_t n, alloc;
    bool oom;
};

static void feat_fn(void *arg, uint32_t index, float value)
{
    struct feats *f = arg;
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

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#define DEFAULT_L2 1e-6

struct fit_params {
    unsigned bits;
    int epochs;
    double l2;              /* penalty l2 * w on each weight a text touches, per step */
    double ordinary_weight; /* the gradient of an ordinary text of --data counts this much */
};

/* Logistic regression by AdaGrad over the examples listed in order (count of them). The loss of
 * an ordinary text of --data is weighted: at a low false-positive rate what counts is how far
 * the highest-scoring ordinary texts sit below the attacks, and weighting them pushes the
 * ordinary texts down harder than it pulls the attacks up. The --benign texts keep weight 1: in
 * cross-validation, weighting them alike undid most of the gain. */
static void fit(const struct feats *f, const struct example *ex, const size_t *order, size_t count,
                const struct fit_params *fp, float *w, double *bias)
{
    size_t nw = (size_t)1 << fp->bits;
    float *g2 = calloc(nw, sizeof(float));
    double b = 0, gb = 1e-8;
    const double lr = 0.5, l2 = fp->l2;
    memset(w, 0, nw * sizeof(float));
    size_t *ord = malloc(count * sizeof(*ord));
    if (!g2 || !ord) {
        free(g2);
        free(ord);
        *bias = 0;
        return;
    }
    memcpy(ord, order, count * sizeof(*ord));
    uint64_t rs = 0x9e3779b97f4a7c15ull;
    for (int e = 0; e < fp->epochs; e++) {
        for (size_t i = count; i > 1; i--) {
            size_t k = (size_t)(next_rand(&rs) % i);
            size_t t = ord[i - 1];
            ord[i - 1] = ord[k];
            ord[k] = t;
        }
        for (size_t q = 0; q < count; q++) {
            size_t i = ord[q];
            double z = b;
            for (size_t k = f->start[i]; k < f->start[i + 1]; k++)
                z += w[f->idx[k]] * f->val[k];
            double p = 1 / (1 + exp(-(z < -40 ? -40 : z > 40 ? 40 : z)));
            double gr = p - ex[i].label;
            if (!ex[i].label && !ex[i].extra)
                gr *= fp->ordinary_weight;
            for (size_t k = f->start[i]; k < f->start[i + 1]; k++) {
                uint32_t j = f->idx[k];
                double gj = gr * f->val[k] + l2 * w[j];
                g2[j] += (float)(gj * gj);
                w[j] -= (float)(lr * gj / sqrt(g2[j] + 1e-8));
            }
            gb += gr * gr;
            b -= lr * gr / sqrt(gb);
        }
    }
    /* Weighting the ordinary texts by W lowers every log-odds by about log W; given back here,
     * so that p stays near a probability for the data's own mix (the ranking, and so the rates,
     * are unchanged) and the threshold keeps clear of its floor of 0.05. */
    *bias = b + log(fp->ordinary_weight);
    free(g2);
    free(ord);
}

/* The log-odds of example i. */
static double logit_of(const struct feats *f, size_t i, const float *w, double b)
{
    double z = b;
    for (size_t k = f->start[i]; k < f->start[i + 1]; k++)
        z += w[f->idx[k]] * f->val[k];
    return z;
}

static double sigmoid(double z)
{
    return 1 / (1 + exp(-(z < -40 ? -40 : z > 40 ? 40 : z)));
}

/* Platt scaling: the a > 0 and c for which sigmoid(a z + c) best fits the labels of the n
 * (log-odds z, label) pairs, by Newton's method on the log-loss, with Platt's targets
 * (N+ + 1) / (N+ + 2) and 1 / (N- + 2) in place of 1 and 0 so that a separable set does not
 * drive a to infinity. Leaves a = 1, c = 0 when no such fit is found. */
static void platt(const struct scored *s, size_t n, double *a, double *c)
{
    double npos = 0, nneg = 0;
    for (size_t i = 0; i < n; i++)
        *(s[i].label ? &npos : &nneg) += 1;
    double thi = (npos + 1) / (npos + 2), tlo = 1 / (nneg + 2);
    double scale = 1, shift = 0, loss = INFINITY;
    for (int it = 0; it < 100; it++) {
        double ga = 0, gc = 0, haa = 1e-12, hac = 0, hcc = 1e-12, l = 0;
        for (size_t i = 0; i < n; i++) {
            double z = s[i].score, p = sigmoid(scale * z + shift), t = s[i].label ? thi : tlo;
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
                double p = sigmoid(na * s[i].score + nc), t = s[i].label ? thi : tlo;
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

int rp_cmd_guard_train(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'D'},
        {"out", required_argument, NULL, 'o'},
        {"bits", required_argument, NULL, 'b'},
        {"epochs", required_argument, NULL, 'e'},
        {"target-fpr", required_argument, NULL, 't'},
        {"ngrams", required_argument, NULL, 'g'},
        {"benign", required_argument, NULL, 'B'},
        {"l2", required_argument, NULL, 'L'},
        {"ordinary-weight", required_argument, NULL, 'W'},
        {"calibrate", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data = NULL, *outp = NULL;
    unsigned bits = 18;
    int epochs = 12;
    double target = 0.005, l2 = DEFAULT_L2, ordinary_weight = 1;
    unsigned gmin = 3, gmax = 5;
    bool calibrate = false;
    const char *benign[8];
    size_t n_benign = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'D': data = optarg; break;
        case 'o': outp = optarg; break;
        case 'b': bits = (unsigned)strtoul(optarg, &end, 10); break;
        case 'e': epochs = (int)strtol(optarg, &end, 10); break;
        case 't': target = strtod(optarg, &end); break;
        case 'L': l2 = strtod(optarg, &end); break;
        case 'W': ordinary_weight = strtod(optarg, &end); break;
        case 'C': calibrate = true; break;
        case 'B':
            if (n_benign == 8) {
                fprintf(stderr, "rampart guard-train: at most 8 --benign files\n");
                return RP_EXIT_USAGE;
            }
            benign[n_benign++] = optarg;
            break;
        case 'g':
            if (sscanf(optarg, "%u-%u", &gmin, &gmax) != 2 ||
                !((gmin == 0 && gmax == 0) || (gmin >= 3 && gmin <= gmax && gmax <= 5))) {
                fprintf(stderr, "rampart guard-train: --ngrams wants MIN-MAX within 3-5, or 0-0\n");
                return RP_EXIT_USAGE;
            }
            break;
        case 'h': train_usage(stdout); return RP_EXIT_OK;
        default: train_usage(stderr); return RP_EXIT_USAGE;
        }
        if (end &&
            (*end || (c == 'b' && (bits < 10 || bits > 22)) ||
             (c == 'e' && (epochs < 1 || epochs > 1000)) ||
             (c == 't' && !(target > 0 && target < 0.5)) || (c == 'L' && !(l2 >= 0 && l2 <= 1)) ||
             (c == 'W' && !(ordinary_weight >= 1 && ordinary_weight <= 1000)))) {
            fprintf(stderr, "rampart guard-train: bad value '%s' for --%s\n", optarg,
                    c == 'b'   ? "bits"
                    : c == 'e' ? "epochs"
                    : c == 'L' ? "l2"
                    : c == 'W' ? "ordinary-weight"
                               : "target-fpr");
            return RP_EXIT_USAGE;
        }
    }
    if (!data || !outp || optind < argc) {
        train_usage(stderr);
        return RP_EXIT_USAGE;
    }
    const struct fit_params params = {bits, epochs, l2, ordinary_weight};
    struct examples ex = {0};
    struct feats f = {0};
    size_t *train = NULL;
    float *w = NULL;
    struct scored *oof = NULL;
    int status = RP_EXIT_USAGE;
    if (examples_read("guard-train", data, &ex, false))
        goto out;
    for (size_t i = 0; i < n_benign; i++)
        if (examples_read("guard-train", benign[i], &ex, true))
            goto out;
    f.start = malloc((ex.n + 1) * sizeof(*f.start));
    train = malloc(ex.n * sizeof(*train));
    w = malloc(((size_t)1 << bits) * sizeof(*w));
    oof = malloc(ex.n * sizeof(*oof));
    if (!f.start || !train || !w || !oof)
        goto oom;
    size_t n_train = 0, pos = 0;
    for (size_t i = 0; i < ex.n; i++) {
        f.start[i] = f.n;
        rp_guard_model_features(bits, gmin, gmax, (struct rp_str){ex.v[i].text, ex.v[i].len},
                                feat_fn, &f);
        if (!ex.v[i].held) {
            train[n_train++] = i;
            pos += ex.v[i].label != 0;
        }
    }
    f.start[ex.n] = f.n;
    if (f.oom)
        goto oom;
    fprintf(stderr, "guard-train: %zu examples, %zu for training (%zu attacks), %zu held out\n",
            ex.n, n_train, pos, ex.n - n_train);
    /* Out-of-fold scores of the training part: the threshold is chosen on them. */
    size_t *fold_train = malloc(n_train * sizeof(*fold_train));
    if (!fold_train)
        goto oom;
    double *oof_score = calloc(ex.n, sizeof(*oof_score));
    if (!oof_score) {
        free(fold_train);
        goto oom;
    }
    for (int fold = 0; fold < 5; fold++) {
        size_t nf = 0;
        for (size_t q = 0; q < n_train; q++)
            if (rp_hash64(ex.v[train[q]].text, ex.v[train[q]].len, 0x666f6c64ull) % 5 !=
                (uint64_t)fold)
                fold_train[nf++] = train[q];
        double b;
        fit(&f, ex.v, fold_train, nf, &params, w, &b);
        for (size_t q = 0; q < n_train; q++) {
            size_t i = train[q];
            if (rp_hash64(ex.v[i].text, ex.v[i].len, 0x666f6c64ull) % 5 == (uint64_t)fold)
                oof_score[i] = logit_of(&f, i, w, b);
        }
        fprintf(stderr, "guard-train: fold %d of 5 done\n", fold + 1);
    }
    /* With --calibrate, the log-odds are rescaled and shifted to fit the out-of-fold labels of
     * the texts of --data; the written model gets the same a and c. */
    double ca = 1, cc = 0;
    if (calibrate) {
        size_t n_cal = 0;
        for (size_t q = 0; q < n_train; q++)
            if (!ex.v[train[q]].extra)
                oof[n_cal++] = (struct scored){oof_score[train[q]], ex.v[train[q]].label};
        platt(oof, n_cal, &ca, &cc);
    }
    for (size_t q = 0; q < n_train; q++)
        oof_score[train[q]] = sigmoid(ca * oof_score[train[q]] + cc);
    /* The threshold: the smallest score with at most target of ordinary texts at or above. */
    size_t n_neg = 0;
    for (size_t q = 0; q < n_train; q++)
        if (!ex.v[train[q]].label && !ex.v[train[q]].extra)
            oof[n_neg++] = (struct scored){oof_score[train[q]], 0};
    if (n_neg > 1)
        qsort(oof, n_neg, sizeof(*oof), cmp_scored_desc);
    size_t allowed = (size_t)floor(target * (double)n_neg);
    double threshold = allowed < n_neg ? oof[allowed].score : 0.5;
    threshold = nextafter(threshold, 1.0);
    if (threshold < 0.05)
        threshold = 0.05;
    if (threshold > 0.9999)
        threshold = 0.9999;
    size_t tp = 0, fp = 0, hard = 0, hard_fp = 0;
    for (size_t q = 0; q < n_train; q++) {
        size_t i = train[q];
        bool hit = oof_score[i] >= threshold;
        if (ex.v[i].extra)
            continue;
        if (ex.v[i].label)
            tp += hit;
        else
            fp += hit;
        if (!strcmp(ex.v[i].kind, "benign-hard")) {
            hard++;
            hard_fp += hit;
        }
    }
    size_t n_all = 0;
    for (size_t q = 0; q < n_train; q++)
        if (!ex.v[train[q]].extra)
            oof[n_all++] = (struct scored){oof_score[train[q]], ex.v[train[q]].label};
    double t1 = tpr_at_fpr(oof, n_all, 0.01);
    free(oof_score);
    free(fold_train);
    double bias;
    fit(&f, ex.v, train, n_train, &params, w, &bias);
    for (size_t j = 0; j < ((size_t)1 << bits); j++)
        w[j] = (float)(ca * w[j]);
    bias = ca * bias + cc;
    char cal[128] = "";
    if (calibrate)
        snprintf(cal, sizeof(cal), "\nlog-odds calibrated on the out-of-fold scores: x %.4g, %+.4g",
                 ca, cc);
    /* Only settings off their defaults are noted: a model trained as before reads as before. */
    char shape[96] = "";
    if (l2 != DEFAULT_L2 || ordinary_weight != 1)
        snprintf(shape, sizeof(shape), ", L2 %g, ordinary texts weighted %g", l2, ordinary_weight);
    char notes[1024];
    snprintf(notes, sizeof(notes),
             "trained by rampart guard-train on %zu of the %zu texts of %s and the --benign\n"
             "files (the 20%% whose text hash is 0 mod 5 held out for evaluation); %d epochs,\n"
             "2^%u weights%s\n"
             "threshold from 5-fold cross-validation on the training part: %.4f of ordinary\n"
             "texts, %.4f of attacks at or above it (%zu/%zu benign-hard); TPR %.4f at 1%% FPR%s",
             n_train, ex.n, data, epochs, bits, shape, n_neg ? (double)fp / (double)n_neg : 0,
             pos ? (double)tp / (double)pos : 0, hard_fp, hard, t1, cal);
    fprintf(stderr, "guard-train: %s\n", notes);
    struct rp_buf text;
    rp_buf_init(&text, 256u << 20);
    if (rp_guard_model_write(bits, gmin, gmax, w, bias, threshold, notes, &text)) {
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
    status = RP_EXIT_OK;
    goto out;
oom:
    fprintf(stderr, "rampart guard-train: out of memory\n");
out:
    examples_release(&ex);
    free(f.idx);
    free(f.val);
    free(f.start);
    free(train);
    free(w);
    free(oof);
    return status;
}
