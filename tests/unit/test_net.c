/* lib/base/net.c: addresses, CIDR ranges (IPv4-mapped peers too), client network keys and
 * "ADDR:PORT" splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <string.h>

#include "rampart/net.h"

/* A peer address as a listener reports it (the test aborts on a typo in the text). */
static struct sockaddr_storage peer(const char *text)
{
    struct sockaddr_storage ss;
    assert_int_equal(rp_addr_parse(text, &ss), RP_OK);
    return ss;
}

static bool contains(const char *cidr, const char *addr)
{
    struct rp_cidr c;
    struct rp_error err = {{0}};
    assert_int_equal(rp_cidr_parse(cidr, &c, &err), RP_OK);
    struct sockaddr_storage ss = peer(addr);
    return rp_cidr_contains(&c, (const struct sockaddr *)&ss);
}

static void test_addr_parse(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    assert_int_equal(rp_addr_parse("192.0.2.7", &ss), RP_OK);
    assert_int_equal(ss.ss_family, AF_INET);
    struct sockaddr_in in;
    memcpy(&in, &ss, sizeof(in));
    assert_int_equal(ntohl(in.sin_addr.s_addr), 0xc0000207);
    assert_int_equal(in.sin_port, 0);
    assert_int_equal(rp_addr_parse("2001:db8::1", &ss), RP_OK);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(rp_addr_parse("::ffff:10.1.2.3", &ss), RP_OK);
    assert_int_equal(ss.ss_family, AF_INET6);
    static const char *const bad[] = {
        "",      "1.2.3",   "1.2.3.4.5", "256.1.1.1",   "01.2.3.4",   " 1.2.3.4",    "1.2.3.4 ",
        "[::1]", "::1/128", "example",   "2001:db8::g", "1.2.3.4:80", "2001:db8:::1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(rp_addr_parse(bad[i], &ss), RP_EINVAL);
    assert_int_equal(rp_addr_parse(NULL, &ss), RP_EINVAL);
}

static void test_cidr_parse(void **state)
{
    (void)state;
    struct rp_cidr c;
    struct rp_error err = {{0}};
    assert_int_equal(rp_cidr_parse("10.0.0.0/8", &c, &err), RP_OK);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 8);
    assert_int_equal(c.addr[0], 10);
    assert_int_equal(rp_cidr_parse("192.0.2.1", &c, &err), RP_OK);
    assert_int_equal(c.prefix, 32);
    assert_int_equal(rp_cidr_parse("0.0.0.0/0", &c, &err), RP_OK);
    assert_int_equal(c.prefix, 0);
    assert_int_equal(rp_cidr_parse("::1/128", &c, &err), RP_OK);
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(c.prefix, 128);
    assert_int_equal(c.addr[15], 1);
    assert_int_equal(rp_cidr_parse("2001:db8::", &c, &err), RP_OK);
    assert_int_equal(c.prefix, 128);
    assert_int_equal(rp_cidr_parse("2001:db8:1200::/40", &c, &err), RP_OK);
    assert_int_equal(c.prefix, 40);
    assert_int_equal(rp_cidr_parse("::/0", &c, &err), RP_OK);
    assert_int_equal(c.family, AF_INET6);
    /* A mapped range is the IPv4 range it names. */
    assert_int_equal(rp_cidr_parse("::ffff:10.0.0.0/104", &c, &err), RP_OK);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 8);
    assert_int_equal(c.addr[0], 10);
    assert_int_equal(rp_cidr_parse("::ffff:0:0/96", &c, &err), RP_OK);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 0);
}

static void test_cidr_parse_errors(void **state)
{
    (void)state;
    struct rp_cidr c;
    struct rp_error err = {{0}};
    assert_int_equal(rp_cidr_parse("10.0.0.1/8", &c, &err), RP_EINVAL);
    assert_string_equal(err.msg, "'10.0.0.1/8' has host bits set (the range is 10.0.0.0/8)");
    assert_int_equal(rp_cidr_parse("2001:db8::1/32", &c, &err), RP_EINVAL);
    assert_non_null(strstr(err.msg, "2001:db8::/32"));
    assert_int_equal(rp_cidr_parse("10.0.0.0/33", &c, &err), RP_EINVAL);
    assert_string_equal(err.msg, "'10.0.0.0/33': the prefix length must be a number 0..32");
    assert_int_equal(rp_cidr_parse("::/129", &c, &err), RP_EINVAL);
    assert_non_null(strstr(err.msg, "0..128"));
    assert_int_equal(rp_cidr_parse("example.com/8", &c, &err), RP_EINVAL);
    assert_string_equal(err.msg, "'example.com/8' is not an IP address or CIDR range");
    static const char *const bad[] = {
        "",
        "/8",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "10.0.0.0/+8",
        "10.0.0.0/08",
        "10.0.0.0/8/8",
        "10.0.0.0 /8",
        "10.0.0.0/8 ",
        "10.0.0/8",
        "10.0.0.0/1000",
        "1.2.3.4.5",
        "::1::/64",
        "fe80::1%eth0/64",
        "[::1]/128",
        "10.0.0.0/8x",
        "2001:0db8:0000:0000:0000:0000:0000:0000:0000/64 and then some more text to be long",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.msg[0] = '\0';
        assert_int_equal(rp_cidr_parse(bad[i], &c, &err), RP_EINVAL);
        assert_true(err.msg[0] != '\0');
    }
    /* err is optional. */
    assert_int_equal(rp_cidr_parse("nope", &c, NULL), RP_EINVAL);
    assert_int_equal(rp_cidr_parse(NULL, &c, NULL), RP_EINVAL);
}

static void test_cidr_contains(void **state)
{
    (void)state;
    assert_true(contains("10.0.0.0/8", "10.255.1.2"));
    assert_false(contains("10.0.0.0/8", "11.0.0.0"));
    assert_true(contains("192.0.2.0/25", "192.0.2.127"));
    assert_false(contains("192.0.2.0/25", "192.0.2.128"));
    assert_true(contains("192.0.2.9", "192.0.2.9"));
    assert_false(contains("192.0.2.9", "192.0.2.8"));
    assert_true(contains("0.0.0.0/0", "203.0.113.1"));
    assert_false(contains("0.0.0.0/0", "2001:db8::1"));
    assert_true(contains("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(contains("2001:db8::/32", "2001:db9::1"));
    assert_true(contains("2001:db8:0:ff00::/57", "2001:db8:0:ff7f::1"));
    assert_false(contains("2001:db8:0:ff00::/57", "2001:db8:0:ff80::1"));
    assert_true(contains("::/0", "::1"));
    assert_false(contains("::/0", "127.0.0.1"));
    assert_true(contains("::1", "::1"));
    assert_false(contains("2001:db8::/32", "10.0.0.1"));
    /* An IPv4 peer on a dual-stack listener arrives as ::ffff:a.b.c.d. */
    assert_true(contains("10.0.0.0/8", "::ffff:10.1.2.3"));
    assert_false(contains("10.0.0.0/8", "::ffff:11.1.2.3"));
    assert_true(contains("127.0.0.1", "::ffff:127.0.0.1"));
    assert_true(contains("::ffff:10.0.0.0/104", "10.9.9.9"));
    assert_true(contains("::ffff:10.0.0.0/104", "::ffff:10.9.9.9"));
    /* ::a.b.c.d (deprecated IPv4-compatible) and NAT64 are not IPv4. */
    assert_false(contains("10.0.0.0/8", "::10.1.2.3"));
    assert_false(contains("10.0.0.0/8", "64:ff9b::10.1.2.3"));
    struct rp_cidr c;
    assert_int_equal(rp_cidr_parse("10.0.0.0/8", &c, NULL), RP_OK);
    assert_false(rp_cidr_contains(&c, NULL));
    struct sockaddr_storage unix_like = {0};
    unix_like.ss_family = AF_UNIX;
    assert_false(rp_cidr_contains(&c, (const struct sockaddr *)&unix_like));
    struct sockaddr_storage ss = peer("10.0.0.1");
    assert_false(rp_cidr_contains(NULL, (const struct sockaddr *)&ss));
}

static void net_key_is(const char *addr, const char *want)
{
    char buf[RP_NET_KEY_MAX];
    struct sockaddr_storage ss = peer(addr);
    assert_int_equal(rp_net_key((const struct sockaddr *)&ss, buf, sizeof(buf)), RP_OK);
    assert_string_equal(buf, want);
}

static void test_net_key(void **state)
{
    (void)state;
    net_key_is("192.0.2.77", "192.0.2.0/24");
    net_key_is("192.0.2.0", "192.0.2.0/24");
    net_key_is("10.1.2.255", "10.1.2.0/24");
    net_key_is("::ffff:198.51.100.9", "198.51.100.0/24");
    net_key_is("2001:db8:aa:bbcc:dd::1", "2001:db8:aa:bb00::/56");
    net_key_is("2001:db8:aa:bbff:ffff:ffff:ffff:ffff", "2001:db8:aa:bb00::/56");
    net_key_is("2001:db8:aa:ff::1", "2001:db8:aa::/56");
    net_key_is("::1", "::/56");
    net_key_is("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ff00::/56");
    /* Two addresses of one /56 are one network; the next /56 is another. */
    char a[RP_NET_KEY_MAX], b[RP_NET_KEY_MAX];
    struct sockaddr_storage s1 = peer("2001:db8:0:1200::1"), s2 = peer("2001:db8:0:12ff::2");
    struct sockaddr_storage s3 = peer("2001:db8:0:1300::1");
    assert_int_equal(rp_net_key((const struct sockaddr *)&s1, a, sizeof(a)), RP_OK);
    assert_int_equal(rp_net_key((const struct sockaddr *)&s2, b, sizeof(b)), RP_OK);
    assert_string_equal(a, b);
    assert_int_equal(rp_net_key((const struct sockaddr *)&s3, b, sizeof(b)), RP_OK);
    assert_string_not_equal(a, b);
    /* Too small a buffer, another family. */
    char small[8];
    struct sockaddr_storage v4 = peer("192.0.2.1");
    assert_int_equal(rp_net_key((const struct sockaddr *)&v4, small, sizeof(small)), RP_ETOOBIG);
    struct sockaddr_storage unix_like = {0};
    unix_like.ss_family = AF_UNIX;
    assert_int_equal(rp_net_key((const struct sockaddr *)&unix_like, a, sizeof(a)), RP_EINVAL);
    assert_int_equal(rp_net_key(NULL, a, sizeof(a)), RP_EINVAL);
}

static void hostport_is(const char *text, const char *host, unsigned port)
{
    char h[64];
    unsigned p = 0;
    struct rp_error err = {{0}};
    assert_int_equal(rp_hostport_parse(text, h, sizeof(h), &p, &err), RP_OK);
    assert_string_equal(h, host);
    assert_int_equal(p, port);
}

static void test_hostport(void **state)
{
    (void)state;
    hostport_is("127.0.0.1:8080", "127.0.0.1", 8080);
    hostport_is("0.0.0.0:1", "0.0.0.0", 1);
    hostport_is("[::1]:65535", "::1", 65535);
    /* Port 0: any free port, for listening. */
    hostport_is("127.0.0.1:0", "127.0.0.1", 0);
    hostport_is("[::]:443", "::", 443);
    hostport_is("[2001:db8::1]:80", "2001:db8::1", 80);
    hostport_is("[::ffff:10.0.0.1]:80", "::ffff:10.0.0.1", 80);
    hostport_is("localhost:25", "localhost", 25);
    hostport_is("mail.example.com:587", "mail.example.com", 587);
}

static void hostport_bad(const char *text, const char *msg_part)
{
    char h[64] = "unchanged";
    unsigned p = 7;
    struct rp_error err = {{0}};
    assert_int_equal(rp_hostport_parse(text, h, sizeof(h), &p, &err), RP_EINVAL);
    if (msg_part && !strstr(err.msg, msg_part))
        fail_msg("'%s': message '%s' lacks '%s'", text, err.msg, msg_part);
    /* Nothing is written on failure. */
    assert_string_equal(h, "unchanged");
    assert_int_equal(p, 7);
}

static void test_hostport_errors(void **state)
{
    (void)state;
    hostport_bad("", "an address is needed");
    hostport_bad("127.0.0.1", "needs a port");
    hostport_bad("127.0.0.1:", "0..65535");
    hostport_bad("127.0.0.1:65536", "0..65535");
    hostport_bad("127.0.0.1:99999999999", "0..65535");
    hostport_bad("127.0.0.1:080", "0..65535");
    hostport_bad("127.0.0.1:+80", "0..65535");
    hostport_bad("127.0.0.1:80 ", "0..65535");
    hostport_bad("127.0.0.1:8o", "0..65535");
    hostport_bad(":8080", "needs an address");
    hostport_bad("::1:8080", "in brackets");
    hostport_bad("[::1]", "[IPV6]:PORT");
    hostport_bad("[::1]8080", "[IPV6]:PORT");
    hostport_bad("[::1:8080", "[IPV6]:PORT");
    hostport_bad("[]:80", "not an IPv6 address");
    hostport_bad("[127.0.0.1]:80", "not an IPv6 address");
    hostport_bad("[example.com]:80", "not an IPv6 address");
    hostport_bad("ex ample:80", "not an address");
    hostport_bad("a/b:80", "not an address");
    hostport_bad(NULL, "an address is needed");
    /* err is optional; a host longer than the buffer is RP_ETOOBIG. */
    char h[4];
    unsigned p;
    assert_int_equal(rp_hostport_parse("nope", h, sizeof(h), &p, NULL), RP_EINVAL);
    assert_int_equal(rp_hostport_parse("example:80", h, sizeof(h), &p, NULL), RP_ETOOBIG);
    assert_int_equal(rp_hostport_parse("abc:80", h, sizeof(h), &p, NULL), RP_OK);
    assert_string_equal(h, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse),        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_cidr_parse_errors), cmocka_unit_test(test_cidr_contains),
        cmocka_unit_test(test_net_key),           cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_hostport_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
