/* libFuzzer target: the YAML configuration of `rampart serve` (rp_config_load_text, then
 * rp_config_validate and an override), on any bytes. */
#include <stdint.h>

#include "rampart/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_config c;
    struct rp_error err;
    if (rp_config_init(&c))
        return 0;
    if (rp_config_load_text(&c, "fuzz.yaml", (const char *)data, size, &err) == RP_OK) {
        rp_config_validate(&c, &err);
        /* What a command line does after a file: public_url follows, values are re-checked. */
        rp_config_set(&c, "listen", "127.0.0.1:1", &err);
        rp_config_validate(&c, &err);
    }
    rp_config_release(&c);
    return 0;
}
