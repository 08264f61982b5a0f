/* Sets of domain names read from list files (one domain a line, '#' comments), such as the
 * disposable e-mail domains of signup.disposable_domains: sorted once, looked up by binary
 * search, read-only after loading so that threads share them. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/gate.h"

struct rp_domain_set {
    char **v;
    size_t n;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void rp_domain_set_free(struct rp_domain_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    free(s);
}

int rp_domain_set_load(const char *name, struct rp_str text, struct rp_domain_set **out,
                       struct rp_error *err)
{
    *out = NULL;
    struct rp_domain_set *s = calloc(1, sizeof(*s));
    size_t alloc = 0;
    if (!s)
        return RP_ENOMEM;
    const char *p = text.ptr, *end = text.ptr + text.len;
    unsigned line = 0;
    int result = RP_OK;
    while (p < end && !result) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end, *b = p;
        p = nl ? nl + 1 : end;
        line++;
        const char *hash = memchr(b, '#', (size_t)(e - b));
        if (hash)
            e = hash;
        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && (isspace((unsigned char)e[-1]) || e[-1] == '.'))
            e--;
        if (b == e)
            continue;
        size_t n = (size_t)(e - b);
        bool ok = n <= 253 && *b != '.' && *b != '-';
        for (const char *c = b; ok && c < e; c++)
            ok = isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == '_';
        if (!ok) {
            rp_error_set(err, "%s:%u: '%.*s' is not a domain name", name, line,
                         (int)(n > 60 ? 60 : n), b);
            result = RP_EINVAL;
            break;
        }
        if (s->n == alloc) {
            alloc = alloc ? alloc * 2 : 1024;
            char **nv = realloc(s->v, alloc * sizeof(*nv));
            if (!nv) {
                result = RP_ENOMEM;
                break;
            }
            s->v = nv;
        }
        char *d = malloc(n + 1);
        if (!d) {
            result = RP_ENOMEM;
            break;
        }
        for (size_t i = 0; i < n; i++)
            d[i] = (char)tolower((unsigned char)b[i]);
        d[n] = '\0';
        s->v[s->n++] = d;
    }
    if (result) {
        rp_domain_set_free(s);
        return result;
    }
    if (s->n > 1)
        qsort(s->v, s->n, sizeof(*s->v), cmp_str);
    *out = s;
    return RP_OK;
}

size_t rp_domain_set_size(const struct rp_domain_set *s)
{
    return s ? s->n : 0;
}

bool rp_domain_set_has(const struct rp_domain_set *s, const char *domain)
{
    if (!s || !s->n || !domain)
        return false;
    return bsearch(&domain, s->v, s->n, sizeof(*s->v), cmp_str) != NULL;
}
