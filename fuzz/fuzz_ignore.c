/* libFuzzer target: the small inputs of rampart vulns besides inventories, on any bytes: lists of
 * accepted risks (--ignore-file) and os-release files. The first byte picks which. Besides
 * crashes and sanitizer reports, a finding is an id handed out that is empty, too long, holds
 * a blank, a '#', a line break or a control character, or is not an advisory id; a rejection
 * without a message; or a release that is not a short run of digits and dots. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/vuln.h"

static int check(void *arg, struct rp_str id)
{
    (void)arg;
    if (id.len == 0 || id.len > RP_VULN_ID_MAX || !rp_vuln_id_valid(id))
        abort();
    for (size_t i = 0; i < id.len; i++) {
        unsigned char c = (unsigned char)id.ptr[i];
        if (c == ' ' || c == '#' || c < 0x20 || c == 0x7f)
            abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int mode = data[0] & 1;
    data++;
    size--;
    /* A copy of exactly the input's size, so that reading past it is an ASan error. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    if (mode == 0) {
        struct rp_error err = {{0}};
        int rc = rp_vuln_ignore_parse((struct rp_str){text, size}, check, NULL, &err);
        if (rc && !err.msg[0])
            abort();
    } else {
        char rel[20];
        bool ok = rp_vuln_debian_release((struct rp_str){text, size}, rel, sizeof(rel));
        size_t n = strlen(rel);
        if (ok != (n > 0) || n > 16)
            abort();
        for (size_t i = 0; i < n; i++)
            if (!((rel[i] >= '0' && rel[i] <= '9') || rel[i] == '.'))
                abort();
    }
    free(text);
    return 0;
}
