/* Route tables: each listener dispatches by one table of path patterns and methods, looked up in
 * one place, instead of chains of string comparisons in its handlers. */
#ifndef RAMPART_SERVER_ROUTE_H
#define RAMPART_SERVER_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "httpd.h"

/* A pattern is literal text where "{id}" takes a positive decimal number (as strtoll reads it)
 * and a final "*" takes any rest, empty included. methods is a set of enum gw_method bits, 0 for
 * any; op says to the table's owner what to do. */
struct gw_route {
    const char *pattern;
    unsigned methods;
    int op;
};

/* The first route of table (n of them) whose pattern matches path and that takes method m, with
 * the path's {id} in *id (0 when the pattern has none); NULL when none does. */
const struct gw_route *gw_route_find(const struct gw_route *table, size_t n, const char *path,
                                     enum gw_method m, int64_t *id);

#endif
