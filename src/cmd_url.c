/* `rampart url`: explain web addresses given as arguments or one per line on stdin. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart.h"
#include "rampart/url_inspect.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rampart url [--json] [options] URL...\n"
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
            "  -h, --help            this text\n"
            "\n"
            "Exit status: 0 when every address is ok, 1 when any is caution or danger,\n"
            "2 on usage or input errors.\n");
}

struct url_run {
    const struct rp_url_inspector *in;
    bool json;
    bool flagged;
    struct rp_buf out;
};

static int one(struct url_run *run, struct rp_str input)
{
    struct rp_url_report r;
    int result = rp_url_inspect(run->in, input, &r);
    if (result) {
        fprintf(stderr, "rampart url: %s\n", rp_strerror(result));
        return result;
    }
    rp_buf_reset(&run->out);
    result = run->json ? rp_url_report_json(&r, input, &run->out)
                       : rp_url_report_explain(&r, input, &run->out);
    if (!result)
        result = rp_buf_addc(&run->out, '\n');
    if (!result)
        fwrite(run->out.ptr, 1, run->out.len, stdout);
    if (r.verdict != RP_URL_OK)
        run->flagged = true;
    rp_url_report_release(&r);
    return result;
}

int rp_cmd_url(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"psl", required_argument, NULL, 'p'},
        {"brands", required_argument, NULL, 'b'},
        {"shorteners", required_argument, NULL, 's'},
        {"suspicious-tlds", required_argument, NULL, 't'},
        {"model", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct rp_url_inspector_options opt = {0};
    struct url_run run = {0};
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
        case 'h': usage(stdout); return RP_EXIT_OK;
        default: usage(stderr); return RP_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "rampart url: no address given (use '-' to read them from stdin)\n");
        usage(stderr);
        return RP_EXIT_USAGE;
    }
    struct rp_error err = {{0}};
    struct rp_url_inspector *in;
    int result = rp_url_inspector_new(&opt, &in, &err);
    if (result) {
        fprintf(stderr, "rampart url: %s\n", err.msg);
        return RP_EXIT_USAGE;
    }
    run.in = in;
    rp_buf_init(&run.out, 16u << 20);
    for (int i = optind; i < argc && !result; i++) {
        if (strcmp(argv[i], "-") != 0) {
            result = one(&run, rp_str_from_cstr(argv[i]));
            continue;
        }
        /* One address a line; getline keeps NUL bytes, which the inspector accepts. */
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while (!result && (n = getline(&line, &cap, stdin)) >= 0) {
            if (n > 0 && line[n - 1] == '\n')
                n--;
            if (n > 0 && line[n - 1] == '\r')
                n--;
            result = one(&run, (struct rp_str){line, (size_t)n});
        }
        free(line);
    }
    fflush(stdout);
    rp_buf_release(&run.out);
    rp_url_inspector_free(in);
    if (result)
        return RP_EXIT_USAGE;
    return run.flagged ? RP_EXIT_FINDINGS : RP_EXIT_OK;
}
