/* lib/gate: GCRA arithmetic, the bounded limiter table and in-flight counting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "rampart/gate.h"
#include "rampart/url_inspect.h"

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

/* What is left of an allowance: the units rp_limiter_take would let pass, charging nothing. */
static void test_limiter_room(void **state)
{
    (void)state;
    struct rp_limiter *l;
    assert_int_equal(rp_limiter_new(64, &l), RP_OK);
    struct rp_rate r = {5, 3600, 5};
    struct rp_str k = RP_STR("a1");
    double retry;
    assert_int_equal(rp_limiter_room(l, k, &r, 1000), 5);
    for (unsigned left = 4;; left--) {
        assert_true(rp_limiter_take(l, k, &r, 1000, 1, &retry));
        assert_int_equal(rp_limiter_room(l, k, &r, 1000), left);
        if (!left)
            break;
    }
    assert_false(rp_limiter_take(l, k, &r, 1000, 1, &retry));
    /* One unit comes back every 720 s, not before. */
    assert_int_equal(rp_limiter_room(l, k, &r, 1000 + 719), 0);
    assert_int_equal(rp_limiter_room(l, k, &r, 1000 + 720), 1);
    assert_int_equal(rp_limiter_room(l, k, &r, 1000 + 7200), 5);
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

static void test_email_problem(void **state)
{
    (void)state;
    assert_null(rp_email_problem(RP_STR("alice@example.com")));
    assert_null(rp_email_problem(RP_STR("a.b+tag@mail.example.co.uk")));
    static const char *const bad[] = {"",
                                      "no-at",
                                      "@example.com",
                                      "a@b@example.com",
                                      "a@b",
                                      "a@.example",
                                      "a@example.",
                                      "a b@example.com",
                                      "a@ex,ample.com",
                                      "<a>@example.com",
                                      "a\x01@example.com"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_non_null(rp_email_problem(rp_str_from_cstr(bad[i])));
    char local[70];
    memset(local, 'a', 65);
    memcpy(local + 65, "@x.io", 5);
    assert_non_null(rp_email_problem((struct rp_str){local, 70}));
    /* NUL inside: refused, never read past. */
    assert_non_null(rp_email_problem((struct rp_str){"a\0b@example.com", 15}));
}

/* Form fields as a browser's form posts them and as WHATWG URL's parser reads them. */
static void test_form_field(void **state)
{
    (void)state;
    char out[16];
    size_t n = 0;
    assert_int_equal(rp_form_field(RP_STR("token=abc-_9"), "token", out, sizeof(out), &n), RP_OK);
    assert_string_equal(out, "abc-_9");
    assert_int_equal(n, 6);
    assert_int_equal(rp_form_field(RP_STR("a=1&&token=x%2By+z&b"), "token", out, sizeof(out), &n),
                     RP_OK);
    assert_string_equal(out, "x+y z");
    /* The name is decoded too; a field without '=' has an empty value. */
    assert_int_equal(rp_form_field(RP_STR("to%6Ben=v"), "token", out, sizeof(out), NULL), RP_OK);
    assert_string_equal(out, "v");
    assert_int_equal(rp_form_field(RP_STR("b=1&token"), "token", out, sizeof(out), &n), RP_OK);
    assert_int_equal(n, 0);
    /* A '%' not followed by two hex digits is itself; %00 is a byte of the value. */
    assert_int_equal(rp_form_field(RP_STR("token=%zz%4"), "token", out, sizeof(out), &n), RP_OK);
    assert_string_equal(out, "%zz%4");
    assert_int_equal(rp_form_field(RP_STR("token=a%00b"), "token", out, sizeof(out), &n), RP_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "a\0b", 3);
    assert_int_equal(rp_form_field(RP_STR(""), "token", out, sizeof(out), &n), RP_ENOTFOUND);
    assert_int_equal(rp_form_field(RP_STR("tokens=1&xtoken=2"), "token", out, sizeof(out), &n),
                     RP_ENOTFOUND);
    assert_int_equal(rp_form_field(RP_STR("token=1&token=1"), "token", out, sizeof(out), &n),
                     RP_EINVAL);
    assert_int_equal(rp_form_field(RP_STR("token=0123456789abcdef"), "token", out, sizeof(out), &n),
                     RP_ETOOBIG);
    assert_int_equal(rp_form_field(RP_STR("token=0123456789abcde"), "token", out, sizeof(out), &n),
                     RP_OK);
    assert_int_equal(rp_form_field((struct rp_str){NULL, 0}, "token", out, sizeof(out), &n),
                     RP_ENOTFOUND);

    assert_true(rp_token_valid(RP_STR("Abc-_019")));
    assert_false(rp_token_valid(RP_STR("")));
    assert_false(rp_token_valid(RP_STR("abc=")));
    assert_false(rp_token_valid(RP_STR("a b")));
    assert_false(rp_token_valid((struct rp_str){"ab\0c", 4}));
    char big[RP_TOKEN_MAX + 1];
    memset(big, 'a', sizeof(big));
    assert_true(rp_token_valid((struct rp_str){big, RP_TOKEN_MAX}));
    assert_false(rp_token_valid((struct rp_str){big, RP_TOKEN_MAX + 1}));
}

static void ip_is(const struct sockaddr_storage *ss, const char *want)
{
    char text[64];
    const void *a = ss->ss_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
    inet_ntop(ss->ss_family, a, text, sizeof(text));
    assert_string_equal(text, want);
}

static void test_forwarded_client(void **state)
{
    (void)state;
    struct rp_cidr trusted[2];
    struct rp_error err;
    assert_int_equal(rp_cidr_parse("10.0.0.0/8", &trusted[0], &err), 0);
    assert_int_equal(rp_cidr_parse("2001:db8::/32", &trusted[1], &err), 0);
    struct sockaddr_storage ss;
    assert_true(rp_forwarded_client(RP_STR("203.0.113.9"), trusted, 2, &ss));
    ip_is(&ss, "203.0.113.9");
    /* The client may write anything on the left; the right end is what the proxies added. */
    assert_true(
        rp_forwarded_client(RP_STR("1.2.3.4, 198.51.100.7, 10.1.1.1,10.2.2.2"), trusted, 2, &ss));
    ip_is(&ss, "198.51.100.7");
    assert_true(rp_forwarded_client(RP_STR(" 2001:db8::5 , 10.0.0.1"), trusted, 2, &ss));
    ip_is(&ss, "2001:db8::5");
    assert_false(rp_forwarded_client(RP_STR("evil, 10.0.0.1"), trusted, 2, &ss));
    assert_false(rp_forwarded_client(RP_STR(""), trusted, 2, &ss));
    assert_false(rp_forwarded_client(RP_STR("1.2.3.4,,"), trusted, 2, &ss));
}

/* Regression: a header longer than 1 KiB was cut before reading, dropping its trustworthy right
 * end; an attacker's padding then chose the client address. */
static void test_forwarded_client_long_header_keeps_right_end(void **state)
{
    (void)state;
    struct rp_cidr trusted;
    struct rp_error err;
    assert_int_equal(rp_cidr_parse("10.0.0.0/8", &trusted, &err), 0);
    char xff[4096];
    size_t n = 0;
    while (n < 3000)
        n += (size_t)snprintf(xff + n, sizeof(xff) - n, "6.6.6.6, ");
    n += (size_t)snprintf(xff + n, sizeof(xff) - n, "198.51.100.7, 10.9.9.9");
    struct sockaddr_storage ss;
    assert_true(rp_forwarded_client((struct rp_str){xff, n}, &trusted, 1, &ss));
    ip_is(&ss, "198.51.100.7");
}

/* Domain lists: comments, blank lines, case and trailing dots; exact lookups; a bad line named
 * by its number. */
static void test_domain_set(void **state)
{
    (void)state;
    struct rp_domain_set *s = NULL;
    struct rp_error err;
    const char *text = "# disposable\nMailinator.com\n\n  tempmail.example.  # trailing dot\n"
                       "x-y_z.org\n";
    assert_int_equal(rp_domain_set_load("d.conf", rp_str_from_cstr(text), &s, &err), RP_OK);
    assert_int_equal(rp_domain_set_size(s), 3);
    assert_true(rp_domain_set_has(s, "mailinator.com"));
    assert_true(rp_domain_set_has(s, "tempmail.example"));
    assert_true(rp_domain_set_has(s, "x-y_z.org"));
    assert_false(rp_domain_set_has(s, "sub.mailinator.com")); /* exact: callers try parents */
    assert_false(rp_domain_set_has(s, "example"));
    assert_false(rp_domain_set_has(NULL, "mailinator.com"));
    rp_domain_set_free(s);
    const char *bad[] = {"ok.com\nnot a domain\n", "ok.com\n\n-x.com\n", "a@b.com\n"};
    const char *want[] = {"d.conf:2:", "d.conf:3:", "d.conf:1:"};
    for (size_t i = 0; i < 3; i++) {
        s = NULL;
        assert_int_equal(rp_domain_set_load("d.conf", rp_str_from_cstr(bad[i]), &s, &err),
                         RP_EINVAL);
        assert_null(s);
        assert_non_null(strstr(err.msg, want[i]));
    }
    assert_int_equal(rp_domain_set_load("e", RP_STR(""), &s, &err), RP_OK);
    assert_int_equal(rp_domain_set_size(s), 0);
    rp_domain_set_free(s);
}

/* Normalised addresses: +tags, dots, trailing digits and case aside; the registrable domain
 * when an inspector is given. */
static void test_email_key(void **state)
{
    (void)state;
    char k[128];
    assert_int_equal(rp_email_key("Alice.Smith+news@Example.COM", NULL, k, sizeof(k)), RP_OK);
    assert_string_equal(k, "alicesmith@example.com");
    assert_int_equal(rp_email_key("alice.smith42@example.com", NULL, k, sizeof(k)), RP_OK);
    assert_string_equal(k, "alicesmith@example.com");
    assert_int_equal(rp_email_key("007@example.com", NULL, k, sizeof(k)), RP_OK);
    assert_string_equal(k, "0@example.com"); /* one character is always kept */
    assert_int_equal(rp_email_key("bob@googlemail.com", NULL, k, sizeof(k)), RP_OK);
    assert_string_equal(k, "bob@gmail.com");
    assert_int_equal(rp_email_key("no-at-sign", NULL, k, sizeof(k)), RP_EINVAL);
    assert_int_equal(rp_email_key("@example.com", NULL, k, sizeof(k)), RP_EINVAL);
    assert_int_equal(rp_email_key("alice@example.com", NULL, k, 8), RP_ETOOBIG);
    struct rp_url_inspector *in = NULL;
    struct rp_url_inspector_options o = {0};
    struct rp_error err;
    assert_int_equal(rp_url_inspector_new(&o, &in, &err), RP_OK);
    assert_int_equal(rp_email_key("a.b@mail.example.co.uk", in, k, sizeof(k)), RP_OK);
    assert_string_equal(k, "ab@example.co.uk");
    /* Confusable skeletons: digits and letter pairs that read alike, other scripts' letters. */
    char k2[128];
    assert_int_equal(rp_email_key("john.smith@example.com", in, k, sizeof(k)), RP_OK);
    assert_int_equal(rp_email_key("j0hn.srnith7@example.com", in, k2, sizeof(k2)), RP_OK);
    assert_string_equal(k, k2);
    assert_int_equal(rp_email_key("mary@example.com", in, k, sizeof(k)), RP_OK);
    assert_int_equal(rp_email_key("rnary@example.com", in, k2, sizeof(k2)), RP_OK);
    assert_string_equal(k, k2);
    assert_int_equal(rp_email_key("jo\xd1\x81"
                                  "e@example.com",
                                  in, k2, sizeof(k2)),
                     RP_OK);
    assert_int_equal(rp_email_key("joce@example.com", in, k, sizeof(k)), RP_OK);
    assert_string_equal(k, k2); /* Cyrillic es */
    assert_int_equal(rp_email_key("maria@example.com", in, k2, sizeof(k2)), RP_OK);
    assert_string_not_equal(k, k2);
    rp_url_inspector_free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gcra_burst_then_rate),
        cmocka_unit_test(test_gcra_debt),
        cmocka_unit_test(test_limiter_keys_apart),
        cmocka_unit_test(test_limiter_bounded),
        cmocka_unit_test(test_limiter_room),
        cmocka_unit_test(test_inflight),
        cmocka_unit_test(test_email_problem),
        cmocka_unit_test(test_form_field),
        cmocka_unit_test(test_forwarded_client),
        cmocka_unit_test(test_forwarded_client_long_header_keeps_right_end),
        cmocka_unit_test(test_domain_set),
        cmocka_unit_test(test_email_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
