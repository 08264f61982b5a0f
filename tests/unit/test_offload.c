/* src/server/offload.c: the store executor. Work runs on store threads, completions on the loop
 * that asked; a deadline answers the loop while the work goes on; a full queue refuses; urgent
 * jobs go first; a stop runs what was accepted. Real libevent loops, real threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "offload.h"

/* A gate that work can be held at until the test opens it. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int waiting;
};

static struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};

static void gate_close(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = false;
    gate.waiting = 0;
    pthread_mutex_unlock(&gate.mu);
}

static void gate_open(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = true;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

/* Waits until n works are held at the gate (10 s at most). */
static void gate_wait_for(int n)
{
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&gate.mu);
        int w = gate.waiting;
        pthread_mutex_unlock(&gate.mu);
        if (w >= n)
            return;
        usleep(1000);
    }
    fail_msg("no work reached the gate");
}

struct tjob {
    struct gw_job job;
    bool hold; /* work waits at the gate */
    pthread_t work_thread, done_thread;
    atomic_int works, dones, releases;
    enum gw_job_end how;
    int order; /* when work ran, from a shared counter */
};

static atomic_int order_counter;
static atomic_int dones_total;

static void t_work(struct gw_job *job)
{
    struct tjob *t = (struct tjob *)job;
    t->work_thread = pthread_self();
    t->order = atomic_fetch_add(&order_counter, 1);
    if (t->hold) {
        pthread_mutex_lock(&gate.mu);
        gate.waiting++;
        while (!gate.open)
            pthread_cond_wait(&gate.cv, &gate.mu);
        pthread_mutex_unlock(&gate.mu);
    }
    atomic_fetch_add(&t->works, 1);
}

static void t_done(struct gw_job *job, enum gw_job_end how)
{
    struct tjob *t = (struct tjob *)job;
    t->done_thread = pthread_self();
    t->how = how;
    atomic_fetch_add(&t->dones, 1);
    atomic_fetch_add(&dones_total, 1);
}

static void t_release(struct gw_job *job)
{
    atomic_fetch_add(&((struct tjob *)job)->releases, 1);
}

static const struct gw_job_ops ops = {t_work, t_done, t_release};
static const struct gw_job_ops ops_no_done = {t_work, NULL, t_release};

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

struct loop {
    struct event_base *base;
    struct event *tick;
    struct gw_inbox *inbox;
};

static void loop_init(struct loop *l)
{
    l->base = event_base_new();
    assert_non_null(l->base);
    /* A tick, so that a turn of the loop never waits forever for a completion that is late. */
    l->tick = event_new(l->base, -1, EV_PERSIST, tick, NULL);
    struct timeval tv = {0, 20000};
    assert_int_equal(event_add(l->tick, &tv), 0);
    assert_int_equal(gw_inbox_new(l->base, &l->inbox), RP_OK);
    atomic_store(&dones_total, 0);
    atomic_store(&order_counter, 0);
    gate_close();
}

static void loop_release(struct loop *l)
{
    gw_inbox_free(l->inbox);
    event_free(l->tick);
    event_base_free(l->base);
}

/* Turns the loop until `want` done callbacks have run (10 s at most). */
static void run_until(struct loop *l, int want)
{
    time_t end = time(NULL) + 10;
    while (atomic_load(&dones_total) < want && time(NULL) < end)
        event_base_loop(l->base, EVLOOP_ONCE);
    assert_int_equal(atomic_load(&dones_total), want);
}

static void wait_released(struct tjob *t)
{
    for (int i = 0; i < 10000 && atomic_load(&t->releases) == 0; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&t->releases), 1);
}

static void test_work_off_loop_done_on_loop(void **state)
{
    (void)state;
    struct loop l;
    loop_init(&l);
    struct gw_offload *o = NULL;
    assert_int_equal(gw_offload_new(2, 16, &o), RP_OK);
    struct tjob t[10];
    memset(t, 0, sizeof(t));
    for (int i = 0; i < 10; i++) {
        t[i].job.ops = &ops;
        assert_int_equal(gw_offload_submit(o, l.inbox, &t[i].job, 10000, false), RP_OK);
    }
    run_until(&l, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(t[i].how, GW_JOB_DONE);
        assert_int_equal(t[i].works, 1);
        assert_int_equal(t[i].dones, 1);
        assert_int_equal(t[i].releases, 1);
        assert_false(pthread_equal(t[i].work_thread, pthread_self()));
        assert_true(pthread_equal(t[i].done_thread, pthread_self()));
    }
    struct gw_offload_stats s;
    gw_offload_stats(o, &s);
    assert_int_equal(s.done, 10);
    assert_int_equal(s.queued + s.running + s.rejected + s.late, 0);
    gw_offload_stop(o);
    gw_offload_free(o);
    loop_release(&l);
}

/* The regression of a stalled disk: the loop hears at the deadline, not when the disk answers;
 * a job that never started never runs; the one that did finishes later and is freed once. */
static void test_deadline_answers_while_work_blocks(void **state)
{
    (void)state;
    struct loop l;
    loop_init(&l);
    struct gw_offload *o = NULL;
    assert_int_equal(gw_offload_new(1, 16, &o), RP_OK);
    struct tjob a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.job.ops = b.job.ops = &ops;
    a.hold = true;
    assert_int_equal(gw_offload_submit(o, l.inbox, &a.job, 100, false), RP_OK);
    gate_wait_for(1);
    assert_int_equal(gw_offload_submit(o, l.inbox, &b.job, 100, false), RP_OK);
    run_until(&l, 2);
    assert_int_equal(a.how, GW_JOB_LATE);
    assert_int_equal(b.how, GW_JOB_LATE);
    assert_int_equal(b.works, 0);
    assert_int_equal(b.releases, 1);
    assert_int_equal(a.releases, 0); /* its work still holds it */
    struct gw_offload_stats s;
    gw_offload_stats(o, &s);
    assert_int_equal(s.late, 2);
    assert_int_equal(s.queued, 0);
    assert_int_equal(s.running, 1);
    gate_open();
    wait_released(&a);
    assert_int_equal(a.works, 1);
    /* Nothing more reaches the loop. */
    for (int i = 0; i < 5; i++)
        event_base_loop(l.base, EVLOOP_ONCE);
    assert_int_equal(a.dones, 1);
    gw_offload_stop(o);
    gw_offload_free(o);
    loop_release(&l);
}

static void test_full_queue_refused(void **state)
{
    (void)state;
    struct loop l;
    loop_init(&l);
    struct gw_offload *o = NULL;
    assert_int_equal(gw_offload_new(1, 2, &o), RP_OK);
    struct tjob t[4];
    memset(t, 0, sizeof(t));
    for (int i = 0; i < 4; i++)
        t[i].job.ops = &ops;
    t[0].hold = true;
    assert_int_equal(gw_offload_submit(o, l.inbox, &t[0].job, 0, false), RP_OK);
    gate_wait_for(1);
    assert_int_equal(gw_offload_submit(o, l.inbox, &t[1].job, 0, false), RP_OK);
    assert_int_equal(gw_offload_submit(o, l.inbox, &t[2].job, 0, true), RP_OK);
    assert_int_equal(gw_offload_submit(o, l.inbox, &t[3].job, 0, false), RP_EBUSY);
    struct gw_offload_stats s;
    gw_offload_stats(o, &s);
    assert_int_equal(s.rejected, 1);
    assert_int_equal(s.queued, 2);
    gate_open();
    run_until(&l, 3);
    assert_int_equal(t[3].works + t[3].dones + t[3].releases, 0);
    /* The urgent job went before the one queued ahead of it. */
    assert_true(t[2].order < t[1].order);
    gw_offload_stop(o);
    gw_offload_free(o);
    loop_release(&l);
}

/* A stop runs what was accepted; its completions come from gw_inbox_free; later jobs are
 * refused. A job without an inbox is run and freed, with no completion. */
static void test_stop_runs_what_was_accepted(void **state)
{
    (void)state;
    struct loop l;
    loop_init(&l);
    struct gw_offload *o = NULL;
    assert_int_equal(gw_offload_new(1, 16, &o), RP_OK);
    struct tjob a, b, c, d;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    memset(&d, 0, sizeof(d));
    a.job.ops = b.job.ops = d.job.ops = &ops;
    c.job.ops = &ops_no_done;
    a.hold = true;
    assert_int_equal(gw_offload_submit(o, l.inbox, &a.job, 5000, false), RP_OK);
    gate_wait_for(1);
    assert_int_equal(gw_offload_submit(o, l.inbox, &b.job, 5000, false), RP_OK);
    assert_int_equal(gw_offload_submit(o, NULL, &c.job, 0, false), RP_OK);
    gate_open();
    gw_offload_stop(o);
    assert_true(gw_offload_stopping(o));
    assert_int_equal(gw_offload_submit(o, l.inbox, &d.job, 5000, false), RP_EBUSY);
    assert_int_equal(a.works + b.works + c.works, 3);
    assert_int_equal(c.releases, 1);
    assert_int_equal(a.dones + b.dones, 0); /* the loop has not turned */
    gw_inbox_free(l.inbox);
    l.inbox = NULL;
    assert_int_equal(a.dones + b.dones, 2);
    assert_int_equal(a.how, GW_JOB_DONE);
    assert_int_equal(b.how, GW_JOB_DONE);
    assert_int_equal(a.releases + b.releases, 2);
    assert_int_equal(c.dones + d.works + d.dones + d.releases, 0);
    gw_offload_free(o);
    loop_release(&l);
}

int main(void)
{
    /* The store threads activate the loops' events: the bases need locks. */
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_work_off_loop_done_on_loop),
        cmocka_unit_test(test_deadline_answers_while_work_blocks),
        cmocka_unit_test(test_full_queue_refused),
        cmocka_unit_test(test_stop_runs_what_was_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
