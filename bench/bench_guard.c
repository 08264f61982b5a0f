/* make bench-guard: the guardrails' speed on one core, in process.
 *
 * 1. Input inspection (every rule, the de-obfuscation view, the classifier) over the prompts of
 *    PROMPTS (labeled.jsonl): microseconds per kilobyte of prompt, against the ceiling
 *    of 20 us/KB.
 * 2. Streamed output: the answers of ANSWERS (responses.jsonl) cut into CHUNK-byte pieces, as a
 *    model streams them, through rp_guard_stream (rules, holding back, redaction, validators,
 *    the classifier) against a bare Hyperscan streaming scan of the same pieces with the same
 *    database and a callback that does nothing. Prints both rates and the ratio (target >= 0.5).
 *
 * usage: bench_guard PROMPTS ANSWERS [CHUNK] */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/guard/internal.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct texts {
    char **v;
    size_t *len, n, bytes;
};

static void load(const char *path, const char *field, struct texts *t)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_guard: cannot open %s\n", path);
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        json_t *s = json_object_get(j, field);
        if (json_is_string(s)) {
            if (t->n == alloc) {
                alloc = alloc ? alloc * 2 : 1024;
                t->v = realloc(t->v, alloc * sizeof(*t->v));
                t->len = realloc(t->len, alloc * sizeof(*t->len));
                if (!t->v || !t->len)
                    exit(3);
            }
            t->len[t->n] = json_string_length(s);
            t->v[t->n] = malloc(t->len[t->n] + 1);
            memcpy(t->v[t->n], json_string_value(s), t->len[t->n] + 1);
            t->bytes += t->len[t->n++];
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
}

static int nothing(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                   void *ctx)
{
    (void)id, (void)from, (void)to, (void)flags, (void)ctx;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_guard PROMPTS ANSWERS [CHUNK]\n");
        return 2;
    }
    size_t chunk = argc > 3 ? (size_t)strtoul(argv[3], NULL, 10) : 16;
    struct texts prompts = {0}, answers = {0};
    load(argv[1], "text", &prompts);
    load(argv[2], "response", &answers);
    struct rp_guard_options o = {0};
    struct rp_guard *g;
    struct rp_guard_scratch *s;
    struct rp_error err;
    if (rp_guard_new(&o, &g, &err) || rp_guard_scratch_new(g, &s)) {
        fprintf(stderr, "bench_guard: %s\n", err.msg);
        return 1;
    }

    /* 1. Input inspection. */
    double best = 1e9;
    for (int round = 0; round < 5; round++) {
        double t0 = now();
        for (size_t i = 0; i < prompts.n; i++) {
            struct rp_guard_result r;
            rp_guard_inspect(g, s, RP_GUARD_INPUT, (struct rp_str){prompts.v[i], prompts.len[i]},
                             &r);
            rp_guard_result_release(&r);
        }
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    double us_kb = best * 1e6 / ((double)prompts.bytes / 1024.0);
    /* Where the time goes: the rules alone (one Hyperscan block scan) and the classifier alone. */
    const struct rp__guard_dir *din = &g->dir[RP_GUARD_INPUT];
    double best_hs_in = 1e9, best_cls = 1e9;
    for (int round = 0; round < 5; round++) {
        double t0 = now();
        for (size_t i = 0; i < prompts.n; i++)
            hs_scan(din->block, prompts.v[i], (unsigned)prompts.len[i], 0, s->hs, nothing, NULL);
        double dt = now() - t0;
        best_hs_in = dt < best_hs_in ? dt : best_hs_in;
        t0 = now();
        double sum = 0;
        for (size_t i = 0; i < prompts.n; i++)
            sum += rp_guard_model_score(din->model, (struct rp_str){prompts.v[i], prompts.len[i]});
        dt = now() - t0 + sum * 0;
        best_cls = dt < best_cls ? dt : best_cls;
    }
    double kb = (double)prompts.bytes / 1024.0;
    printf("input inspection: %zu prompts, %.1f KB: %.2f us per KB (target <= 20; %.3f of the "
           "ceiling)\n",
           prompts.n, (double)prompts.bytes / 1024.0, us_kb, us_kb / 20.0);
    printf("  of which: rules (Hyperscan block scan) %.2f us per KB, classifier %.2f us per KB\n",
           best_hs_in * 1e6 / kb, best_cls * 1e6 / kb);

    /* 2. Streamed output against bare Hyperscan streaming. */
    const struct rp__guard_dir *d = &g->dir[RP_GUARD_OUTPUT];
    double best_guard = 1e9, best_hs = 1e9;
    struct rp_buf out;
    rp_buf_init(&out, 64u << 20);
    for (int round = 0; round < 5; round++) {
        double t0 = now();
        for (size_t i = 0; i < answers.n; i++) {
            struct rp_guard_stream *st;
            if (rp_guard_stream_new(g, s, &st))
                return 1;
            rp_buf_reset(&out);
            for (size_t at = 0; at < answers.len[i] && !rp_guard_stream_refused(st); at += chunk) {
                size_t n = answers.len[i] - at < chunk ? answers.len[i] - at : chunk;
                rp_guard_stream_feed(st, (struct rp_str){answers.v[i] + at, n}, &out);
            }
            rp_guard_stream_finish(st, &out);
            rp_guard_stream_free(st);
        }
        double dt = now() - t0;
        best_guard = dt < best_guard ? dt : best_guard;
        t0 = now();
        for (size_t i = 0; i < answers.n; i++) {
            hs_stream_t *hs;
            if (hs_open_stream(d->stream, 0, &hs) != HS_SUCCESS)
                return 1;
            for (size_t at = 0; at < answers.len[i]; at += chunk) {
                size_t n = answers.len[i] - at < chunk ? answers.len[i] - at : chunk;
                hs_scan_stream(hs, answers.v[i] + at, (unsigned)n, 0, s->hs, nothing, NULL);
            }
            hs_close_stream(hs, s->hs, nothing, NULL);
        }
        dt = now() - t0;
        best_hs = dt < best_hs ? dt : best_hs;
    }
    double mb = (double)answers.bytes / 1e6;
    printf("streamed output, %zu answers, %.2f MB in %zu-byte pieces:\n", answers.n, mb, chunk);
    printf("  rampart guard stream:     %8.1f MB/s\n", mb / best_guard);
    printf("  bare Hyperscan streaming: %8.1f MB/s (same database, no-op callback)\n",
           mb / best_hs);
    printf("  ratio rampart / Hyperscan: %.2f (target >= 0.5)\n", best_hs / best_guard);
    rp_buf_release(&out);
    rp_guard_scratch_free(s);
    rp_guard_free(g);
    return 0;
}
