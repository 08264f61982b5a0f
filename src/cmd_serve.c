/* `rampart serve`: the controlled-hosting gateway in front of an OpenAI-compatible model API. */
#include <event2/http.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "commands.h"
#include "server/gateway.h"
#include "server/server.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rampart serve [--config FILE] [--listen ADDR:PORT] [--admin-listen ADDR:PORT]\n"
            "                     [--state-dir DIR] [--upstream URL] [--workers N]\n"
            "       rampart serve --check [--config FILE] [overrides]\n"
            "\n"
            "Runs the gateway: sign-up with a verified e-mail, API keys, rate limits, and\n"
            "every request proxied to the model at --upstream (OpenAI-compatible). The admin\n"
            "API, /metrics and /healthz are on --admin-listen. Flags override the file; the\n"
            "keys are documented in docs/configuration.md.\n"
            "\n"
            "  --config FILE           YAML configuration (default: embedded defaults)\n"
            "  --listen ADDR:PORT      public API address (default 127.0.0.1:8080)\n"
            "  --admin-listen ADDR:PORT  admin API address (default 127.0.0.1:8081)\n"
            "  --state-dir DIR         database and outbox (default ./rampart-state)\n"
            "  --upstream URL          the model's base URL (default http://127.0.0.1:8090)\n"
            "  --workers N             I/O threads (default: one a CPU)\n"
            "  --check                 validate the configuration and exit\n"
            "  -h, --help              this text\n"
            "\n"
            "Environment:\n"
            "  RAMPART_ADMIN_TOKEN     the admin API's bearer token when the file sets no\n"
            "                          admin_token; without either the admin API is off\n"
            "  RAMPART_CACHE_DIR       where compiled guard rule packs are kept (default\n"
            "                          $XDG_CACHE_HOME/rampart, else $HOME/.cache/rampart;\n"
            "                          'off' compiles at every start)\n"
            "  SSL_CERT_FILE, SSL_CERT_DIR  OpenSSL's trust store for an https upstream,\n"
            "                          when upstream.ca_file is not set\n"
            "\n"
            "Signals: SIGTERM and SIGINT stop the gateway cleanly; SIGHUP is logged and\n"
            "ignored (no reload yet).\n"
            "\n"
            "Exit status: 0 after a clean stop (SIGINT, SIGTERM) or a good --check; 2 on a bad\n"
            "configuration or when the server cannot start (e.g. its address is already in\n"
            "use by another rampart serve).\n");
}

/* The guard rule pack's first compilation takes seconds: said before, timed after. */
struct compile_note {
    bool compiled;
    struct timespec start;
};

static void on_compile(void *arg)
{
    struct compile_note *n = arg;
    char dir[512];
    n->compiled = true;
    clock_gettime(CLOCK_MONOTONIC, &n->start);
    if (rp_cache_dir(dir, sizeof(dir)))
        fprintf(stderr,
                "rampart serve: compiling the guard rule pack (first start; cached afterwards in "
                "%s)...\n",
                dir);
    else
        fprintf(stderr, "rampart serve: compiling the guard rule pack (no cache directory: "
                        "RAMPART_CACHE_DIR; every start compiles)...\n");
}

/* Splits upstream.url into host, port and path prefix. Only plain http for now. */
static int parse_upstream(struct gw *gw, const char *url, struct rp_error *err)
{
    struct evhttp_uri *u = evhttp_uri_parse(url);
    int result = RP_OK;
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    if (!u || !scheme || !host || !*host) {
        rp_error_set(err, "upstream.url '%s' is not a URL like http://127.0.0.1:8000", url);
        result = RP_EINVAL;
        goto out;
    }
    gw->up_tls = strcmp(scheme, "https") == 0;
    if (!gw->up_tls && strcmp(scheme, "http") != 0) {
        rp_error_set(err, "upstream.url '%s' must start with http:// or https://", url);
        result = RP_EINVAL;
        goto out;
    }
    snprintf(gw->up_host, sizeof(gw->up_host), "%s", host);
    int port = evhttp_uri_get_port(u);
    gw->up_port = port > 0 ? (unsigned)port : gw->up_tls ? 443 : 80;
    const char *path = evhttp_uri_get_path(u);
    snprintf(gw->up_prefix, sizeof(gw->up_prefix), "%s", path ? path : "");
    size_t n = strlen(gw->up_prefix);
    while (n && gw->up_prefix[n - 1] == '/')
        gw->up_prefix[--n] = '\0';
    /* "http://host/v1" and "http://host" both mean the API root: requests carry "/v1/...". */
    if (n >= 3 && strcmp(gw->up_prefix + n - 3, "/v1") == 0)
        gw->up_prefix[n - 3] = '\0';
out:
    if (u)
        evhttp_uri_free(u);
    return result;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"admin-listen", required_argument, NULL, 'a'},
        {"state-dir", required_argument, NULL, 's'},
        {"upstream", required_argument, NULL, 'u'},
        {"workers", required_argument, NULL, 'w'},
        {"check", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_file = NULL;
    const char *over[5][2] = {{"listen", NULL},
                              {"admin_listen", NULL},
                              {"state_dir", NULL},
                              {"upstream.url", NULL},
                              {"workers", NULL}};
    bool check = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_file = optarg; break;
        case 'l': over[0][1] = optarg; break;
        case 'a': over[1][1] = optarg; break;
        case 's': over[2][1] = optarg; break;
        case 'u': over[3][1] = optarg; break;
        case 'w': over[4][1] = optarg; break;
        case 'k': check = true; break;
        case 'h': usage(stdout); return CMD_EXIT_OK;
        default: usage(stderr); return CMD_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rampart serve: unexpected argument '%s'\n", argv[optind]);
        return CMD_EXIT_USAGE;
    }
    /* Before any thread starts, so that every thread inherits it: a SIGHUP during the start
     * waits for gw_run, which logs it. */
    gw_block_signals(false);
    struct rp_config cfg;
    struct rp_error err = {{0}};
    struct gw gw;
    struct gw_claim claim = {{-1, -1}};
    memset(&gw, 0, sizeof(gw));
    int result = rp_config_init(&cfg);
    if (!result && config_file)
        result = rp_config_load_file(&cfg, config_file, &err);
    for (size_t i = 0; i < 5 && !result; i++)
        if (over[i][1])
            result = rp_config_set(&cfg, over[i][0], over[i][1], &err);
    if (!result)
        result = rp_config_validate(&cfg, &err);
    if (!result)
        result = parse_upstream(&gw, cfg.upstream_url, &err);
    /* A second gateway on an address in use fails now, not after compiling the rules. */
    if (!result && !check)
        result = gw_claim(&cfg, &claim, &err);
    if (result) {
        fprintf(stderr, "rampart serve: %s\n", err.msg[0] ? err.msg : rp_strerror(result));
        rp_config_release(&cfg);
        return CMD_EXIT_USAGE;
    }
    if (cfg.guard_mode != RP_MODE_OFF) {
        struct rp_guard_options go;
        struct compile_note note = {0};
        rp_guard_options_from_config(&cfg, &go);
        go.on_compile = on_compile;
        go.on_compile_arg = &note;
        result = rp_guard_new(&go, &gw.guard, &err);
        if (result) {
            fprintf(stderr, "rampart serve: %s\n", err.msg[0] ? err.msg : rp_strerror(result));
            gw_claim_release(&claim);
            rp_config_release(&cfg);
            return CMD_EXIT_USAGE;
        }
        if (note.compiled && !check) {
            struct timespec end;
            clock_gettime(CLOCK_MONOTONIC, &end);
            fprintf(stderr, "rampart serve: guard rule pack compiled in %.1f s\n",
                    (double)(end.tv_sec - note.start.tv_sec) +
                        (double)(end.tv_nsec - note.start.tv_nsec) / 1e9);
        }
    }
    /* The Public Suffix List, for registrable domains in sign-up screening. */
    struct rp_url_inspector_options uo = {0};
    result = rp_url_inspector_new(&uo, &gw.urls, &err);
    if (!result && cfg.signup_disposable_domains) {
        char *text = NULL;
        size_t len = 0;
        result = rp_file_read(cfg.signup_disposable_domains, 64u << 20, &text, &len, &err);
        if (!result)
            result = rp_domain_set_load(cfg.signup_disposable_domains, (struct rp_str){text, len},
                                        &gw.disposable, &err);
        free(text);
    }
    if (result) {
        fprintf(stderr, "rampart serve: %s%s\n", gw.urls ? "signup.disposable_domains: " : "",
                err.msg[0] ? err.msg : rp_strerror(result));
        rp_url_inspector_free(gw.urls);
        rp_guard_free(gw.guard);
        rp_domain_set_free(gw.disposable);
        gw_claim_release(&claim);
        rp_config_release(&cfg);
        return CMD_EXIT_USAGE;
    }
    if (check) {
        printf("%s: ok\n", config_file ? config_file : "(embedded defaults)");
        rp_domain_set_free(gw.disposable);
        rp_url_inspector_free(gw.urls);
        rp_guard_free(gw.guard);
        gw_claim_release(&claim);
        rp_config_release(&cfg);
        return CMD_EXIT_OK;
    }
    gw.cfg = &cfg;
    gw.req_rate = (struct rp_rate){cfg.key_requests_per_minute, 60, cfg.key_requests_per_minute};
    gw.tok_rate = (struct rp_rate){cfg.key_tokens_per_minute, 60, cfg.key_tokens_per_minute};
    struct rp_ladder ladder = {.monitor = cfg.escalation_mode == RP_MODE_MONITOR,
                               .soft_blocks = cfg.escalation_soft_blocks,
                               .window = cfg.escalation_window,
                               .ban_time = cfg.escalation_ban_time,
                               .ban_factor = cfg.escalation_ban_factor,
                               .ban_max = cfg.escalation_ban_max};
    struct rp_refusal_rules refusal_rules = {.borderline_weight = cfg.escalation_borderline_weight,
                                             .retry_window = cfg.escalation_retry_window,
                                             .retry_similarity = cfg.escalation_retry_similarity,
                                             .retries_forgiven = cfg.escalation_retries_forgiven};
    struct rp_watch_rules watch_rules = {.hammering = cfg.behaviour_hammering,
                                         .half_life = cfg.behaviour_half_life,
                                         .network_window = cfg.behaviour_network_window};
    gw.signup_rate =
        (struct rp_rate){cfg.network_signups_per_hour, 3600, cfg.network_signups_per_hour};
    if (cfg.upstream_api_key && asprintf(&gw.up_auth, "Bearer %s", cfg.upstream_api_key) < 0)
        gw.up_auth = NULL;
    /* The headers of every upstream request, made once. */
    char *head_get = NULL, *head_post = NULL;
    if (asprintf(&head_get, "Accept: application/json, text/event-stream\r\n%s%s%s",
                 gw.up_auth ? "Authorization: " : "", gw.up_auth ? gw.up_auth : "",
                 gw.up_auth ? "\r\n" : "") < 0)
        head_get = NULL;
    if (!head_get || asprintf(&head_post, "Content-Type: application/json\r\n%s", head_get) < 0)
        head_post = NULL;
    if (!head_post) {
        fprintf(stderr, "rampart serve: out of memory\n");
        free(head_get);
        free(gw.up_auth);
        rp_guard_free(gw.guard);
        rp_domain_set_free(gw.disposable);
        rp_url_inspector_free(gw.urls);
        gw_claim_release(&claim);
        rp_config_release(&cfg);
        return CMD_EXIT_USAGE;
    }
    gw.up_head_get = rp_str_from_cstr(head_get);
    gw.up_head_post = rp_str_from_cstr(head_post);
    if (gw.up_tls) {
        /* Verify the upstream's certificate: the system's trust store or upstream.ca_file. */
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        gw.ssl_ctx = ctx;
        if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
            !(cfg.upstream_ca_file ? SSL_CTX_load_verify_locations(ctx, cfg.upstream_ca_file, NULL)
                                   : SSL_CTX_set_default_verify_paths(ctx))) {
            fprintf(stderr, "rampart serve: cannot load the CA certificates%s%s\n",
                    cfg.upstream_ca_file ? " of " : "",
                    cfg.upstream_ca_file ? cfg.upstream_ca_file : "");
            SSL_CTX_free(ctx);
            free(head_get);
            free(head_post);
            rp_guard_free(gw.guard);
            rp_domain_set_free(gw.disposable);
            rp_url_inspector_free(gw.urls);
            gw_claim_release(&claim);
            rp_config_release(&cfg);
            return CMD_EXIT_USAGE;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    /* From here a stop must be the clean one (the store's last batch, its WAL checkpoint). */
    gw_block_signals(true);
    result = rp_store_open(cfg.state_dir, &gw.store, &err);
    if (!result &&
        (rp_limiter_new(1u << 20, &gw.req_limit) || rp_limiter_new(1u << 20, &gw.tok_limit) ||
         rp_limiter_new(1u << 18, &gw.signup_limit) || rp_inflight_new(1u << 20, &gw.inflight) ||
         gw_keycache_new(&gw.keys) || rp_watch_new(&watch_rules, &gw.watch) ||
         rp_refusals_new(&refusal_rules, &gw.refusals) ||
         (cfg.escalation_mode != RP_MODE_OFF && rp_escalation_new(&ladder, 1u << 20, &gw.esc)))) {
        rp_error_set(&err, "out of memory");
        result = RP_ENOMEM;
    }
    if (!result && gw_escalate_restore(&gw)) {
        rp_error_set(&err, "cannot read the soft-blocks of the state database");
        result = RP_EIO;
    }
    if (!result && cfg.smtp_url)
        result = gw_mail_start(&gw.mail, cfg.state_dir, cfg.smtp_url, &err);
    if (!result && gw_health_start(&gw, &gw.health)) {
        rp_error_set(&err, "cannot start the health threads");
        result = RP_ENOMEM;
    }
    if (!result)
        result = gw_run(&gw, &err);
    gw_health_stop(gw.health);
    gw_mail_stop(&gw.mail);
    if (result)
        fprintf(stderr, "rampart serve: %s\n", err.msg[0] ? err.msg : rp_strerror(result));
    rp_store_close(gw.store);
    rp_guard_free(gw.guard);
    rp_domain_set_free(gw.disposable);
    rp_url_inspector_free(gw.urls);
    rp_limiter_free(gw.req_limit);
    rp_limiter_free(gw.tok_limit);
    rp_limiter_free(gw.signup_limit);
    rp_escalation_free(gw.esc);
    rp_watch_free(gw.watch);
    rp_refusals_free(gw.refusals);
    rp_inflight_free(gw.inflight);
    gw_keycache_free(gw.keys);
    SSL_CTX_free(gw.ssl_ctx);
    free(gw.up_auth);
    free(head_get);
    free(head_post);
    gw_claim_release(&claim);
    rp_config_release(&cfg);
    return result ? CMD_EXIT_USAGE : CMD_EXIT_OK;
}
