/* libFuzzer target: version comparison of every ecosystem on any bytes. The first byte picks the
 * ecosystem ('0' other, '1' PyPI, '2' Go, '3' npm, '4' crates.io, '5' Debian: the byte modulo
 * RP_ECO_COUNT), the rest is up to three versions separated by '|'. The order must be a total
 * one: reflexive, antisymmetric and transitive, and validity must agree with comparison. Each
 * version is copied to a buffer of its exact size, so that reading past it is an ASan report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/vuln.h"

static int sign(int c)
{
    return (c > 0) - (c < 0);
}

/* The comparison of a and b, checked against b and a: 2 when either is invalid. */
static int compare(enum rp_eco eco, struct rp_str a, struct rp_str b)
{
    int ab = 42, ba = 42;
    int r1 = rp_version_cmp(eco, a, b, &ab), r2 = rp_version_cmp(eco, b, a, &ba);
    if (r1 != r2 || (r1 != RP_OK && r1 != RP_EINVAL))
        abort();
    bool valid = rp_version_valid(eco, a) && rp_version_valid(eco, b);
    if (valid != (r1 == RP_OK) || (eco == RP_ECO_OTHER && !valid))
        abort();
    if (r1 != RP_OK)
        return 2;
    if (sign(ab) != -sign(ba))
        abort(); /* antisymmetry */
    return sign(ab);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum rp_eco eco = (enum rp_eco)(data[0] % RP_ECO_COUNT);
    const uint8_t *p = data + 1, *e = data + size;
    struct rp_str v[3];
    char *copy[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        const uint8_t *bar = i < 2 ? memchr(p, '|', (size_t)(e - p)) : NULL;
        size_t n = (size_t)((bar ? bar : e) - p);
        copy[i] = malloc(n ? n : 1);
        if (!copy[i])
            abort();
        if (n)
            memcpy(copy[i], p, n);
        v[i] = (struct rp_str){copy[i], n};
        p = bar ? bar + 1 : e;
    }

    int c[3][3];
    for (int i = 0; i < 3; i++) {
        int self = 42;
        int rc = rp_version_cmp(eco, v[i], v[i], &self);
        if (rc == RP_OK && self != 0)
            abort(); /* reflexivity */
        for (int j = 0; j < 3; j++)
            c[i][j] = compare(eco, v[i], v[j]);
    }
    /* Transitivity, over every order of the three: a <= b <= c implies a <= c, and a < c when
     * either step is strict. */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 3; k++) {
                if (c[i][j] == 2 || c[j][k] == 2 || c[i][j] > 0 || c[j][k] > 0)
                    continue;
                if (c[i][k] == 2 || c[i][k] > 0 || (c[i][k] == 0 && (c[i][j] || c[j][k])))
                    abort();
            }
    for (int i = 0; i < 3; i++)
        free(copy[i]);
    return 0;
}
