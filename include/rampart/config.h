/* rampart configuration: the YAML file of `rampart serve` (docs/configuration.md), its embedded
 * defaults, and command-line overrides. Errors name the place: "file:line: what". */
#ifndef RAMPART_CONFIG_H
#define RAMPART_CONFIG_H

#include "rampart/base.h"
#include "rampart/net.h"

#define RP_CONFIG_MAX_TRUSTED 64
#define RP_CONFIG_MAX_FILE (1u << 20)
#define RP_CONFIG_MAX_LIST 16

struct rp_config_list {
    char *v[RP_CONFIG_MAX_LIST];
    size_t n;
};

/* The modes of guard.mode and escalation.mode: enforce acts on what it finds, monitor only
 * records what it would have done, off does nothing. */
enum rp_mode { RP_MODE_ENFORCE, RP_MODE_MONITOR, RP_MODE_OFF };

struct rp_config {
    char *listen;       /* "ADDR:PORT"; default "127.0.0.1:8080" */
    char *admin_listen; /* default "127.0.0.1:8081" */
    char *admin_token;  /* NULL: taken from env RAMPART_ADMIN_TOKEN; NULL then = admin API off */
    char *state_dir;    /* default "./rampart-state" */
    char *upstream_url; /* "http://host:port" (base; "/v1/..." is appended); default
                           "http://127.0.0.1:8090" */
    char *upstream_api_key;          /* optional, sent upstream as "Authorization: Bearer ..." */
    char *upstream_ca_file;          /* optional CA bundle (PEM) for an https upstream; default:
                                        the system's trust store */
    double upstream_timeout_seconds; /* upstream.timeout, default 60 */
    struct rp_cidr trusted_proxies[RP_CONFIG_MAX_TRUSTED];
    size_t n_trusted_proxies;
    double key_requests_per_minute;   /* limits.per_key.requests_per_minute, default 60 */
    double key_tokens_per_minute;     /* limits.per_key.tokens_per_minute, default 100000 */
    unsigned key_concurrent_requests; /* limits.per_key.concurrent_requests, default 4 */
    double network_signups_per_hour;  /* limits.per_network.signups_per_hour, default 5 */
    size_t max_body_bytes;            /* limits.max_body_bytes, default 1 MiB */
    unsigned client_connections;      /* limits.per_client.connections: open at once from one
                                         client address (IPv6: /64), default 256; 0 = no cap */
    double header_timeout_seconds;    /* limits.header_timeout: a request head must be whole
                                         this long after its first byte, default 15 s */
    char *smtp_url;                   /* optional "smtp://host:port" */
    char *public_url;                 /* base of links in mails; default "http://" + listen */
    bool public_url_explicit;         /* public_url was set (file or rp_config_set), so it no
                                         longer follows listen */
    unsigned workers;                 /* I/O worker threads; 0 = one a CPU */
    double verify_token_ttl_seconds;  /* signup.verify_ttl, default 86400 */
    char *signup_disposable_domains;  /* signup.disposable_domains: a list file, or NULL */
    /* limits.per_account: the same limits for all the keys of an account together (0: the
     * per-key value), and how many keys an account may make an hour and hold at once. */
    double account_requests_per_minute;   /* limits.per_account.requests_per_minute */
    double account_tokens_per_minute;     /* limits.per_account.tokens_per_minute */
    unsigned account_concurrent_requests; /* limits.per_account.concurrent_requests */
    double account_keys_per_hour;         /* limits.per_account.keys_per_hour, default 10 */
    unsigned account_max_keys;            /* limits.per_account.max_keys, default 20 */
    /* guard: (docs/guardrails.md). Index 0 is the input direction, 1 the output. */
    enum rp_mode guard_mode;             /* guard.mode, default enforce */
    bool guard_default_rules;            /* guard.default_rules: the embedded pack, default true */
    struct rp_config_list guard_rules;   /* guard.rules: more packs (paths) */
    struct rp_config_list guard_disable; /* guard.disable: rule ids switched off */
    double guard_refuse_score[2];        /* guard.<dir>.refuse_score, default 5 */
    double guard_flag_score[2];          /* guard.<dir>.flag_score, default 2 */
    double guard_confident_score[2];     /* guard.<dir>.confident_score; 0: 1.6 x refuse */
    double guard_classifier_points[2];   /* guard.<dir>.classifier_points, default 5 (input), 2
                                            (output); 0 = off */
    char *guard_model[2];                /* guard.<dir>.model; NULL = embedded */
    /* escalation: (docs/configuration.md): soft-blocks in a window lead to bans that grow. */
    enum rp_mode escalation_mode;    /* escalation.mode, default enforce */
    unsigned escalation_soft_blocks; /* escalation.soft_blocks_before_ban, default 5 */
    double escalation_window;        /* escalation.window, seconds, default 1h */
    double escalation_ban_time;      /* escalation.ban_time: the first ban, default 1h */
    double escalation_ban_factor;    /* escalation.ban_time_factor: each next ban, default 4 */
    double escalation_ban_max;       /* escalation.ban_time_max: longer bans are permanent; 30d */
    double escalation_borderline_weight;  /* escalation.borderline_weight, default 0.25 */
    double escalation_retry_window;       /* escalation.retry_window, seconds, default 10m */
    double escalation_retry_similarity;   /* escalation.retry_similarity, default 0.5 */
    unsigned escalation_retries_forgiven; /* escalation.retries_forgiven, default 2 */
    /* behaviour: (docs/configuration.md): the behaviour watch's counts per account. */
    double behaviour_hammering;      /* behaviour.hammering: 429s that make a soft-block; 100 */
    double behaviour_half_life;      /* behaviour.half_life: counts halve over it; 10m */
    double behaviour_network_window; /* behaviour.network_window: a network counts this long; 1h */
};

/* Fills c with the embedded defaults (all strings heap-allocated, owned by c). admin_token is
 * taken from the environment variable RAMPART_ADMIN_TOKEN when that is set and not empty; a file
 * or rp_config_set read later replace it. URL values (upstream.url, public_url, smtp.url) are
 * kept without trailing '/', here and after every load or set. */
int rp_config_init(struct rp_config *c);
/* Frees what c owns; c may be re-initialised. */
void rp_config_release(struct rp_config *c);

/* Reads a YAML file over the values already in c. Unknown keys, wrong types and out-of-range
 * values are errors: RP_EINVAL with "path:line: what" in err, and c is left as it was. An empty
 * (null) value leaves its setting as it was. Files over RP_CONFIG_MAX_FILE are RP_ETOOBIG. */
int rp_config_load_file(struct rp_config *c, const char *path, struct rp_error *err);

/* The same over YAML text held in memory; name is what errors call it ("name:line: what"). */
int rp_config_load_text(struct rp_config *c, const char *name, const char *text, size_t len,
                        struct rp_error *err);

/* Replaces one setting (used for command-line overrides); the key is the YAML path, e.g.
 * "upstream.url", and the value is written as in the file ("30s", "1MiB"). Every key that holds
 * one value can be set; an empty value unsets an optional string (admin_token, upstream.api_key,
 * smtp.url; public_url then follows listen again). RP_EINVAL with a message ("'key' what", no
 * file:line) for an unknown key, a list or mapping key, or a bad value; c is then unchanged. */
int rp_config_set(struct rp_config *c, const char *key, const char *value, struct rp_error *err);

/* Checks the whole configuration for consistency (addresses parse, URL is http(s), ...):
 * listen and admin_listen are ADDR:PORT with a numeric address and not the same port, the URLs
 * have their scheme and a host, numbers are in range. RP_EINVAL with "'key' what" in err. */
int rp_config_validate(const struct rp_config *c, struct rp_error *err);

#endif
