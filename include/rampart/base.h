/* rampart base: string slices, bounded buffers and error codes shared by every module. */
#ifndef RAMPART_BASE_H
#define RAMPART_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes: 0 is success, failures are negative. */
enum {
    RP_OK = 0,
    RP_ENOMEM = -1,    /* out of memory */
    RP_ETOOBIG = -2,   /* a bounded buffer or input would exceed its cap */
    RP_EINVAL = -3,    /* malformed input */
    RP_EIO = -4,       /* reading or writing a file failed */
    RP_ENOTFOUND = -5, /* a named thing does not exist */
    RP_EBUSY = -6      /* a bounded queue is full, or what would take the work is stopping */
};

/* A slice of bytes from the wire or a file: never assumed NUL-terminated. */
struct rp_str {
    const char *ptr;
    size_t len;
};

#define RP_STR(lit) ((struct rp_str){(lit), sizeof(lit) - 1})
#define RP_STR_NULL ((struct rp_str){NULL, 0})

struct rp_str rp_str_from_cstr(const char *s);
bool rp_str_eq(struct rp_str a, struct rp_str b);
bool rp_str_eq_cstr(struct rp_str a, const char *b);
/* ASCII case-insensitive comparison. */
bool rp_str_ieq_cstr(struct rp_str a, const char *b);
bool rp_str_has_prefix(struct rp_str s, const char *prefix);
/* Copies at most 60 bytes of s into out (NUL-terminated, size at least 64) for an error
 * message, each byte that is not printable ASCII as '?' and "..." when cut: a file's bytes
 * never reach a terminal raw. Returns out. */
char *rp_str_excerpt(struct rp_str s, char *out, size_t size);

/* A growing byte buffer that carries its own cap: going over the cap is RP_ETOOBIG, never a
 * larger allocation. The content is always NUL-terminated so it can be handed to C APIs.
 *
 * Errors are sticky, as in curl's dynbuf: the first failed add (RP_ETOOBIG, RP_ENOMEM) is kept
 * in err, and every later add is a no-op that returns it, so that a run of adds may be checked
 * once, with rp_buf_error, at the end. The content stays what it was before the failed add.
 * Only the caller's own recovery forgets the failure: rp_buf_reset, rp_buf_truncate (going back
 * to a length it knows is whole) or init/release. */
struct rp_buf {
    char *ptr;
    size_t len;
    size_t alloc;
    size_t cap;
    int err; /* the first failure, RP_OK while none */
};

/* Prepares an empty buffer that will hold at most cap bytes (excluding the NUL). */
void rp_buf_init(struct rp_buf *b, size_t cap);
/* Frees the storage; the buffer may be reused after rp_buf_init. */
void rp_buf_release(struct rp_buf *b);
/* Empties the buffer, keeping its storage, and forgets a failure. */
void rp_buf_reset(struct rp_buf *b);
/* The first failure of an add since init or reset, RP_OK while none. */
static inline int rp_buf_error(const struct rp_buf *b)
{
    return b->err;
}
int rp_buf_add(struct rp_buf *b, const void *ptr, size_t len);
int rp__buf_addc_slow(struct rp_buf *b, char c);
/* Appends one byte; inline because parsers call it for every byte they keep. */
static inline int rp_buf_addc(struct rp_buf *b, char c)
{
    if (b->len + 1 < b->alloc && b->len < b->cap && !b->err) {
        b->ptr[b->len++] = c;
        b->ptr[b->len] = '\0';
        return RP_OK;
    }
    return rp__buf_addc_slow(b, c);
}
int rp_buf_adds(struct rp_buf *b, const char *s);
int rp_buf_addf(struct rp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Shortens the content to len bytes (len <= b->len) and forgets a failure. */
void rp_buf_truncate(struct rp_buf *b, size_t len);
/* Hands the storage to the caller (free() it); the buffer is left empty, its failure
 * forgotten (check rp_buf_error first). Never NULL on success: an empty buffer yields an
 * allocated "". */
char *rp_buf_detach(struct rp_buf *b);
static inline struct rp_str rp_buf_str(const struct rp_buf *b)
{
    return (struct rp_str){b->ptr ? b->ptr : "", b->len};
}

/* A message for a person, filled by functions that can fail for reasons worth explaining. */
struct rp_error {
    char msg[256];
};

void rp_error_set(struct rp_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets err (may be NULL) to "line N: " and the message fmt and ap make: the form of every error
 * about the content of a file. Returns RP_EINVAL, for the readers' fail functions to return. */
int rp_error_vset_line(struct rp_error *err, unsigned line, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
const char *rp_strerror(int code);

/* Reads a whole file into a NUL-terminated heap buffer of at most cap bytes. The caller frees
 * *out, which is NULL on failure. Fills err with "unable to read '<path>': ..." on failure. */
int rp_file_read(const char *path, size_t cap, char **out, size_t *out_len, struct rp_error *err);

/* Length of the well-formed UTF-8 sequence at p (avail > 0 bytes), or 0 when ill-formed
 * (Unicode table 3-7: no overlongs, surrogates or code points above U+10FFFF). */
size_t rp_utf8_len(const unsigned char *p, size_t avail);
/* Encodes code point cp (a Unicode scalar value) as UTF-8 in u; returns its length (1 to 4). */
size_t rp_utf8_encode(uint32_t cp, char u[4]);

/* Length of the maximal ill-formed subpart at p (at least 1), which a decoder replaces with one
 * U+FFFD (WHATWG Encoding, Unicode 3.9). Call where rp_utf8_len() returned 0. */
size_t rp_utf8_invalid_len(const unsigned char *p, size_t avail);
bool rp_utf8_valid(const char *ptr, size_t len);
/* Appends in to out with each maximal ill-formed subpart replaced by U+FFFD. */
int rp_utf8_sanitize(struct rp_str in, struct rp_buf *out);

/* The value of a hexadecimal digit, or -1 when c is not one. */
static inline int rp_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* FNV-1a, 64 bits: stable across builds and machines (used for splits and feature hashing). */
uint64_t rp_hash64(const void *ptr, size_t len, uint64_t seed);

/* The directory for caches that only save time (compiled rule packs, advisory indexes):
 * $RAMPART_CACHE_DIR, else $XDG_CACHE_HOME/rampart, else ~/.cache/rampart, made if missing.
 * False when RAMPART_CACHE_DIR=off, the path does not fit in cap, or the directory is not this
 * user's own or others may write to it. */
bool rp_cache_dir(char *out, size_t cap);

/* Defensive checks for what cannot happen (SQLite's ALWAYS/NEVER): a release build takes the
 * safe branch and goes on; the test and fuzz builds (RP_TEST_BUILD) abort on the spot, so that
 * the tests and fuzzers report a broken invariant instead of passing over it. */
#ifdef RP_TEST_BUILD
#include <assert.h>
#define RP_ALWAYS(x) ((x) ? 1 : (assert(!"RP_ALWAYS(" #x ")"), 0))
#define RP_NEVER(x) ((x) ? (assert(!"RP_NEVER(" #x ")"), 1) : 0)
#else
#define RP_ALWAYS(x) (__builtin_expect(!!(x), 1))
#define RP_NEVER(x) (__builtin_expect(!!(x), 0))
#endif

#endif
