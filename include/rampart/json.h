/* rampart JSON helpers: appending JSON to bounded buffers on hot paths, where building a
 * jansson tree for one flat line would cost more than the work it reports. Parsing stays
 * with jansson. */
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

#endif
