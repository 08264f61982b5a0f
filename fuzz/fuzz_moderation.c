/* libFuzzer target: the "input" of a moderation request (rp_moderation_inputs) in any JSON
 * document: every text it takes is a string node, at most the cap of them; an error takes none
 * and says why. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "rampart/policy.h"

#define CAP 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!body)
        return 0;
    json_t *out[CAP];
    size_t n = 99;
    char why[256] = "";
    const char *code = rp_moderation_inputs(body, out, CAP, &n, why, sizeof(why));
    if (code) {
        if (n != 0 || !why[0])
            abort();
    } else {
        if (n == 0 || n > CAP)
            abort();
        for (size_t i = 0; i < n; i++)
            if (!json_is_string(out[i]))
                abort();
    }
    json_decref(body);
    return 0;
}
