/* The SMTP delivery thread of the outbox (src/server/mail.c). */
#ifndef RAMPART_SERVER_MAIL_H
#define RAMPART_SERVER_MAIL_H

#include <pthread.h>
#include <stdatomic.h>

#include "rampart/base.h"

struct gw_mail {
    char outbox[1024];
    char host[256];
    char port[16];
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop, kick, running;
    atomic_uint_fast64_t sent, failed;
};

/* Starts delivering the .eml files of <state_dir>/outbox to smtp_url ("smtp://host[:port]"). */
int gw_mail_start(struct gw_mail *m, const char *state_dir, const char *smtp_url,
                  struct rp_error *err);
/* Asks for a delivery round now (after a new message was written). */
void gw_mail_kick(struct gw_mail *m);
void gw_mail_stop(struct gw_mail *m);

#endif
