/* Route tables (route.h). */
#include <stdlib.h>
#include <string.h>

#include "route.h"

/* Whether path matches pattern, with its {id} in *id. */
static bool route_match(const char *pattern, const char *path, int64_t *id)
{
    *id = 0;
    for (;;) {
        if (pattern[0] == '*' && pattern[1] == '\0')
            return true;
        if (strncmp(pattern, "{id}", 4) == 0) {
            char *end;
            long long v = strtoll(path, &end, 10);
            if (end == path || v <= 0)
                return false;
            *id = v;
            pattern += 4;
            path = end;
            continue;
        }
        if (*pattern != *path)
            return false;
        if (*pattern == '\0')
            return true;
        pattern++;
        path++;
    }
}

const struct gw_route *gw_route_find(const struct gw_route *table, size_t n, const char *path,
                                     enum gw_method m, int64_t *id)
{
    for (size_t i = 0; i < n; i++)
        if ((!table[i].methods || (table[i].methods & (unsigned)m)) &&
            route_match(table[i].pattern, path, id))
            return &table[i];
    *id = 0;
    return NULL;
}
