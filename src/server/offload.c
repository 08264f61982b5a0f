/* The store executor: a bounded queue of jobs, a few store threads that run them, and one inbox
 * per loop whose event a store thread activates when a job of that loop is done. One mutex
 * guards the queue and every job's state; a job is shared by its loop and a store thread and
 * counted (refs), so that a loop can give up on a job (its deadline) while the work goes on. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "offload.h"

enum job_state {
    JOB_QUEUED = 1,
    JOB_RUNNING,
    JOB_DONE, /* in its inbox (or delivered) */
    JOB_LATE, /* its loop gave up on it */
};

struct job_list {
    struct gw_job *head, *tail;
};

struct gw_offload {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    struct job_list queue[2]; /* urgent, then the others */
    struct job_list active;   /* running, oldest first */
    size_t count, cap, running;
    bool stop;
    pthread_t *threads;
    unsigned n_threads;
    atomic_uint_fast64_t done, rejected, late;
};

struct gw_inbox {
    struct event_base *base;
    struct event *ev;
    pthread_mutex_t mu;
    struct job_list list;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void list_push(struct job_list *l, struct gw_job *j)
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static void list_unlink(struct job_list *l, struct gw_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->prev = j->next = NULL;
}

/* Drops one side's hold on j; the last frees it. */
static void job_unref(struct gw_job *j)
{
    struct gw_offload *o = j->o;
    pthread_mutex_lock(&o->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&o->mu);
    if (left == 0)
        j->ops->release(j);
}

/* The loop's end of a job: its deadline goes, done is told, the loop's hold is dropped. */
static void loop_finish(struct gw_job *j, enum gw_job_end how)
{
    if (j->timer) {
        event_free(j->timer);
        j->timer = NULL;
    }
    if (j->ops->done)
        j->ops->done(j, how);
    job_unref(j);
}

static void inbox_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_inbox *in = arg;
    pthread_mutex_lock(&in->mu);
    struct gw_job *j = in->list.head;
    in->list.head = in->list.tail = NULL;
    pthread_mutex_unlock(&in->mu);
    while (j) {
        struct gw_job *next = j->next;
        loop_finish(j, GW_JOB_DONE);
        j = next;
    }
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_job *j = arg;
    struct gw_offload *o = j->o;
    pthread_mutex_lock(&o->mu);
    if (j->state == JOB_DONE) {
        /* The completion is on its way through the inbox, in this turn of the loop or the
         * next: it wins. */
        pthread_mutex_unlock(&o->mu);
        return;
    }
    if (j->state == JOB_QUEUED) {
        /* Never started: out of the queue, and the store threads' hold goes with it. */
        list_unlink(&o->queue[j->urgent ? 0 : 1], j);
        o->count--;
        j->refs--;
    }
    j->state = JOB_LATE;
    pthread_mutex_unlock(&o->mu);
    atomic_fetch_add(&o->late, 1);
    loop_finish(j, GW_JOB_LATE);
}

static void *store_main(void *arg)
{
    struct gw_offload *o = arg;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->count && !o->stop)
            pthread_cond_wait(&o->wake, &o->mu);
        if (!o->count)
            break; /* stopping, and nothing is left */
        struct job_list *l = o->queue[0].head ? &o->queue[0] : &o->queue[1];
        struct gw_job *j = l->head;
        list_unlink(l, j);
        o->count--;
        o->running++;
        j->state = JOB_RUNNING;
        j->started_ms = mono_ms();
        list_push(&o->active, j);
        pthread_mutex_unlock(&o->mu);

        j->ops->work(j);
        atomic_fetch_add(&o->done, 1);

        pthread_mutex_lock(&o->mu);
        o->running--;
        list_unlink(&o->active, j);
        if (j->state == JOB_LATE || !j->inbox) {
            /* Nobody waits: the store threads' hold is the last or nearly. */
            int left = --j->refs;
            if (left == 0) {
                pthread_mutex_unlock(&o->mu);
                j->ops->release(j);
                pthread_mutex_lock(&o->mu);
            }
            continue;
        }
        j->state = JOB_DONE;
        j->refs--; /* the loop's hold remains, until done has been told */
        struct gw_inbox *in = j->inbox;
        pthread_mutex_lock(&in->mu);
        list_push(&in->list, j);
        pthread_mutex_unlock(&in->mu);
        /* Thread-safe: the base was made with locking (evthread_use_pthreads). */
        event_active(in->ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

int gw_offload_new(unsigned threads, size_t cap, struct gw_offload **out)
{
    *out = NULL;
    struct gw_offload *o = calloc(1, sizeof(*o));
    if (!o)
        return RP_ENOMEM;
    o->cap = cap ? cap : 1;
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->wake, NULL);
    o->threads = calloc(threads ? threads : 1, sizeof(*o->threads));
    if (!o->threads) {
        gw_offload_free(o);
        return RP_ENOMEM;
    }
    for (unsigned i = 0; i < (threads ? threads : 1); i++) {
        if (pthread_create(&o->threads[i], NULL, store_main, o) != 0) {
            gw_offload_stop(o);
            gw_offload_free(o);
            return RP_EIO;
        }
        o->n_threads++;
    }
    *out = o;
    return RP_OK;
}

void gw_offload_stop(struct gw_offload *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    o->stop = true;
    pthread_cond_broadcast(&o->wake);
    pthread_mutex_unlock(&o->mu);
    for (unsigned i = 0; i < o->n_threads; i++)
        pthread_join(o->threads[i], NULL);
    o->n_threads = 0;
}

void gw_offload_free(struct gw_offload *o)
{
    if (!o)
        return;
    pthread_cond_destroy(&o->wake);
    pthread_mutex_destroy(&o->mu);
    free(o->threads);
    free(o);
}

bool gw_offload_stopping(struct gw_offload *o)
{
    pthread_mutex_lock(&o->mu);
    bool stop = o->stop;
    pthread_mutex_unlock(&o->mu);
    return stop;
}

void gw_offload_stats(struct gw_offload *o, struct gw_offload_stats *out)
{
    pthread_mutex_lock(&o->mu);
    out->queued = o->count;
    out->running = o->running;
    out->oldest_running_ms =
        o->active.head ? (uint64_t)(mono_ms() - o->active.head->started_ms) : 0;
    pthread_mutex_unlock(&o->mu);
    out->done = atomic_load(&o->done);
    out->rejected = atomic_load(&o->rejected);
    out->late = atomic_load(&o->late);
}

int gw_offload_submit(struct gw_offload *o, struct gw_inbox *in, struct gw_job *job,
                      unsigned deadline_ms, bool urgent)
{
    job->o = o;
    job->inbox = in;
    job->urgent = urgent;
    job->timer = NULL;
    if (in && deadline_ms) {
        job->timer = evtimer_new(in->base, deadline_cb, job);
        if (!job->timer)
            return RP_ENOMEM;
        struct timeval tv = {deadline_ms / 1000, (deadline_ms % 1000) * 1000};
        if (evtimer_add(job->timer, &tv) != 0) {
            event_free(job->timer);
            job->timer = NULL;
            return RP_ENOMEM;
        }
    }
    pthread_mutex_lock(&o->mu);
    if (o->stop || o->count >= o->cap) {
        pthread_mutex_unlock(&o->mu);
        if (!o->stop)
            atomic_fetch_add(&o->rejected, 1);
        if (job->timer) {
            event_free(job->timer);
            job->timer = NULL;
        }
        return RP_EBUSY;
    }
    job->state = JOB_QUEUED;
    job->refs = in ? 2 : 1;
    list_push(&o->queue[urgent ? 0 : 1], job);
    o->count++;
    pthread_cond_signal(&o->wake);
    pthread_mutex_unlock(&o->mu);
    return RP_OK;
}

int gw_inbox_new(struct event_base *base, struct gw_inbox **out)
{
    *out = NULL;
    struct gw_inbox *in = calloc(1, sizeof(*in));
    if (!in)
        return RP_ENOMEM;
    in->base = base;
    pthread_mutex_init(&in->mu, NULL);
    in->ev = event_new(base, -1, 0, inbox_cb, in);
    if (!in->ev) {
        pthread_mutex_destroy(&in->mu);
        free(in);
        return RP_ENOMEM;
    }
    *out = in;
    return RP_OK;
}

void gw_inbox_free(struct gw_inbox *in)
{
    if (!in)
        return;
    inbox_cb(-1, 0, in);
    event_free(in->ev);
    pthread_mutex_destroy(&in->mu);
    free(in);
}
