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
