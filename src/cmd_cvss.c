/* `rampart cvss`: CVSS v3.0, v3.1 and v4.0 base scores and ratings of vectors given as
 * arguments or one per line on stdin. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "rampart/json.h"
#include "rampart/vuln.h"

/* Longest stdin line read as a vector; a full v4.0 vector with every metric is under 200 bytes. */
#define LINE_MAX_BYTES 4096

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rampart cvss [--json] VECTOR...\n"
            "       rampart cvss [--json] < VECTORS\n"
            "\n"
            "Computes the base score of each CVSS vector (CVSS:3.0, CVSS:3.1 or CVSS:4.0, the\n"
            "form OSV records carry in \"severity\") and its rating: none, low, medium, high\n"
            "or critical. Without arguments, reads one vector a line from standard input\n"
            "(blank lines are skipped). Metrics may come in any order. Threat, temporal,\n"
            "environmental and supplemental metrics are checked but do not change the base\n"
            "score; for CVSS 4.0 it is the CVSS-B score.\n"
            "\n"
            "Prints \"SCORE RATING\" a line, e.g. \"9.8 critical\", or \"error: WHY\" for a bad\n"
            "vector, so that output lines match input lines.\n"
            "\n"
            "  --json        one JSON object a line: {\"vector\", \"score\", \"rating\"} or\n"
            "                {\"vector\", \"error\"}\n"
            "  -h, --help    this text\n"
            "\n"
            "Exit status: 0 when every vector scored, 2 when any was bad or on usage errors.\n");
}

/* Scores one vector and prints its line; *bad is set when the vector is not valid. */
static int one(struct rp_str vector, bool json, bool *bad)
{
    struct rp_error err = {{0}};
    double score = 0;
    int rc = rp_cvss_base_score(vector, &score, &err);
    if (rc)
        *bad = true;
    if (!json) {
        if (rc)
            printf("error: %s\n", err.msg);
        else
            printf("%.1f %s\n", score, rp_cvss_rating(score));
        return RP_OK;
    }
    struct rp_buf out;
    /* A JSON escape is at most 6 bytes a byte of input. */
    rp_buf_init(&out, 6 * vector.len + 1024);
    int result = rp_buf_adds(&out, "{\"vector\":");
    if (!result)
        result = rp_json_add_string(&out, vector.ptr, vector.len);
    if (!result && rc) {
        result = rp_buf_adds(&out, ",\"error\":");
        if (!result)
            result = rp_json_add_cstr(&out, err.msg);
    } else if (!result) {
        result =
            rp_buf_addf(&out, ",\"score\":%.1f,\"rating\":\"%s\"", score, rp_cvss_rating(score));
    }
    if (!result)
        result = rp_buf_adds(&out, "}\n");
    if (!result && fwrite(out.ptr, 1, out.len, stdout) != out.len)
        result = RP_EIO;
    rp_buf_release(&out);
    return result;
}

/* Strips spaces, tabs and a carriage return around a line. */
static struct rp_str trim(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
        n--;
    return (struct rp_str){p, n};
}

static int each_stdin_line(bool json, bool *bad)
{
    static char line[LINE_MAX_BYTES + 1];
    int result = RP_OK, c = 0;
    while (!result && c != EOF) {
        size_t n = 0;
        bool too_long = false;
        while ((c = getchar()) != EOF && c != '\n') {
            if (n < LINE_MAX_BYTES)
                line[n++] = (char)c;
            else
                too_long = true;
        }
        if (c == EOF && n == 0 && !too_long)
            break;
        struct rp_str v = trim(line, n);
        if (too_long) {
            *bad = true;
            if (json)
                printf("{\"vector\":null,\"error\":\"line longer than %d bytes\"}\n",
                       LINE_MAX_BYTES);
            else
                printf("error: line longer than %d bytes\n", LINE_MAX_BYTES);
        } else if (v.len) {
            result = one(v, json, bad);
        }
    }
    if (!result && ferror(stdin)) {
        fprintf(stderr, "rampart cvss: error reading standard input\n");
        result = RP_EIO;
    }
    return result;
}

int cmd_cvss(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, bad = false;
    int c, result = RP_OK;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'h': usage(stdout); return CMD_EXIT_OK;
        default: usage(stderr); return CMD_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        result = each_stdin_line(json, &bad);
    for (int i = optind; i < argc && !result; i++)
        result = one(rp_str_from_cstr(argv[i]), json, &bad);
    if (fflush(stdout) != 0 && !result)
        result = RP_EIO;
    if (result) {
        fprintf(stderr, "rampart cvss: %s\n", rp_strerror(result));
        return CMD_EXIT_USAGE;
    }
    return bad ? CMD_EXIT_USAGE : CMD_EXIT_OK;
}
