/* libFuzzer target: the word sketch of a refused prompt (rp_sketch_text, any bytes) and the
 * resemblance of two sketches: the input is split at its first 0 byte into two texts. The
 * sketch stays sorted and distinct, the resemblance within 0..1, symmetric, and 1 for a text
 * with words against itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/policy.h"

static void check_sorted(const struct rp_sketch *s)
{
    if (s->n > RP_SKETCH_WORDS)
        abort();
    for (size_t i = 1; i < s->n; i++)
        if (s->h[i - 1] >= s->h[i])
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *zero = memchr(text, 0, size);
    size_t la = zero ? (size_t)(zero - text) : size;
    struct rp_str a = {text, la};
    struct rp_str b = zero ? (struct rp_str){zero + 1, size - la - 1} : RP_STR_NULL;
    struct rp_sketch sa, sb;
    rp_sketch_text(a, &sa);
    rp_sketch_text(b, &sb);
    check_sorted(&sa);
    check_sorted(&sb);
    double ab = rp_sketch_resemblance(&sa, &sb), ba = rp_sketch_resemblance(&sb, &sa);
    if (!(ab >= 0 && ab <= 1) || ab != ba)
        abort();
    if (sa.n > 0 && rp_sketch_resemblance(&sa, &sa) != 1)
        abort();
    return 0;
}
