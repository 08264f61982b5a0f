/* libFuzzer target: the server-sent events reader on any bytes, fed in two pieces cut where the
 * first byte says, with a small cap so that the overflow paths run too. */
#include <stdint.h>

#include "rampart/sse.h"

static void on_event(void *arg, struct rp_str data)
{
    size_t *n = arg;
    *n += data.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t cut = data[0] % size, seen = 0;
    struct rp_sse s;
    rp_sse_init(&s, 64, on_event, &seen);
    rp_sse_feed(&s, (const char *)data + 1, cut);
    rp_sse_feed(&s, (const char *)data + 1 + cut, size - 1 - cut);
    rp_sse_release(&s);
    return 0;
}
