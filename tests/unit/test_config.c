/* lib/base/config.c: defaults, every key of the YAML file, each kind of error with its
 * "name:line:" prefix, command-line overrides, the admin token from the environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rampart/config.h"

/* Every test starts from the embedded defaults with no token in the environment. */
static int setup(void **state)
{
    unsetenv("RAMPART_ADMIN_TOKEN");
    struct rp_config *c = calloc(1, sizeof(*c));
    if (!c || rp_config_init(c))
        return -1;
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    rp_config_release(*state);
    free(*state);
    return 0;
}

static int load(struct rp_config *c, const char *yaml, struct rp_error *err)
{
    err->msg[0] = '\0';
    return rp_config_load_text(c, "t.yaml", yaml, strlen(yaml), err);
}

/* Loading yaml fails with exactly want as the message. */
static void load_fails(struct rp_config *c, const char *yaml, const char *want)
{
    struct rp_error err;
    int result = load(c, yaml, &err);
    if (result != RP_EINVAL || strcmp(err.msg, want) != 0)
        fail_msg("for:\n%s\ngot %d '%s'\nwant '%s'", yaml, result, err.msg, want);
}

/* Loading yaml fails with a message that starts with prefix ("t.yaml:LINE: "). */
static void load_fails_at(struct rp_config *c, const char *yaml, const char *prefix)
{
    struct rp_error err;
    int result = load(c, yaml, &err);
    if (result != RP_EINVAL || strncmp(err.msg, prefix, strlen(prefix)) != 0)
        fail_msg("for:\n%s\ngot %d '%s'\nwant prefix '%s'", yaml, result, err.msg, prefix);
}

static void test_defaults(void **state)
{
    struct rp_config *c = *state;
    assert_string_equal(c->listen, "127.0.0.1:8080");
    assert_string_equal(c->admin_listen, "127.0.0.1:8081");
    assert_null(c->admin_token);
    assert_string_equal(c->state_dir, "./rampart-state");
    assert_string_equal(c->upstream_url, "http://127.0.0.1:8090");
    assert_null(c->upstream_api_key);
    assert_true(c->upstream_timeout_seconds == 60);
    assert_int_equal(c->n_trusted_proxies, 0);
    assert_true(c->key_requests_per_minute == 60);
    assert_true(c->key_tokens_per_minute == 100000);
    assert_int_equal(c->key_concurrent_requests, 4);
    assert_true(c->network_signups_per_hour == 5);
    /* Per account: unset (the per-key values), and 10 new keys an hour, 20 at once. */
    assert_true(c->account_requests_per_minute == 0);
    assert_true(c->account_tokens_per_minute == 0);
    assert_int_equal(c->account_concurrent_requests, 0);
    assert_true(c->account_keys_per_hour == 10);
    assert_int_equal(c->account_max_keys, 20);
    assert_int_equal(c->max_body_bytes, 1024 * 1024);
    assert_int_equal(c->client_connections, 256);
    assert_true(c->header_timeout_seconds == 15);
    assert_null(c->smtp_url);
    assert_string_equal(c->public_url, "http://127.0.0.1:8080");
    assert_false(c->public_url_explicit);
    assert_int_equal(c->workers, 0);
    assert_true(c->verify_token_ttl_seconds == 86400);
    struct rp_error err;
    assert_int_equal(rp_config_validate(c, &err), RP_OK);
    /* An empty file and a file of comments change nothing. */
    assert_int_equal(load(c, "", &err), RP_OK);
    assert_int_equal(load(c, "# nothing\n\n---\n", &err), RP_OK);
    assert_string_equal(c->listen, "127.0.0.1:8080");
    /* Release is idempotent and NULL-safe. */
    rp_config_release(NULL);
}

static const char full[] = "# every key\n"
                           "listen: 0.0.0.0:9000\n"
                           "admin_listen: '[::1]:9001'\n"
                           "admin_token: s3cret-token_0123456789\n"
                           "state_dir: /var/lib/rampart\n"
                           "public_url: https://gw.example.com/\n"
                           "workers: 8\n"
                           "upstream:\n"
                           "  url: https://api.example.com/\n"
                           "  api_key: sk-upstream-key\n"
                           "  ca_file: /etc/rampart/model-ca.pem\n"
                           "  timeout: 90s\n"
                           "trusted_proxies:\n"
                           "  - 10.0.0.0/8\n"
                           "  - 2001:db8::/32\n"
                           "  - 192.0.2.1\n"
                           "limits:\n"
                           "  per_key:\n"
                           "    requests_per_minute: 120\n"
                           "    tokens_per_minute: 2.5e5\n"
                           "    concurrent_requests: 16\n"
                           "  per_account:\n"
                           "    requests_per_minute: 600\n"
                           "    tokens_per_minute: 1e6\n"
                           "    concurrent_requests: 32\n"
                           "    keys_per_hour: 2\n"
                           "    max_keys: 5\n"
                           "  per_network:\n"
                           "    signups_per_hour: 0.5\n"
                           "  per_client:\n"
                           "    connections: 1000\n"
                           "  max_body_bytes: 2MiB\n"
                           "  header_timeout: 30s\n"
                           "smtp:\n"
                           "  url: smtp://mail.example.com:2525\n"
                           "signup:\n"
                           "  verify_ttl: 48h\n";

static void test_every_key(void **state)
{
    struct rp_config *c = *state;
    struct rp_error err;
    assert_int_equal(load(c, full, &err), RP_OK);
    assert_string_equal(c->listen, "0.0.0.0:9000");
    assert_string_equal(c->admin_listen, "[::1]:9001");
    assert_string_equal(c->admin_token, "s3cret-token_0123456789");
    assert_string_equal(c->state_dir, "/var/lib/rampart");
    /* URLs lose their trailing '/' so that paths can be appended. */
    assert_string_equal(c->public_url, "https://gw.example.com");
    assert_true(c->public_url_explicit);
    assert_int_equal(c->workers, 8);
    assert_string_equal(c->upstream_url, "https://api.example.com");
    assert_string_equal(c->upstream_api_key, "sk-upstream-key");
    assert_string_equal(c->upstream_ca_file, "/etc/rampart/model-ca.pem");
    assert_true(c->upstream_timeout_seconds == 90);
    assert_int_equal(c->n_trusted_proxies, 3);
    assert_int_equal(c->trusted_proxies[0].family, AF_INET);
    assert_int_equal(c->trusted_proxies[0].prefix, 8);
    assert_int_equal(c->trusted_proxies[1].family, AF_INET6);
    assert_int_equal(c->trusted_proxies[1].prefix, 32);
    assert_int_equal(c->trusted_proxies[2].prefix, 32);
    assert_true(c->key_requests_per_minute == 120);
    assert_true(c->key_tokens_per_minute == 250000);
    assert_int_equal(c->key_concurrent_requests, 16);
    assert_true(c->account_requests_per_minute == 600);
    assert_true(c->account_tokens_per_minute == 1e6);
    assert_int_equal(c->account_concurrent_requests, 32);
    assert_true(c->account_keys_per_hour == 2);
    assert_int_equal(c->account_max_keys, 5);
    assert_true(c->network_signups_per_hour == 0.5);
    assert_int_equal(c->max_body_bytes, 2 * 1024 * 1024);
    assert_int_equal(c->client_connections, 1000);
    assert_true(c->header_timeout_seconds == 30);
    assert_string_equal(c->smtp_url, "smtp://mail.example.com:2525");
    assert_true(c->verify_token_ttl_seconds == 48 * 3600);
    assert_int_equal(rp_config_validate(c, &err), RP_OK);
}

/* The example configuration shipped in conf/ loads and validates. */
static void test_example_file(void **state)
{
    struct rp_config *c = *state;
    struct rp_error err = {{0}};
    int result = rp_config_load_file(c, "conf/rampart.yaml", &err);
    if (result)
        fail_msg("%s", err.msg);
    assert_int_equal(rp_config_validate(c, &err), RP_OK);
    assert_int_equal(rp_config_load_file(c, "/nonexistent/r.yaml", &err), RP_EIO);
    assert_string_equal(err.msg, "unable to open '/nonexistent/r.yaml': No such file or directory");
}

static void test_load_file_lines(void **state)
{
    struct rp_config *c = *state;
    char path[] = "/tmp/rampart-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "listen: 127.0.0.1:7000\n\nworkers: many\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    struct rp_error err;
    assert_int_equal(rp_config_load_file(c, path, &err), RP_EINVAL);
    char want[256];
    snprintf(want, sizeof(want), "%s:3: 'workers' must be a whole number, not 'many'", path);
    assert_string_equal(err.msg, want);
    unlink(path);
}

static void test_durations_and_sizes(void **state)
{
    struct rp_config *c = *state;
    struct rp_error err;
    static const struct {
        const char *text;
        double seconds;
    } durations[] = {
        {"30", 30},   {"2.5", 2.5},  {"500ms", 0.5}, {"45s", 45},     {"5m", 300},
        {"1h", 3600}, {"1m30s", 90}, {"\"90\"", 90}, {"0.25s", 0.25},
    };
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        char yaml[128];
        snprintf(yaml, sizeof(yaml), "upstream:\n  timeout: %s\n", durations[i].text);
        assert_int_equal(load(c, yaml, &err), RP_OK);
        assert_true(c->upstream_timeout_seconds == durations[i].seconds);
    }
    assert_int_equal(load(c, "signup: {verify_ttl: 1d}\n", &err), RP_OK);
    assert_true(c->verify_token_ttl_seconds == 86400);
    assert_int_equal(load(c, "signup: {verify_ttl: 3600}\n", &err), RP_OK);
    assert_true(c->verify_token_ttl_seconds == 3600);
    assert_int_equal(load(c, "signup: {verify_ttl: 1h30m}\n", &err), RP_OK);
    assert_true(c->verify_token_ttl_seconds == 5400);
    assert_int_equal(load(c, "signup: {verify_ttl: 1.5h}\n", &err), RP_OK);
    assert_true(c->verify_token_ttl_seconds == 5400);
    assert_int_equal(load(c, "signup: {verify_ttl: 2d12h}\n", &err), RP_OK);
    assert_true(c->verify_token_ttl_seconds == 216000);
    static const struct {
        const char *text;
        size_t bytes;
    } sizes[] = {
        {"1024", 1024},
        {"64k", 65536},
        {"64K", 65536},
        {"64KiB", 65536},
        {"64 KiB", 65536},
        {"1M", 1048576},
        {"3MiB", 3 * 1048576},
        {"1G", 1073741824},
        {"1GiB", 1073741824},
        {"4096B", 4096},
        {"1073741824", 1073741824},
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char yaml[128];
        snprintf(yaml, sizeof(yaml), "limits:\n  max_body_bytes: %s\n", sizes[i].text);
        assert_int_equal(load(c, yaml, &err), RP_OK);
        assert_int_equal(c->max_body_bytes, sizes[i].bytes);
    }
}

/* Empty values: a section with nothing in it, an optional key left empty. */
static void test_null_values(void **state)
{
    struct rp_config *c = *state;
    struct rp_error err;
    assert_int_equal(load(c, "smtp:\nlimits: ~\nupstream: null\nsignup: {}\n", &err), RP_OK);
    assert_null(c->smtp_url);
    assert_int_equal(load(c, "upstream:\n  api_key: k1\nsmtp:\n  url: smtp://m\n", &err), RP_OK);
    assert_string_equal(c->upstream_api_key, "k1");
    /* Empty leaves an optional setting as it was. */
    assert_int_equal(load(c, "upstream:\n  api_key:\nsmtp:\n  url: ''\n", &err), RP_OK);
    assert_string_equal(c->upstream_api_key, "k1");
    assert_string_equal(c->smtp_url, "smtp://m");
    assert_int_equal(load(c, "trusted_proxies: [10.0.0.0/8]\n", &err), RP_OK);
    assert_int_equal(c->n_trusted_proxies, 1);
    assert_int_equal(load(c, "trusted_proxies: []\n", &err), RP_OK);
    assert_int_equal(c->n_trusted_proxies, 0);
    /* IPv6 in a flow list needs quotes (YAML reads "[::1]" as broken syntax); not in a block. */
    assert_int_equal(load(c, "trusted_proxies: ['::1', \"2001:db8::/32\"]\n", &err), RP_OK);
    assert_int_equal(c->n_trusted_proxies, 2);
    assert_int_equal(load(c, "trusted_proxies:\n  - ::1\n  - fe80::/10\n", &err), RP_OK);
    assert_int_equal(c->n_trusted_proxies, 2);
    assert_int_equal(load(c, "trusted_proxies:\n", &err), RP_OK);
    assert_int_equal(c->n_trusted_proxies, 0);
    /* A quoted "null" is a string. */
    assert_int_equal(load(c, "state_dir: 'null'\n", &err), RP_OK);
    assert_string_equal(c->state_dir, "null");
    /* A required key cannot be empty. */
    load_fails(c, "listen:\n", "t.yaml:1: 'listen' needs a value (a string)");
    load_fails(c, "state_dir: ''\n", "t.yaml:1: 'state_dir' needs a value (a string)");
    load_fails(c, "workers: ~\n", "t.yaml:1: 'workers' needs a value (a whole number)");
    load_fails(c, "limits:\n  per_key:\n    requests_per_minute:\n  max_body_bytes: 1k\n",
               "t.yaml:3: 'limits.per_key.requests_per_minute' needs a value (a number)");
}

static void test_unknown_keys(void **state)
{
    struct rp_config *c = *state;
    load_fails(c, "listen: 127.0.0.1:1\nlisten_addr: x\n",
               "t.yaml:2: unknown key 'listen_addr' (known: listen, admin_listen, admin_token, "
               "state_dir, public_url, workers, upstream, trusted_proxies, limits, smtp, signup, "
               "guard, escalation, behaviour)");
    load_fails(c, "upstream:\n  url: http://a\n  key: x\n",
               "t.yaml:3: unknown key 'upstream.key' (known: url, api_key, ca_file, timeout)");
    load_fails(c, "limits:\n  per_key:\n\n    rpm: 5\n",
               "t.yaml:4: unknown key 'limits.per_key.rpm' (known: requests_per_minute, "
               "tokens_per_minute, concurrent_requests)");
    load_fails(c, "limits:\n  per_network:\n    logins_per_hour: 5\n",
               "t.yaml:3: unknown key 'limits.per_network.logins_per_hour' (known: "
               "signups_per_hour)");
    load_fails(c, "limits: {max_body: 5}\n",
               "t.yaml:1: unknown key 'limits.max_body' (known: per_key, per_account, "
               "per_network, per_client, max_body_bytes, header_timeout)");
    load_fails(c, "smtp:\n  host: m\n", "t.yaml:2: unknown key 'smtp.host' (known: url)");
    load_fails(c, "signup:\n  ttl: 1h\n",
               "t.yaml:2: unknown key 'signup.ttl' (known: verify_ttl, disposable_domains)");
    /* Keys are case-sensitive; odd bytes in a key are shown safely. */
    load_fails_at(c, "Listen: 127.0.0.1:1\n", "t.yaml:1: unknown key 'Listen' (known: listen,");
    load_fails_at(c, "\"a\\tb\": 1\n", "t.yaml:1: unknown key 'a?b'");
    load_fails(c, "? [a, b]\n: 1\n", "t.yaml:1: keys must be plain names, not a mapping or list");
    load_fails(c, "<<: {listen: 127.0.0.1:1}\n",
               "t.yaml:1: unknown key '<<' (known: listen, admin_listen, admin_token, "
               "state_dir, public_url, workers, upstream, trusted_proxies, limits, smtp, signup, "
               "guard, escalation, behaviour)");
}

static void test_wrong_types(void **state)
{
    struct rp_config *c = *state;
    load_fails(c, "listen:\n  host: a\n", "t.yaml:2: 'listen' must be a string, not a mapping");
    load_fails(c, "state_dir: [a, b]\n", "t.yaml:1: 'state_dir' must be a string, not a list");
    load_fails(c, "upstream: http://a\n",
               "t.yaml:1: 'upstream' must be a mapping of keys, not a single value");
    load_fails(c, "limits:\n  - 1\n", "t.yaml:2: 'limits' must be a mapping of keys, not a list");
    load_fails(c, "workers: 2.5\n", "t.yaml:1: 'workers' must be a whole number, not '2.5'");
    load_fails(c, "workers: -1\n", "t.yaml:1: 'workers' must be a whole number, not '-1'");
    load_fails(c, "workers: 99999999999999999999999\n",
               "t.yaml:1: 'workers' must be a whole number, not '99999999999999999999999'");
    load_fails(c, "limits:\n  per_key:\n    requests_per_minute: lots\n",
               "t.yaml:3: 'limits.per_key.requests_per_minute' must be a number, not 'lots'");
    load_fails(c, "limits:\n  per_key:\n    tokens_per_minute: .inf\n",
               "t.yaml:3: 'limits.per_key.tokens_per_minute' must be a number, not '.inf'");
    load_fails(c, "limits:\n  per_key:\n    tokens_per_minute: nan\n",
               "t.yaml:3: 'limits.per_key.tokens_per_minute' must be a number, not 'nan'");
    load_fails(c, "limits:\n  per_key:\n    concurrent_requests: [4]\n",
               "t.yaml:3: 'limits.per_key.concurrent_requests' must be a whole number, not a "
               "list");
    load_fails(c, "limits:\n  max_body_bytes: 1 MB\n",
               "t.yaml:2: 'limits.max_body_bytes' must be a size in bytes (e.g. 1048576, 64k, "
               "1MiB), not '1 MB'");
    load_fails(c, "limits:\n  max_body_bytes: 99999999999999999999k\n",
               "t.yaml:2: 'limits.max_body_bytes' must be a size in bytes (e.g. 1048576, 64k, "
               "1MiB), not '99999999999999999999k'");
    load_fails(c, "upstream:\n  timeout: soon\n",
               "t.yaml:2: 'upstream.timeout' must be a duration (seconds, or e.g. 30s, 5m, 24h), "
               "not 'soon'");
    static const char *const bad_durations[] = {"30x", "s", "1h30", "-5s", "1.s.", "5 s", ".s"};
    for (size_t i = 0; i < sizeof(bad_durations) / sizeof(bad_durations[0]); i++) {
        char yaml[64];
        snprintf(yaml, sizeof(yaml), "signup:\n  verify_ttl: %s\n", bad_durations[i]);
        load_fails_at(c, yaml, "t.yaml:2: 'signup.verify_ttl' must be a duration");
    }
    load_fails(c, "trusted_proxies: 10.0.0.0/8\n",
               "t.yaml:1: 'trusted_proxies' must be a list of CIDR ranges (e.g. [10.0.0.0/8]), "
               "not a single value");
    load_fails(c, "trusted_proxies:\n  - 10.0.0.0/8\n  - {a: 1}\n",
               "t.yaml:3: 'trusted_proxies' entries must be CIDR ranges, not a mapping");
    load_fails(c, "state_dir: \"a\\0b\"\n", "t.yaml:1: 'state_dir' must not contain a NUL byte");
    load_fails(c, "hello\n", "t.yaml:1: the file must be a mapping of keys, not a single value");
    load_fails(c, "- a\n- b\n", "t.yaml:1: the file must be a mapping of keys, not a list");
}

static void test_out_of_range(void **state)
{
    struct rp_config *c = *state;
    load_fails(c, "limits:\n  per_key:\n    requests_per_minute: 0\n",
               "t.yaml:3: 'limits.per_key.requests_per_minute' must be greater than 0 and at "
               "most 1000000000, not 0");
    load_fails(c, "limits:\n  per_key:\n    tokens_per_minute: 1e13\n",
               "t.yaml:3: 'limits.per_key.tokens_per_minute' must be greater than 0 and at most "
               "1000000000000, not 1e13");
    load_fails(c, "limits:\n  per_account:\n    requests_per_minute: 0\n",
               "t.yaml:3: 'limits.per_account.requests_per_minute' must be greater than 0 and "
               "at most 1000000000, not 0");
    load_fails(c, "limits:\n  per_account:\n    max_keys: 0\n",
               "t.yaml:3: 'limits.per_account.max_keys' must be a whole number 1..100000, not 0");
    load_fails(c, "limits:\n  per_key:\n    concurrent_requests: 0\n",
               "t.yaml:3: 'limits.per_key.concurrent_requests' must be a whole number 1..10000, "
               "not 0");
    load_fails(c, "limits:\n  per_network:\n    signups_per_hour: 0.0\n",
               "t.yaml:3: 'limits.per_network.signups_per_hour' must be greater than 0 and at "
               "most 1000000, not 0.0");
    load_fails(c, "limits:\n  max_body_bytes: 1023\n",
               "t.yaml:2: 'limits.max_body_bytes' must be between 1024 (1 KiB) and 1073741824 (1 "
               "GiB) bytes, not 1023");
    load_fails(c, "limits:\n  max_body_bytes: 2GiB\n",
               "t.yaml:2: 'limits.max_body_bytes' must be between 1024 (1 KiB) and 1073741824 (1 "
               "GiB) bytes, not 2GiB");
    load_fails(c, "limits:\n  header_timeout: 0.5s\n",
               "t.yaml:2: 'limits.header_timeout' must be between 1 and 3600 seconds, not 0.5s");
    load_fails(c, "limits:\n  per_client:\n    connections: 1000001\n",
               "t.yaml:3: 'limits.per_client.connections' must be a whole number 0..1000000, not "
               "1000001");
    load_fails(c, "workers: 1025\n",
               "t.yaml:1: 'workers' must be a whole number 0..1024, not 1025");
    load_fails(c, "upstream:\n  timeout: 0s\n",
               "t.yaml:2: 'upstream.timeout' must be more than 0 and at most 3600 seconds, not 0s");
    load_fails(c, "upstream:\n  timeout: 2h\n",
               "t.yaml:2: 'upstream.timeout' must be more than 0 and at most 3600 seconds, not 2h");
    load_fails(c, "signup:\n  verify_ttl: 59s\n",
               "t.yaml:2: 'signup.verify_ttl' must be between 60 and 2592000 seconds, not 59s");
    load_fails(c, "signup:\n  verify_ttl: 31d\n",
               "t.yaml:2: 'signup.verify_ttl' must be between 60 and 2592000 seconds, not 31d");
    struct rp_error err;
    assert_int_equal(
        load(c, "workers: 0\nsignup: {verify_ttl: 60}\nlimits: {max_body_bytes: 1k}\n", &err),
        RP_OK);
}

static void test_bad_values(void **state)
{
    struct rp_config *c = *state;
    load_fails(c, "listen: 127.0.0.1:70000\n",
               "t.yaml:1: 'listen': '127.0.0.1:70000': the port must be a number 0..65535");
    load_fails(c, "listen: 127.0.0.1\n",
               "t.yaml:1: 'listen': '127.0.0.1' needs a port (ADDR:PORT, e.g. 127.0.0.1:8080)");
    load_fails(c, "admin_listen: localhost:8081\n",
               "t.yaml:1: 'admin_listen': 'localhost:8081' is not ADDR:PORT with a numeric "
               "address (e.g. 127.0.0.1:8080)");
    load_fails(c, "listen: ::1:8080\n",
               "t.yaml:1: 'listen': '::1:8080': an IPv6 address is written in brackets, e.g. "
               "[::1]:8080");
    load_fails(c, "upstream:\n  url: ftp://a\n",
               "t.yaml:2: 'upstream.url': 'ftp://a' must start with http:// or https://");
    load_fails(c, "upstream:\n  url: http://\n", "t.yaml:2: 'upstream.url': 'http://' has no host");
    load_fails(c, "upstream:\n  url: http://u:p@host\n",
               "t.yaml:2: 'upstream.url': 'http://u:p@host' is not a plain URL (no spaces, user "
               "info, query or fragment)");
    load_fails(c, "upstream:\n  url: http://host:99999\n",
               "t.yaml:2: 'upstream.url': 'http://host:99999' has a bad host or port (the port "
               "must be 1..65535)");
    load_fails_at(c, "upstream:\n  url: 'http://a b'\n", "t.yaml:2: 'upstream.url': 'http://a b' ");
    load_fails_at(c, "upstream:\n  url: http://a?x=1\n", "t.yaml:2: 'upstream.url': ");
    load_fails_at(c, "public_url: gw.example.com\n", "t.yaml:1: 'public_url': 'gw.example.com' ");
    load_fails(c, "smtp:\n  url: http://mail\n",
               "t.yaml:2: 'smtp.url': 'http://mail' must start with smtp://");
    load_fails(c, "smtp:\n  url: smtp://mail/x\n",
               "t.yaml:2: 'smtp.url': 'smtp://mail/x' must be smtp://HOST[:PORT] without a path");
    load_fails(c, "upstream:\n  api_key: \"sk\\r\\nX-Evil: 1\"\n",
               "t.yaml:2: 'upstream.api_key': the value must be printable ASCII without spaces");
    load_fails(c, "admin_token: two words\n",
               "t.yaml:1: 'admin_token': the value must be printable ASCII without spaces");
    struct rp_error err;
    assert_int_equal(load(c,
                          "listen: '[::]:8080'\nupstream: {url: 'http://[::1]:8090/base'}\n"
                          "smtp: {url: 'smtp://[2001:db8::25]'}\n",
                          &err),
                     RP_OK);
    assert_string_equal(c->upstream_url, "http://[::1]:8090/base");
}

static void test_cidr_errors(void **state)
{
    struct rp_config *c = *state;
    load_fails(c, "trusted_proxies:\n  - 10.0.0.0/8\n  - 10.0.0.1/8\n",
               "t.yaml:3: 'trusted_proxies': '10.0.0.1/8' has host bits set (the range is "
               "10.0.0.0/8)");
    load_fails(c, "trusted_proxies: [10.0.0.0/8, proxy.local]\n",
               "t.yaml:1: 'trusted_proxies': 'proxy.local' is not an IP address or CIDR range");
    load_fails(c, "trusted_proxies:\n- ::/200\n",
               "t.yaml:2: 'trusted_proxies': '::/200': the prefix length must be a number "
               "0..128");
    /* At most RP_CONFIG_MAX_TRUSTED entries. */
    char yaml[4096] = "trusted_proxies:\n";
    size_t n = strlen(yaml);
    for (int i = 0; i <= RP_CONFIG_MAX_TRUSTED; i++)
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "  - 10.0.%d.0/24\n", i);
    char want[128];
    snprintf(want, sizeof(want), "t.yaml:%d: 'trusted_proxies' has too many entries (at most %d)",
             RP_CONFIG_MAX_TRUSTED + 2, RP_CONFIG_MAX_TRUSTED);
    load_fails(c, yaml, want);
}

static void test_yaml_errors(void **state)
{
    struct rp_config *c = *state;
    load_fails(c, "listen: 127.0.0.1:1\nworkers: 2\n  state_dir: x\n",
               "t.yaml:3: mapping values are not allowed in this context");
    load_fails(c, "listen: 127.0.0.1:1\nlimits:\n  per_key:\n    a: 1\n   b: 2\n",
               "t.yaml:5: did not find expected key while parsing a block mapping (started on "
               "line 3)");
    load_fails_at(c, "listen: [a\n", "t.yaml:2: ");
    load_fails_at(c, "listen: \"abc\n", "t.yaml:2: ");
    load_fails_at(c, "a: 1\n\tb: 2\n", "t.yaml:2: ");
    load_fails_at(c, "listen: *nope\n", "t.yaml:1: ");
    load_fails(c, "listen: 127.0.0.1:1\n\nworkers: 2\nworkers: 3\n",
               "t.yaml:4: duplicate key 'workers' (first on line 3)");
    load_fails(c, "limits:\n  per_key: {}\n  per_key: {}\n",
               "t.yaml:3: duplicate key 'limits.per_key' (first on line 2)");
    load_fails(c, "workers: 1\n---\nworkers: 2\n", "t.yaml:3: only one YAML document is allowed");
    /* Invalid UTF-8: the reader reports a byte offset, turned into a line. */
    load_fails_at(c, "workers: 1\nstate_dir: a\xff\n", "t.yaml:2: ");
    /* A NUL byte in the text. */
    struct rp_error err;
    static const char nul[] = "workers: 1\nstate_dir: a\0b\n";
    assert_int_equal(rp_config_load_text(c, "t.yaml", nul, sizeof(nul) - 1, &err), RP_EINVAL);
    assert_non_null(strstr(err.msg, "t.yaml:2: "));
    /* Aliases are followed; a self-referencing list is just a wrong type. */
    assert_int_equal(load(c, "x: &d /srv/r\n", &err), RP_EINVAL);
    assert_int_equal(load(c, "state_dir: &d /srv/r\nupstream: {api_key: *d}\n", &err), RP_OK);
    assert_string_equal(c->upstream_api_key, "/srv/r");
    load_fails(c, "trusted_proxies: &a [*a]\n",
               "t.yaml:1: 'trusted_proxies' entries must be CIDR ranges, not a list");
    /* Too large a text. */
    size_t big = RP_CONFIG_MAX_FILE + 1;
    char *text = calloc(1, big);
    assert_non_null(text);
    memset(text, '#', big);
    assert_int_equal(rp_config_load_text(c, "t.yaml", text, big, &err), RP_ETOOBIG);
    assert_string_equal(err.msg, "t.yaml: file too large (at most 1048576 bytes)");
    free(text);
}

/* A file that fails half-way changes nothing. */
static void test_failed_load_changes_nothing(void **state)
{
    struct rp_config *c = *state;
    struct rp_error err;
    load_fails_at(c,
                  "listen: 0.0.0.0:1\nupstream: {url: http://x}\ntrusted_proxies: [10.0.0.0/8]\n"
                  "workers: zero\n",
                  "t.yaml:4: ");
    assert_string_equal(c->listen, "127.0.0.1:8080");
    assert_string_equal(c->upstream_url, "http://127.0.0.1:8090");
    assert_int_equal(c->n_trusted_proxies, 0);
    assert_string_equal(c->public_url, "http://127.0.0.1:8080");
    /* Loads stack: a second file changes only what it names. */
    assert_int_equal(load(c, "listen: 0.0.0.0:1\n", &err), RP_OK);
    assert_int_equal(load(c, "workers: 3\n", &err), RP_OK);
    assert_string_equal(c->listen, "0.0.0.0:1");
    assert_int_equal(c->workers, 3);
}

/* public_url follows listen until it is set. */
static void test_public_url(void **state)
{
    struct rp_config *c = *state;
    struct rp_error err;
    assert_int_equal(load(c, "listen: '[::1]:9000'\n", &err), RP_OK);
    assert_string_equal(c->public_url, "http://[::1]:9000");
    assert_int_equal(rp_config_set(c, "listen", "127.0.0.1:9100", &err), RP_OK);
    assert_string_equal(c->public_url, "http://127.0.0.1:9100");
    assert_int_equal(load(c, "public_url: https://gw.example\n", &err), RP_OK);
    assert_int_equal(rp_config_set(c, "listen", "127.0.0.1:9200", &err), RP_OK);
    assert_string_equal(c->public_url, "https://gw.example");
    assert_int_equal(rp_config_set(c, "public_url", "", &err), RP_OK);
    assert_string_equal(c->public_url, "http://127.0.0.1:9200");
    assert_false(c->public_url_explicit);
}

static void test_overrides(void **state)
{
    struct rp_config *c = *state;
    struct rp_error err;
    assert_int_equal(load(c, full, &err), RP_OK);
    assert_int_equal(rp_config_set(c, "listen", "127.0.0.1:7000", &err), RP_OK);
    assert_int_equal(rp_config_set(c, "admin_listen", "[::1]:7001", &err), RP_OK);
    assert_int_equal(rp_config_set(c, "state_dir", "/tmp/r", &err), RP_OK);
    assert_int_equal(rp_config_set(c, "upstream.url", "http://10.0.0.5:8000/", &err), RP_OK);
    assert_int_equal(rp_config_set(c, "admin_token", "from-the-flag", &err), RP_OK);
    assert_string_equal(c->listen, "127.0.0.1:7000");
    assert_string_equal(c->admin_listen, "[::1]:7001");
    assert_string_equal(c->state_dir, "/tmp/r");
    assert_string_equal(c->upstream_url, "http://10.0.0.5:8000");
    assert_string_equal(c->admin_token, "from-the-flag");
    /* Values are written as in the file. */
    assert_int_equal(rp_config_set(c, "upstream.timeout", "2m", &err), RP_OK);
    assert_true(c->upstream_timeout_seconds == 120);
    assert_int_equal(rp_config_set(c, "limits.max_body_bytes", "64k", &err), RP_OK);
    assert_int_equal(c->max_body_bytes, 65536);
    assert_int_equal(rp_config_set(c, "workers", "2", &err), RP_OK);
    assert_int_equal(c->workers, 2);
    /* Empty unsets an optional string. */
    assert_int_equal(rp_config_set(c, "smtp.url", "", &err), RP_OK);
    assert_null(c->smtp_url);
    assert_int_equal(rp_config_set(c, "admin_token", NULL, &err), RP_OK);
    assert_null(c->admin_token);
    /* Errors carry no file:line, and leave the value as it was. */
    assert_int_equal(rp_config_set(c, "listen", "nowhere", &err), RP_EINVAL);
    assert_string_equal(err.msg,
                        "'listen': 'nowhere' needs a port (ADDR:PORT, e.g. 127.0.0.1:8080)");
    assert_string_equal(c->listen, "127.0.0.1:7000");
    assert_int_equal(rp_config_set(c, "listen", "", &err), RP_EINVAL);
    assert_string_equal(err.msg, "'listen' needs a value (a string)");
    assert_int_equal(rp_config_set(c, "upstream.url", "api.example.com", &err), RP_EINVAL);
    assert_string_equal(err.msg, "'upstream.url': 'api.example.com' must start with http:// or "
                                 "https://");
    assert_int_equal(rp_config_set(c, "workers", "-2", &err), RP_EINVAL);
    assert_string_equal(err.msg, "'workers' must be a whole number, not '-2'");
    assert_int_equal(rp_config_set(c, "listn", "x", &err), RP_EINVAL);
    assert_string_equal(err.msg, "unknown key 'listn'");
    assert_int_equal(rp_config_set(c, "upstream.url.x", "x", &err), RP_EINVAL);
    assert_string_equal(err.msg, "unknown key 'upstream.url.x'");
    assert_int_equal(rp_config_set(c, "upstream", "x", &err), RP_EINVAL);
    assert_string_equal(err.msg, "'upstream' cannot be set on the command line; use the file");
    assert_int_equal(rp_config_set(c, "trusted_proxies", "10.0.0.0/8", &err), RP_EINVAL);
    assert_int_equal(rp_config_set(c, "", "x", &err), RP_EINVAL);
    assert_int_equal(rp_config_set(c, NULL, "x", &err), RP_EINVAL);
    assert_int_equal(rp_config_validate(c, &err), RP_OK);
}

static void test_env_token(void **state)
{
    (void)state;
    struct rp_config c;
    struct rp_error err;
    setenv("RAMPART_ADMIN_TOKEN", "env-token-123", 1);
    assert_int_equal(rp_config_init(&c), RP_OK);
    assert_string_equal(c.admin_token, "env-token-123");
    /* A file without the key keeps it; one with the key wins; empty leaves it. */
    assert_int_equal(load(&c, "workers: 1\n", &err), RP_OK);
    assert_string_equal(c.admin_token, "env-token-123");
    assert_int_equal(load(&c, "admin_token: ~\n", &err), RP_OK);
    assert_string_equal(c.admin_token, "env-token-123");
    assert_int_equal(load(&c, "admin_token: file-token\n", &err), RP_OK);
    assert_string_equal(c.admin_token, "file-token");
    rp_config_release(&c);
    /* An empty variable is no token. */
    setenv("RAMPART_ADMIN_TOKEN", "", 1);
    assert_int_equal(rp_config_init(&c), RP_OK);
    assert_null(c.admin_token);
    rp_config_release(&c);
    /* A token that could split a header is refused when validating. */
    setenv("RAMPART_ADMIN_TOKEN", "bad token", 1);
    assert_int_equal(rp_config_init(&c), RP_OK);
    assert_int_equal(rp_config_validate(&c, &err), RP_EINVAL);
    assert_string_equal(err.msg, "'admin_token': the value must be printable ASCII without spaces");
    rp_config_release(&c);
    unsetenv("RAMPART_ADMIN_TOKEN");
}

static void test_validate(void **state)
{
    struct rp_config *c = *state;
    struct rp_error err;
    assert_int_equal(rp_config_set(c, "admin_listen", "127.0.0.1:8080", &err), RP_OK);
    assert_int_equal(rp_config_validate(c, &err), RP_EINVAL);
    assert_string_equal(err.msg, "'admin_listen' (127.0.0.1:8080) must not use the port of "
                                 "'listen' (127.0.0.1:8080)");
    assert_int_equal(rp_config_set(c, "listen", "0.0.0.0:8080", &err), RP_OK);
    assert_int_equal(rp_config_validate(c, &err), RP_EINVAL);
    assert_int_equal(rp_config_set(c, "listen", "127.0.0.2:8080", &err), RP_OK);
    assert_int_equal(rp_config_validate(c, &err), RP_OK);
    /* Values written straight into the struct are checked too. */
    c->key_requests_per_minute = 0;
    assert_int_equal(rp_config_validate(c, &err), RP_EINVAL);
    assert_string_equal(err.msg, "'limits.per_key.requests_per_minute' must be greater than 0 and "
                                 "at most 1000000000, not 0");
    c->key_requests_per_minute = 60;
    c->max_body_bytes = 10;
    assert_int_equal(rp_config_validate(c, &err), RP_EINVAL);
    assert_non_null(strstr(err.msg, "'limits.max_body_bytes' must be between"));
    c->max_body_bytes = 4096;
    c->key_concurrent_requests = 0;
    assert_int_equal(rp_config_validate(c, &err), RP_EINVAL);
    c->key_concurrent_requests = 1;
    c->verify_token_ttl_seconds = 1;
    assert_int_equal(rp_config_validate(c, &err), RP_EINVAL);
    assert_non_null(strstr(err.msg, "'signup.verify_ttl'"));
    c->verify_token_ttl_seconds = 600;
    c->n_trusted_proxies = RP_CONFIG_MAX_TRUSTED + 1;
    assert_int_equal(rp_config_validate(c, &err), RP_EINVAL);
    c->n_trusted_proxies = 0;
    free(c->upstream_url);
    c->upstream_url = NULL;
    assert_int_equal(rp_config_validate(c, &err), RP_EINVAL);
    assert_string_equal(err.msg, "'upstream.url' needs a value");
    c->upstream_url = strdup("https://api.example.com");
    free(c->smtp_url);
    c->smtp_url = strdup("mail.example.com:25");
    assert_int_equal(rp_config_validate(c, &err), RP_EINVAL);
    assert_string_equal(err.msg, "'smtp.url': 'mail.example.com:25' must start with smtp://");
    free(c->smtp_url);
    c->smtp_url = strdup("smtp://mail.example.com:25");
    free(c->listen);
    c->listen = strdup("localhost:8080");
    assert_int_equal(rp_config_validate(c, &err), RP_EINVAL);
    assert_non_null(strstr(err.msg, "'listen': 'localhost:8080' is not ADDR:PORT"));
    free(c->listen);
    c->listen = strdup("[::]:8080");
    /* [::] takes IPv4 too on a dual-stack host: the same port as 127.0.0.1:8080. */
    assert_int_equal(rp_config_validate(c, &err), RP_EINVAL);
    assert_int_equal(rp_config_set(c, "listen", "[::]:8000", &err), RP_OK);
    assert_int_equal(rp_config_validate(c, &err), RP_OK);
}

/* The guard: section: every kind of its keys (mode, booleans, lists, numbers 0 or more). */
static void test_guard_keys(void **state)
{
    struct rp_config *c = *state;
    struct rp_error err;
    assert_int_equal(c->guard_mode, RP_MODE_ENFORCE);
    assert_true(c->guard_default_rules);
    assert_int_equal(c->guard_rules.n, 0);
    assert_true(c->guard_refuse_score[0] == 5 && c->guard_flag_score[1] == 2);
    const char *yaml = "guard:\n"
                       "  mode: monitor\n"
                       "  default_rules: false\n"
                       "  rules: [a.yaml, b.yaml]\n"
                       "  disable:\n"
                       "    - injection-x\n"
                       "  input:\n"
                       "    refuse_score: 7\n"
                       "    classifier_points: 0\n"
                       "  output:\n"
                       "    flag_score: 1.5\n"
                       "    model: m.txt\n";
    assert_int_equal(load(c, yaml, &err), RP_OK);
    assert_int_equal(c->guard_mode, RP_MODE_MONITOR);
    assert_false(c->guard_default_rules);
    assert_int_equal(c->guard_rules.n, 2);
    assert_string_equal(c->guard_rules.v[1], "b.yaml");
    assert_int_equal(c->guard_disable.n, 1);
    assert_string_equal(c->guard_disable.v[0], "injection-x");
    assert_true(c->guard_refuse_score[0] == 7 && c->guard_classifier_points[0] == 0);
    assert_true(c->guard_flag_score[1] == 1.5);
    assert_string_equal(c->guard_model[1], "m.txt");
    /* A later file replaces a list whole; a failed file leaves everything as it was. */
    assert_int_equal(load(c, "guard:\n  rules: [c.yaml]\n", &err), RP_OK);
    assert_int_equal(c->guard_rules.n, 1);
    load_fails_at(c, "guard:\n  rules: [x.yaml]\n  mode: sometimes\n", "t.yaml:3: 'guard.mode'");
    load_fails_at(c, "guard:\n  mode: sometimes\n",
                  "t.yaml:2: 'guard.mode' must be enforce, monitor or off, not 'sometimes'");
    load_fails_at(c, "escalation:\n  mode: Enforce\n",
                  "t.yaml:2: 'escalation.mode' must be enforce, monitor or off, not 'Enforce'");
    assert_string_equal(c->guard_rules.v[0], "c.yaml");
    load_fails_at(c, "guard:\n  default_rules: maybe\n", "t.yaml:2: 'guard.default_rules'");
    load_fails_at(c, "guard:\n  rules: a.yaml\n", "t.yaml:2: 'guard.rules' must be a list");
    load_fails_at(c, "guard:\n  rules: [[a]]\n", "t.yaml:2: 'guard.rules' entries");
    load_fails_at(c, "guard:\n  input:\n    classifier_points: -1\n",
                  "t.yaml:3: 'guard.input.classifier_points'");
    load_fails_at(c, "guard:\n  input:\n    refuse_score: 0\n",
                  "t.yaml:3: 'guard.input.refuse_score'");
    assert_int_equal(rp_config_set(c, "guard.mode", "off", &err), RP_OK);
    assert_int_equal(c->guard_mode, RP_MODE_OFF);
    assert_int_equal(rp_config_set(c, "guard.rules", "x", &err), RP_EINVAL);
}

/* The escalation: section: its durations, the factor and the mode. */
static void test_escalation_keys(void **state)
{
    struct rp_config *c = *state;
    struct rp_error err;
    assert_int_equal(c->escalation_mode, RP_MODE_ENFORCE);
    assert_int_equal(c->escalation_soft_blocks, 5);
    assert_true(c->escalation_window == 3600 && c->escalation_ban_time == 3600);
    assert_true(c->escalation_ban_factor == 4 && c->escalation_ban_max == 30 * 86400);
    assert_int_equal(load(c,
                          "escalation:\n  mode: monitor\n  soft_blocks_before_ban: 3\n"
                          "  window: 10m\n  ban_time: 30s\n  ban_time_factor: 2.5\n"
                          "  ban_time_max: 7d\n",
                          &err),
                     RP_OK);
    assert_int_equal(c->escalation_mode, RP_MODE_MONITOR);
    assert_int_equal(c->escalation_soft_blocks, 3);
    assert_true(c->escalation_window == 600 && c->escalation_ban_time == 30);
    assert_true(c->escalation_ban_factor == 2.5 && c->escalation_ban_max == 7 * 86400);
    load_fails_at(c, "escalation:\n  soft_blocks_before_ban: 0\n",
                  "t.yaml:2: 'escalation.soft_blocks_before_ban'");
    load_fails_at(c, "escalation:\n  ban_time_factor: 0.5\n",
                  "t.yaml:2: 'escalation.ban_time_factor'");
    load_fails_at(c, "escalation:\n  window: forever\n", "t.yaml:2: 'escalation.window'");
    load_fails_at(c, "escalation:\n  mode: maybe\n", "t.yaml:2: 'escalation.mode'");
    assert_int_equal(rp_config_set(c, "escalation.window", "1h", &err), RP_OK);
    assert_true(c->escalation_window == 3600);
}

/* What a refused prompt counts (docs/abuse.md): the weight of a borderline one, and when a
 * repeat of a refused prompt counts fully. */
static void test_escalation_refusal_keys(void **state)
{
    struct rp_config *c = *state;
    struct rp_error err;
    assert_true(c->escalation_borderline_weight == 0.25 && c->escalation_retry_window == 600);
    assert_true(c->escalation_retry_similarity == 0.5 && c->escalation_retries_forgiven == 2);
    assert_true(c->guard_confident_score[0] == 0 && c->guard_confident_score[1] == 0);
    assert_int_equal(load(c,
                          "escalation:\n  borderline_weight: 0\n  retry_window: 30m\n"
                          "  retry_similarity: 0.8\n  retries_forgiven: 0\n"
                          "guard:\n  input:\n    confident_score: 9\n",
                          &err),
                     RP_OK);
    assert_true(c->escalation_borderline_weight == 0 && c->escalation_retry_window == 1800);
    assert_true(c->escalation_retry_similarity == 0.8 && c->escalation_retries_forgiven == 0);
    assert_true(c->guard_confident_score[0] == 9);
    load_fails_at(c, "escalation:\n  borderline_weight: 1.5\n",
                  "t.yaml:2: 'escalation.borderline_weight'");
    load_fails_at(c, "escalation:\n  borderline_weight: -0.1\n",
                  "t.yaml:2: 'escalation.borderline_weight'");
    load_fails_at(c, "escalation:\n  retry_similarity: 0\n",
                  "t.yaml:2: 'escalation.retry_similarity'");
    load_fails_at(c, "escalation:\n  retry_similarity: 2\n",
                  "t.yaml:2: 'escalation.retry_similarity'");
    load_fails_at(c, "escalation:\n  retry_window: 0s\n", "t.yaml:2: 'escalation.retry_window'");
    load_fails_at(c, "escalation:\n  retries_forgiven: many\n",
                  "t.yaml:2: 'escalation.retries_forgiven'");
    load_fails_at(c, "guard:\n  input:\n    confident_score: -1\n",
                  "t.yaml:3: 'guard.input.confident_score'");
}

/* The behaviour: section: the watch's thresholds, today's values by default. */
static void test_behaviour_keys(void **state)
{
    struct rp_config *c = *state;
    struct rp_error err;
    assert_true(c->behaviour_hammering == 100);
    assert_true(c->behaviour_half_life == 600 && c->behaviour_network_window == 3600);
    assert_int_equal(
        load(c, "behaviour:\n  hammering: 40\n  half_life: 5m\n  network_window: 2h\n", &err),
        RP_OK);
    assert_true(c->behaviour_hammering == 40);
    assert_true(c->behaviour_half_life == 300 && c->behaviour_network_window == 7200);
    load_fails_at(c, "behaviour:\n  hammering: 0\n", "t.yaml:2: 'behaviour.hammering'");
    load_fails_at(c, "behaviour:\n  half_life: 0s\n", "t.yaml:2: 'behaviour.half_life'");
    load_fails_at(c, "behaviour:\n  network_window: 31d\n", "t.yaml:2: 'behaviour.network_window'");
    load_fails(c, "behaviour:\n  threshold: 5\n",
               "t.yaml:2: unknown key 'behaviour.threshold' (known: hammering, half_life, "
               "network_window)");
    assert_int_equal(rp_config_set(c, "behaviour.hammering", "250", &err), RP_OK);
    assert_true(c->behaviour_hammering == 250);
}

/* It said "must be greater than 0 and at most 1" of a key that takes 0
 * (escalation.borderline_weight, guard.<dir>.classifier_points). */
static void test_regression_num0_range_message_allows_zero(void **state)
{
    struct rp_config *c = *state;
    load_fails_at(c, "escalation:\n  borderline_weight: 3\n",
                  "t.yaml:2: 'escalation.borderline_weight' must be from 0 to 1, not 3");
    load_fails_at(
        c, "guard:\n  input:\n    classifier_points: 2000000\n",
        "t.yaml:3: 'guard.input.classifier_points' must be from 0 to 1000000, not 2000000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_example_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_file_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durations_and_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cidr_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yaml_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_load_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_public_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overrides, setup, teardown),
        cmocka_unit_test(test_env_token),
        cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalation_refusal_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regression_num0_range_message_allows_zero, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_escalation_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_behaviour_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
