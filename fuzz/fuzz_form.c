/* libFuzzer target: form fields (rp_form_field), as POST /v1/verify reads the token of an HTML
 * form's body and GET /v1/verify that of its query string, and rp_token_valid on what comes
 * out. A value that is found, percent-encoded whole into a field of its own among the input's
 * other fields, must come back byte for byte. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/gate.h"

#define CAP (RP_TOKEN_MAX + 1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[CAP], again[CAP];
    size_t n = 0, m = 0;
    struct rp_str form = {(const char *)data, size};
    int rc = rp_form_field(form, "token", out, sizeof(out), &n);
    if (rc != RP_OK)
        return 0;
    if (n >= sizeof(out) || out[n] != '\0')
        abort();
    rp_token_valid((struct rp_str){out, n});
    /* "x=1&token=%41%42..." parses back to the same bytes. */
    char *enc = malloc(16 + 3 * n);
    if (!enc)
        return 0;
    size_t e = 0;
    memcpy(enc, "x=1&token=", 10);
    e = 10;
    for (size_t i = 0; i < n; i++) {
        snprintf(enc + e, 4, "%%%02X", (unsigned char)out[i]);
        e += 3;
    }
    if (rp_form_field((struct rp_str){enc, e}, "token", again, sizeof(again), &m) != RP_OK ||
        m != n || memcmp(out, again, n) != 0)
        abort();
    free(enc);
    return 0;
}
