/* `rampart guard`: inspect texts given with --text, as plain lines or as JSON lines
 * (docs/guardrails.md). */
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

#define LINE_MAX_BYTES (16u << 20)

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
    run->status = CMD_EXIT_USAGE;
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
    if (r.verdict != RP_GUARD_ALLOW && run->status == CMD_EXIT_OK)
        run->status = CMD_EXIT_FINDINGS;
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
        run->status = CMD_EXIT_USAGE;
    }
    free(line);
}

int cmd_guard(int argc, char **argv)
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
    struct guard_run run = {.dir = RP_GUARD_INPUT, .status = CMD_EXIT_OK};
    enum input_format format = INPUT_AUTO;
    bool format_given = false;
    const char *config = NULL, *extra[RP_GUARD_MAX_PACKS];
    size_t n_extra = 0, n_texts = 0;
    /* The --text arguments, in order; argv outlives the run, so they are borrowed. */
    const char **texts = calloc((size_t)argc + 1, sizeof(*texts));
    if (!texts) {
        fprintf(stderr, "rampart guard: out of memory\n");
        return CMD_EXIT_USAGE;
    }
    int c, status = CMD_EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': run.json = true; break;
        case 'd':
            if (cmd_guard_parse_direction("guard", optarg, &run.dir))
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
            status = CMD_EXIT_OK;
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
    if (cmd_guard_from("guard", config, extra, n_extra, &cfg, &g)) {
        rp_config_release(&cfg);
        goto usage_out;
    }
    run.g = g;
    rp_buf_init(&run.out, 64u << 20);
    if (rp_guard_scratch_new(g, &run.s)) {
        fprintf(stderr, "rampart guard: out of memory\n");
        run.status = CMD_EXIT_USAGE;
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
