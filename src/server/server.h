/* Starting and stopping the gateway's threads (src/server/server.c). */
#ifndef RAMPART_SERVER_SERVER_H
#define RAMPART_SERVER_SERVER_H

#include "gateway.h"

/* Claims listen and admin_listen for this process, before anything slow happens: a second
 * gateway on an address in use fails here, with "ADDR is already in use (another rampart
 * serve?)" in err. Held until gw_claim_release (or the process ends). Port 0 needs no claim. */
struct gw_claim {
    int fd[2];
};
int gw_claim(const struct rp_config *cfg, struct gw_claim *out, struct rp_error *err);
void gw_claim_release(struct gw_claim *c);

/* Blocks, in the calling thread and the threads it starts after, SIGHUP and SIGPIPE, and with
 * stop_too SIGINT and SIGTERM: gw_run takes them with sigwait. */
void gw_block_signals(bool stop_too);

/* Listens, serves until SIGINT or SIGTERM (SIGHUP is logged and ignored), then stops every
 * thread. Fills err on failure. */
int gw_run(struct gw *gw, struct rp_error *err);

#endif
