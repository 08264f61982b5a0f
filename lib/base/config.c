/* rampart configuration: the embedded defaults, the YAML file of `rampart serve` (libyaml's
 * document API walked along one table of keys) and command-line overrides. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "rampart/config.h"

/* ---- the table of keys ------------------------------------------------------------------- */

enum kind {
    K_MAP,      /* a mapping of the keys in children */
    K_STR,      /* a string that must be there */
    K_OPT_STR,  /* a string that may be absent (NULL) */
    K_NUM,      /* a positive number (double) */
    K_UINT,     /* a whole number (unsigned) */
    K_SIZE,     /* bytes, with an optional binary suffix (size_t) */
    K_DURATION, /* seconds, or a duration such as "30s" (double) */
    K_CIDRS,    /* a list of CIDR ranges (trusted_proxies) */
    K_NUM0,     /* a number, 0 or more (double) */
    K_BOOL,     /* true or false (bool) */
    K_LIST,     /* a list of strings (struct rp_config_list) */
    K_MODE      /* enforce, monitor or off (enum rp_mode) */
};

struct key {
    const char *name;
    enum kind kind;
    size_t off; /* offset of the field in struct rp_config */
    /* Range of numbers, at most max and at least min; a K_NUM or K_DURATION with min 0 must be
     * more than 0. */
    double min, max;
    /* Extra check of a string's value; fills why without naming the key. */
    int (*check)(const char *value, struct rp_error *why);
    bool is_url; /* trailing '/' removed, so that paths can be appended */
    const struct key *children;
    /* The default, written as a file would write it and read the same way by rp_config_init;
     * NULL leaves the field zero (0, false, NULL, an empty list). */
    const char *def;
};

static void list_release(struct rp_config_list *l);
static int list_copy(struct rp_config_list *dst, const struct rp_config_list *src);

#define F(field) offsetof(struct rp_config, field)
/* One key: its name, kind and field, then what it has of .min, .max, .def, .check, .is_url and
 * .children. */
#define KEY(key_name, key_kind, key_off, ...)                                                      \
    {                                                                                              \
        .name = key_name, .kind = key_kind, .off = key_off, __VA_ARGS__                            \
    }
#define END                                                                                        \
    {                                                                                              \
        .name = NULL                                                                               \
    }

static int check_listen(const char *value, struct rp_error *why);
static int check_http_url(const char *value, struct rp_error *why);
static int check_smtp_url(const char *value, struct rp_error *why);
static int check_token(const char *value, struct rp_error *why);

static const struct key upstream_keys[] = {
    KEY("url", K_STR, F(upstream_url), .def = "http://127.0.0.1:8090", .check = check_http_url,
        .is_url = true),
    KEY("api_key", K_OPT_STR, F(upstream_api_key), .check = check_token),
    KEY("ca_file", K_OPT_STR, F(upstream_ca_file), .def = NULL),
    KEY("timeout", K_DURATION, F(upstream_timeout_seconds), .max = 3600, .def = "60s"),
    END,
};

static const struct key per_key_keys[] = {
    KEY("requests_per_minute", K_NUM, F(key_requests_per_minute), .max = 1e9, .def = "60"),
    KEY("tokens_per_minute", K_NUM, F(key_tokens_per_minute), .max = 1e12, .def = "100000"),
    KEY("concurrent_requests", K_UINT, F(key_concurrent_requests), .min = 1, .max = 10000,
        .def = "4"),
    END,
};

/* Unset (0), the first three follow the per-key values (rp_config_init leaves them 0). */
static const struct key per_account_keys[] = {
    KEY("requests_per_minute", K_NUM, F(account_requests_per_minute), .max = 1e9),
    KEY("tokens_per_minute", K_NUM, F(account_tokens_per_minute), .max = 1e12),
    KEY("concurrent_requests", K_UINT, F(account_concurrent_requests), .min = 1, .max = 10000),
    KEY("keys_per_hour", K_NUM, F(account_keys_per_hour), .max = 1e6, .def = "10"),
    KEY("max_keys", K_UINT, F(account_max_keys), .min = 1, .max = 100000, .def = "20"),
    END,
};

static const struct key per_network_keys[] = {
    KEY("signups_per_hour", K_NUM, F(network_signups_per_hour), .max = 1e6, .def = "5"),
    END,
};

static const struct key per_client_keys[] = {
    KEY("connections", K_UINT, F(client_connections), .max = 1000000, .def = "256"),
    END,
};

static const struct key limits_keys[] = {
    KEY("per_key", K_MAP, 0, .children = per_key_keys),
    KEY("per_account", K_MAP, 0, .children = per_account_keys),
    KEY("per_network", K_MAP, 0, .children = per_network_keys),
    KEY("per_client", K_MAP, 0, .children = per_client_keys),
    KEY("max_body_bytes", K_SIZE, F(max_body_bytes), .min = 1024, .max = 1073741824.0,
        .def = "1MiB"),
    KEY("header_timeout", K_DURATION, F(header_timeout_seconds), .min = 1, .max = 3600,
        .def = "15s"),
    END,
};

static const struct key smtp_keys[] = {
    KEY("url", K_OPT_STR, F(smtp_url), .check = check_smtp_url, .is_url = true),
    END,
};

static const struct key signup_keys[] = {
    KEY("verify_ttl", K_DURATION, F(verify_token_ttl_seconds), .min = 60, .max = 30 * 86400.0,
        .def = "24h"),
    KEY("disposable_domains", K_OPT_STR, F(signup_disposable_domains), .def = NULL),
    END,
};

/* The names of enum rp_mode's values, in its order. */
static const char *const mode_names[] = {"enforce", "monitor", "off", NULL};

/* One direction of the guard: input (0) or output (1), whose classifier weighs points apart. */
#define GUARD_DIR_KEYS(dir, points)                                                                \
    {                                                                                              \
        KEY("refuse_score", K_NUM, F(guard_refuse_score[dir]), .max = 1e6, .def = "5"),            \
            KEY("flag_score", K_NUM, F(guard_flag_score[dir]), .max = 1e6, .def = "2"),            \
            KEY("confident_score", K_NUM0, F(guard_confident_score[dir]), .max = 1e6, .def = "0"), \
            KEY("classifier_points", K_NUM0, F(guard_classifier_points[dir]), .max = 1e6,          \
                .def = points),                                                                    \
            KEY("model", K_OPT_STR, F(guard_model[dir]), .def = NULL), END,                        \
    }

static const struct key guard_input_keys[] = GUARD_DIR_KEYS(0, "5");
static const struct key guard_output_keys[] = GUARD_DIR_KEYS(1, "2");

static const struct key escalation_keys[] = {
    KEY("mode", K_MODE, F(escalation_mode), .def = "enforce"),
    KEY("soft_blocks_before_ban", K_UINT, F(escalation_soft_blocks), .min = 1, .max = 1000,
        .def = "5"),
    KEY("window", K_DURATION, F(escalation_window), .max = 30 * 86400.0, .def = "1h"),
    KEY("ban_time", K_DURATION, F(escalation_ban_time), .max = 365 * 86400.0, .def = "1h"),
    KEY("ban_time_factor", K_NUM, F(escalation_ban_factor), .min = 1, .max = 1000, .def = "4"),
    KEY("ban_time_max", K_DURATION, F(escalation_ban_max), .max = 3650 * 86400.0, .def = "30d"),
    KEY("borderline_weight", K_NUM0, F(escalation_borderline_weight), .max = 1, .def = "0.25"),
    KEY("retry_window", K_DURATION, F(escalation_retry_window), .min = 1, .max = 86400.0,
        .def = "10m"),
    KEY("retry_similarity", K_NUM, F(escalation_retry_similarity), .max = 1, .def = "0.5"),
    KEY("retries_forgiven", K_UINT, F(escalation_retries_forgiven), .max = 100, .def = "2"),
    END,
};

static const struct key behaviour_keys[] = {
    KEY("hammering", K_NUM, F(behaviour_hammering), .max = 1e6, .def = "100"),
    KEY("half_life", K_DURATION, F(behaviour_half_life), .min = 1, .max = 30 * 86400.0,
        .def = "10m"),
    KEY("network_window", K_DURATION, F(behaviour_network_window), .min = 1, .max = 30 * 86400.0,
        .def = "1h"),
    END,
};

static const struct key guard_keys[] = {
    KEY("mode", K_MODE, F(guard_mode), .def = "enforce"),
    KEY("default_rules", K_BOOL, F(guard_default_rules), .def = "true"),
    KEY("rules", K_LIST, F(guard_rules), .def = NULL),
    KEY("disable", K_LIST, F(guard_disable), .def = NULL),
    KEY("input", K_MAP, 0, .children = guard_input_keys),
    KEY("output", K_MAP, 0, .children = guard_output_keys),
    END,
};

static const struct key top_keys[] = {
    KEY("listen", K_STR, F(listen), .def = "127.0.0.1:8080", .check = check_listen),
    KEY("admin_listen", K_STR, F(admin_listen), .def = "127.0.0.1:8081", .check = check_listen),
    KEY("admin_token", K_OPT_STR, F(admin_token), .check = check_token),
    KEY("state_dir", K_STR, F(state_dir), .def = "./rampart-state"),
    KEY("public_url", K_OPT_STR, F(public_url), .check = check_http_url, .is_url = true),
    KEY("workers", K_UINT, F(workers), .max = 1024, .def = "0"),
    KEY("upstream", K_MAP, 0, .children = upstream_keys),
    KEY("trusted_proxies", K_CIDRS, 0, .def = NULL),
    KEY("limits", K_MAP, 0, .children = limits_keys),
    KEY("smtp", K_MAP, 0, .children = smtp_keys),
    KEY("signup", K_MAP, 0, .children = signup_keys),
    KEY("guard", K_MAP, 0, .children = guard_keys),
    KEY("escalation", K_MAP, 0, .children = escalation_keys),
    KEY("behaviour", K_MAP, 0, .children = behaviour_keys),
    END,
};

/* Every string field, for copying and freeing. */
static const size_t string_fields[] = {
    F(listen),           F(admin_listen),     F(admin_token),    F(state_dir),
    F(upstream_url),     F(upstream_api_key), F(smtp_url),       F(public_url),
    F(upstream_ca_file), F(guard_model[0]),   F(guard_model[1]), F(signup_disposable_domains),
};

#define NFIELDS (sizeof(string_fields) / sizeof(string_fields[0]))
#define MAX_KEYS_A_MAP 16
#define PATH_MAX_LEN 64

static char **str_field(struct rp_config *c, size_t off)
{
    return (char **)(void *)((char *)c + off);
}

static void *field(struct rp_config *c, size_t off)
{
    return (char *)c + off;
}

static const void *cfield(const struct rp_config *c, size_t off)
{
    return (const char *)c + off;
}

/* ---- values -------------------------------------------------------------------------------- */

/* Writes s (n bytes) for a message: at most 48 bytes, control bytes as '?'. */
static const char *show(const char *s, size_t n, char out[64])
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < 48; i++)
        out[k++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (n > 48) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

/* A decimal number: digits with an optional fraction and exponent; no sign, inf or nan. */
static int parse_number(const char *s, double *out)
{
    const char *p = s;
    size_t int_digits = strspn(p, "0123456789");
    p += int_digits;
    size_t frac_digits = 0;
    if (*p == '.') {
        p++;
        frac_digits = strspn(p, "0123456789");
        p += frac_digits;
    }
    if (int_digits + frac_digits == 0)
        return RP_EINVAL;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        size_t exp_digits = strspn(p, "0123456789");
        if (exp_digits == 0)
            return RP_EINVAL;
        p += exp_digits;
    }
    if (*p != '\0')
        return RP_EINVAL;
    char *end;
    double v = strtod(s, &end);
    if (end != p || !isfinite(v))
        return RP_EINVAL;
    *out = v;
    return RP_OK;
}

/* Digits only into *out, refusing overflow. Returns the number of digits read (0: none). */
static size_t parse_digits(const char *s, unsigned long long *out)
{
    unsigned long long v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (~0ULL - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return i;
}

/* Bytes: "1048576", "64k", "64 KiB", "1M", "1MiB", "1G"; every suffix is binary (k = 1024). */
static int parse_size(const char *s, unsigned long long *out)
{
    static const struct {
        const char *suffix;
        unsigned long long mult;
    } units[] = {
        {"", 1},
        {"B", 1},
        {"k", 1024},
        {"K", 1024},
        {"KiB", 1024},
        {"M", 1024 * 1024},
        {"MiB", 1024 * 1024},
        {"G", 1024 * 1024 * 1024},
        {"GiB", 1024ULL * 1024 * 1024},
    };
    unsigned long long v;
    size_t n = parse_digits(s, &v);
    if (n == 0)
        return RP_EINVAL;
    const char *suffix = s + n;
    if (*suffix == ' ' && suffix[1] != '\0')
        suffix++;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(suffix, units[i].suffix) == 0) {
            if (v > ~0ULL / units[i].mult)
                return RP_EINVAL;
            *out = v * units[i].mult;
            return RP_OK;
        }
    }
    return RP_EINVAL;
}

/* Seconds: a plain number ("30", "0.5") or number-unit pairs ("500ms", "30s", "5m", "24h",
 * "1d", "1h30m"). */
static int parse_duration(const char *s, double *out)
{
    if (parse_number(s, out) == RP_OK)
        return RP_OK;
    static const struct {
        const char *unit;
        double seconds;
    } units[] = {{"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
    double total = 0;
    const char *p = s;
    if (*p == '\0')
        return RP_EINVAL;
    while (*p) {
        size_t digits = strspn(p, "0123456789");
        size_t len = digits;
        if (p[len] == '.')
            len += 1 + strspn(p + len + 1, "0123456789");
        if (len == 0 || (digits == 0 && len == 1))
            return RP_EINVAL;
        char num[32];
        if (len >= sizeof(num))
            return RP_EINVAL;
        memcpy(num, p, len);
        num[len] = '\0';
        double v;
        if (parse_number(num, &v))
            return RP_EINVAL;
        p += len;
        size_t u = 0;
        for (; u < sizeof(units) / sizeof(units[0]); u++) {
            size_t ul = strlen(units[u].unit);
            if (strncmp(p, units[u].unit, ul) == 0) {
                p += ul;
                break;
            }
        }
        if (u == sizeof(units) / sizeof(units[0]))
            return RP_EINVAL;
        total += v * units[u].seconds;
    }
    if (!isfinite(total))
        return RP_EINVAL;
    *out = total;
    return RP_OK;
}

/* Visible ASCII only: no spaces, control bytes or non-ASCII. */
static bool is_printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* A listener: ADDR:PORT or [V6]:PORT with a numeric address. */
static int check_listen(const char *value, struct rp_error *why)
{
    char host[INET6_ADDRSTRLEN];
    unsigned port;
    struct sockaddr_storage ss;
    int result = rp_hostport_parse(value, host, sizeof(host), &port, why);
    if (result == RP_ETOOBIG || (result == RP_OK && rp_addr_parse(host, &ss) != RP_OK)) {
        char shown[64];
        rp_error_set(why, "'%s' is not ADDR:PORT with a numeric address (e.g. 127.0.0.1:8080)",
                     show(value, strlen(value), shown));
        return RP_EINVAL;
    }
    return result;
}

/* scheme://host[:port][rest] where host is a name or [IPv6] and rest starts with '/' (when
 * paths are allowed). No user info, query, fragment, spaces or control bytes. */
static int check_url(const char *value, const char *const *schemes, bool allow_path,
                     struct rp_error *why)
{
    char shown[64];
    show(value, strlen(value), shown);
    const char *rest = NULL;
    for (; *schemes; schemes++) {
        size_t n = strlen(*schemes);
        if (strncmp(value, *schemes, n) == 0) {
            rest = value + n;
            break;
        }
    }
    if (!rest) {
        rp_error_set(why, "'%s' must start with %s", shown,
                     allow_path ? "http:// or https://" : "smtp://");
        return RP_EINVAL;
    }
    if (!is_printable_ascii(value) || strpbrk(rest, "?#@\\")) {
        rp_error_set(why, "'%s' is not a plain URL (no spaces, user info, query or fragment)",
                     shown);
        return RP_EINVAL;
    }
    size_t auth_len = strcspn(rest, "/");
    if (!allow_path && rest[auth_len] == '/' && rest[auth_len + 1] != '\0') {
        rp_error_set(why, "'%s' must be smtp://HOST[:PORT] without a path", shown);
        return RP_EINVAL;
    }
    char auth[300];
    if (auth_len == 0) {
        rp_error_set(why, "'%s' has no host", shown);
        return RP_EINVAL;
    }
    if (auth_len >= sizeof(auth)) {
        rp_error_set(why, "'%s' has too long a host", shown);
        return RP_EINVAL;
    }
    memcpy(auth, rest, auth_len);
    auth[auth_len] = '\0';
    /* A port is optional in a URL; check the authority as host:port with a stand-in port. */
    const char *last_colon = strrchr(auth, ':');
    const char *close = strchr(auth, ']');
    bool has_port = last_colon && (!close || last_colon > close);
    char hp[310];
    snprintf(hp, sizeof(hp), "%s%s", auth, has_port ? "" : ":1");
    char host[256];
    unsigned port;
    struct rp_error inner;
    /* Port 0 means "any free port" only where rampart listens; a URL names a real one. */
    if (rp_hostport_parse(hp, host, sizeof(host), &port, &inner) || port == 0) {
        rp_error_set(why, "'%s' has a bad host or port (the port must be 1..65535)", shown);
        return RP_EINVAL;
    }
    return RP_OK;
}

static int check_http_url(const char *value, struct rp_error *why)
{
    static const char *const schemes[] = {"http://", "https://", NULL};
    return check_url(value, schemes, true, why);
}

static int check_smtp_url(const char *value, struct rp_error *why)
{
    static const char *const schemes[] = {"smtp://", NULL};
    return check_url(value, schemes, false, why);
}

/* Secrets go into HTTP headers: printable ASCII, no spaces, so they cannot split a header. */
static int check_token(const char *value, struct rp_error *why)
{
    if (!is_printable_ascii(value)) {
        rp_error_set(why, "the value must be printable ASCII without spaces");
        return RP_EINVAL;
    }
    return RP_OK;
}

/* Replaces string field *slot with a copy of value (len bytes); a URL loses trailing '/'. */
static int set_string(char **slot, const char *value, size_t len, bool is_url)
{
    if (is_url)
        while (len > 0 && value[len - 1] == '/')
            len--;
    char *copy = malloc(len + 1);
    if (!copy)
        return RP_ENOMEM;
    memcpy(copy, value, len);
    copy[len] = '\0';
    free(*slot);
    *slot = copy;
    return RP_OK;
}

static int range_error(const struct key *k, const char *path, const char *value,
                       struct rp_error *why)
{
    char shown[64];
    show(value, strlen(value), shown);
    switch (k->kind) {
    case K_SIZE:
        rp_error_set(why, "'%s' must be between %.0f (1 KiB) and %.0f (1 GiB) bytes, not %s", path,
                     k->min, k->max, shown);
        break;
    case K_UINT:
        rp_error_set(why, "'%s' must be a whole number %.0f..%.0f, not %s", path, k->min, k->max,
                     shown);
        break;
    case K_DURATION:
        if (k->min == 0)
            rp_error_set(why, "'%s' must be more than 0 and at most %.0f seconds, not %s", path,
                         k->max, shown);
        else
            rp_error_set(why, "'%s' must be between %.0f and %.0f seconds, not %s", path, k->min,
                         k->max, shown);
        break;
    case K_NUM0:
        rp_error_set(why, "'%s' must be from 0 to %.15g, not %s", path, k->max, shown);
        break;
    default:
        rp_error_set(why, "'%s' must be greater than %.15g and at most %.15g, not %s", path, k->min,
                     k->max, shown);
        break;
    }
    return RP_EINVAL;
}

static bool in_range(const struct key *k, double v)
{
    if (k->kind == K_NUM0)
        return v >= 0 && v <= k->max;
    return (k->min == 0 ? v > 0 : v >= k->min) && v <= k->max;
}

static const char *kind_what(enum kind kind)
{
    switch (kind) {
    case K_MAP: return "a mapping of keys";
    case K_STR:
    case K_OPT_STR: return "a string";
    case K_NUM: return "a number";
    case K_NUM0: return "a number, 0 or more";
    case K_BOOL: return "true or false";
    case K_LIST: return "a list of strings";
    case K_MODE: return "enforce, monitor or off";
    case K_UINT: return "a whole number";
    case K_SIZE: return "a size in bytes (e.g. 1048576, 64k, 1MiB)";
    case K_DURATION: return "a duration (seconds, or e.g. 30s, 5m, 24h)";
    case K_CIDRS: return "a list of CIDR ranges";
    }
    return "a value";
}

/* Applies one scalar value (value[len] == '\0') to key k of c. An empty value is absent: with
 * unset, an optional string becomes NULL (public_url: derived again); without it, it is left as
 * it was. Fills why with "'path' ..." on failure; c is unchanged then. */
static int apply_scalar(struct rp_config *c, const struct key *k, const char *path,
                        const char *value, size_t len, bool empty, bool unset, struct rp_error *why)
{
    char shown[64];
    if (strlen(value) != len) {
        rp_error_set(why, "'%s' must not contain a NUL byte", path);
        return RP_EINVAL;
    }
    if (empty) {
        if (k->kind == K_OPT_STR) {
            if (unset) {
                char **slot = str_field(c, k->off);
                free(*slot);
                *slot = NULL;
                if (k->off == F(public_url))
                    c->public_url_explicit = false;
            }
            return RP_OK;
        }
        rp_error_set(why, "'%s' needs a value (%s)", path, kind_what(k->kind));
        return RP_EINVAL;
    }
    switch (k->kind) {
    case K_STR:
    case K_OPT_STR: {
        struct rp_error inner;
        if (k->check && k->check(value, &inner)) {
            rp_error_set(why, "'%s': %s", path, inner.msg);
            return RP_EINVAL;
        }
        int result = set_string(str_field(c, k->off), value, len, k->is_url);
        if (result == RP_OK && k->off == F(public_url))
            c->public_url_explicit = true;
        return result;
    }
    case K_BOOL: {
        bool b = !strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on");
        if (!b && strcmp(value, "false") && strcmp(value, "no") && strcmp(value, "off")) {
            rp_error_set(why, "'%s' must be true or false, not '%s'", path,
                         show(value, len, shown));
            return RP_EINVAL;
        }
        *(bool *)field(c, k->off) = b;
        return RP_OK;
    }
    case K_MODE:
        for (int m = 0; mode_names[m]; m++) {
            if (!strcmp(value, mode_names[m])) {
                *(enum rp_mode *)field(c, k->off) = (enum rp_mode)m;
                return RP_OK;
            }
        }
        rp_error_set(why, "'%s' must be %s, not '%s'", path, kind_what(k->kind),
                     show(value, len, shown));
        return RP_EINVAL;
    case K_NUM:
    case K_NUM0:
    case K_DURATION: {
        double v;
        if ((k->kind != K_DURATION ? parse_number(value, &v) : parse_duration(value, &v))) {
            rp_error_set(why, "'%s' must be %s, not '%s'", path, kind_what(k->kind),
                         show(value, len, shown));
            return RP_EINVAL;
        }
        if (!in_range(k, v))
            return range_error(k, path, value, why);
        *(double *)field(c, k->off) = v;
        return RP_OK;
    }
    case K_UINT:
    case K_SIZE: {
        unsigned long long v;
        bool ok = k->kind == K_SIZE ? parse_size(value, &v) == RP_OK
                                    : (parse_digits(value, &v) == len && len > 0);
        if (!ok) {
            rp_error_set(why, "'%s' must be %s, not '%s'", path, kind_what(k->kind),
                         show(value, len, shown));
            return RP_EINVAL;
        }
        if ((double)v < k->min || (double)v > k->max)
            return range_error(k, path, value, why);
        if (k->kind == K_SIZE)
            *(size_t *)field(c, k->off) = (size_t)v;
        else
            *(unsigned *)field(c, k->off) = (unsigned)v;
        return RP_OK;
    }
    case K_MAP:
    case K_LIST:
    case K_CIDRS: break;
    }
    rp_error_set(why, "'%s' is not a single value", path);
    return RP_EINVAL;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

/* public_url, unless set, is where the listener is: "http://" + listen. */
static int derive_public_url(struct rp_config *c)
{
    if (c->public_url_explicit || !c->listen)
        return RP_OK;
    size_t n = strlen(c->listen) + sizeof("http://");
    char *url = malloc(n);
    if (!url)
        return RP_ENOMEM;
    snprintf(url, n, "http://%s", c->listen);
    free(c->public_url);
    c->public_url = url;
    return RP_OK;
}

void rp_config_release(struct rp_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NFIELDS; i++) {
        char **slot = str_field(c, string_fields[i]);
        free(*slot);
        *slot = NULL;
    }
    list_release(&c->guard_rules);
    list_release(&c->guard_disable);
}

/* Gives every key under keys (at path prefix) its default from the table. */
static int apply_defaults(struct rp_config *c, const struct key *keys, const char *prefix)
{
    for (const struct key *k = keys; k->name; k++) {
        char path[PATH_MAX_LEN];
        struct rp_error why;
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", k->name);
        int result = k->kind == K_MAP ? apply_defaults(c, k->children, path)
                     : k->def ? apply_scalar(c, k, path, k->def, strlen(k->def), false, false, &why)
                              : RP_OK;
        /* A default the table cannot read is a mistake of this file, which the tests catch. */
        if (result)
            return RP_NEVER(result != RP_ENOMEM) ? RP_EINVAL : result;
    }
    return RP_OK;
}

int rp_config_init(struct rp_config *c)
{
    memset(c, 0, sizeof(*c));
    int result = apply_defaults(c, top_keys, "");
    if (result)
        goto out;
    /* The environment is the way to give the token without writing it into a file; the file
     * and the command line, read later, take precedence. */
    const char *token = getenv("RAMPART_ADMIN_TOKEN");
    if (token && *token) {
        result = set_string(&c->admin_token, token, strlen(token), false);
        if (result)
            goto out;
    }
    result = derive_public_url(c);
out:
    if (result)
        rp_config_release(c);
    return result;
}

/* A deep copy, so that a file that fails half-way leaves the configuration as it was. */
static int config_copy(struct rp_config *dst, const struct rp_config *src)
{
    *dst = *src;
    for (size_t i = 0; i < NFIELDS; i++)
        *str_field(dst, string_fields[i]) = NULL;
    dst->guard_rules.n = dst->guard_disable.n = 0;
    if (list_copy(&dst->guard_rules, &src->guard_rules) ||
        list_copy(&dst->guard_disable, &src->guard_disable)) {
        rp_config_release(dst);
        return RP_ENOMEM;
    }
    for (size_t i = 0; i < NFIELDS; i++) {
        const char *s = *(char *const *)cfield(src, string_fields[i]);
        if (s && set_string(str_field(dst, string_fields[i]), s, strlen(s), false)) {
            rp_config_release(dst);
            return RP_ENOMEM;
        }
    }
    return RP_OK;
}

/* ---- the YAML file ------------------------------------------------------------------------- */

struct loader {
    struct rp_config *c;
    yaml_document_t *doc;
    const char *name;
    struct rp_error *err;
};

static unsigned node_line(const yaml_node_t *node)
{
    return (unsigned)node->start_mark.line + 1;
}

/* A plain scalar that YAML reads as null: nothing, "~" or "null". */
static bool is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)node->data.scalar.value;
    return strcmp(v, "") == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static const char *node_what(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a single value";
    }
}

static int fail(struct loader *ld, unsigned line, const char *msg)
{
    rp_error_set(ld->err, "%s:%u: %s", ld->name, line, msg);
    return RP_EINVAL;
}

static int load_map(struct loader *ld, const yaml_node_t *map, const struct key *keys,
                    const char *prefix, unsigned key_line);

static int load_cidrs(struct loader *ld, const yaml_node_t *seq, const char *path,
                      unsigned key_line)
{
    struct rp_error why;
    if (is_null(seq)) {
        ld->c->n_trusted_proxies = 0;
        return RP_OK;
    }
    if (seq->type != YAML_SEQUENCE_NODE) {
        rp_error_set(&why, "'%s' must be a list of CIDR ranges (e.g. [10.0.0.0/8]), not %s", path,
                     node_what(seq));
        return fail(ld, node_line(seq), why.msg);
    }
    size_t n = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
        if (!item)
            continue;
        unsigned line = node_line(item);
        if (n == RP_CONFIG_MAX_TRUSTED) {
            rp_error_set(&why, "'%s' has too many entries (at most %d)", path,
                         RP_CONFIG_MAX_TRUSTED);
            return fail(ld, line, why.msg);
        }
        const char *v = item->type == YAML_SCALAR_NODE ? (const char *)item->data.scalar.value : "";
        if (item->type != YAML_SCALAR_NODE || strlen(v) != item->data.scalar.length) {
            rp_error_set(&why, "'%s' entries must be CIDR ranges, not %s", path,
                         item->type == YAML_SCALAR_NODE ? "text with a NUL byte" : node_what(item));
            return fail(ld, line, why.msg);
        }
        struct rp_error inner;
        if (rp_cidr_parse(v, &ld->c->trusted_proxies[n], &inner)) {
            rp_error_set(&why, "'%s': %s", path, inner.msg);
            return fail(ld, line, why.msg);
        }
        n++;
    }
    (void)key_line;
    ld->c->n_trusted_proxies = n;
    return RP_OK;
}

static void list_release(struct rp_config_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

static int list_copy(struct rp_config_list *dst, const struct rp_config_list *src)
{
    dst->n = 0;
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i] = strdup(src->v[i]);
        if (!dst->v[i]) {
            list_release(dst);
            return RP_ENOMEM;
        }
        dst->n++;
    }
    return RP_OK;
}

/* A list of strings; a file replaces the whole list. Relative paths stay as written. */
static int load_list(struct loader *ld, const yaml_node_t *seq, const struct key *k,
                     const char *path)
{
    struct rp_error why;
    struct rp_config_list *l = field(ld->c, k->off);
    if (is_null(seq)) {
        list_release(l);
        return RP_OK;
    }
    if (seq->type != YAML_SEQUENCE_NODE) {
        rp_error_set(&why, "'%s' must be a list (e.g. [a, b]), not %s", path, node_what(seq));
        return fail(ld, node_line(seq), why.msg);
    }
    list_release(l);
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
        if (!item)
            continue;
        const char *v = item->type == YAML_SCALAR_NODE ? (const char *)item->data.scalar.value : "";
        if (item->type != YAML_SCALAR_NODE || strlen(v) != item->data.scalar.length || !*v) {
            rp_error_set(&why, "'%s' entries must be non-empty strings", path);
            return fail(ld, node_line(item), why.msg);
        }
        if (l->n == RP_CONFIG_MAX_LIST) {
            rp_error_set(&why, "'%s' has too many entries (at most %d)", path, RP_CONFIG_MAX_LIST);
            return fail(ld, node_line(item), why.msg);
        }
        l->v[l->n] = strdup(v);
        if (!l->v[l->n])
            return RP_ENOMEM;
        l->n++;
    }
    return RP_OK;
}

static int load_value(struct loader *ld, const struct key *k, const char *path,
                      const yaml_node_t *value, unsigned key_line)
{
    struct rp_error why;
    /* An empty value sits wherever the next token is; the key's line is the useful one. */
    unsigned line = is_null(value) ? key_line : node_line(value);
    if (k->kind == K_MAP)
        return load_map(ld, value, k->children, path, key_line);
    if (k->kind == K_CIDRS)
        return load_cidrs(ld, value, path, key_line);
    if (k->kind == K_LIST)
        return load_list(ld, value, k, path);
    if (value->type != YAML_SCALAR_NODE) {
        rp_error_set(&why, "'%s' must be %s, not %s", path, kind_what(k->kind), node_what(value));
        return fail(ld, line, why.msg);
    }
    int result = apply_scalar(ld->c, k, path, (const char *)value->data.scalar.value,
                              value->data.scalar.length,
                              is_null(value) || value->data.scalar.length == 0, false, &why);
    if (result == RP_ENOMEM) {
        rp_error_set(ld->err, "%s:%u: out of memory", ld->name, line);
        return result;
    }
    if (result)
        return fail(ld, line, why.msg);
    return RP_OK;
}

static int load_map(struct loader *ld, const yaml_node_t *map, const struct key *keys,
                    const char *prefix, unsigned key_line)
{
    struct rp_error why;
    if (is_null(map))
        return RP_OK;
    if (map->type != YAML_MAPPING_NODE) {
        if (*prefix)
            rp_error_set(&why, "'%s' must be a mapping of keys, not %s", prefix, node_what(map));
        else
            rp_error_set(&why, "the file must be a mapping of keys, not %s", node_what(map));
        return fail(ld, map->type == YAML_SCALAR_NODE ? key_line : node_line(map), why.msg);
    }
    unsigned seen[MAX_KEYS_A_MAP] = {0};
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *kn = yaml_document_get_node(ld->doc, pair->key);
        yaml_node_t *vn = yaml_document_get_node(ld->doc, pair->value);
        if (!kn || !vn)
            continue;
        unsigned line = node_line(kn);
        if (kn->type != YAML_SCALAR_NODE)
            return fail(ld, line, "keys must be plain names, not a mapping or list");
        const char *name = (const char *)kn->data.scalar.value;
        size_t name_len = kn->data.scalar.length;
        const struct key *k = keys;
        for (; k->name; k++)
            if (strlen(k->name) == name_len && memcmp(k->name, name, name_len) == 0)
                break;
        char path[PATH_MAX_LEN];
        char shown[64];
        if (!k->name) {
            struct rp_buf known;
            rp_buf_init(&known, 200);
            for (const struct key *o = keys; o->name; o++)
                rp_buf_addf(&known, "%s%s", o == keys ? "" : ", ", o->name);
            rp_error_set(&why, "unknown key '%s%s%s' (known: %s)", prefix, *prefix ? "." : "",
                         show(name, name_len, shown), known.ptr ? known.ptr : "");
            rp_buf_release(&known);
            return fail(ld, line, why.msg);
        }
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", k->name);
        size_t idx = (size_t)(k - keys);
        if (idx < MAX_KEYS_A_MAP) {
            if (seen[idx]) {
                rp_error_set(&why, "duplicate key '%s' (first on line %u)", path, seen[idx]);
                return fail(ld, line, why.msg);
            }
            seen[idx] = line;
        }
        int result = load_value(ld, k, path, vn, line);
        if (result)
            return result;
    }
    return RP_OK;
}

/* Reports a libyaml error as "name:line: problem", the line taken from the mark (1-based). */
static int yaml_fail(struct loader *ld, const yaml_parser_t *p, const char *text, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR) {
        rp_error_set(ld->err, "%s: out of memory", ld->name);
        return RP_ENOMEM;
    }
    size_t line;
    if (p->error == YAML_READER_ERROR) {
        /* Encoding errors carry a byte offset, not a mark. */
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += text[i] == '\n';
    } else {
        line = p->problem_mark.line + 1;
    }
    const char *problem = p->problem ? p->problem : "syntax error";
    if (p->context && p->context_mark.line != p->problem_mark.line)
        rp_error_set(ld->err, "%s:%zu: %s %s (started on line %zu)", ld->name, line, problem,
                     p->context, (size_t)p->context_mark.line + 1);
    else if (p->context)
        rp_error_set(ld->err, "%s:%zu: %s %s", ld->name, line, problem, p->context);
    else
        rp_error_set(ld->err, "%s:%zu: %s", ld->name, line, problem);
    return RP_EINVAL;
}

int rp_config_load_text(struct rp_config *c, const char *name, const char *text, size_t len,
                        struct rp_error *err)
{
    int result;
    struct rp_config next;
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_parser = false, have_doc = false;
    struct loader ld = {&next, &doc, name ? name : "<config>", err};

    if (len > RP_CONFIG_MAX_FILE) {
        rp_error_set(err, "%s: file too large (at most %u bytes)", ld.name, RP_CONFIG_MAX_FILE);
        return RP_ETOOBIG;
    }
    result = config_copy(&next, c);
    if (result) {
        rp_error_set(err, "%s: out of memory", ld.name);
        return result;
    }
    if (!yaml_parser_initialize(&parser)) {
        rp_error_set(err, "%s: out of memory", ld.name);
        result = RP_ENOMEM;
        goto out;
    }
    have_parser = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        result = yaml_fail(&ld, &parser, text, len);
        goto out;
    }
    have_doc = true;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        result = load_map(&ld, root, top_keys, "", node_line(root));
        if (result)
            goto out;
    }
    yaml_document_delete(&doc);
    have_doc = false;
    /* A second document would be silently ignored by most readers: refuse it. */
    if (!yaml_parser_load(&parser, &doc)) {
        result = yaml_fail(&ld, &parser, text, len);
        goto out;
    }
    have_doc = true;
    root = yaml_document_get_root_node(&doc);
    if (root) {
        result = fail(&ld, node_line(root), "only one YAML document is allowed");
        goto out;
    }
    result = derive_public_url(&next);
    if (result) {
        rp_error_set(err, "%s: out of memory", ld.name);
        goto out;
    }
    rp_config_release(c);
    *c = next;
    memset(&next, 0, sizeof(next));
out:
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    rp_config_release(&next);
    return result;
}

int rp_config_load_file(struct rp_config *c, const char *path, struct rp_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int result = rp_file_read(path, RP_CONFIG_MAX_FILE, &text, &len, err);
    if (result)
        return result;
    result = rp_config_load_text(c, path, text, len, err);
    free(text);
    return result;
}

/* ---- overrides and validation -------------------------------------------------------------- */

/* The key at a dotted path ("limits.per_key.requests_per_minute"), or NULL. */
static const struct key *find_key(const char *path)
{
    const struct key *keys = top_keys;
    const char *p = path;
    for (;;) {
        size_t n = strcspn(p, ".");
        const struct key *k = keys;
        for (; k->name; k++)
            if (strlen(k->name) == n && strncmp(k->name, p, n) == 0)
                break;
        if (!k->name)
            return NULL;
        if (p[n] == '\0')
            return k;
        if (k->kind != K_MAP)
            return NULL;
        keys = k->children;
        p += n + 1;
    }
}

int rp_config_set(struct rp_config *c, const char *key, const char *value, struct rp_error *err)
{
    char shown[64];
    const struct key *k = key ? find_key(key) : NULL;
    if (!k) {
        rp_error_set(err, "unknown key '%s'", key ? show(key, strlen(key), shown) : "");
        return RP_EINVAL;
    }
    if (k->kind == K_MAP || k->kind == K_CIDRS || k->kind == K_LIST) {
        rp_error_set(err, "'%s' cannot be set on the command line; use the file", key);
        return RP_EINVAL;
    }
    if (!value)
        value = "";
    size_t len = strlen(value);
    int result = apply_scalar(c, k, key, value, len, len == 0, true, err);
    if (result == RP_ENOMEM)
        rp_error_set(err, "out of memory");
    /* listen moved, or public_url unset: public_url follows listen again. */
    if (result == RP_OK)
        result = derive_public_url(c);
    return result;
}

/* The limits of limits.per_account that, left unset (0), take the per-key value: a file cannot
 * write 0 (out of range when read), so 0 here only means unset. */
static bool follows_per_key(const struct key *k)
{
    return k->off == F(account_requests_per_minute) || k->off == F(account_tokens_per_minute) ||
           k->off == F(account_concurrent_requests);
}

/* Checks one key's current value the way apply_scalar checks a new one. */
static int validate_key(const struct rp_config *c, const struct key *k, const char *path,
                        struct rp_error *err)
{
    char text[64];
    switch (k->kind) {
    case K_STR:
    case K_OPT_STR: {
        const char *s = *(char *const *)cfield(c, k->off);
        if (!s || !*s) {
            if (k->kind == K_OPT_STR)
                return RP_OK;
            rp_error_set(err, "'%s' needs a value", path);
            return RP_EINVAL;
        }
        struct rp_error inner;
        /* A public_url derived from listen is checked through listen (port 0 included). */
        if (k->off == F(public_url) && !c->public_url_explicit)
            return RP_OK;
        if (k->check && k->check(s, &inner)) {
            rp_error_set(err, "'%s': %s", path, inner.msg);
            return RP_EINVAL;
        }
        return RP_OK;
    }
    case K_BOOL:
    case K_LIST: return RP_OK;
    case K_MODE: {
        enum rp_mode m = *(const enum rp_mode *)cfield(c, k->off);
        if (m == RP_MODE_ENFORCE || m == RP_MODE_MONITOR || m == RP_MODE_OFF)
            return RP_OK;
        rp_error_set(err, "'%s' must be %s", path, kind_what(k->kind));
        return RP_EINVAL;
    }
    case K_NUM:
    case K_NUM0:
    case K_DURATION: {
        double v = *(const double *)cfield(c, k->off);
        snprintf(text, sizeof(text), "%g", v);
        if (v == 0 && follows_per_key(k))
            return RP_OK;
        if (!in_range(k, v))
            return range_error(k, path, text, err);
        return RP_OK;
    }
    case K_UINT: {
        unsigned v = *(const unsigned *)cfield(c, k->off);
        snprintf(text, sizeof(text), "%u", v);
        if (v == 0 && follows_per_key(k))
            return RP_OK;
        if (v < k->min || v > k->max)
            return range_error(k, path, text, err);
        return RP_OK;
    }
    case K_SIZE: {
        size_t v = *(const size_t *)cfield(c, k->off);
        snprintf(text, sizeof(text), "%zu", v);
        if ((double)v < k->min || (double)v > k->max)
            return range_error(k, path, text, err);
        return RP_OK;
    }
    case K_CIDRS:
        if (c->n_trusted_proxies > RP_CONFIG_MAX_TRUSTED) {
            rp_error_set(err, "'%s' has too many entries (at most %d)", path,
                         RP_CONFIG_MAX_TRUSTED);
            return RP_EINVAL;
        }
        return RP_OK;
    case K_MAP: {
        for (const struct key *child = k->children; child->name; child++) {
            char sub[PATH_MAX_LEN];
            snprintf(sub, sizeof(sub), "%s.%s", path, child->name);
            int result = validate_key(c, child, sub, err);
            if (result)
                return result;
        }
        return RP_OK;
    }
    }
    return RP_OK;
}

static bool is_wildcard(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

int rp_config_validate(const struct rp_config *c, struct rp_error *err)
{
    for (const struct key *k = top_keys; k->name; k++) {
        int result = validate_key(c, k, k->name, err);
        if (result)
            return result;
    }
    /* Both listeners on one port would fail at bind time with a less helpful message. */
    char h1[INET6_ADDRSTRLEN], h2[INET6_ADDRSTRLEN];
    unsigned p1, p2;
    if (rp_hostport_parse(c->listen, h1, sizeof(h1), &p1, NULL) == RP_OK &&
        rp_hostport_parse(c->admin_listen, h2, sizeof(h2), &p2, NULL) == RP_OK && p1 == p2 &&
        p1 != 0 && (strcmp(h1, h2) == 0 || is_wildcard(h1) || is_wildcard(h2))) {
        rp_error_set(err, "'admin_listen' (%s) must not use the port of 'listen' (%s)",
                     c->admin_listen, c->listen);
        return RP_EINVAL;
    }
    return RP_OK;
}
