/* Starting and stopping the gateway's threads (src/server/server.c). */
#ifndef RAMPART_SERVER_SERVER_H
#define RAMPART_SERVER_SERVER_H

#include "gateway.h"

/* Listens, serves until SIGINT or SIGTERM, then stops every thread. Fills err on failure. */
int gw_run(struct gw *gw, struct rp_error *err);

#endif
