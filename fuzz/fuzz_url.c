/* libFuzzer target: the URL parser (with and without a base) and the whole inspector, on any
 * bytes. Crashes, leaks and sanitizer reports are the findings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/url.h"
#include "rampart/url_inspect.h"

static struct rp_url_inspector *inspector;
static struct rp_url base;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct rp_error err;
    if (rp_url_inspector_new(NULL, &inspector, &err) != 0)
        abort();
    if (rp_url_parse(RP_STR("https://user:pw@example.com:8080/a/b/c?q#f"), NULL, &base, &err))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_str in = {(const char *)data, size};
    struct rp_url u, again;
    struct rp_error err;
    if (rp_url_parse(in, &base, &u, &err) == 0) {
        /* The serialisation of a parsed URL must parse to itself (idempotence). */
        if (rp_url_parse(rp_str_from_cstr(u.href), NULL, &again, &err) == 0) {
            if (strcmp(again.href, u.href) != 0)
                abort();
            rp_url_release(&again);
        }
        rp_url_release(&u);
    }
    struct rp_url_report r;
    if (rp_url_inspect(inspector, in, &r) == 0) {
        struct rp_buf out;
        rp_buf_init(&out, 1u << 24);
        rp_url_report_json(&r, in, &out);
        rp_buf_reset(&out);
        rp_url_report_explain(&r, in, &out);
        rp_buf_release(&out);
        rp_url_report_release(&r);
    }
    return 0;
}
