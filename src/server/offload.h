/* The store executor of the gateway: work that may wait on the disk (SQLite, the outbox) runs on
 * a few store threads fed by a bounded queue, and its completion runs back on the loop of the
 * I/O worker that asked, so that no loop ever waits for the disk. A job waits with a deadline:
 * past it the loop is told at once (and the job's reply says the store is not answering), while
 * the work, if it has started, finishes on its own. Depends only on libevent and pthreads. */
#ifndef RAMPART_SERVER_OFFLOAD_H
#define RAMPART_SERVER_OFFLOAD_H

#include <event2/event.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rampart/base.h"

struct gw_offload; /* the queue and its store threads */
struct gw_inbox;   /* one loop's completions */
struct gw_job;

/* How a job ended, as its done callback hears it. */
enum gw_job_end {
    GW_JOB_DONE, /* work ran to its end: its results are in the job */
    GW_JOB_LATE, /* the deadline passed first: work has not run, or has not finished (and its
                    results must not be read) */
};

/* work runs on a store thread and may block; it must touch only the job's own data and
 * thread-safe state (the store), never a request or a loop. done runs once, on the loop of the
 * inbox the job was submitted with. release frees the job's memory: it is called once, from
 * either side, when neither needs the job any more (after done, and after work). */
struct gw_job_ops {
    void (*work)(struct gw_job *job);
    void (*done)(struct gw_job *job, enum gw_job_end how);
    void (*release)(struct gw_job *job);
};

/* Embedded first in the caller's own struct (which release frees); zeroed before submit. */
struct gw_job {
    const struct gw_job_ops *ops;
    /* The executor's: */
    struct gw_offload *o;
    struct gw_inbox *inbox;
    struct gw_job *prev, *next; /* in the queue, then in the inbox */
    struct event *timer;        /* the deadline, on the inbox's loop */
    int64_t started_ms;         /* when a store thread took it (monotonic) */
    int state, refs;
    bool urgent;
};

/* Counters of the executor, for /metrics. */
struct gw_offload_stats {
    uint64_t queued;            /* jobs waiting now */
    uint64_t running;           /* jobs on a store thread now */
    uint64_t oldest_running_ms; /* how long the oldest of them has run, 0 when none */
    uint64_t done;              /* jobs whose work ran */
    uint64_t rejected;          /* submits refused on a full queue */
    uint64_t late;              /* jobs whose deadline passed first */
};

/* Starts threads store threads over a queue of at most cap jobs. *out is owned by the caller
 * (gw_offload_stop, then gw_offload_free). RP_ENOMEM, or RP_EIO when a thread cannot start. */
int gw_offload_new(unsigned threads, size_t cap, struct gw_offload **out);
/* Stops taking jobs, lets the store threads run what is queued and joins them (a thread stuck
 * on a stalled disk is waited for): a job accepted is a job done. Completions then wait in their
 * inboxes, for gw_inbox_free. NULL is a no-op. */
void gw_offload_stop(struct gw_offload *o);
void gw_offload_free(struct gw_offload *o);
void gw_offload_stats(struct gw_offload *o, struct gw_offload_stats *out);

/* The completions of the loop base, which must have been made after evthread_use_pthreads().
 * Call from the loop's thread, or before it runs. */
int gw_inbox_new(struct event_base *base, struct gw_inbox **out);
/* Delivers what completions wait (their done callbacks run here) and frees the inbox; call
 * after gw_offload_stop, with the loop no longer running. NULL is a no-op. */
void gw_inbox_free(struct gw_inbox *in);

/* Queues job (its ops set, the rest zeroed) from the loop of in. done will be called on that
 * loop within deadline_ms (GW_JOB_LATE past it; 0: no deadline). An urgent job (a quick read
 * a request waits for) goes before the others. in NULL: no completion, no deadline (done must
 * be NULL then). Returns RP_OK, or RP_EBUSY when the queue is full or the executor is stopping
 * (nothing is called then, and the job is still the caller's). */
int gw_offload_submit(struct gw_offload *o, struct gw_inbox *in, struct gw_job *job,
                      unsigned deadline_ms, bool urgent);
/* Whether gw_offload_stop has begun (an RP_EBUSY of submit then means "stopping"). */
bool gw_offload_stopping(struct gw_offload *o);

#endif
