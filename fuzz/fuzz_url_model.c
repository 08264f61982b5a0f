/* libFuzzer target: the URL model's text format (rp_url_model_load) and, for any model that
 * loads, scoring a fixed address with it. */
#include <stdint.h>
#include <stdlib.h>

#include "rampart/url_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_url_model *m = NULL;
    struct rp_error err;
    if (rp_url_model_load((struct rp_str){(const char *)data, size}, &m, &err) == 0) {
        double s = rp_url_model_score(m, RP_STR("http://paypal.com.example/login.php"), NULL);
        if (!(s >= 0.0 && s <= 1.0))
            abort();
        rp_url_model_free(m);
    }
    return 0;
}
