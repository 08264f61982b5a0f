/* The URL inspector: the Public Suffix List conformance cases, the examples of issue 2, and one
 * test for each reason code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rampart/url_inspect.h"

#define PSL_DAT "../shared/data/psl/public_suffix_list.dat"
#define PSL_TESTS "../shared/data/psl/test_psl.txt"

static struct rp_url_inspector *inspector;

static int setup(void **state)
{
    (void)state;
    struct rp_url_inspector_options opt = {.psl_file = PSL_DAT};
    struct rp_error err = {{0}};
    if (rp_url_inspector_new(&opt, &inspector, &err) != 0) {
        fprintf(stderr, "cannot load the inspector (the tests read ../shared/data): %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rp_url_inspector_free(inspector);
    return 0;
}

/* Reads one quoted argument of checkPublicSuffix(): 'text' or null. */
static const char *psl_arg(char **p)
{
    while (**p == ' ' || **p == ',' || **p == '(')
        (*p)++;
    if (strncmp(*p, "null", 4) == 0) {
        *p += 4;
        return NULL;
    }
    if (**p != '\'')
        fail_msg("bad test_psl.txt line near '%s'", *p);
    char *start = ++*p;
    char *end = strchr(start, '\'');
    if (!end)
        fail_msg("unterminated quote in test_psl.txt");
    *end = '\0';
    *p = end + 1;
    return start;
}

/* Every case of the Public Suffix List's own test file. */
static void test_psl_conformance(void **state)
{
    (void)state;
    FILE *f = fopen(PSL_TESTS, "r");
    if (!f)
        fail_msg("missing test data '%s': the tests read ../shared/data", PSL_TESTS);
    char line[1024];
    size_t total = 0, passed = 0;
    while (fgets(line, sizeof(line), f)) {
        char *p = strstr(line, "checkPublicSuffix(");
        if (!p || strncmp(line, "//", 2) == 0)
            continue;
        p += strlen("checkPublicSuffix");
        const char *input = psl_arg(&p);
        const char *want = psl_arg(&p);
        total++;
        char *got = NULL, *want_ascii = NULL;
        struct rp_error err = {{0}};
        int rc =
            input ? rp_url_registrable_domain(inspector, rp_str_from_cstr(input), &got, &err) : 0;
        if (want && rp_url_host_to_ascii(rp_str_from_cstr(want), &want_ascii, &err) != 0)
            fail_msg("expected value '%s' is not a host", want);
        bool ok = rc == 0 &&
                  ((!got && !want_ascii) || (got && want_ascii && strcmp(got, want_ascii) == 0));
        if (!ok)
            printf("  psl: '%s': got %s, want %s\n", input ? input : "null", got ? got : "null",
                   want ? want : "null");
        passed += ok;
        free(got);
        free(want_ascii);
    }
    fclose(f);
    printf("test_psl.txt: %zu of %zu cases pass\n", passed, total);
    assert_true(total > 50);
    assert_int_equal(passed, total);
}

static bool has_reason(const struct rp_url_report *r, const char *code)
{
    for (size_t i = 0; i < r->n_reasons; i++)
        if (strcmp(r->reasons[i].code, code) == 0)
            return true;
    return false;
}

/* The message of the reason with this code; the test fails when there is none. */
static const char *reason_message(const struct rp_url_report *r, const char *code)
{
    for (size_t i = 0; i < r->n_reasons; i++)
        if (strcmp(r->reasons[i].code, code) == 0)
            return r->reasons[i].message;
    fail_msg("no reason '%s'", code);
    return NULL;
}

/* Inspects input and checks the reason code is (or is not) there. */
static void expect(const char *input, const char *code, bool present)
{
    struct rp_url_report r;
    assert_int_equal(rp_url_inspect(inspector, rp_str_from_cstr(input), &r), 0);
    if (has_reason(&r, code) != present) {
        struct rp_buf b;
        rp_buf_init(&b, 1 << 20);
        rp_url_report_json(&r, rp_str_from_cstr(input), &b);
        fail_msg("%s: reason '%s' should %sbe reported: %s", input, code, present ? "" : "not ",
                 b.ptr);
    }
    rp_url_report_release(&r);
}

static void inspect(const char *input, struct rp_url_report *r)
{
    assert_int_equal(rp_url_inspect(inspector, rp_str_from_cstr(input), r), 0);
}

/* The examples of the issue: what a person misreads, the browser reads as follows. */
static void test_controlling_word(void **state)
{
    (void)state;
    struct rp_url_report r;
    inspect("https://consumer.ftc.gov/articles", &r);
    assert_string_equal(r.registrable_domain, "ftc.gov");
    assert_string_equal(r.controlling_word, "ftc");
    assert_int_equal(r.verdict, RP_URL_OK);
    rp_url_report_release(&r);

    inspect("https://ftc.security-update.com/login", &r);
    assert_string_equal(r.registrable_domain, "security-update.com");
    assert_string_equal(r.controlling_word, "security-update");
    assert_true(has_reason(&r, "brand-in-subdomain"));
    assert_int_equal(r.verdict, RP_URL_DANGER);
    rp_url_report_release(&r);

    inspect("https://paypal.com@evil.example", &r);
    assert_string_equal(r.url.host, "evil.example");
    assert_true(has_reason(&r, "userinfo"));
    assert_int_equal(r.verdict, RP_URL_DANGER);
    rp_url_report_release(&r);

    /* The backslash is a slash to the browser: the host ends before it. */
    inspect("https://evil.example\\@paypal.com", &r);
    assert_string_equal(r.url.host, "evil.example");
    assert_string_equal(r.url.path, "/@paypal.com");
    assert_true(has_reason(&r, "backslash"));
    assert_int_equal(r.verdict, RP_URL_DANGER);
    rp_url_report_release(&r);

    inspect("http://0x7f.1/", &r);
    assert_string_equal(r.url.host, "127.0.0.1");
    assert_true(r.ip);
    assert_null(r.registrable_domain);
    /* 127.0.0.1 is this computer: its own reason, which says it is disguised. */
    assert_int_equal(r.network, RP_URL_NET_LOOPBACK);
    assert_true(has_reason(&r, "loopback"));
    assert_non_null(strstr(reason_message(&r, "loopback"), "disguised"));
    rp_url_report_release(&r);
    inspect("http://2130706433/", &r);
    assert_non_null(strstr(reason_message(&r, "loopback"), "disguised"));
    rp_url_report_release(&r);
    inspect("http://8.8.8.8/", &r);
    assert_non_null(strstr(reason_message(&r, "ip-host"), "real sites use names"));
    assert_null(strstr(reason_message(&r, "ip-host"), "disguised"));
    rp_url_report_release(&r);

    /* Typed without a scheme, as the examples are: the address bar adds https://. */
    inspect("consumer.ftc.gov/articles", &r);
    assert_true(r.valid);
    assert_true(r.scheme_added);
    assert_string_equal(r.url.href, "https://consumer.ftc.gov/articles");
    assert_string_equal(r.controlling_word, "ftc");
    rp_url_report_release(&r);
    inspect("not an address", &r);
    assert_false(r.valid);
    assert_false(r.scheme_added);
    rp_url_report_release(&r);
    inspect("/just/a/path", &r);
    assert_false(r.valid);
    rp_url_report_release(&r);

    /* A Unicode controlling word, shown in Unicode. */
    inspect("https://www.食狮.公司.cn/", &r);
    assert_string_equal(r.controlling_word, "食狮");
    assert_string_equal(r.registrable_domain_unicode, "食狮.公司.cn");
    rp_url_report_release(&r);

    /* A host that is a public suffix has no controlling word. */
    inspect("https://github.io/", &r);
    assert_null(r.registrable_domain);
    assert_null(r.controlling_word);
    assert_string_equal(r.public_suffix, "github.io");
    rp_url_report_release(&r);
}

static void test_reason_codes(void **state)
{
    (void)state;
    expect("http://[::1", "invalid", true);
    expect("https://example.com/", "invalid", false);
    expect("https://paypal.com@evil.example/", "userinfo", true);
    expect("https://example.com/a@b", "userinfo", false);
    expect("https://evil.example\\@paypal.com", "backslash", true);
    expect("https://example.com/a/b", "backslash", false);
    /* A public IP address; one of a private network or this computer has its own reason. */
    expect("http://203.0.114.9/login", "ip-host", true);
    expect("http://[2606:4700:4700::1111]/", "ip-host", true);
    expect("http://192.168.0.1/login", "ip-host", false);
    expect("http://192.168.0.1/login", "private-address", true);
    expect("https://xn--mnchen-3ya.de/", "punycode", true);
    expect("https://münchen.de/", "punycode", true);
    expect("https://muenchen.de/", "punycode", false);
    /* Latin p, a, l with Cyrillic у: one label, two alphabets. */
    expect("https://pa\xd1\x83pal.com/", "mixed-script", true);
    expect("https://\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84/",
           "mixed-script", false);
    /* All-Cyrillic "раураl" minus the l: every letter a lookalike of paypal's. */
    expect("https://\xd1\x80\xd0\xb0\xd1\x83\xd1\x80\xd0\xb0\xd3\x8f.com/", "confusable", true);
    expect("https://paypa1.com/", "confusable", true);
    expect("https://rnicrosoft.com/", "confusable", true);
    expect("https://paypal.com/", "confusable", false);
    expect("https://paypai.com/", "typosquat", true);
    expect("https://gogle.com/", "typosquat", true);
    expect("https://amazno.com/", "typosquat", true);
    expect("https://google.com/", "typosquat", false);
    expect("https://example.com/", "typosquat", false);
    expect("https://paypal.com.account-verify.example/", "brand-in-subdomain", true);
    expect("https://www.paypal.com/", "brand-in-subdomain", false);
    expect("https://paypal-login.example/", "brand-in-domain", true);
    expect("https://example.com/paypal/signin", "brand-in-path", true);
    expect("https://example.com/x?next=Apple-ID&step=Verify", "brand-in-path", true);
    expect("https://news.example/2015/05/paypal-reports-earnings", "brand-in-path", false);
    expect("https://www.paypal.com/paypal/signin", "brand-in-path", false);
    expect("https://example.com/pineapple", "brand-in-path", false);
    expect("https://a.b.c.d.example.com/", "many-subdomains", true);
    expect("https://a.b.c.example.com/", "many-subdomains", false);
    expect("http://example.com/", "not-https", true);
    expect("https://example.com/", "not-https", false);
    expect("https://bit.ly/3xYz", "shortener", true);
    expect("data:text/html;base64,PGgxPkhpPC9oMT4=", "data-url", true);
    expect("javascript:alert(document.cookie)", "javascript-url", true);
    expect("JaVaScRiPt:alert(1)", "javascript-url", true);
    expect("https://login-secure.zip/", "suspicious-tld", true);
    expect("https://example.com/", "suspicious-tld", false);
}

static void test_learned_phishing(void **state)
{
    (void)state;
    struct rp_url_report r;
    const char *phish =
        "http://secure-update-account.verify-login.top/webscr/cmd=_login-submit/index.php?"
        "dispatch=5885d80a13c0db1f8e263663d3faee8d";
    inspect(phish, &r);
    assert_true(r.score > 0.5);
    assert_true(has_reason(&r, "learned-phishing"));
    rp_url_report_release(&r);
    inspect("https://en.wikipedia.org/wiki/Public_Suffix_List", &r);
    assert_true(r.score < 0.5);
    assert_false(has_reason(&r, "learned-phishing"));
    assert_int_equal(r.verdict, RP_URL_OK);
    rp_url_report_release(&r);
}

/* Any bytes give a report, never a crash: NUL, invalid UTF-8, a 1 MB line, 10,000 dots. */
static void test_bad_input(void **state)
{
    (void)state;
    struct rp_url_report r;
    static const char nul[] = "https://exa\0mple.com/";
    assert_int_equal(rp_url_inspect(inspector, (struct rp_str){nul, sizeof(nul) - 1}, &r), 0);
    assert_false(r.valid);
    assert_true(has_reason(&r, "invalid"));
    rp_url_report_release(&r);

    inspect("https://\xff\xfe.com/", &r);
    assert_false(r.valid);
    rp_url_report_release(&r);

    inspect("https://example.com/\xc3\x28", &r);
    assert_true(r.valid);
    assert_string_equal(r.url.path, "/%EF%BF%BD(");
    rp_url_report_release(&r);

    size_t big = (1u << 20) + 10;
    char *s = malloc(big + 1);
    memcpy(s, "https://a.com/", 14);
    memset(s + 14, 'a', big - 14);
    s[big] = '\0';
    inspect(s, &r);
    assert_false(r.valid);
    assert_non_null(strstr(r.error, "longer"));
    rp_url_report_release(&r);
    /* Just under the cap: valid, and every check runs. */
    s[(1u << 20) - 1] = '\0';
    inspect(s, &r);
    assert_true(r.valid);
    rp_url_report_release(&r);

    memcpy(s, "https://", 8);
    memset(s + 8, '.', 10000);
    memcpy(s + 8 + 10000, "com/", 5);
    inspect(s, &r);
    assert_true(r.valid);
    assert_null(r.registrable_domain);
    rp_url_report_release(&r);
    free(s);

    struct rp_buf b;
    rp_buf_init(&b, 1 << 20);
    inspect("https://a.com/\x1b[31m", &r);
    assert_int_equal(rp_url_report_explain(&r, rp_str_from_cstr("https://a.com/\x1b[31m"), &b), 0);
    assert_null(strchr(b.ptr, '\x1b'));
    rp_url_report_release(&r);
    rp_buf_release(&b);
}

static void test_bad_list_file(void **state)
{
    (void)state;
    char path[] = "/tmp/rampart-brands-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\npaypal paypal.com\nbroken\n", f);
    fclose(f);
    struct rp_url_inspector_options opt = {.brands_file = path};
    struct rp_url_inspector *in = NULL;
    struct rp_error err = {{0}};
    assert_int_not_equal(rp_url_inspector_new(&opt, &in, &err), 0);
    assert_null(in);
    char want[128];
    snprintf(want, sizeof(want), "%s:3: ", path);
    assert_non_null(strstr(err.msg, want));
    unlink(path);

    opt.brands_file = "/nonexistent/brands.txt";
    assert_int_not_equal(rp_url_inspector_new(&opt, &in, &err), 0);
    assert_non_null(strstr(err.msg, "unable to open '/nonexistent/brands.txt'"));
}

/* Where hosts off the public internet lead, each with its own reason code, words and verdict:
 * `rampart url http://localhost:8080/` called localhost "a public ending shared by many
 * owners", and private addresses "bare IP addresses" that the phishing model judged. */
struct network_case {
    const char *input;
    enum rp_url_network network;
    const char *code; /* the reason that says so (NULL: none) */
    const char *what; /* a piece of the reason's message */
    enum rp_url_verdict verdict;
};

static void test_regression_localhost_is_not_a_public_ending(void **state)
{
    (void)state;
    static const struct network_case cases[] = {
        /* This computer: no not-https (the connection never leaves it), no model score. */
        {"http://localhost:8080/", RP_URL_NET_LOOPBACK, "loopback", "(port 8080)", RP_URL_CAUTION},
        {"http://LOCALHOST./", RP_URL_NET_LOOPBACK, "loopback", "always means this computer",
         RP_URL_CAUTION},
        {"http://app.localhost/", RP_URL_NET_LOOPBACK, "loopback", "'.localhost'", RP_URL_CAUTION},
        {"http://127.0.0.1/", RP_URL_NET_LOOPBACK, "loopback", "127.0.0.0/8", RP_URL_CAUTION},
        {"http://127.254.3.4/", RP_URL_NET_LOOPBACK, "loopback", "your own computer",
         RP_URL_CAUTION},
        {"http://[::1]:3000/", RP_URL_NET_LOOPBACK, "loopback", "IPv6 loopback", RP_URL_CAUTION},
        {"http://[::ffff:127.0.0.1]/", RP_URL_NET_LOOPBACK, "loopback", "disguised",
         RP_URL_CAUTION},
        {"http://0.0.0.0:8000/", RP_URL_NET_UNSPECIFIED, "unspecified-address", "your own computer",
         RP_URL_CAUTION},
        {"http://[::]/", RP_URL_NET_UNSPECIFIED, "unspecified-address", "unspecified IPv6",
         RP_URL_CAUTION},
        /* A private network: the traffic crosses it, so not-https stays. */
        {"http://10.1.2.3/", RP_URL_NET_PRIVATE, "private-address", "10.0.0.0/8", RP_URL_CAUTION},
        {"http://172.16.0.1/", RP_URL_NET_PRIVATE, "private-address", "172.16.0.0/12",
         RP_URL_CAUTION},
        {"http://172.31.255.255/", RP_URL_NET_PRIVATE, "private-address", "172.16.0.0/12",
         RP_URL_CAUTION},
        {"http://192.168.1.1/admin", RP_URL_NET_PRIVATE, "private-address", "router",
         RP_URL_CAUTION},
        {"https://[fd12:3456::1]/", RP_URL_NET_PRIVATE, "private-address", "fc00::/7",
         RP_URL_CAUTION},
        {"https://169.254.169.254/latest/", RP_URL_NET_LINK_LOCAL, "link-local", "169.254.0.0/16",
         RP_URL_CAUTION},
        {"https://[fe80::1]/", RP_URL_NET_LINK_LOCAL, "link-local", "fe80::/10", RP_URL_CAUTION},
        {"https://100.64.0.1/", RP_URL_NET_SHARED, "shared-address", "100.64.0.0/10",
         RP_URL_CAUTION},
        {"https://100.127.255.254/", RP_URL_NET_SHARED, "shared-address", "provider",
         RP_URL_CAUTION},
        {"https://192.0.2.7/", RP_URL_NET_RESERVED, "reserved-address", "documentation",
         RP_URL_CAUTION},
        {"https://[2001:db8::1]/", RP_URL_NET_RESERVED, "reserved-address", "2001:db8::/32",
         RP_URL_CAUTION},
        {"https://239.1.1.1/", RP_URL_NET_RESERVED, "reserved-address", "multicast",
         RP_URL_CAUTION},
        {"https://255.255.255.255/", RP_URL_NET_RESERVED, "reserved-address", "broadcast",
         RP_URL_CAUTION},
        {"https://printer.local/", RP_URL_NET_LOCAL_NAME, "local-name", "multicast DNS",
         RP_URL_CAUTION},
        {"https://db.internal/", RP_URL_NET_LOCAL_NAME, "local-name", "'.internal'",
         RP_URL_CAUTION},
        {"https://nas.home.arpa/", RP_URL_NET_LOCAL_NAME, "local-name", "home networks",
         RP_URL_CAUTION},
        {"https://router/", RP_URL_NET_LOCAL_NAME, "local-name", "without a dot", RP_URL_CAUTION},
        {"file://server/share", RP_URL_NET_LOCAL_NAME, "local-name", "'server'", RP_URL_CAUTION},
        /* Neighbours that are public: the edges of the ranges, and real names. */
        {"https://172.32.0.1/", RP_URL_NET_PUBLIC, "ip-host", "bare IP", RP_URL_CAUTION},
        {"https://100.128.0.1/", RP_URL_NET_PUBLIC, "ip-host", "bare IP", RP_URL_CAUTION},
        {"https://11.0.0.1/", RP_URL_NET_PUBLIC, "ip-host", "bare IP", RP_URL_CAUTION},
        {"https://[2606:4700::1111]/", RP_URL_NET_PUBLIC, "ip-host", "bare IP", RP_URL_CAUTION},
        {"https://localhost.example.com/", RP_URL_NET_PUBLIC, NULL, NULL, RP_URL_OK},
        {"https://mylocal.com/", RP_URL_NET_PUBLIC, NULL, NULL, RP_URL_OK},
        {"https://local.com/", RP_URL_NET_PUBLIC, NULL, NULL, RP_URL_OK},
        {"https://example.com/", RP_URL_NET_PUBLIC, NULL, NULL, RP_URL_OK},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct network_case *c = &cases[i];
        struct rp_url_report r;
        inspect(c->input, &r);
        struct rp_buf b;
        rp_buf_init(&b, 1 << 20);
        rp_url_report_json(&r, rp_str_from_cstr(c->input), &b);
        if (r.network != c->network || r.verdict != c->verdict ||
            (c->code &&
             (!has_reason(&r, c->code) || !strstr(reason_message(&r, c->code), c->what))))
            fail_msg("%s: want network %s, reason %s with '%s', verdict %s; got %s", c->input,
                     rp_url_network_name(c->network), c->code ? c->code : "-",
                     c->what ? c->what : "-", rp_url_verdict_name(c->verdict), b.ptr);
        if (c->network != RP_URL_NET_PUBLIC) {
            /* The reason replaces ip-host, and the model, which learned public addresses,
             * does not speak of them. */
            assert_false(has_reason(&r, "ip-host"));
            assert_false(has_reason(&r, "learned-phishing"));
            assert_non_null(r.network_what);
        } else {
            assert_null(r.network_what);
        }
        bool here = c->network == RP_URL_NET_LOOPBACK || c->network == RP_URL_NET_UNSPECIFIED;
        if (!strncmp(c->input, "http:", 5) && c->network != RP_URL_NET_PUBLIC &&
            has_reason(&r, "not-https") == here)
            fail_msg("%s: not-https should %sbe reported: %s", c->input, here ? "not " : "", b.ptr);
        char want[64];
        snprintf(want, sizeof(want), "\"network\":\"%s\"", rp_url_network_name(c->network));
        if (!strstr(b.ptr, want))
            fail_msg("%s: no %s in %s", c->input, want, b.ptr);
        rp_buf_release(&b);

        /* The explanation says who answers there, never "a public ending". */
        rp_buf_init(&b, 1 << 20);
        assert_int_equal(rp_url_report_explain(&r, rp_str_from_cstr(c->input), &b), RP_OK);
        if (c->network != RP_URL_NET_PUBLIC &&
            (strstr(b.ptr, "public ending") || strstr(b.ptr, "whoever registered") ||
             strstr(b.ptr, "whoever runs that IP")))
            fail_msg("%s: explained as a public host:\n%s", c->input, b.ptr);
        rp_buf_release(&b);
        rp_url_report_release(&r);
    }
    /* Three cautions still make danger: a disguised private address with a user name. */
    struct rp_url_report r;
    inspect("http://admin@0xc0.0xa8.1.1/", &r);
    assert_int_equal(r.network, RP_URL_NET_PRIVATE);
    assert_int_equal(r.verdict, RP_URL_DANGER);
    rp_url_report_release(&r);
    /* The deceptions of a name are still looked for under a local ending. */
    expect("https://paypal.com.secure.local/", "brand-in-subdomain", true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psl_conformance),
        cmocka_unit_test(test_controlling_word),
        cmocka_unit_test(test_reason_codes),
        cmocka_unit_test(test_learned_phishing),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_bad_list_file),
        cmocka_unit_test(test_regression_localhost_is_not_a_public_ending),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
