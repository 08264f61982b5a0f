/* In-process URL benchmark: rp_url_inspect (every check) per address against libpsl's
 * psl_registrable_domain per host, on one core, without process start-up or output.
 * usage: bench_url PSL_DAT URLS_FILE HOSTS_FILE */
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rampart/url_inspect.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Splits a file into lines in place; returns the count. */
static size_t lines(char *text, size_t len, char ***out)
{
    size_t n = 0, cap = 1024;
    char **v = malloc(cap * sizeof(*v));
    for (char *p = text; v && p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        if (!nl)
            nl = text + len;
        *nl = '\0';
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof(*v));
        if (v)
            v[n++] = p;
        p = nl + 1;
    }
    *out = v;
    return v ? n : 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_url PSL_DAT URLS_FILE HOSTS_FILE\n");
        return 2;
    }
    struct rp_error err;
    struct rp_url_inspector_options opt = {.psl_file = argv[1]};
    struct rp_url_inspector *in;
    char *ut, *ht;
    size_t ul, hl;
    if (rp_url_inspector_new(&opt, &in, &err) || rp_file_read(argv[2], 1u << 30, &ut, &ul, &err) ||
        rp_file_read(argv[3], 1u << 30, &ht, &hl, &err)) {
        fprintf(stderr, "bench_url: %s\n", err.msg);
        return 2;
    }
    psl_ctx_t *psl = psl_load_file(argv[1]);
    char **urls, **hosts;
    size_t nu = lines(ut, ul, &urls), nh = lines(ht, hl, &hosts);
    if (!psl || !nu || !nh) {
        fprintf(stderr, "bench_url: nothing to measure\n");
        return 2;
    }
    double best_in = 1e9, best_psl = 1e9;
    size_t sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t = now();
        for (size_t i = 0; i < nu; i++) {
            struct rp_url_report r;
            if (rp_url_inspect(in, rp_str_from_cstr(urls[i]), &r) == 0) {
                sink += r.n_reasons;
                rp_url_report_release(&r);
            }
        }
        double dt = now() - t;
        best_in = dt < best_in ? dt : best_in;
        t = now();
        for (size_t i = 0; i < nh; i++) {
            const char *rd = psl_registrable_domain(psl, hosts[i]);
            sink += rd != NULL;
        }
        dt = now() - t;
        best_psl = dt < best_psl ? dt : best_psl;
    }
    double us_in = best_in / (double)nu * 1e6, us_psl = best_psl / (double)nh * 1e6;
    printf("in process, one core, best of 5 (checksum %zu):\n", sink);
    printf("  rp_url_inspect (every check):   %8.3f us/URL  %10.0f URLs/s\n", us_in, 1e6 / us_in);
    printf("  psl_registrable_domain (libpsl): %8.3f us/host %10.0f hosts/s\n", us_psl,
           1e6 / us_psl);
    printf("  ratio inspect/psl rate: %.3f\n", us_psl / us_in);
    psl_free(psl);
    rp_url_inspector_free(in);
    free(urls);
    free(hosts);
    free(ut);
    free(ht);
    return 0;
}
