/* libFuzzer target: the answers of guard providers (rp_provider_read_moderation and
 * rp_provider_read_llama_guard) on any bytes: each reads a verdict or says why not, and a
 * verdict's categories are bounded, terminated strings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/guard.h"

static void check(int rc, const struct rp_provider_verdict *v, const struct rp_error *err)
{
    if (rc && !err->msg[0])
        abort();
    if (rc)
        return;
    if (v->n_categories > RP_PROVIDER_MAX_CATEGORIES || v->score > 1)
        abort();
    for (size_t i = 0; i < v->n_categories; i++)
        if (!memchr(v->categories[i], 0, sizeof(v->categories[i])) || !v->categories[i][0])
            abort();
    for (size_t i = 0; i < v->n_categories; i++)
        (void)rp_provider_category_name(v->categories[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_str body = {(const char *)data, size};
    struct rp_provider_verdict v;
    struct rp_error err = {{0}};
    check(rp_provider_read_moderation(body, &v, &err), &v, &err);
    memset(&err, 0, sizeof(err));
    check(rp_provider_read_llama_guard(body, &v, &err), &v, &err);
    return 0;
}
