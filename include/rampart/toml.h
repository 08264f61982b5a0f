/* rampart TOML: a streaming reader of TOML documents from outside (lock files), in the manner of
 * the JSON reader of rampart/json.h: one pass, no tree, every item's line. */
#ifndef RAMPART_TOML_H
#define RAMPART_TOML_H

#include "rampart/base.h"

/* The reader checks what it reads as TOML 1.0 does: UTF-8 throughout (comments included), no
 * control characters but tab in strings and comments, basic and literal strings (one-line and
 * multi-line) and their escapes, arrays over several lines with comments and a trailing comma,
 * inline tables, and bare values (integers in four bases, floats, booleans, dates and times,
 * each as TOML 1.0 and Python's tomllib write them). It also takes TOML 1.1's "\e" and "\xHH"
 * escapes and newlines inside inline tables. It does not check that a key or table is defined
 * only once: that is the caller's, for the keys it keeps.
 *
 * A caller walks the document's items in order with rp_toml_next: the table headers ("[a.b]",
 * "[[a.b]]") and the keys of key/value lines; it reads the value of a key it wants with
 * rp_toml_value, and any other value is checked and passed over. Errors are "line N: what" in the
 * rp_error given to rp_toml_init (may be NULL) and return RP_EINVAL (RP_ENOMEM when out of
 * memory); once a call has failed, the reader is not to be used further but released. */

/* Arrays and inline tables nested deeper than this are an error, not a deeper stack. */
#define RP_TOML_MAX_DEPTH 200

enum rp_toml_kind {
    RP_TOML_END,         /* the end of the document */
    RP_TOML_TABLE,       /* a "[key]" header */
    RP_TOML_ARRAY_TABLE, /* a "[[key]]" header: one more table of an array of tables */
    RP_TOML_KEY          /* "key =": its value comes next */
};

enum rp_toml_type {
    RP_TOML_STRING,      /* any of the four kinds of string, decoded */
    RP_TOML_BARE,        /* an integer, a float, a boolean, a date or a time */
    RP_TOML_ARRAY,       /* checked and passed over */
    RP_TOML_INLINE_TABLE /* checked and passed over */
};

/* One item of the document. */
struct rp_toml_item {
    enum rp_toml_kind kind;
    unsigned line; /* 1-based; of the end of the document for RP_TOML_END */
    /* The key of a header or of a key/value line: its first segment, decoded ("package" of
     * "[package.source]", "a b" of "'a b'.c"), and how many segments it has (1 for "name").
     * key points into the reader and holds until the next rp_toml_next. */
    struct rp_str key;
    size_t nseg;
};

struct rp_toml {
    const char *p, *end;
    unsigned line;
    struct rp_buf key; /* item.key's storage */
    struct rp_error *err;
    bool checked; /* the whole text was found to be UTF-8 */
    enum { RP_TOML_AT_ITEM, RP_TOML_AT_VALUE, RP_TOML_AT_EOL } at;
};

/* Reads text (not copied: it must outlive the reader). */
void rp_toml_init(struct rp_toml *t, struct rp_str text, struct rp_error *err);
void rp_toml_release(struct rp_toml *t);
/* The next item: *item is a header, a key (whose value the next call of rp_toml_value reads, or
 * else the next rp_toml_next checks and passes over), or RP_TOML_END, which every later call
 * returns again. The first call checks that the whole text is UTF-8. */
int rp_toml_next(struct rp_toml *t, struct rp_toml_item *item);
/* Whether item's key is exactly name (one segment: "name", not "name.x"). */
bool rp_toml_key_is(const struct rp_toml_item *item, const char *name);
/* The value of the key that rp_toml_next just returned: a string is decoded into out (reset
 * first; a string over out's cap is an error), which may be NULL to check it only; any other
 * value is checked and passed over. *type says which it was. RP_EINVAL when the last item was
 * not a key or its value was read already. */
int rp_toml_value(struct rp_toml *t, struct rp_buf *out, enum rp_toml_type *type);
/* Fills the reader's rp_error with "line N: " and the message; returns RP_EINVAL. For the
 * caller's own errors about what it read (a key defined twice, a value of the wrong type). */
int rp_toml_fail(struct rp_toml *t, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
