/* Sign-up with a verified e-mail, and API keys: POST /v1/signup, GET and POST /v1/verify, GET
 * and POST /v1/keys, DELETE /v1/keys/{id}. Secrets are shown once and stored only as SHA-256.
 * Each handler reads the request, gathers its facts, makes one store call for what it decides
 * (the store writes each fact with its audit event in one transaction) and replies in one
 * place, so that the store calls can move off the I/O threads without touching the replies. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "route.h"
#include "rampart/net.h"

#define EMAIL_MAX 254

/* How often a repeated sign-up of one address gets a fresh link: at most one a minute and
 * RESEND_PER_DAY a day (RP_STORE_RESEND_PERIOD), the first sign-up's included. A sign-up past
 * that gets the same answer and no mail, so the endpoint cannot be made to flood a mailbox. */
#define RESEND_GAP 60
#define RESEND_PER_DAY 5

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

/* A new verification token: its text for the link and its hash for the store. */
struct link_token {
    char text[64];
    uint8_t hash[RP_HASH_LEN];
};

static int link_token_new(struct link_token *t)
{
    int rc = random_token(t->text, 32);
    if (!rc)
        SHA256((const unsigned char *)t->text, strlen(t->text), t->hash);
    return rc;
}

/* Writes the mail with the link of token t to email. again: the address has an account that was
 * verified, and the link makes one more key. */
static int mail_link(struct gw *gw, const char *email, const struct link_token *t, bool again)
{
    char link[2048], text[4096];
    snprintf(link, sizeof(link), "%s/v1/verify?token=%s", gw->cfg->public_url, t->text);
    snprintf(text, sizeof(text),
             "%s\n\nOpen this link and press the button on its page to %s:\n\n  %s\n\n"
             "The link works once and expires in %.0f hours; opening it changes nothing until "
             "you press the button. If you did not ask, ignore this message.\n",
             again ? "Someone (we hope you) asked for a new API key for the account of this "
                     "address."
                   : "Someone (we hope you) asked for an account with this address.",
             again ? "receive a new API key (your other keys keep working)"
                   : "confirm it and receive your API key",
             link, gw->cfg->verify_token_ttl_seconds / 3600);
    int rc = write_mail(gw, email,
                        again ? "Your new rampart API key" : "Confirm your rampart account", text);
    if (!rc)
        gw_mail_kick(&gw->mail);
    return rc;
}

/* An event of kind about account_id (0: none) at this moment, with the detail begun in d (which
 * it ends), or none for d NULL. */
static struct rp_event event_of(const char *kind, int64_t account_id, struct gw_detail *d)
{
    struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000), .account_id = account_id};
    snprintf(ev.kind, sizeof(ev.kind), "%s", kind);
    if (d)
        gw_detail_end(d, &ev);
    return ev;
}

/* A new API key: the secret shown once, its display prefix, and its hash for the store. */
struct new_key {
    char secret[80];
    char prefix[16];
    uint8_t hash[RP_HASH_LEN];
};

static int new_key_make(struct new_key *k)
{
    char raw[64];
    int rc = random_token(raw, 32);
    if (rc)
        return rc;
    snprintf(k->secret, sizeof(k->secret), "rp-%s", raw);
    snprintf(k->prefix, sizeof(k->prefix), "rp-%.6s", raw);
    SHA256((const unsigned char *)k->secret, strlen(k->secret), k->hash);
    return RP_OK;
}

/* A repeated sign-up of an address that has an account. A pending or active account gets a fresh
 * link (for an active one it makes one more key: the person who lost theirs), within RESEND_GAP
 * and RESEND_PER_DAY; a banned one gets nothing; a held one stays held. *status is the answer,
 * which does not say which of these happened. */
static int signup_again(struct gw *gw, const struct rp_account *a, const char *net,
                        const char **status)
{
    *status = a->hold_reason[0] ? "held_for_review" : "pending_verification";
    if (a->hold_reason[0])
        return RP_OK;
    struct link_token t;
    struct gw_detail d;
    gw_detail_begin(&d);
    rp_jsonw_kstr(&d.w, "network", net);
    struct rp_event ev = event_of("signup_resend", a->id, &d);
    int64_t now = (int64_t)gw_now();
    bool sent = false;
    int rc = link_token_new(&t);
    if (!rc)
        rc = rp_store_resend(gw->store, a->id, t.hash, now,
                             now + (int64_t)gw->cfg->verify_token_ttl_seconds, RESEND_GAP,
                             RESEND_PER_DAY, &ev, &sent);
    if (!rc && sent)
        rc = mail_link(gw, a->email, &t, a->verified > 0);
    return rc;
}

/* What the store knows of the accounts a first sign-up of email (normalised: ekey, or NULL)
 * from net links to, for screening (rp_screen_links). A lookup that fails links nobody. */
static void signup_links(struct gw *gw, const char *email, const char *ekey, const char *net,
                         struct rp_signup_links *l)
{
    int64_t now = (int64_t)gw_now(), id = 0;
    memset(l, 0, sizeof(*l));
    if (ekey && rp_store_banned_by_email_key(gw->store, ekey, now, &id) == RP_OK)
        l->banned_address = id;
    if (ekey && rp_store_lookalike_verified(gw->store, ekey, email, now - RP_LOOKALIKE_SECONDS,
                                            &id) == RP_OK)
        l->recent_address = id;
    if (strcmp(net, "unknown") != 0 &&
        rp_store_banned_by_signup_net(gw->store, net, now, &id) == RP_OK)
        l->banned_network = id;
}

/* A first sign-up of email: a pending account with its link, or held for review. */
static int signup_first(struct gw *gw, const char *email, const char *net, const char **status)
{
    char ekey[EMAIL_MAX + 64], hold[200];
    bool have_key = rp_email_key(email, gw->urls, ekey, sizeof(ekey)) == RP_OK;
    struct rp_signup_links links;
    struct rp_screening s;
    signup_links(gw, email, have_key ? ekey : NULL, net, &links);
    rp_screen_links(&links, &s);
    bool held = s.v.action == RP_ACTION_HOLD;
    struct gw_detail d;
    gw_detail_begin(&d);
    rp_jsonw_kstr(&d.w, "network", net);
    if (held) {
        /* "lookalike-address: the address is a variant of ...", as the store keeps it. */
        snprintf(hold, sizeof(hold), "%s: %.180s", s.v.code, s.v.sentence);
        rp_jsonw_kstr(&d.w, "code", s.v.code);
        rp_jsonw_kint(&d.w, "linked", (long long)s.linked);
    }
    struct rp_event ev = event_of(held ? "signup_held" : "signup", 0, &d);
    struct link_token t;
    int64_t now = (int64_t)gw_now(), account_id = 0;
    bool created = false;
    int rc = held ? RP_OK : link_token_new(&t);
    struct rp_signup in = {.email = email,
                           .email_key = have_key ? ekey : NULL,
                           .net = net,
                           .hold = held ? hold : NULL,
                           .token_hash = held ? NULL : t.hash,
                           .now = now,
                           .expires = now + (int64_t)gw->cfg->verify_token_ttl_seconds,
                           .ev = &ev};
    if (!rc)
        rc = rp_store_signup(gw->store, &in, &account_id, &created);
    /* Not created: another sign-up of the address made its account a moment ago, and sent its
     * mail. */
    if (!rc && created && !held)
        rc = mail_link(gw, email, &t, false);
    if (!rc && created)
        atomic_fetch_add(&gw->m.signups, 1);
    *status = held && created ? "held_for_review" : "pending_verification";
    return rc;
}

/* A sign-up's store work (the account, its link, its mail), off the loop. */
struct signup_job {
    struct gw_req_job base; /* first */
    char email[EMAIL_MAX + 1];
    char net[64];
    const char *status;
    int rc;
};

static void signup_work(struct gw_req_job *j)
{
    struct signup_job *sj = (struct signup_job *)j;
    struct rp_account existing;
    sj->status = "pending_verification";
    /* An address that has an account gets the answer of a first sign-up, so that the endpoint
     * does not tell who has one. */
    sj->rc = rp_store_account_by_email(j->gw->store, sj->email, &existing);
    if (sj->rc == RP_OK)
        sj->rc = signup_again(j->gw, &existing, sj->net, &sj->status);
    else if (sj->rc == RP_ENOTFOUND)
        sj->rc = signup_first(j->gw, sj->email, sj->net, &sj->status);
}

static void signup_reply(struct gw_req_job *j)
{
    struct signup_job *sj = (struct signup_job *)j;
    if (sj->rc) {
        gw_error(j->gw, j->req, 503, "server_error", "signup_unavailable",
                 "sign-up failed on the server side; try again later");
        return;
    }
    gw_json(j->gw, j->req, 202, json_pack("{s:s}", "status", sj->status));
}

static void signup_late(struct gw_req_job *j)
{
    gw_error(j->gw, j->req, 503, "server_error", "signup_unavailable",
             "the sign-up did not finish within %d s (the gateway's store is slow) and may "
             "still: if no mail comes, sign up again later (a repeated sign-up sends a fresh "
             "link)",
             GW_WRITE_DEADLINE_MS / 1000);
}

void gw_signup(struct gw_worker *w, struct gw_req *req)
{
    struct gw *gw = w->gw;
    if (gw_req_method(req) != GW_POST) {
        gw_error(gw, req, 405, "invalid_request_error", "method_not_allowed",
                 "/v1/signup takes POST");
        return;
    }
    struct gw_refusal no;
    json_t *body = gw_body_object(req, &no);
    if (!body) {
        gw_refuse(gw, req, &no);
        return;
    }
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
    struct rp_screening s;
    rp_screen_address(gw->disposable, gw->urls, email, &s);
    if (s.v.action == RP_ACTION_REFUSE) {
        struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000)};
        snprintf(ev.kind, sizeof(ev.kind), "signup_rejected");
        struct gw_detail d;
        gw_detail_begin(&d);
        rp_jsonw_kstr(&d.w, "code", s.v.code);
        rp_jsonw_key(&d.w, "domain");
        rp_jsonw_strn(&d.w, s.domain, strnlen(s.domain, 200));
        gw_detail_end(&d, &ev);
        rp_store_event(gw->store, &ev);
        atomic_fetch_add(&gw->m.signups_rejected, 1);
        gw_error(gw, req, 403, "invalid_request_error", "signup_rejected", "%s", s.v.sentence);
        return;
    }

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
    struct signup_job *sj = calloc(1, sizeof(*sj));
    if (!sj) {
        gw_error(gw, req, 503, "server_error", "overloaded", "the gateway is out of memory");
        return;
    }
    memcpy(sj->email, email, len + 1);
    snprintf(sj->net, sizeof(sj->net), "%s", net);
    sj->base.work = signup_work;
    sj->base.reply = signup_reply;
    sj->base.late = signup_late;
    gw_req_offload(w, req, &sj->base, GW_WRITE_DEADLINE_MS);
}

int gw_hold_decide(struct gw *gw, int64_t id, bool approve)
{
    struct rp_account a;
    struct link_token t;
    struct gw_detail d;
    gw_detail_begin(&d);
    rp_jsonw_kstr(&d.w, "by", "admin");
    struct rp_event ev = event_of(approve ? "hold_approved" : "hold_rejected", id, &d);
    int64_t now = (int64_t)gw_now();
    int rc = rp_store_account_get(gw->store, id, &a);
    if (!rc && !a.hold_reason[0])
        rc = RP_ENOTFOUND;
    if (!rc && approve) {
        rc = link_token_new(&t);
        if (!rc)
            rc = rp_store_hold_approve(gw->store, id, t.hash, now,
                                       now + (int64_t)gw->cfg->verify_token_ttl_seconds, &ev);
        if (!rc)
            rc = mail_link(gw, a.email, &t, false);
    } else if (!rc) {
        rc = rp_store_hold_reject(gw->store, id, "sign-up rejected by an operator", now, &ev);
        if (!rc)
            atomic_fetch_add(&gw->key_generation, 1);
    }
    return rc;
}

/* ---- the pages of the verification link ---------------------------------------------- */

/* Appends s to b with HTML's special characters escaped. */
static void html_text(struct evbuffer *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': evbuffer_add(b, "&amp;", 5); break;
        case '<': evbuffer_add(b, "&lt;", 4); break;
        case '>': evbuffer_add(b, "&gt;", 4); break;
        case '"': evbuffer_add(b, "&quot;", 6); break;
        case '\'': evbuffer_add(b, "&#39;", 5); break;
        default: evbuffer_add(b, s, 1);
        }
    }
}

/* Starts a page: the headers that keep it out of frames, caches and referrers (it may hold a
 * token or a key) and lets it load nothing, and its head. */
static struct evbuffer *page_start(struct gw_req *req, const char *title)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return NULL;
    gw_req_set_header(req, "Content-Security-Policy",
                      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                      "frame-ancestors 'none'; base-uri 'none'");
    gw_req_set_header(req, "X-Frame-Options", "DENY");
    gw_req_set_header(req, "Referrer-Policy", "no-referrer");
    gw_req_set_header(req, "Cache-Control", "no-store");
    gw_req_set_header(req, "X-Content-Type-Options", "nosniff");
    evbuffer_add_printf(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                           "<meta name=\"viewport\" content=\"width=device-width, "
                           "initial-scale=1\"><meta name=\"robots\" content=\"noindex\">"
                           "<title>");
    html_text(b, title);
    evbuffer_add_printf(b, " - rampart</title><style>body{font:16px/1.5 system-ui,sans-serif;"
                           "max-width:40em;margin:3em auto;padding:0 1em;color:#222}"
                           "button{font-size:1.1em;padding:.5em 1.2em}"
                           "code{background:#f3f3f3;padding:.1em .3em;word-break:break-all}"
                           "</style></head><body><main><h1>");
    html_text(b, title);
    evbuffer_add_printf(b, "</h1>\n");
    return b;
}

static void page_end(struct gw *gw, struct gw_req *req, int status, struct evbuffer *b)
{
    evbuffer_add_printf(b, "</main></body></html>\n");
    gw_count_status(gw, status);
    gw_reply_buffer(req, status, "text/html; charset=utf-8", b);
    evbuffer_free(b);
}

/* A page that says what went wrong (message, a sentence) and what to do. */
static void page_error(struct gw *gw, struct gw_req *req, int status, const char *title,
                       const char *message)
{
    struct evbuffer *b = page_start(req, title);
    if (!b) {
        gw_error(gw, req, 503, "server_error", "overloaded", "the gateway is out of memory");
        return;
    }
    evbuffer_add_printf(b, "<p>");
    html_text(b, message);
    evbuffer_add_printf(b, "</p>\n");
    page_end(gw, req, status, b);
}

/* GET /v1/verify?token=...: a page with a button that posts the token. Opening the link
 * changes nothing and shows no key, so a mail scanner or a link preview that fetches it takes
 * nothing from the person it was sent to. */
static void verify_page(struct gw *gw, struct gw_req *req)
{
    char token[RP_TOKEN_MAX + 1];
    size_t n = 0;
    const char *q = gw_req_query(req);
    if (!q || rp_form_field(rp_str_from_cstr(q), "token", token, sizeof(token), &n) != RP_OK ||
        !rp_token_valid((struct rp_str){token, n})) {
        page_error(gw, req, 400, "This link is incomplete",
                   "The link has no valid token. Open the link of the mail as it is (all of "
                   "it, on one line), or sign up again with the same address for a fresh one.");
        return;
    }
    struct evbuffer *b = page_start(req, "Confirm your rampart account");
    if (!b) {
        gw_error(gw, req, 503, "server_error", "overloaded", "the gateway is out of memory");
        return;
    }
    evbuffer_add_printf(b, "<p>Press the button to confirm this e-mail address and see your API "
                           "key. Opening the link alone changes nothing.</p>\n"
                           "<form method=\"post\" action=\"verify\">"
                           "<input type=\"hidden\" name=\"token\" value=\"");
    html_text(b, token);
    evbuffer_add_printf(b, "\"><button type=\"submit\">Confirm and show my API key</button>"
                           "</form>\n<p>From a program: <code>POST /v1/verify</code> with "
                           "<code>{\"token\": \"");
    html_text(b, token);
    evbuffer_add_printf(b, "\"}</code>.</p>\n");
    page_end(gw, req, 200, b);
}

/* The answer with a new key, as JSON or as a page (html). */
static void reply_key(struct gw *gw, struct gw_req *req, bool html, int status, int64_t account_id,
                      int64_t key_id, const struct new_key *k, bool again)
{
    const char *note = again ? "a new key for your account, shown only once: store it now; your "
                               "other keys keep working (GET /v1/keys lists them, DELETE "
                               "/v1/keys/{id} revokes one you lost)"
                             : "store this key now: it is shown only once";
    if (!html) {
        gw_req_set_header(req, "Cache-Control", "no-store");
        gw_json(gw, req, status,
                json_pack("{s:I, s:I, s:s, s:s, s:s}", "account_id", (json_int_t)account_id,
                          "key_id", (json_int_t)key_id, "api_key", k->secret, "prefix", k->prefix,
                          "note", note));
        return;
    }
    struct evbuffer *b = page_start(req, again ? "Your new API key" : "Your API key");
    if (!b) {
        gw_error(gw, req, 503, "server_error", "overloaded", "the gateway is out of memory");
        return;
    }
    evbuffer_add_printf(b, "<p>%s</p>\n<p><code id=\"api-key\">",
                        again ? "Your address is confirmed again. Here is a new key for your "
                                "account; your other keys keep working."
                              : "Your address is confirmed and your account is active.");
    html_text(b, k->secret);
    evbuffer_add_printf(b,
                        "</code></p>\n<p><strong>Copy it now: it is shown only this once</strong> "
                        "(rampart keeps only its SHA-256). Send it as <code>Authorization: "
                        "Bearer ");
    html_text(b, k->prefix);
    evbuffer_add_printf(b, "...</code> to the OpenAI-compatible API at <code>");
    html_text(b, gw->cfg->public_url);
    evbuffer_add_printf(b, "/v1</code>.%s</p>\n",
                        again ? " <code>GET /v1/keys</code> lists your keys and <code>DELETE "
                                "/v1/keys/{id}</code> revokes one you lost."
                              : "");
    page_end(gw, req, status, b);
}

/* A refusal of POST /v1/verify, as JSON or as a page. */
static void verify_refuse(struct gw *gw, struct gw_req *req, bool html, int status,
                          const char *code, const char *title, const char *message)
{
    if (html)
        page_error(gw, req, status, title, message);
    else
        gw_error(gw, req, status, status >= 500 ? "server_error" : "invalid_request_error", code,
                 "%s", message);
}

/* The token of POST /v1/verify: from the page's form (application/x-www-form-urlencoded) or a
 * JSON body {"token": "..."}. Replies and returns false when there is none. */
static bool verify_token(struct gw *gw, struct gw_req *req, bool html, char *token, size_t cap)
{
    size_t n = 0;
    if (html) {
        int rc = rp_form_field(gw_req_body(req), "token", token, cap, &n);
        if (rc == RP_OK && rp_token_valid((struct rp_str){token, n}))
            return true;
        verify_refuse(gw, req, true, 400, "invalid_token", "This link is incomplete",
                      rc == RP_EINVAL ? "The form sent more than one token; open the link of "
                                        "the mail again and press its button."
                                      : "The form sent no valid token; open the link of the "
                                        "mail again and press its button.");
        return false;
    }
    struct gw_refusal no;
    json_t *body = gw_body_object(req, &no);
    if (!body) {
        gw_refuse(gw, req, &no);
        return false;
    }
    json_t *jt = json_object_get(body, "token");
    bool ok = json_is_string(jt) &&
              rp_token_valid((struct rp_str){json_string_value(jt), json_string_length(jt)});
    if (ok)
        snprintf(token, cap, "%s", json_string_value(jt));
    json_decref(body);
    if (!ok)
        gw_error(gw, req, 400, "invalid_request_error", "invalid_token",
                 "send {\"token\": \"...\"} with the token of the link in the mail (1 to %d "
                 "characters of A-Z, a-z, 0-9, '-' and '_')",
                 RP_TOKEN_MAX);
    return ok;
}

/* Whether the request's body is an HTML form's (the page's button) rather than JSON. */
static bool is_form(struct gw_req *req)
{
    const char *ct = gw_req_header(req, "Content-Type");
    static const char form[] = "application/x-www-form-urlencoded";
    return ct && strncasecmp(ct, form, sizeof(form) - 1) == 0 &&
           (ct[sizeof(form) - 1] == '\0' || ct[sizeof(form) - 1] == ';' ||
            ct[sizeof(form) - 1] == ' ');
}

/* A verification's store work (the account active, its key made), off the loop. */
struct verify_job {
    struct gw_req_job base; /* first */
    bool html;
    uint8_t token_hash[RP_HASH_LEN];
    struct new_key k;
    struct rp_verified v;
    int rc;
};

static void verify_work(struct gw_req_job *j)
{
    struct verify_job *vj = (struct verify_job *)j;
    struct rp_event ev = event_of("verify", 0, NULL), kev = event_of("key_created", 0, NULL);
    vj->rc = rp_store_verify(j->gw->store, vj->token_hash, (int64_t)gw_now(), vj->k.hash,
                             vj->k.prefix, &ev, &kev, &vj->v);
}

static void verify_reply(struct gw_req_job *j)
{
    struct verify_job *vj = (struct verify_job *)j;
    struct gw *gw = j->gw;
    struct gw_req *req = j->req;
    bool html = vj->html;
    const struct rp_verified *v = &vj->v;
    if (vj->rc == RP_ENOTFOUND) {
        verify_refuse(gw, req, html, 400, "invalid_token", "This link does not work",
                      "This link is not valid: it was used already, it expired, or it is "
                      "mistyped. Sign up again with the same address for a fresh link.");
    } else if (vj->rc) {
        verify_refuse(gw, req, html, 503, "store_unavailable", "Please try again",
                      "The server could not confirm the address just now; try the link again "
                      "later.");
    } else if (v->held) {
        verify_refuse(gw, req, html, 403, "held_for_review", "Waiting for review",
                      "This sign-up is held for an operator's review; the link gives no key "
                      "until it is approved.");
    } else if (!v->key_id) {
        verify_refuse(gw, req, html, 403, "account_banned", "This account is banned",
                      "This account is banned: its link gives no key. Contact the operator of "
                      "this service.");
    } else {
        if (!v->again)
            atomic_fetch_add(&gw->m.verifications, 1);
        struct rp_verdict seen;
        rp_watch_signal(gw->watch, v->account_id, RP_SIGNAL_KEY_CREATED, RP_STR_NULL, gw_now(),
                        &seen);
        reply_key(gw, req, html, 200, v->account_id, v->key_id, &vj->k, v->again);
    }
}

static void verify_late(struct gw_req_job *j)
{
    struct verify_job *vj = (struct verify_job *)j;
    verify_refuse(j->gw, j->req, vj->html, 503, "store_unavailable", "Please try again",
                  "The server did not confirm the address in time, and may still have: press "
                  "the button again; if the link no longer works, sign up again with the same "
                  "address for a fresh link.");
}

static void verify_release(struct gw_req_job *j)
{
    struct verify_job *vj = (struct verify_job *)j;
    OPENSSL_cleanse(&vj->k, sizeof(vj->k));
}

void gw_verify(struct gw_worker *w, struct gw_req *req)
{
    struct gw *gw = w->gw;
    enum gw_method m = gw_req_method(req);
    if (m == GW_GET) {
        verify_page(gw, req);
        return;
    }
    if (m != GW_POST) {
        gw_error(gw, req, 405, "invalid_request_error", "method_not_allowed",
                 "/v1/verify takes GET (the page of the link in the mail) or POST (the key)");
        return;
    }
    bool html = is_form(req);
    char token[RP_TOKEN_MAX + 1];
    if (!verify_token(gw, req, html, token, sizeof(token)))
        return;

    struct verify_job *vj = calloc(1, sizeof(*vj));
    if (!vj || new_key_make(&vj->k)) {
        free(vj);
        verify_refuse(gw, req, html, 503, "overloaded", "Please try again",
                      "The server is out of memory just now; try again later.");
        return;
    }
    vj->html = html;
    SHA256((const unsigned char *)token, strlen(token), vj->token_hash);
    vj->base.work = verify_work;
    vj->base.reply = verify_reply;
    vj->base.late = verify_late;
    vj->base.release = verify_release;
    gw_req_offload(w, req, &vj->base, GW_WRITE_DEADLINE_MS);
}

/* ---- keys: their store work off the loop ----------------------------------------------- */

struct key_job {
    struct gw_req_job base; /* first */
    int64_t account_id, key_id;
    struct rp_key_info by;     /* the key of the request */
    struct gw_key_quota quota; /* creation: what the limits said */
    struct new_key k;
    json_t *keys; /* the list */
    int rc;
};

/* The secret does not outlive the job. */
static void key_job_release(struct gw_req_job *j)
{
    struct key_job *k = (struct key_job *)j;
    json_decref(k->keys);
    OPENSSL_cleanse(&k->k, sizeof(k->k));
}

static void create_work(struct gw_req_job *j)
{
    struct key_job *k = (struct key_job *)j;
    struct rp_event ev = event_of("key_created", k->account_id, NULL);
    k->rc = gw_key_quota_check(j->gw, k->account_id, &k->quota);
    if (k->rc || k->quota.verdict != GW_KEYS_ALLOWED)
        return;
    k->rc = rp_store_key_create(j->gw->store, k->account_id, k->k.hash, k->k.prefix,
                                (int64_t)gw_now(), &ev, &k->key_id);
}

static void create_reply(struct gw_req_job *j)
{
    struct key_job *k = (struct key_job *)j;
    if (k->rc) {
        gw_error(j->gw, j->req, 503, "server_error", "store_unavailable",
                 "the key could not be stored; try again");
        return;
    }
    if (k->quota.verdict != GW_KEYS_ALLOWED) {
        /* limits.per_account.keys_per_hour, max_keys */
        struct gw_refusal no;
        gw_key_quota_refusal(j->gw, &k->by, &k->quota, &no);
        gw_refuse(j->gw, j->req, &no);
        return;
    }
    struct rp_verdict seen;
    rp_watch_signal(j->gw->watch, k->account_id, RP_SIGNAL_KEY_CREATED, RP_STR_NULL, gw_now(),
                    &seen);
    reply_key(j->gw, j->req, false, 201, k->account_id, k->key_id, &k->k, false);
}

static void create_late(struct gw_req_job *j)
{
    gw_error(j->gw, j->req, 503, "server_error", "store_unavailable",
             "the gateway's store did not answer within %d s: no key is shown (one may have been "
             "stored, unusable since its secret is not kept: GET /v1/keys lists it); try again",
             GW_WRITE_DEADLINE_MS / 1000);
}

static void list_work(struct gw_req_job *j)
{
    struct key_job *k = (struct key_job *)j;
    json_t *acc = NULL;
    k->rc = rp_store_account_json(j->gw->store, k->account_id, &acc);
    if (!k->rc)
        k->keys = json_incref(json_object_get(acc, "keys"));
    json_decref(acc);
}

/* The keys of the account of the request's key: ids, prefixes, creation and revocation times. */
static void list_reply(struct gw_req_job *j)
{
    struct key_job *k = (struct key_job *)j;
    if (k->rc) {
        gw_error(j->gw, j->req, 503, "server_error", "store_unavailable", "try again later");
        return;
    }
    json_t *keys = k->keys ? k->keys : json_array();
    k->keys = NULL;
    gw_json(j->gw, j->req, 200, json_pack("{s:o}", "keys", keys));
}

static void revoke_work(struct gw_req_job *j)
{
    struct key_job *k = (struct key_job *)j;
    struct rp_event ev = event_of("key_revoked", k->account_id, NULL);
    ev.key_id = k->key_id;
    k->rc = rp_store_key_revoke(j->gw->store, k->account_id, k->key_id, (int64_t)gw_now(), &ev);
    /* Cached lookups go stale once the revocation is committed (or may be). */
    atomic_fetch_add(&j->gw->key_generation, 1);
}

static void revoke_reply(struct gw_req_job *j)
{
    struct key_job *k = (struct key_job *)j;
    if (k->rc == RP_ENOTFOUND) {
        gw_error(j->gw, j->req, 404, "invalid_request_error", "key_not_found",
                 "your account has no key %lld", (long long)k->key_id);
        return;
    }
    if (k->rc) {
        gw_error(j->gw, j->req, 503, "server_error", "store_unavailable", "try again later");
        return;
    }
    gw_json(j->gw, j->req, 200,
            json_pack("{s:I, s:b}", "key_id", (json_int_t)k->key_id, "revoked", 1));
}

static void revoke_late(struct gw_req_job *j)
{
    gw_error(j->gw, j->req, 503, "server_error", "store_unavailable",
             "the gateway's store did not answer within %d s: the key may not be revoked yet; "
             "repeat the request (revoking twice is harmless)",
             GW_WRITE_DEADLINE_MS / 1000);
}

/* GET and POST /v1/keys, DELETE /v1/keys/{id}, once the request's key is known. */
static void keys_authenticated(struct gw_worker *w, struct gw_req *req,
                               const struct rp_key_info *key, const struct gw_refusal *no)
{
    struct gw *gw = w->gw;
    if (!key) {
        gw_refuse(gw, req, no);
        return;
    }
    const char *path = gw_req_path(req);
    enum gw_method m = gw_req_method(req);
    long long id = 0;
    if (m == GW_DELETE) {
        char *end;
        id = strtoll(path + 9, &end, 10);
        if (*end || id <= 0) {
            gw_error(gw, req, 400, "invalid_request_error", "invalid_key_id",
                     "'%s' is not a key id", path + 9);
            return;
        }
    }
    struct key_job *k = calloc(1, sizeof(*k));
    if (!k || (m == GW_POST && new_key_make(&k->k))) {
        free(k);
        gw_error(gw, req, 503, "server_error", "overloaded", "the gateway is out of memory");
        return;
    }
    k->account_id = key->account_id;
    k->key_id = id;
    k->by = *key;
    k->base.release = key_job_release;
    if (m == GW_POST) {
        k->base.work = create_work;
        k->base.reply = create_reply;
        k->base.late = create_late;
    } else if (m == GW_GET) {
        k->base.work = list_work;
        k->base.reply = list_reply;
    } else {
        k->base.work = revoke_work;
        k->base.reply = revoke_reply;
        k->base.late = revoke_late;
    }
    gw_req_offload(w, req, &k->base, GW_WRITE_DEADLINE_MS);
}

/* The methods of /v1/keys; the key id of a DELETE is read after authentication. */
static const struct gw_route key_routes[] = {
    {"/v1/keys", GW_POST | GW_GET, 0},
    {"/v1/keys/*", GW_DELETE, 0},
};

void gw_keys(struct gw_worker *w, struct gw_req *req, const char *path)
{
    int64_t id;
    if (gw_route_find(key_routes, sizeof(key_routes) / sizeof(key_routes[0]), path,
                      gw_req_method(req), &id)) {
        gw_authenticate_then(w, req, keys_authenticated);
        return;
    }
    gw_error(w->gw, req, 405, "invalid_request_error", "method_not_allowed",
             "use GET or POST /v1/keys, or DELETE /v1/keys/{id}");
}
