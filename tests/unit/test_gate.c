/* lib/gate: GCRA arithmetic, the bounded limiter table and in-flight counting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "rampart/gate.h"

/* 60 a minute with a burst of 3: three at once, then one a second. */
static void test_gcra_burst_then_rate(void **state)
{
    (void)state;
    struct rp_rate r = {60, 60, 3};
    double tat = 0, retry;
    assert_true(rp_gcra(&tat, &r, 100.0, 1, &retry));
    assert_true(rp_gcra(&tat, &r, 100.0, 1, &retry));
    assert_true(rp_gcra(&tat, &r, 100.0, 1, &retry));
    assert_false(rp_gcra(&tat, &r, 100.0, 1, &retry));
    assert_true(retry > 0.99 && retry < 1.01);
    assert_false(rp_gcra(&tat, &r, 100.5, 1, &retry));
    assert_true(rp_gcra(&tat, &r, 101.0, 1, &retry));
    /* Idle time refills the burst, but never beyond it. */
    assert_true(rp_gcra(&tat, &r, 1000.0, 3, &retry));
    assert_false(rp_gcra(&tat, &r, 1000.0, 1, &retry));
}

/* Tokens are charged after the answer: a check with cost 0 refuses while in debt. */
static void test_gcra_debt(void **state)
{
    (void)state;
    struct rp_rate r = {1000, 60, 1000};
    double tat = 0, retry;
    assert_true(rp_gcra(&tat, &r, 0, 0, &retry));
    /* An answer of 1,500 tokens is charged even though it exceeds the burst. */
    tat = 0 + 1500 * 0.06;
    assert_false(rp_gcra(&tat, &r, 0, 0, &retry));
    assert_true(retry > 29.9 && retry < 30.1);
    assert_true(rp_gcra(&tat, &r, 30.0, 0, &retry));
}

static void test_limiter_keys_apart(void **state)
{
    (void)state;
    struct rp_limiter *l;
    assert_int_equal(rp_limiter_new(1024, &l), 0);
    struct rp_rate r = {1, 60, 1};
    double retry;
    assert_true(rp_limiter_take(l, RP_STR("key-a"), &r, 10, 1, &retry));
    assert_false(rp_limiter_take(l, RP_STR("key-a"), &r, 10, 1, &retry));
    assert_true(rp_limiter_take(l, RP_STR("key-b"), &r, 10, 1, &retry));
    assert_true(rp_limiter_take(l, RP_STR("key-a"), &r, 70, 1, &retry));
    rp_limiter_free(l);
}

/* A full table reuses cells instead of growing or refusing everyone. */
static void test_limiter_bounded(void **state)
{
    (void)state;
    struct rp_limiter *l;
    assert_int_equal(rp_limiter_new(64, &l), 0);
    struct rp_rate r = {1, 3600, 1};
    double retry;
    char key[32];
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        assert_true(rp_limiter_take(l, (struct rp_str){key, (size_t)n}, &r, i, 1, &retry));
    }
    rp_limiter_free(l);
}

static void test_inflight(void **state)
{
    (void)state;
    struct rp_inflight *f;
    assert_int_equal(rp_inflight_new(1024, &f), 0);
    assert_true(rp_inflight_acquire(f, RP_STR("k"), 2));
    assert_true(rp_inflight_acquire(f, RP_STR("k"), 2));
    assert_false(rp_inflight_acquire(f, RP_STR("k"), 2));
    assert_true(rp_inflight_acquire(f, RP_STR("other"), 2));
    rp_inflight_release(f, RP_STR("k"));
    assert_true(rp_inflight_acquire(f, RP_STR("k"), 2));
    rp_inflight_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gcra_burst_then_rate),
        cmocka_unit_test(test_gcra_debt),
        cmocka_unit_test(test_limiter_keys_apart),
        cmocka_unit_test(test_limiter_bounded),
        cmocka_unit_test(test_inflight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
