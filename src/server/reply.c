/* Replies shared by the handlers: JSON answers and errors, refusals, event details, request
 * bodies and client addresses, and the store jobs of requests, which end in a reply. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "rampart/net.h"

double gw_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void gw_detail_begin(struct gw_detail *d)
{
    rp_buf_init(&d->buf, sizeof(((struct rp_event *)NULL)->detail) - 1);
    rp_jsonw_init(&d->w, &d->buf);
    rp_jsonw_object(&d->w);
}

void gw_detail_put(struct rp_event *ev, const struct rp_buf *json, int rc)
{
    if (rc == RP_OK && json->len < sizeof(ev->detail))
        memcpy(ev->detail, json->ptr, json->len + 1);
    else
        snprintf(ev->detail, sizeof(ev->detail), "{\"truncated\":true}");
}

int gw_detail_end(struct gw_detail *d, struct rp_event *ev)
{
    rp_jsonw_end(&d->w);
    int rc = rp_jsonw_finish(&d->w);
    gw_detail_put(ev, &d->buf, rc);
    rp_buf_release(&d->buf);
    return rc;
}

void gw_count_status(struct gw *gw, int status)
{
    atomic_fetch_add(&gw->m.requests, 1);
    if (status >= 200 && status < 300)
        atomic_fetch_add(&gw->m.status_2xx, 1);
    else if (status >= 400 && status < 500)
        atomic_fetch_add(&gw->m.status_4xx, 1);
    else if (status >= 500)
        atomic_fetch_add(&gw->m.status_5xx, 1);
    if (status == 429)
        atomic_fetch_add(&gw->m.status_429, 1);
}

void gw_json(struct gw *gw, struct gw_req *req, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        static const char oom[] = "{\"error\":{\"message\":\"the gateway is out of memory\","
                                  "\"type\":\"server_error\",\"code\":\"overloaded\"}}\n";
        gw_count_status(gw, 503);
        gw_reply(req, 503, "application/json", oom, sizeof(oom) - 1);
        return;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps's NUL makes room for the line's end */
    gw_count_status(gw, status);
    gw_reply(req, status, "application/json", text, n + 1);
    free(text);
}

void gw_error(struct gw *gw, struct gw_req *req, int status, const char *type, const char *code,
              const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *err =
        json_pack("{s:{s:s, s:s, s:s?}}", "error", "message", msg, "type", type, "code", code);
    gw_json(gw, req, status, err);
}

void gw_refusal_set(struct gw_refusal *r, int status, const char *type, const char *code,
                    const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    r->type = type;
    r->code = code;
    r->retry_after[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

void gw_refuse(struct gw *gw, struct gw_req *req, const struct gw_refusal *r)
{
    if (r->retry_after[0])
        gw_req_set_header(req, "Retry-After", r->retry_after);
    gw_error(gw, req, r->status, r->type, r->code, "%s", r->message);
}

json_t *gw_body_object(struct gw_req *req, struct gw_refusal *no)
{
    struct rp_str in = gw_req_body(req);
    size_t len = in.len;
    const char *data = in.ptr;
    json_error_t jerr;
    json_t *j = len ? json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!j) {
        gw_refusal_set(no, 400, "invalid_request_error", "invalid_json",
                       "the request body is not valid JSON%s%s", len ? ": " : " (it is empty)",
                       len ? jerr.text : "");
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        gw_refusal_set(no, 400, "invalid_request_error", "invalid_json",
                       "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

void gw_client_addr(struct gw *gw, struct gw_req *req, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    const struct sockaddr *sa = gw_req_peer(req);
    memcpy(out, sa,
           sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    bool trusted = false;
    for (size_t i = 0; i < gw->cfg->n_trusted_proxies && !trusted; i++)
        trusted = rp_cidr_contains(&gw->cfg->trusted_proxies[i], sa);
    const char *xff = gw_req_header(req, "X-Forwarded-For");
    if (trusted && xff)
        rp_forwarded_client(rp_str_from_cstr(xff), gw->cfg->trusted_proxies,
                            gw->cfg->n_trusted_proxies, out);
}

void gw_store_refusal(struct gw *gw, int rc, struct gw_refusal *no)
{
    if (rc == RP_EBUSY && gw->offload && gw_offload_stopping(gw->offload)) {
        gw_refusal_set(no, 503, "server_error", "shutting_down", "the gateway is stopping; retry");
    } else if (rc == RP_EBUSY) {
        gw_refusal_set(no, 503, "server_error", "store_busy",
                       "the gateway has too much store work queued; retry in a second");
        snprintf(no->retry_after, sizeof(no->retry_after), "1");
    } else {
        gw_refusal_set(no, 503, "server_error", "overloaded", "the gateway is out of memory");
    }
}

void gw_store_refuse(struct gw *gw, struct gw_req *req, int rc)
{
    struct gw_refusal no;
    gw_store_refusal(gw, rc, &no);
    gw_refuse(gw, req, &no);
}

/* ---- Store work of a request, off the loop ---- */

static void rj_work(struct gw_job *job)
{
    struct gw_req_job *j = (struct gw_req_job *)job;
    j->work(j);
}

static void rj_done(struct gw_job *job, enum gw_job_end how)
{
    struct gw_req_job *j = (struct gw_req_job *)job;
    gw_req_watch(j->req, NULL, NULL);
    if (j->gone)
        gw_reply_abort(j->req);
    else if (how == GW_JOB_DONE)
        j->reply(j);
    else if (j->late)
        j->late(j);
    else
        gw_error(j->gw, j->req, 503, "server_error", "store_unavailable",
                 "the gateway's store did not answer within %u s; try again",
                 GW_WRITE_DEADLINE_MS / 1000);
}

static void rj_release(struct gw_job *job)
{
    struct gw_req_job *j = (struct gw_req_job *)job;
    if (j->release)
        j->release(j);
    free(job);
}

static const struct gw_job_ops rj_ops = {rj_work, rj_done, rj_release};

static void rj_event(struct gw_req *req, enum gw_req_event what, void *arg)
{
    (void)req;
    struct gw_req_job *j = arg;
    if (what == GW_REQ_GONE && !j->gone) {
        j->gone = true;
        atomic_fetch_add(&j->gw->m.client_aborts, 1);
    }
}

void gw_req_offload(struct gw_worker *w, struct gw_req *req, struct gw_req_job *j,
                    unsigned deadline_ms)
{
    struct gw *gw = w->gw;
    j->job.ops = &rj_ops;
    j->gw = gw;
    j->w = w;
    j->req = req;
    if (!gw->offload || !w->inbox) {
        j->work(j);
        j->reply(j);
        rj_release(&j->job);
        return;
    }
    int rc = gw_offload_submit(gw->offload, w->inbox, &j->job, deadline_ms, false);
    if (rc) {
        if (j->busy)
            j->busy(j, rc);
        else
            gw_store_refuse(gw, req, rc);
        rj_release(&j->job);
        return;
    }
    gw_req_watch(req, rj_event, j);
}
