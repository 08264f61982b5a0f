/* Slices, error messages, whole-file reads and the stable hash used across rampart. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rampart/base.h"

struct rp_str rp_str_from_cstr(const char *s)
{
    return (struct rp_str){s, s ? strlen(s) : 0};
}

bool rp_str_eq(struct rp_str a, struct rp_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool rp_str_eq_cstr(struct rp_str a, const char *b)
{
    return rp_str_eq(a, rp_str_from_cstr(b));
}

bool rp_str_ieq_cstr(struct rp_str a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && (n == 0 || strncasecmp(a.ptr, b, n) == 0);
}

bool rp_str_has_prefix(struct rp_str s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

char *rp_str_excerpt(struct rp_str s, char *out, size_t size)
{
    size_t max = size > 4 ? size - 4 : 0;
    if (max > 60)
        max = 60;
    size_t n = 0;
    for (; n < s.len && n < max; n++) {
        unsigned char c = (unsigned char)s.ptr[n];
        out[n] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (n < s.len && size >= 4) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    if (size)
        out[n < size ? n : size - 1] = '\0';
    return out;
}

void rp_error_set(struct rp_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

int rp_error_vset_line(struct rp_error *err, unsigned line, const char *fmt, va_list ap)
{
    if (err) {
        char msg[sizeof(err->msg)];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        rp_error_set(err, "line %u: %s", line, msg);
    }
    return RP_EINVAL;
}

const char *rp_strerror(int code)
{
    switch (code) {
    case RP_OK: return "success";
    case RP_ENOMEM: return "out of memory";
    case RP_ETOOBIG: return "input too large";
    case RP_EINVAL: return "invalid input";
    case RP_EIO: return "input/output error";
    case RP_ENOTFOUND: return "not found";
    case RP_EBUSY: return "busy";
    default: return "unknown error";
    }
}

int rp_file_read(const char *path, size_t cap, char **out, size_t *out_len, struct rp_error *err)
{
    int result = RP_OK;
    struct rp_buf b;
    *out = NULL; /* so that a caller may free it whatever the outcome */
    rp_buf_init(&b, cap);
    FILE *f = fopen(path, "rb");
    if (!f) {
        rp_error_set(err, "unable to open '%s': %s", path, strerror(errno));
        return RP_EIO;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        result = rp_buf_add(&b, chunk, n);
        if (result) {
            rp_error_set(err, "unable to read '%s': %s", path,
                         result == RP_ETOOBIG ? "file too large" : rp_strerror(result));
            goto out;
        }
    }
    if (ferror(f)) {
        rp_error_set(err, "unable to read '%s': %s", path, strerror(errno));
        result = RP_EIO;
        goto out;
    }
    *out_len = b.len;
    *out = rp_buf_detach(&b);
    if (!*out)
        result = RP_ENOMEM;
out:
    fclose(f);
    rp_buf_release(&b);
    return result;
}

/* Length of the well-formed UTF-8 sequence at p, or 0 (Unicode table 3-7). */
/* The length a sequence starting with lead byte c must have (0: c cannot start one) and the
 * range its second byte must be in (Unicode table 3-7). */
static size_t utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c == 0xe0)
        *lo = 0xa0;
    else if (c == 0xed)
        *hi = 0x9f;
    else if (c == 0xf0)
        *lo = 0x90;
    else if (c == 0xf4)
        *hi = 0x8f;
    return (c >= 0xc2 && c <= 0xdf)   ? 2
           : (c >= 0xe0 && c <= 0xef) ? 3
           : (c >= 0xf0 && c <= 0xf4) ? 4
                                      : 0;
}

size_t rp_utf8_len(const unsigned char *p, size_t avail)
{
    unsigned char lo, hi;
    size_t n = utf8_lead(p[0], &lo, &hi);
    if (n <= 1)
        return n;
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

size_t rp_utf8_invalid_len(const unsigned char *p, size_t avail)
{
    unsigned char lo, hi;
    size_t want = utf8_lead(p[0], &lo, &hi), n = 1;
    while (n < want && n < avail && p[n] >= lo && p[n] <= hi) {
        n++;
        lo = 0x80;
        hi = 0xbf;
    }
    return n;
}

bool rp_utf8_valid(const char *ptr, size_t len)
{
    const unsigned char *p = (const unsigned char *)ptr;
    for (size_t i = 0; i < len;) {
        /* ASCII, the common case, eight bytes at a time. */
        uint64_t w;
        if (len - i >= 8 && (memcpy(&w, p + i, 8), !(w & 0x8080808080808080ull))) {
            i += 8;
            continue;
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = rp_utf8_len(p + i, len - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

int rp_utf8_sanitize(struct rp_str in, struct rp_buf *out)
{
    const unsigned char *p = (const unsigned char *)in.ptr;
    for (size_t i = 0; i < in.len;) {
        /* Copy the longest well-formed run at once. */
        size_t run = i, n;
        while (run < in.len && (n = rp_utf8_len(p + run, in.len - run)) > 0)
            run += n;
        int result = RP_OK;
        if (run > i) {
            result = rp_buf_add(out, p + i, run - i);
            i = run;
        } else {
            /* One U+FFFD per maximal ill-formed subpart, as the WHATWG decoder does. */
            result = rp_buf_add(out, "\xef\xbf\xbd", 3);
            size_t skip = rp_utf8_invalid_len(p + i, in.len - i);
            i += skip;
        }
        if (result)
            return result;
    }
    return RP_OK;
}

uint64_t rp_hash64(const void *ptr, size_t len, uint64_t seed)
{
    const unsigned char *p = ptr;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

bool rp_cache_dir(char *out, size_t cap)
{
    const char *env = getenv("RAMPART_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (env && *env) {
        if (!strcmp(env, "off"))
            return false;
        n = snprintf(out, cap, "%s", env);
    } else if (xdg && *xdg) {
        n = snprintf(out, cap, "%s/rampart", xdg);
    } else if (home && *home) {
        n = snprintf(out, cap, "%s/.cache/rampart", home);
    } else {
        return false;
    }
    if (n < 0 || (size_t)n >= cap)
        return false;
    /* Make the directory and its parent (~/.cache may not exist yet). */
    char *slash = strrchr(out, '/');
    if (slash && slash != out) {
        *slash = '\0';
        mkdir(out, 0700);
        *slash = '/';
    }
    if (mkdir(out, 0700) != 0 && errno != EEXIST)
        return false;
    /* What is loaded from here decides what is matched (guard rules, advisories): only a
     * directory of this user that nobody else may write to is trusted. */
    struct stat sb;
    return stat(out, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == geteuid() &&
           !(sb.st_mode & (S_IWGRP | S_IWOTH));
}

size_t rp_utf8_encode(uint32_t cp, char u[4])
{
    if (cp < 0x80) {
        u[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    u[0] = (char)(0xf0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}
