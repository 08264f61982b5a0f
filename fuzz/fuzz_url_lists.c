/* libFuzzer target: the parsers of the inspector's list files (conf/brands.txt and the
 * one-domain-a-line lists), on any bytes. */
#include <stdint.h>

#include "../lib/url/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_error err;
    rp__url_lists_parse((struct rp_str){(const char *)data, size}, &err);
    return 0;
}
