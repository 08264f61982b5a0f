/* rampart JSON helpers for hot paths and big files, where a jansson tree would cost more than
 * the work: appending JSON to bounded buffers, and a streaming reader. Everything else (trees
 * to build, change and write) is jansson's. */
#ifndef RAMPART_JSON_H
#define RAMPART_JSON_H

#include "rampart/base.h"

/* Appends s as a JSON string (with quotes). Control characters and NUL are escaped; ill-formed
 * UTF-8 becomes U+FFFD so the output is always valid JSON. A NULL s appends null. */
int rp_json_add_string(struct rp_buf *out, const char *s, size_t len);
static inline int rp_json_add_cstr(struct rp_buf *out, const char *s)
{
    return rp_json_add_string(out, s, s ? __builtin_strlen(s) : 0);
}

/* A JSON writer over a bounded buffer, for the small documents built on hot paths (event
 * details): it puts the commas, colons and escapes, so what it writes is JSON or an error,
 * never something in between. Errors are the buffer's, sticky (rampart/base.h): write a whole
 * document, then rp_jsonw_finish says once whether it is whole. A write that does not fit is
 * undone whole and leaves the buffer failed (later writes are no-ops); a caller that would rather
 * drop the rest of a list takes a mark before each element and rewinds to it (rp_jsonw_rewind),
 * which is whole JSON again. */
#define RP_JSONW_MAX_DEPTH 16

struct rp_jsonw {
    struct rp_buf *out;
    unsigned depth;
    uint32_t objects; /* bit d: the container at depth d is an object */
    uint32_t more;    /* bit d: the container at depth d has a member */
    bool after_key;   /* a key was written: its value comes next */
    int err;          /* a misuse (a key outside an object, too deep, ...) */
};

/* Where a writer is, to come back to. */
struct rp_jsonw_mark {
    size_t len;
    unsigned depth;
    uint32_t objects, more;
    bool after_key;
};

/* Writes to out (appended to what it holds; the writer does not own it). */
void rp_jsonw_init(struct rp_jsonw *w, struct rp_buf *out);
void rp_jsonw_object(struct rp_jsonw *w);
void rp_jsonw_array(struct rp_jsonw *w);
/* Closes the innermost open object or array. */
void rp_jsonw_end(struct rp_jsonw *w);
/* The key of the next member of the open object. */
void rp_jsonw_key(struct rp_jsonw *w, const char *key);
/* Values: a string (NULL writes null), an integer, a number with decimals digits after the
 * point (a NaN or an infinity writes null), a boolean. */
void rp_jsonw_str(struct rp_jsonw *w, const char *s);
void rp_jsonw_strn(struct rp_jsonw *w, const char *s, size_t len);
void rp_jsonw_int(struct rp_jsonw *w, long long v);
void rp_jsonw_num(struct rp_jsonw *w, double v, int decimals);
void rp_jsonw_bool(struct rp_jsonw *w, bool v);
/* Members: a key and its value in one call. */
void rp_jsonw_kstr(struct rp_jsonw *w, const char *key, const char *s);
void rp_jsonw_kint(struct rp_jsonw *w, const char *key, long long v);
void rp_jsonw_knum(struct rp_jsonw *w, const char *key, double v, int decimals);
void rp_jsonw_kbool(struct rp_jsonw *w, const char *key, bool v);
struct rp_jsonw_mark rp_jsonw_mark(const struct rp_jsonw *w);
/* Goes back to m, dropping what was written since and forgetting a failure of the buffer. */
void rp_jsonw_rewind(struct rp_jsonw *w, struct rp_jsonw_mark m);
/* RP_OK when the document is whole: one value, every container closed, every write done;
 * else the buffer's failure (RP_ETOOBIG, RP_ENOMEM) or RP_EINVAL (a misuse, or nothing). */
int rp_jsonw_finish(const struct rp_jsonw *w);

/* A streaming JSON reader (RFC 8259, as strict as jansson: UTF-8 checked, no "\u0000", no
 * trailing commas, at most 512 levels deep). A caller walks the document in order and keeps
 * only what it needs: one pass, no tree, and every value's line. Errors are "line N: what" in
 * the rp_error given to rp_jsonr_init (may be NULL), and return RP_EINVAL (RP_ENOMEM when out
 * of memory). */
struct rp_jsonr {
    const char *p, *end;
    unsigned line;
    int depth;
    struct rp_buf str; /* the last key or string value read, decoded */
    struct rp_error *err;
};

enum rp_json_type {
    RP_JSON_OBJECT,
    RP_JSON_ARRAY,
    RP_JSON_STRING,
    RP_JSON_NUMBER,
    RP_JSON_TRUE,
    RP_JSON_FALSE,
    RP_JSON_NULL
};

/* The start of a value: an object or array is entered (its '{' or '[' consumed), a string is
 * decoded into str, other scalars are consumed whole (a number's text is in text). */
struct rp_jsonv {
    enum rp_json_type type;
    bool integer; /* a number without fraction or exponent */
    unsigned line;
    struct rp_str text; /* of a number */
};

/* Reads text (not copied: it must outlive the reader). */
void rp_jsonr_init(struct rp_jsonr *j, struct rp_str text, struct rp_error *err);
void rp_jsonr_release(struct rp_jsonr *j);
/* "an object", "a string", ...: for messages. */
const char *rp_json_type_name(enum rp_json_type t);
/* The next value. */
int rp_jsonr_value(struct rp_jsonr *j, struct rp_jsonv *v);
/* The next member of the object being read (after its '{' or the previous member's value): its
 * key is left in str and *line; *done at the closing '}'. *first starts true. */
int rp_jsonr_member(struct rp_jsonr *j, bool *first, bool *done, unsigned *line);
/* The next element of the array being read; *done at its closing ']'. *first starts true. */
int rp_jsonr_element(struct rp_jsonr *j, bool *first, bool *done);
/* Consumes the next value whole, keeping nothing. */
int rp_jsonr_pass(struct rp_jsonr *j);
/* Consumes the rest of a value begun by rp_jsonr_value (nothing for a scalar). */
int rp_jsonr_finish(struct rp_jsonr *j, const struct rp_jsonv *v);
/* RP_OK when nothing but white space follows the value read. */
int rp_jsonr_end(struct rp_jsonr *j);
/* Whether the key (or string) just read is key. */
bool rp_jsonr_key_is(const struct rp_jsonr *j, const char *key);
/* Copies the string just read into dst (reset first). */
int rp_jsonr_keep(struct rp_jsonr *j, struct rp_buf *dst);
/* Fills the reader's rp_error with "line N: " and the message; returns RP_EINVAL. */
int rp_jsonr_fail(struct rp_jsonr *j, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
