/* libFuzzer target: domain list files (rp_domain_set_load), as signup.disposable_domains reads
 * them. Every name that loads is found again by rp_domain_set_has. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/gate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_domain_set *s = NULL;
    struct rp_error err;
    if (rp_domain_set_load("fuzz.conf", (struct rp_str){(const char *)data, size}, &s, &err))
        return 0;
    /* The first line's name, as the loader reads it, must be in the set. */
    char name[300];
    size_t n = 0;
    for (size_t i = 0; i < size && data[i] != '\n' && data[i] != '#' && n < sizeof(name) - 1; i++)
        if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r' && data[i] != '\v' &&
            data[i] != '\f')
            name[n++] = (char)(data[i] >= 'A' && data[i] <= 'Z' ? data[i] + 32 : data[i]);
    while (n && name[n - 1] == '.')
        n--;
    name[n] = '\0';
    if (n && n <= 253 && !memchr(data, '\0', size < n ? size : n) && !rp_domain_set_has(s, name))
        abort();
    rp_domain_set_free(s);
    return 0;
}
