/* `rampart url`: explain web addresses given as arguments or one per line on stdin. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "rampart/url_inspect.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: rampart url [--json] [options] URL...\n"
               "       rampart url [--json] [options] -\n"
               "\n"
               "Reads each web address the way a browser does (the WHATWG URL standard) and says\n"
               "who controls it and whether it looks deceptive. With '-', reads one address a\n"
               "line from standard input.\n"
               "\n"
               "  --json                one JSON object a line (fields in docs/url.md)\n"
               "  --psl FILE            Public Suffix List to use (default: the system's newest)\n"
               "  --brands FILE         well-known brands and their domains (conf/brands.txt)\n"
               "  --shorteners FILE     link shortener domains (conf/shorteners.txt)\n"
               "  --suspicious-tlds FILE  top-level domains favoured by scams\n"
               "  --model FILE          learned phishing model (conf/url-model.txt)\n"
               "  --threads N           threads inspecting stdin lines (default: one a CPU)\n"
               "  -h, --help            this text\n"
               "\n"
               "Exit status: 0 when every address is ok, 1 when any is caution or danger,\n"
               "2 on usage or input errors.\n");
}

struct url_run {
    const struct rp_url_inspector *in;
    bool json;
    unsigned threads;
};

/* Inspects input and appends its result (a JSON line or an explanation) to out. */
static int one(const struct url_run *run, struct rp_str input, struct rp_buf *out, bool *flagged)
{
    struct rp_url_report r;
    int result = rp_url_inspect(run->in, input, &r);
    if (result)
        return result;
    result = run->json ? rp_url_report_json(&r, input, out) : rp_url_report_explain(&r, input, out);
    if (!result)
        result = rp_buf_addc(out, '\n');
    if (r.verdict != RP_URL_OK)
        *flagged = true;
    rp_url_report_release(&r);
    return result;
}

/* Lines read from stdin, inspected by several threads at once and written in input order. */
#define BATCH_LINES 4096
#define BATCH_BYTES (16u << 20)
#define THREADS_MAX 16

struct batch {
    struct rp_buf text; /* the lines back to back */
    size_t start[BATCH_LINES], len[BATCH_LINES];
    size_t n;
};

struct slice {
    const struct url_run *run;
    const struct batch *b;
    size_t from, to;
    struct rp_buf out;
    bool flagged;
    int result;
};

static void *slice_main(void *arg)
{
    struct slice *s = arg;
    for (size_t i = s->from; i < s->to && !s->result; i++)
        s->result = one(s->run, (struct rp_str){s->b->text.ptr + s->b->start[i], s->b->len[i]},
                        &s->out, &s->flagged);
    return NULL;
}

static int run_batch(const struct url_run *run, const struct batch *b, bool *flagged)
{
    struct slice slices[THREADS_MAX];
    pthread_t tids[THREADS_MAX];
    size_t k = run->threads < b->n ? run->threads : b->n, started = 0;
    int result = RP_OK;
    for (size_t t = 0; t < k; t++) {
        slices[t] = (struct slice){run, b, b->n * t / k, b->n * (t + 1) / k, {0}, false, RP_OK};
        rp_buf_init(&slices[t].out, 1u << 28);
    }
    /* Slice 0 runs here; a thread that cannot start leaves its slice to this one too. */
    for (size_t t = 1; t < k; t++, started++)
        if (pthread_create(&tids[t], NULL, slice_main, &slices[t]) != 0)
            break;
    slice_main(&slices[0]);
    for (size_t t = 1; t <= started; t++)
        pthread_join(tids[t], NULL);
    for (size_t t = started + 1; t < k; t++)
        slice_main(&slices[t]);
    for (size_t t = 0; t < k; t++) {
        if (!result)
            result = slices[t].result;
        if (!result && fwrite(slices[t].out.ptr, 1, slices[t].out.len, stdout) != slices[t].out.len)
            result = RP_EIO;
        *flagged |= slices[t].flagged;
        rp_buf_release(&slices[t].out);
    }
    return result;
}

/* One address a line. NUL bytes are kept (the inspector accepts any bytes); a line longer than
 * the parser's cap is cut just past the cap, which the inspector reports as too long, so memory
 * stays bounded whatever comes in. */
static int each_stdin_line(const struct url_run *run, bool *flagged)
{
    struct batch *b = malloc(sizeof(*b));
    if (!b)
        return RP_ENOMEM;
    rp_buf_init(&b->text, BATCH_BYTES + RP_URL_MAX_INPUT + 2);
    int result = RP_OK, c = 0;
    while (!result && c != EOF) {
        rp_buf_reset(&b->text);
        b->n = 0;
        while (b->n < BATCH_LINES && b->text.len < BATCH_BYTES) {
            size_t start = b->text.len;
            while ((c = getc_unlocked(stdin)) != EOF && c != '\n')
                if (b->text.len - start <= RP_URL_MAX_INPUT && !result)
                    result = rp_buf_addc(&b->text, (char)c);
            if (result || (c == EOF && b->text.len == start))
                break;
            size_t n = b->text.len - start;
            if (n > 0 && b->text.ptr[start + n - 1] == '\r')
                n--;
            b->start[b->n] = start;
            b->len[b->n++] = n;
            if (c == EOF)
                break;
        }
        if (!result && b->n)
            result = run_batch(run, b, flagged);
    }
    if (!result && ferror(stdin)) {
        fprintf(stderr, "rampart url: error reading standard input\n");
        result = RP_EIO;
    }
    rp_buf_release(&b->text);
    free(b);
    return result;
}

int cmd_url(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"psl", required_argument, NULL, 'p'},
        {"brands", required_argument, NULL, 'b'},
        {"shorteners", required_argument, NULL, 's'},
        {"suspicious-tlds", required_argument, NULL, 't'},
        {"model", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct rp_url_inspector_options opt = {0};
    struct url_run run = {0};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    run.threads = cpus < 1 ? 1 : cpus > THREADS_MAX ? THREADS_MAX : (unsigned)cpus;
    bool flagged = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': run.json = true; break;
        case 'p': opt.psl_file = optarg; break;
        case 'b': opt.brands_file = optarg; break;
        case 's': opt.shorteners_file = optarg; break;
        case 't': opt.tlds_file = optarg; break;
        case 'm': opt.model_file = optarg; break;
        case 'T': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > THREADS_MAX) {
                fprintf(stderr, "rampart url: --threads wants a number from 1 to %d, not '%s'\n",
                        THREADS_MAX, optarg);
                return CMD_EXIT_USAGE;
            }
            run.threads = (unsigned)n;
            break;
        }
        case 'h': usage(stdout); return CMD_EXIT_OK;
        default: usage(stderr); return CMD_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "rampart url: no address given (use '-' to read them from stdin)\n");
        usage(stderr);
        return CMD_EXIT_USAGE;
    }
    struct rp_error err = {{0}};
    struct rp_url_inspector *in;
    int result = rp_url_inspector_new(&opt, &in, &err);
    if (result) {
        fprintf(stderr, "rampart url: %s\n", err.msg);
        return CMD_EXIT_USAGE;
    }
    run.in = in;
    struct rp_buf out;
    rp_buf_init(&out, 1u << 28);
    for (int i = optind; i < argc && !result; i++) {
        if (strcmp(argv[i], "-") == 0) {
            result = each_stdin_line(&run, &flagged);
            continue;
        }
        rp_buf_reset(&out);
        result = one(&run, rp_str_from_cstr(argv[i]), &out, &flagged);
        if (!result)
            fwrite(out.ptr, 1, out.len, stdout);
    }
    if (fflush(stdout) != 0 && !result)
        result = RP_EIO;
    if (result)
        fprintf(stderr, "rampart url: %s\n", rp_strerror(result));
    rp_buf_release(&out);
    rp_url_inspector_free(in);
    if (result)
        return CMD_EXIT_USAGE;
    return flagged ? CMD_EXIT_FINDINGS : CMD_EXIT_OK;
}
