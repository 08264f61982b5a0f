/* Small inputs of `rampart vulns` besides inventories: lists of accepted risks
 * (`--ignore-file`), one advisory id a line, and os-release files. */
#include <string.h>

#include "internal.h"

bool rp_vuln_id_valid(struct rp_str id)
{
    if (!id.len || id.len > RP_VULN_ID_MAX)
        return false;
    size_t dash = 0;
    for (size_t i = 0; i < id.len; i++) {
        char c = id.ptr[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (i == 0 && !letter)
            return false;
        if (c == '-' && !dash)
            dash = i;
        if (!letter && !(c >= '0' && c <= '9') && !(c && strchr("-_.:", c)))
            return false;
    }
    return dash > 0 && dash + 1 < id.len;
}

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
                             rp_str_excerpt(id, ex, sizeof(ex)));
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
        if (id.len && !rp_vuln_id_valid(id)) {
            rp_error_set(err, "line %u: '%s' is not an advisory id (such as PYSEC-2021-66)", line,
                         rp_str_excerpt(id, ex, sizeof(ex)));
            return RP_EINVAL;
        }
        int result = id.len ? fn(arg, id) : RP_OK;
        if (result)
            return result;
        p = e + 1;
    }
    return RP_OK;
}

bool rp_vuln_debian_release(struct rp_str text, char *out, size_t cap)
{
    bool debian = false;
    struct rp_str version = {NULL, 0};
    const char *p = text.ptr, *end = text.ptr + text.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        struct rp_str line = {p, (size_t)((nl ? nl : end) - p)};
        if (rp_str_eq_cstr(line, "ID=debian") || rp_str_eq_cstr(line, "ID=\"debian\"")) {
            debian = true;
        } else if (rp_str_has_prefix(line, "VERSION_ID=")) {
            struct rp_str v = {line.ptr + 11, line.len - 11};
            if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"')
                v = (struct rp_str){v.ptr + 1, v.len - 2};
            version = v;
        }
        p = nl ? nl + 1 : end;
    }
    /* A release is a short run of digits and dots ("12", "12.4"). */
    bool ok = debian && version.len > 0 && version.len < cap && version.len <= 16;
    for (size_t i = 0; ok && i < version.len; i++)
        ok = (version.ptr[i] >= '0' && version.ptr[i] <= '9') || version.ptr[i] == '.';
    if (cap)
        out[0] = '\0';
    if (!ok)
        return false;
    memcpy(out, version.ptr, version.len);
    out[version.len] = '\0';
    return true;
}
