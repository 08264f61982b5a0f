/* Sign-up with a verified e-mail, and API keys: POST /v1/signup, GET /v1/verify, POST /v1/keys,
 * DELETE /v1/keys/{id}. Secrets are shown once and stored only as SHA-256. */
#include <errno.h>
#include <event2/keyvalq_struct.h>
#include <event2/http.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "rampart/net.h"

#define EMAIL_MAX 254

/* base64url without padding of n random bytes into out (4n/3+1 bytes). */
static int random_token(char *out, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[48];
    if (n > sizeof(raw) || RAND_bytes(raw, (int)n) != 1)
        return RP_EIO;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 6) {
            out[o++] = alphabet[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits)
        out[o++] = alphabet[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return RP_OK;
}

/* Writes one RFC 5322 message into <state_dir>/outbox/, atomically (temporary file, fsync,
 * rename), so a crash never leaves half a message. */
static int write_mail(struct gw *gw, const char *to, const char *subject, const char *body)
{
    char dir[1024], tmp[1200], final[1200];
    snprintf(dir, sizeof(dir), "%s/outbox", gw->cfg->state_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return RP_EIO;
    char id[40];
    if (random_token(id, 18))
        return RP_EIO;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[64];
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, id);
    snprintf(final, sizeof(final), "%s/%lld-%s.eml", dir, (long long)now, id);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return RP_EIO;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return RP_EIO;
    }
    fprintf(f,
            "Date: %s\r\nFrom: rampart <no-reply@rampart.invalid>\r\nTo: <%s>\r\n"
            "Subject: %s\r\nMessage-ID: <%s@rampart.invalid>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
            date, to, subject, id);
    for (const char *p = body; *p; p++) {
        if (*p == '\n')
            fputc('\r', f);
        fputc(*p, f);
    }
    bool ok = fflush(f) == 0 && fsync(fd) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, final) != 0) {
        unlink(tmp);
        return RP_EIO;
    }
    return RP_OK;
}

/* Makes a verification token for email (creating its pending account, or reusing it) and, when
 * send is set, the mail with its link. */
static int verification(struct gw *gw, const char *email, bool send, int64_t *account_id)
{
    char token[64];
    uint8_t th[RP_HASH_LEN];
    int64_t now = (int64_t)gw_now();
    int rc = random_token(token, 32);
    if (!rc) {
        SHA256((const unsigned char *)token, strlen(token), th);
        rc = rp_store_signup(gw->store, email, th, now,
                             now + (int64_t)gw->cfg->verify_token_ttl_seconds, account_id);
    }
    if (rc || !send)
        return rc;
    char link[2048], text[4096];
    snprintf(link, sizeof(link), "%s/v1/verify?token=%s", gw->cfg->public_url, token);
    snprintf(text, sizeof(text),
             "Someone (we hope you) asked for an account with this address.\n\n"
             "To confirm it and receive your API key, open:\n\n  %s\n\n"
             "The link works once and expires in %.0f hours. If you did not ask, ignore this "
             "message.\n",
             link, gw->cfg->verify_token_ttl_seconds / 3600);
    rc = write_mail(gw, email, "Confirm your rampart account", text);
    if (!rc)
        gw_mail_kick(&gw->mail);
    return rc;
}

/* ---- recent sign-ups, for look-alike addresses ------------------------------------------ */

#define RECENT_MAX 4096
#define RECENT_SECONDS 86400

struct gw_recent {
    pthread_mutex_t mu;
    struct {
        char key[80];
        uint64_t address; /* hash of the exact address */
        int64_t time;
    } v[RECENT_MAX];
    size_t next;
};

int gw_recent_new(struct gw_recent **out)
{
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return RP_ENOMEM;
    pthread_mutex_init(&(*out)->mu, NULL);
    return RP_OK;
}

void gw_recent_free(struct gw_recent *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r);
}

bool gw_recent_lookalike(struct gw_recent *r, const char *key, const char *email, int64_t now)
{
    if (!r || strlen(key) >= sizeof(r->v[0].key))
        return false;
    uint64_t h = rp_hash64(email, strlen(email), 0x7265636e74ull);
    bool found = false, seen = false;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < RECENT_MAX; i++) {
        if (!r->v[i].time || now - r->v[i].time > RECENT_SECONDS || strcmp(r->v[i].key, key))
            continue;
        if (r->v[i].address == h)
            seen = true;
        else
            found = true;
    }
    if (!seen) {
        size_t i = r->next++ % RECENT_MAX;
        snprintf(r->v[i].key, sizeof(r->v[i].key), "%s", key);
        r->v[i].address = h;
        r->v[i].time = now;
    }
    pthread_mutex_unlock(&r->mu);
    return found;
}

/* Screening: an address at a disposable e-mail domain (signup.disposable_domains, matched on
 * the domain and on its registrable domain) is refused with 403 signup_rejected. Returns true
 * when it has replied. */
static bool disposable(struct gw *gw, struct gw_req *req, const char *email)
{
    if (!gw->disposable)
        return false;
    const char *domain = strrchr(email, '@');
    if (!domain)
        return false;
    domain++;
    char *reg = NULL;
    struct rp_error err;
    if (gw->urls)
        rp_url_registrable_domain(gw->urls, rp_str_from_cstr(domain), &reg, &err);
    const char *hit = rp_domain_set_has(gw->disposable, domain)       ? domain
                      : reg && rp_domain_set_has(gw->disposable, reg) ? reg
                                                                      : NULL;
    if (hit) {
        struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000)};
        snprintf(ev.kind, sizeof(ev.kind), "signup_rejected");
        snprintf(ev.detail, sizeof(ev.detail),
                 "{\"code\":\"disposable-domain\",\"domain\":\"%.200s\"}", hit);
        rp_store_event(gw->store, &ev);
        atomic_fetch_add(&gw->m.signups_rejected, 1);
        gw_error(gw, req, 403, "invalid_request_error", "signup_rejected",
                 "addresses at %s, a disposable e-mail service, cannot sign up; use an address "
                 "you keep",
                 hit);
    }
    free(reg);
    return hit != NULL;
}

/* Screening: an address whose normalised form (rp_email_key: dots, +tags and trailing digits
 * aside) is that of a banned account is refused with 403 signup_rejected. The banned address
 * itself is not: it gets the answer every existing address gets. Returns true when it has
 * replied. */
static bool linked_to_banned(struct gw *gw, struct gw_req *req, const char *email, const char *ekey)
{
    int64_t banned = 0;
    struct rp_account same;
    if (rp_store_banned_by_email_key(gw->store, ekey, &banned) != RP_OK ||
        (rp_store_account_by_email(gw->store, email, &same) == RP_OK && same.id == banned))
        return false;
    struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000)};
    snprintf(ev.kind, sizeof(ev.kind), "signup_rejected");
    snprintf(ev.detail, sizeof(ev.detail),
             "{\"code\":\"linked-to-banned\",\"banned_account\":%lld}", (long long)banned);
    rp_store_event(gw->store, &ev);
    atomic_fetch_add(&gw->m.signups_rejected, 1);
    gw_error(gw, req, 403, "invalid_request_error", "signup_rejected",
             "this address is too close to that of an account banned on this service");
    return true;
}

void gw_signup(struct gw_worker *w, struct gw_req *req)
{
    struct gw *gw = w->gw;
    if (gw_req_method(req) != GW_POST) {
        gw_error(gw, req, 405, "invalid_request_error", "method_not_allowed",
                 "/v1/signup takes POST");
        return;
    }
    json_t *body = gw_body_json(gw, req);
    if (!body)
        return;
    json_t *je = json_object_get(body, "email");
    if (!json_is_string(je)) {
        json_decref(body);
        gw_error(gw, req, 400, "invalid_request_error", "invalid_email",
                 "send {\"email\": \"you@example.com\"}");
        return;
    }
    char email[EMAIL_MAX + 1];
    size_t len = json_string_length(je);
    const char *problem = rp_email_problem((struct rp_str){json_string_value(je), len});
    if (problem) {
        json_decref(body);
        gw_error(gw, req, 400, "invalid_request_error", "invalid_email", "%s", problem);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        char c = json_string_value(je)[i];
        email[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    email[len] = '\0';
    json_decref(body);
    if (disposable(gw, req, email))
        return;
    char ekey[EMAIL_MAX + 64];
    bool have_key = rp_email_key(email, gw->urls, ekey, sizeof(ekey)) == RP_OK;
    if (have_key && linked_to_banned(gw, req, email, ekey))
        return;

    struct sockaddr_storage ss;
    gw_client_addr(gw, req, &ss);
    char net[64] = "unknown";
    rp_net_key((struct sockaddr *)&ss, net, sizeof(net));
    double retry;
    if (!rp_limiter_take(gw->signup_limit, rp_str_from_cstr(net), &gw->signup_rate, gw_now(), 1,
                         &retry)) {
        char ra[32];
        snprintf(ra, sizeof(ra), "%.0f", ceil(retry));
        gw_req_set_header(req, "Retry-After", ra);
        gw_error(gw, req, 429, "rate_limit_error", "too_many_signups",
                 "too many sign-ups from your network (%s); retry in %s s", net, ra);
        return;
    }
    /* An address that already has an account gets the same answer, so the endpoint does not
     * tell who has an account; no new link is made for it. */
    struct rp_account existing = {0};
    if (rp_store_account_by_email(gw->store, email, &existing) == 0 &&
        existing.status != RP_ACCOUNT_PENDING) {
        gw_json(gw, req, 202, json_pack("{s:s}", "status", "pending_verification"));
        return;
    }
    /* A held sign-up stays held however often it is repeated: no mail until an operator says. */
    if (existing.id && existing.hold_reason[0]) {
        gw_json(gw, req, 202, json_pack("{s:s}", "status", "held_for_review"));
        return;
    }
    /* A look-alike of a recent sign-up (one person making accounts) is held for review: the
     * account is made, its mail waits for an operator (POST /admin/holds/{id}/approve). */
    bool lookalike = have_key && gw_recent_lookalike(gw->recent, ekey, email, (int64_t)gw_now());
    /* A sign-up from the network of a banned account is held too: the network may be shared
     * (an office, a carrier), so a person decides. */
    int64_t banned = 0;
    bool banned_net = strcmp(net, "unknown") != 0 &&
                      rp_store_banned_by_signup_net(gw->store, net, &banned) == RP_OK;
    bool held = lookalike || banned_net;
    const char *code = lookalike ? "lookalike-address" : "banned-network";
    int64_t account_id = 0;
    int rc = verification(gw, email, !held, &account_id);
    if (!rc)
        rc = rp_store_set_screening(gw->store, account_id, have_key ? ekey : NULL, net);
    if (!rc && held)
        rc = rp_store_hold(gw->store, account_id,
                           lookalike ? "lookalike-address: the address is a variant of another "
                                       "sign-up of the last 24 hours"
                                     : "banned-network: a banned account signed up from this "
                                       "network");
    if (rc) {
        gw_error(gw, req, 503, "server_error", "signup_unavailable",
                 "sign-up failed on the server side; try again later");
        return;
    }
    atomic_fetch_add(&gw->m.signups, 1);
    struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000), .account_id = account_id};
    snprintf(ev.kind, sizeof(ev.kind), "%s", held ? "signup_held" : "signup");
    snprintf(ev.detail, sizeof(ev.detail), "{\"network\":\"%s\"%s%s%s}", net,
             held ? ",\"code\":\"" : "", held ? code : "", held ? "\"" : "");
    rp_store_event(gw->store, &ev);
    gw_json(gw, req, 202,
            json_pack("{s:s}", "status", held ? "held_for_review" : "pending_verification"));
}

int gw_hold_decide(struct gw *gw, int64_t id, bool approve)
{
    struct rp_account a;
    int rc = rp_store_account_get(gw->store, id, &a);
    if (!rc && !a.hold_reason[0])
        rc = RP_ENOTFOUND;
    if (!rc)
        rc = approve ? verification(gw, a.email, true, &id)
                     : rp_store_ban(gw->store, id, "sign-up rejected by an operator",
                                    (int64_t)gw_now());
    if (!rc)
        rc = rp_store_hold_release(gw->store, id);
    if (!rc && !approve)
        atomic_fetch_add(&gw->key_generation, 1);
    return rc;
}

/* Makes a key for account_id and replies with it (shown this once). */
static void issue_key(struct gw *gw, struct gw_req *req, int64_t account_id, int status)
{
    char secret[64], key[80], prefix[16];
    uint8_t kh[RP_HASH_LEN];
    int64_t key_id = 0;
    int rc = random_token(secret, 32);
    if (!rc) {
        snprintf(key, sizeof(key), "rp-%s", secret);
        snprintf(prefix, sizeof(prefix), "rp-%.6s", secret);
        SHA256((const unsigned char *)key, strlen(key), kh);
        rc = rp_store_key_create(gw->store, account_id, kh, prefix, (int64_t)gw_now(), &key_id);
    }
    if (rc) {
        gw_error(gw, req, 503, "server_error", "store_unavailable",
                 "the key could not be stored; try again");
        return;
    }
    struct rp_event ev = {
        .time_ms = (int64_t)(gw_now() * 1000), .account_id = account_id, .key_id = key_id};
    snprintf(ev.kind, sizeof(ev.kind), "key_created");
    gw_watch(gw, account_id, GW_SIGNAL_KEY_CREATED, NULL);
    rp_store_event(gw->store, &ev);
    gw_json(gw, req, status,
            json_pack("{s:I, s:I, s:s, s:s, s:s}", "account_id", (json_int_t)account_id, "key_id",
                      (json_int_t)key_id, "api_key", key, "prefix", prefix, "note",
                      "store this key now: it is shown only once"));
}

void gw_verify(struct gw_worker *w, struct gw_req *req)
{
    struct gw *gw = w->gw;
    struct evkeyvalq q;
    const char *uri = gw_req_uri(req);
    const char *qs = strchr(uri, '?');
    if (gw_req_method(req) != GW_GET) {
        gw_error(gw, req, 405, "invalid_request_error", "method_not_allowed",
                 "/v1/verify takes GET");
        return;
    }
    if (!qs || evhttp_parse_query_str(qs + 1, &q) != 0) {
        gw_error(gw, req, 400, "invalid_request_error", "invalid_token",
                 "the link has no token; open the link of the e-mail as it is");
        return;
    }
    const char *token = evhttp_find_header(&q, "token");
    uint8_t th[RP_HASH_LEN];
    int64_t account_id = 0;
    int rc = RP_ENOTFOUND;
    if (token && *token) {
        SHA256((const unsigned char *)token, strlen(token), th);
        rc = rp_store_verify(gw->store, th, (int64_t)gw_now(), &account_id);
    }
    evhttp_clear_headers(&q);
    if (rc == RP_ENOTFOUND) {
        gw_error(gw, req, 400, "invalid_request_error", "invalid_token",
                 "this link is not valid: it was used already, it expired, or it is mistyped");
        return;
    }
    if (rc) {
        gw_error(gw, req, 503, "server_error", "store_unavailable", "try the link again later");
        return;
    }
    atomic_fetch_add(&gw->m.verifications, 1);
    struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000), .account_id = account_id};
    snprintf(ev.kind, sizeof(ev.kind), "verify");
    rp_store_event(gw->store, &ev);
    issue_key(gw, req, account_id, 200);
}

void gw_keys(struct gw_worker *w, struct gw_req *req, const char *path)
{
    struct gw *gw = w->gw;
    struct rp_key_info key;
    enum gw_method m = gw_req_method(req);
    if (strcmp(path, "/v1/keys") == 0 && m == GW_POST) {
        if (gw_authenticate(gw, req, &key))
            issue_key(gw, req, key.account_id, 201);
        return;
    }
    if (strncmp(path, "/v1/keys/", 9) == 0 && m == GW_DELETE) {
        if (!gw_authenticate(gw, req, &key))
            return;
        char *end;
        long long id = strtoll(path + 9, &end, 10);
        if (*end || id <= 0) {
            gw_error(gw, req, 400, "invalid_request_error", "invalid_key_id",
                     "'%s' is not a key id", path + 9);
            return;
        }
        int rc = rp_store_key_revoke(gw->store, key.account_id, id, (int64_t)gw_now());
        atomic_fetch_add(&gw->key_generation, 1);
        if (rc == RP_ENOTFOUND) {
            gw_error(gw, req, 404, "invalid_request_error", "key_not_found",
                     "your account has no key %lld", id);
            return;
        }
        if (rc) {
            gw_error(gw, req, 503, "server_error", "store_unavailable", "try again later");
            return;
        }
        gw_json(gw, req, 200, json_pack("{s:I, s:b}", "key_id", (json_int_t)id, "revoked", 1));
        return;
    }
    gw_error(gw, req, 405, "invalid_request_error", "method_not_allowed",
             "use POST /v1/keys or DELETE /v1/keys/{id}");
}
