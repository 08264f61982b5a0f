/* Bounded growing buffers: every buffer knows its cap and refuses to grow past it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/base.h"

void rp_buf_init(struct rp_buf *b, size_t cap)
{
    b->ptr = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
    b->err = RP_OK;
}

void rp_buf_release(struct rp_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = 0;
    b->alloc = 0;
    b->err = RP_OK;
}

void rp_buf_reset(struct rp_buf *b)
{
    b->len = 0;
    b->err = RP_OK;
    if (b->ptr)
        b->ptr[0] = '\0';
}

/* Records the first failure of an add: later adds return it (the header's sticky errors). */
static int buf_fail(struct rp_buf *b, int err)
{
    if (!b->err)
        b->err = err;
    return b->err;
}

/* Makes room for extra more bytes plus the NUL; a buffer that failed before makes none. */
static int buf_reserve(struct rp_buf *b, size_t extra)
{
    if (b->err)
        return b->err;
    if (extra > b->cap || b->len > b->cap - extra)
        return buf_fail(b, RP_ETOOBIG);
    size_t need = b->len + extra + 1;
    if (need <= b->alloc)
        return RP_OK;
    size_t n = b->alloc ? b->alloc : 64;
    while (n < need)
        n *= 2;
    if (n > b->cap + 1)
        n = b->cap + 1;
    char *p = realloc(b->ptr, n);
    if (!p)
        return buf_fail(b, RP_ENOMEM);
    b->ptr = p;
    b->alloc = n;
    return RP_OK;
}

int rp_buf_add(struct rp_buf *b, const void *ptr, size_t len)
{
    int result = buf_reserve(b, len);
    if (result)
        return result;
    if (len)
        memcpy(b->ptr + b->len, ptr, len);
    b->len += len;
    b->ptr[b->len] = '\0';
    return RP_OK;
}

int rp__buf_addc_slow(struct rp_buf *b, char c)
{
    return rp_buf_add(b, &c, 1);
}

int rp_buf_adds(struct rp_buf *b, const char *s)
{
    return rp_buf_add(b, s, strlen(s));
}

int rp_buf_addf(struct rp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return buf_fail(b, RP_EINVAL);
    int result = buf_reserve(b, (size_t)n);
    if (result)
        return result;
    va_start(ap, fmt);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return RP_OK;
}

void rp_buf_truncate(struct rp_buf *b, size_t len)
{
    b->err = RP_OK;
    if (len < b->len) {
        b->len = len;
        b->ptr[len] = '\0';
    }
}

char *rp_buf_detach(struct rp_buf *b)
{
    char *p = b->ptr;
    if (!p)
        p = calloc(1, 1);
    b->ptr = NULL;
    b->len = 0;
    b->alloc = 0;
    b->err = RP_OK;
    return p;
}
