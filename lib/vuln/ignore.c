/* Lists of accepted risks (`rampart vulns --ignore-file`): one advisory id a line. */
#include <string.h>

#include "internal.h"

int rp_vuln_ignore_parse(struct rp_str text, rp_vuln_ignore_fn *fn, void *arg, struct rp_error *err)
{
    const char *p = text.ptr, *end = text.ptr + text.len;
    unsigned line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end, *hash = memchr(p, '#', (size_t)(e - p));
        const char *stop = hash ? hash : e;
        line++;
        while (p < stop && (*p == ' ' || *p == '\t'))
            p++;
        while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t' || stop[-1] == '\r'))
            stop--;
        struct rp_str id = {p, (size_t)(stop - p)};
        char ex[64];
        for (size_t i = 0; i < id.len; i++) {
            unsigned char c = (unsigned char)id.ptr[i];
            if (c == ' ' || c == '\t') {
                rp_error_set(err, "line %u: one advisory id a line, not '%s'", line,
                             rp__vuln_excerpt(id, ex, sizeof(ex)));
                return RP_EINVAL;
            }
            if (c < 0x20 || c == 0x7f) {
                rp_error_set(err, "line %u: control character 0x%02x", line, c);
                return RP_EINVAL;
            }
        }
        if (id.len > RP_VULN_ID_MAX) {
            rp_error_set(err, "line %u: an advisory id longer than %d bytes", line, RP_VULN_ID_MAX);
            return RP_EINVAL;
        }
        int result = id.len ? fn(arg, id) : RP_OK;
        if (result)
            return result;
        p = e + 1;
    }
    return RP_OK;
}
