/* The guardrails in the gateway: prompts are inspected before they go upstream (a refusal is a
 * soft-block, which the proxy answers with 400 content_policy; redactions rewrite the request),
 * answers on their way back, whole or event by event while they stream (docs/guardrails.md, "In
 * the gateway"). What each finding means is lib/gate's (rp_enforcement_init). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "guardrail.h"
#include "rampart/json.h"
#include "rampart/texts.h"

/* Streamed answers with more choices than this are stopped: each choice is its own scan. */
#define MAX_CHOICES 8

/* Records a guard finding as an event: kind, the verdict, its reason codes and points. */
static void guard_event(struct gw *gw, const struct rp_key_info *key, const char *kind, int status,
                        const char *path, const struct rp_guard_result *r,
                        const struct rp_refusal_weight *weight)
{
    struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000),
                          .account_id = key->account_id,
                          .key_id = key->key_id,
                          .status = status};
    snprintf(ev.kind, sizeof(ev.kind), "%s", kind);
    /* Too many codes to fit are cut at a whole one, with "truncated": true. */
    struct rp_buf d;
    rp_buf_init(&d, sizeof(ev.detail) - 1);
    gw_detail_put(&ev, &d, rp_guard_event_detail(&d, path, r, weight));
    rp_buf_release(&d);
    rp_store_event(gw->store, &ev);
}

/* The counter of enforcement e of direction dir (NULL for none). */
static atomic_uint_fast64_t *counter_of(struct gw *gw, enum rp_enforced e, enum rp_guard_dir dir)
{
    switch (e) {
    case RP_ENFORCED_MONITOR: return &gw->m.guard_monitored;
    case RP_ENFORCED_FLAG: return &gw->m.guard_flagged[dir];
    case RP_ENFORCED_MODIFY: return &gw->m.guard_modified[dir];
    case RP_ENFORCED_REFUSE: return &gw->m.guard_refused[dir];
    case RP_ENFORCED_NONE: break;
    }
    return NULL;
}

/* Applies what result r of direction dir means (rp_enforcement_init), as far as counting and
 * recording go: its counter, its event (a soft-block's with status 400). A soft-block, whose
 * text's words are *text, is weighed (rp_refusals_count) into *weight, which its event carries. */
static void enforce(struct gw *gw, const struct rp_key_info *key, const char *path,
                    enum rp_guard_dir dir, const struct rp_guard_result *r,
                    const struct rp_sketch *text, struct rp_enforcement *e,
                    struct rp_refusal_weight *weight)
{
    rp_enforcement_init(e, r, dir);
    atomic_uint_fast64_t *counter = counter_of(gw, e->counter, dir);
    if (counter)
        atomic_fetch_add(counter, 1);
    bool soft_block = e->v.action == RP_ACTION_SOFT_BLOCK;
    if (soft_block) {
        static const struct rp_sketch no_words = {.n = 0};
        rp_refusals_count(gw->refusals, key->account_id, text ? text : &no_words, r->confidence,
                          gw_now(), weight);
        atomic_fetch_add(
            weight->weight < 1 ? &gw->m.soft_blocks_borderline : &gw->m.soft_blocks_full, 1);
    }
    if (e->event)
        guard_event(gw, key, e->event, soft_block ? 400 : 0, path, r, soft_block ? weight : NULL);
}

#define MAX_TEXTS 256
/* The texts of a request are also inspected joined, the last JOIN_MAX bytes of them, so that an
 * attack split across messages is seen whole (docs/guardrails.md, "In the gateway"). */
#define JOIN_MAX 16384
#define JOIN_CODES 64

/* A request's texts joined, and the rule codes its texts matched one by one. */
struct joined {
    struct rp_buf text;
    size_t n_texts;
    const char *codes[JOIN_CODES];
    size_t n_codes;
};

static void join_init(struct joined *j)
{
    memset(j, 0, sizeof(*j));
    rp_buf_init(&j->text, 2 * JOIN_MAX);
}

/* Appends text (and the codes of its result r) to j; the front is dropped past JOIN_MAX. */
static void join_add(struct joined *j, struct rp_str text, const struct rp_guard_result *r)
{
    for (size_t i = 0; i < r->n_reasons; i++) {
        const char *c = r->reasons[i].code;
        size_t k = 0;
        while (k < j->n_codes && strcmp(j->codes[k], c))
            k++;
        if (k == j->n_codes && j->n_codes < JOIN_CODES)
            j->codes[j->n_codes++] = c;
    }
    if (text.len > JOIN_MAX)
        text = (struct rp_str){text.ptr + text.len - JOIN_MAX, JOIN_MAX};
    if (j->text.len + text.len + 1 > 2 * JOIN_MAX) {
        size_t keep = text.len + 1 < JOIN_MAX ? JOIN_MAX - text.len - 1 : 0;
        memmove(j->text.ptr, j->text.ptr + j->text.len - keep, keep);
        rp_buf_truncate(&j->text, keep);
    }
    if (j->n_texts++)
        rp_buf_add(&j->text, "\n", 1);
    rp_buf_add(&j->text, text.ptr, text.len);
}

/* When no text of the request was refused on its own (worst), inspects them joined: a split
 * attack (rp_guard_split_attack) becomes the worst, its words in *words. 0, or RP_ENOMEM. */
static int join_verdict(struct gw_worker *w, struct joined *j, struct rp_guard_result *worst,
                        struct rp_sketch *words)
{
    if (j->n_texts < 2 || worst->verdict == RP_GUARD_REFUSE || rp_buf_error(&j->text))
        return RP_OK;
    struct rp_str t = rp_buf_str(&j->text);
    if (t.len > JOIN_MAX)
        t = (struct rp_str){t.ptr + t.len - JOIN_MAX, JOIN_MAX};
    struct rp_guard_result r;
    if (rp_guard_inspect(w->gw->guard, w->guard_scratch, RP_GUARD_INPUT, t, &r))
        return RP_ENOMEM;
    if (!rp_guard_split_attack(&r, j->codes, j->n_codes,
                               rp_guard_refuse_score(w->gw->guard, RP_GUARD_INPUT))) {
        rp_guard_result_release(&r);
        return RP_OK;
    }
    rp_guard_result_release(worst);
    *worst = r;
    rp_sketch_text(t, words);
    return RP_OK;
}

static bool keep_worst(struct rp_guard_result *worst, bool *have_worst, struct rp_guard_result *r);
static int prompt_verdict(struct gw_worker *w, const char *path, const struct rp_key_info *key,
                          struct rp_guard_result *wr, const struct rp_sketch *text,
                          struct gw_prompt_refusal *out);

int gw_guard_prompt(struct gw_worker *w, const char *path, json_t *body,
                    const struct rp_key_info *key, bool *rewritten, struct gw_prompt_refusal *out)
{
    struct gw *gw = w->gw;
    *rewritten = false;
    memset(out, 0, sizeof(*out));
    if (!gw->guard)
        return 0;
    if (!w->guard_scratch) {
        gw_refusal_set(&out->no, 503, "server_error", "overloaded", "the gateway is out of memory");
        return -1;
    }
    json_t *texts[MAX_TEXTS + 1];
    size_t n = rp_prompt_texts_tree(body, path, texts, MAX_TEXTS + 1);
    if (n > MAX_TEXTS) {
        /* Texts past the limit would go upstream uninspected: the request is refused. */
        gw_refusal_set(&out->no, 400, "invalid_request_error", "too_many_texts",
                       "a request may carry at most %d texts (messages, parts or inputs)",
                       MAX_TEXTS);
        return -1;
    }
    struct rp_guard_result worst = {.verdict = RP_GUARD_ALLOW};
    struct rp_sketch worst_words = {.n = 0};
    struct joined j;
    join_init(&j);
    bool have_worst = false;
    for (size_t i = 0; i < n; i++) {
        struct rp_guard_result r;
        struct rp_str t = {json_string_value(texts[i]), json_string_length(texts[i])};
        if (rp_guard_inspect(gw->guard, w->guard_scratch, RP_GUARD_INPUT, t, &r)) {
            gw_refusal_set(&out->no, 503, "server_error", "overloaded",
                           "the gateway is out of memory");
            rp_guard_result_release(&worst);
            rp_buf_release(&j.text);
            return -1;
        }
        if (r.verdict == RP_GUARD_MODIFY && r.enforced) {
            json_string_setn(texts[i], r.text.ptr, r.text.len);
            *rewritten = true;
        }
        join_add(&j, (struct rp_str){json_string_value(texts[i]), json_string_length(texts[i])},
                 &r);
        if (keep_worst(&worst, &have_worst, &r) && worst.verdict == RP_GUARD_REFUSE)
            rp_sketch_text(t, &worst_words);
    }
    int rc = join_verdict(w, &j, &worst, &worst_words);
    rp_buf_release(&j.text);
    if (rc) {
        gw_refusal_set(&out->no, 503, "server_error", "overloaded", "the gateway is out of memory");
        rp_guard_result_release(&worst);
        return -1;
    }
    return prompt_verdict(w, path, key, &worst, &worst_words, out);
}

/* Keeps the stronger of *worst and *r (the first of equals), releasing the other: true when it
 * kept r. */
static bool keep_worst(struct rp_guard_result *worst, bool *have_worst, struct rp_guard_result *r)
{
    if (!*have_worst || r->verdict > worst->verdict ||
        (r->verdict == worst->verdict && r->points > worst->points)) {
        rp_guard_result_release(worst);
        *worst = *r;
        *have_worst = true;
        return true;
    }
    rp_guard_result_release(r);
    return false;
}

/* Acts on the strongest finding of a prompt (and releases it): 0 to go on, -1 when it is
 * refused (a soft-block: recorded, watched, counted by escalation; *out says what to reply). */
static int prompt_verdict(struct gw_worker *w, const char *path, const struct rp_key_info *key,
                          struct rp_guard_result *wr, const struct rp_sketch *text,
                          struct gw_prompt_refusal *out)
{
    struct gw *gw = w->gw;
    struct rp_guard_result worst = *wr;
    struct rp_enforcement e;
    int result = 0;
    enforce(gw, key, path, RP_GUARD_INPUT, &worst, text, &e, &out->weight);
    if (e.v.action == RP_ACTION_SOFT_BLOCK) {
        struct rp_verdict seen;
        rp_watch_signal(gw->watch, key->account_id, RP_SIGNAL_REFUSED, RP_STR_NULL, gw_now(),
                        &seen);
        snprintf(out->code, sizeof(out->code), "%s", e.v.code);
        gw_escalate_count(gw, key, out->code, out->weight.weight, &out->esc);
        char why[128] = "";
        if (out->weight.weight < 1)
            snprintf(why, sizeof(why),
                     " (a borderline refusal, confidence %.2f: it counts %.2f of a refusal "
                     "towards a ban)",
                     out->weight.confidence, out->weight.weight);
        gw_refusal_set(&out->no, 400, "invalid_request_error", "content_policy", "%s%s",
                       e.v.sentence, why);
        result = -1;
    }
    rp_guard_result_release(&worst);
    return result;
}

/* ---- answers ------------------------------------------------------------------------------ */

struct gw_answer_guard {
    struct gw_worker *w;
    struct rp_key_info key;
    char path[32];
    bool chat, refused, recorded;
    struct rp_guard_stream *st[MAX_CHOICES];
    bool done[MAX_CHOICES];
    json_t *tmpl; /* the first event, for the events that carry held-back text */
    struct rp_buf piece;
};

int gw_answer_guard_new(struct gw_worker *w, const char *path, const struct rp_key_info *key,
                        struct gw_answer_guard **out)
{
    *out = NULL;
    if (!w->gw->guard || (strcmp(path, "/v1/chat/completions") && strcmp(path, "/v1/completions")))
        return RP_OK;
    struct gw_answer_guard *ag = w->guard_scratch ? calloc(1, sizeof(*ag)) : NULL;
    if (!ag)
        return RP_ENOMEM;
    ag->w = w;
    ag->key = *key;
    ag->chat = !strcmp(path, "/v1/chat/completions");
    snprintf(ag->path, sizeof(ag->path), "%s", path);
    rp_buf_init(&ag->piece, 64u << 20);
    *out = ag;
    return RP_OK;
}

void gw_answer_guard_record(struct gw_answer_guard *ag)
{
    if (!ag || ag->recorded)
        return;
    ag->recorded = true;
    struct gw *gw = ag->w->gw;
    for (size_t i = 0; i < MAX_CHOICES; i++) {
        if (!ag->st[i])
            continue;
        struct rp_enforcement e;
        struct rp_refusal_weight unused;
        enforce(gw, &ag->key, ag->path, RP_GUARD_OUTPUT, rp_guard_stream_result(ag->st[i]), NULL,
                &e, &unused);
    }
}

void gw_answer_guard_free(struct gw_answer_guard *ag)
{
    if (!ag)
        return;
    gw_answer_guard_record(ag);
    for (size_t i = 0; i < MAX_CHOICES; i++)
        rp_guard_stream_free(ag->st[i]);
    json_decref(ag->tmpl);
    rp_buf_release(&ag->piece);
    free(ag);
}

static void refuse_event(struct gw_answer_guard *ag, const struct rp_guard_result *r,
                         struct evbuffer *out)
{
    /* What the person reads; the finding itself is recorded with the others at the end. */
    struct rp_enforcement what;
    rp_enforcement_init(&what, r, RP_GUARD_OUTPUT);
    json_t *e = json_pack("{s:{s:s,s:s,s:s}}", "error", "message", what.v.sentence, "type",
                          "invalid_request_error", "code", "content_policy");
    char *txt = e ? json_dumps(e, JSON_COMPACT) : NULL;
    evbuffer_add_printf(out, "data: %s\n\n", txt ? txt : "{\"error\":{}}");
    free(txt);
    json_decref(e);
    ag->refused = true;
}

/* The node that carries a choice's text in a streamed event, created when absent. */
static json_t *delta_text(struct gw_answer_guard *ag, json_t *choice, bool create)
{
    if (!ag->chat) {
        json_t *t = json_object_get(choice, "text");
        if (!t && create) {
            json_object_set_new(choice, "text", json_string(""));
            t = json_object_get(choice, "text");
        }
        return json_is_string(t) ? t : NULL;
    }
    json_t *d = json_object_get(choice, "delta");
    if (!json_is_object(d)) {
        if (!create)
            return NULL;
        json_object_set_new(choice, "delta", json_object());
        d = json_object_get(choice, "delta");
    }
    json_t *c = json_object_get(d, "content");
    if (!json_is_string(c) && create) {
        json_object_set_new(d, "content", json_string(""));
        c = json_object_get(d, "content");
    }
    return json_is_string(c) ? c : NULL;
}

static void emit(struct evbuffer *out, json_t *j)
{
    char *txt = json_dumps(j, JSON_COMPACT);
    if (txt)
        evbuffer_add_printf(out, "data: %s\n\n", txt);
    free(txt);
}

/* Ends the scans that are still open, as events that carry what they held back. */
static void flush_all(struct gw_answer_guard *ag, struct evbuffer *out)
{
    for (size_t i = 0; i < MAX_CHOICES && !ag->refused; i++) {
        if (!ag->st[i] || ag->done[i])
            continue;
        ag->done[i] = true;
        rp_buf_reset(&ag->piece);
        rp_guard_stream_finish(ag->st[i], &ag->piece);
        if (rp_guard_stream_refused(ag->st[i])) {
            refuse_event(ag, rp_guard_stream_result(ag->st[i]), out);
            return;
        }
        if (!ag->piece.len || !ag->tmpl)
            continue;
        json_t *e = json_deep_copy(ag->tmpl);
        json_t *ch = json_object();
        json_object_set_new(ch, "index", json_integer((json_int_t)i));
        if (ag->chat)
            json_object_set_new(ch, "delta",
                                json_pack("{s:s%}", "content", ag->piece.ptr, ag->piece.len));
        else
            json_object_set_new(ch, "text", json_stringn(ag->piece.ptr, ag->piece.len));
        json_object_set_new(ch, "finish_reason", json_null());
        json_object_set_new(e, "choices", json_pack("[o]", ch));
        json_object_del(e, "usage");
        emit(out, e);
        json_decref(e);
    }
}

bool gw_answer_guard_event(struct gw_answer_guard *ag, struct rp_str data, struct evbuffer *out)
{
    if (ag->refused)
        return true;
    if (rp_str_eq_cstr(data, "[DONE]")) {
        flush_all(ag, out);
        if (!ag->refused)
            evbuffer_add_printf(out, "data: [DONE]\n\n");
        return ag->refused;
    }
    json_t *j = json_loadb(data.ptr, data.len, 0, NULL);
    json_t *choices = json_object_get(j, "choices");
    if (!json_is_array(choices)) {
        /* Not an answer chunk (an error, a keep-alive): relayed as it came. */
        evbuffer_add_printf(out, "data: %.*s\n\n", (int)data.len, data.ptr);
        json_decref(j);
        return false;
    }
    if (!ag->tmpl && json_array_size(choices))
        ag->tmpl = json_deep_copy(j);
    size_t k;
    json_t *ch;
    json_array_foreach(choices, k, ch)
    {
        json_t *ix = json_object_get(ch, "index");
        json_int_t i = json_is_integer(ix) ? json_integer_value(ix) : (json_int_t)k;
        if (i < 0 || i >= MAX_CHOICES) {
            refuse_event(ag, NULL, out);
            json_decref(j);
            return true;
        }
        if (!ag->st[i] && rp_guard_stream_new(ag->w->gw->guard, ag->w->guard_scratch, &ag->st[i])) {
            refuse_event(ag, NULL, out);
            json_decref(j);
            return true;
        }
        rp_buf_reset(&ag->piece);
        json_t *t = delta_text(ag, ch, false);
        if (t && !ag->done[i])
            rp_guard_stream_feed(ag->st[i],
                                 (struct rp_str){json_string_value(t), json_string_length(t)},
                                 &ag->piece);
        json_t *fr = json_object_get(ch, "finish_reason");
        if (json_is_string(fr) && !ag->done[i]) {
            ag->done[i] = true;
            rp_guard_stream_finish(ag->st[i], &ag->piece);
        }
        if (rp_guard_stream_refused(ag->st[i])) {
            refuse_event(ag, rp_guard_stream_result(ag->st[i]), out);
            json_decref(j);
            return true;
        }
        if (t || ag->piece.len)
            json_string_setn(delta_text(ag, ch, true), ag->piece.ptr ? ag->piece.ptr : "",
                             ag->piece.len);
    }
    emit(out, j);
    json_decref(j);
    return false;
}

bool gw_answer_guard_end(struct gw_answer_guard *ag, struct evbuffer *out)
{
    flush_all(ag, out);
    return ag->refused;
}

bool gw_answer_guard_refused(const struct gw_answer_guard *ag)
{
    return ag->refused;
}

/* Counts and records the finding of one text of a whole answer (nothing for an allowed one). */
static void note_whole(struct gw_answer_guard *ag, const struct rp_guard_result *r)
{
    struct rp_enforcement e;
    struct rp_refusal_weight unused;
    enforce(ag->w->gw, &ag->key, ag->path, RP_GUARD_OUTPUT, r, NULL, &e, &unused);
}

#define WHOLE_TEXTS_MAX 16

struct whole_scan {
    struct gw_answer_guard *ag;
    struct rp_guard_result res[WHOLE_TEXTS_MAX];
    size_t n;
    bool change; /* a text is to be refused or modified: the tree path does that */
};

/* Inspects a text of a whole answer. */
static int whole_text(void *arg, struct rp_str text)
{
    struct whole_scan *sc = arg;
    struct gw_answer_guard *ag = sc->ag;
    if (sc->n == WHOLE_TEXTS_MAX)
        return RP_SCAN_TREE;
    struct rp_guard_result *r = &sc->res[sc->n];
    if (rp_guard_inspect(ag->w->gw->guard, ag->w->guard_scratch, RP_GUARD_OUTPUT, text, r))
        return RP_SCAN_TREE;
    sc->n++;
    if (r->enforced && (r->verdict == RP_GUARD_REFUSE || r->verdict == RP_GUARD_MODIFY)) {
        sc->change = true;
        return RP_SCAN_TREE;
    }
    return RP_SCAN_OK;
}

/* The whole answer read in one pass without a tree: the texts of its choices inspected, its
 * usage read. Returns 0 when it goes out as it is (its findings recorded); else the tree path
 * must take it: 1 when a text is to be refused or modified, -1 for more texts than
 * WHOLE_TEXTS_MAX or JSON this reader refuses (which jansson refuses too). */
static int whole_scan(struct gw_answer_guard *ag, struct rp_str body, struct rp_usage *usage)
{
    struct whole_scan sc = {.ag = ag};
    int rc = rp_answer_texts_scan(body, ag->chat, whole_text, &sc, usage);
    for (size_t i = 0; i < sc.n; i++) {
        if (rc == RP_SCAN_OK)
            note_whole(ag, &sc.res[i]);
        rp_guard_result_release(&sc.res[i]);
    }
    return rc == RP_SCAN_OK ? 0 : sc.change ? 1 : -1;
}

int gw_answer_guard_whole(struct gw_answer_guard *ag, int status, struct rp_str body,
                          struct evbuffer *out, struct rp_usage *usage)
{
    /* Most answers change nothing: they are read without a tree and go out as they came. */
    int scan = status == 200 ? whole_scan(ag, body, usage) : -1;
    if (scan == 0) {
        evbuffer_add(out, body.ptr, body.len);
        return status;
    }
    /* The tree does not hold integers past 64 bits: the counts are read without it. */
    if (status == 200)
        rp_usage_answer(body, usage);
    /* When a text is to be withheld, an answer that repeats a key (one copy withheld, another
     * left for a client that reads the first) is not taken apart either. */
    json_t *j = status == 200
                    ? json_loadb(body.ptr, body.len, scan == 1 ? JSON_REJECT_DUPLICATES : 0, NULL)
                    : NULL;
    if (scan == 1 && !json_is_array(json_object_get(j, "choices"))) {
        /* A text to withhold in JSON jansson cannot take apart (an integer past 64 bits, a
         * repeated key): never the unguarded answer. */
        json_decref(j);
        evbuffer_add_printf(out, "{\"error\":{\"message\":\"the answer could not be "
                                 "inspected\",\"type\":\"server_error\",\"code\":"
                                 "\"answer_unreadable\"}}\n");
        return 502;
    }
    json_t *choices = json_object_get(j, "choices"), *ch;
    if (!json_is_array(choices)) {
        evbuffer_add(out, body.ptr, body.len);
        json_decref(j);
        return status;
    }
    struct gw *gw = ag->w->gw;
    bool changed = false;
    size_t k;
    json_array_foreach(choices, k, ch)
    {
        json_t *msg = json_object_get(ch, "message");
        json_t *t = ag->chat ? json_object_get(msg, "content") : json_object_get(ch, "text");
        if (!json_is_string(t))
            continue;
        struct rp_guard_result r;
        if (rp_guard_inspect(gw->guard, ag->w->guard_scratch, RP_GUARD_OUTPUT,
                             (struct rp_str){json_string_value(t), json_string_length(t)}, &r))
            continue;
        note_whole(ag, &r);
        if (r.enforced && r.verdict == RP_GUARD_REFUSE) {
            /* OpenAI's way of saying an answer was withheld: finish_reason content_filter. */
            json_string_set(t, "");
            json_object_set_new(ch, "finish_reason", json_string("content_filter"));
            changed = true;
        } else if (r.enforced && r.verdict == RP_GUARD_MODIFY) {
            json_string_setn(t, r.text.ptr, r.text.len);
            changed = true;
        }
        rp_guard_result_release(&r);
    }
    /* An answer let through unchanged goes out as the model wrote it. */
    char *txt = changed ? json_dumps(j, JSON_COMPACT) : NULL;
    if (txt)
        evbuffer_add(out, txt, strlen(txt));
    else if (changed) /* never the unguarded answer instead */
        evbuffer_add_printf(out, "{\"error\":{\"message\":\"the gateway is out of memory\","
                                 "\"type\":\"server_error\",\"code\":\"overloaded\"}}\n");
    else
        evbuffer_add(out, body.ptr, body.len);
    free(txt);
    json_decref(j);
    return changed && !txt ? 503 : status;
}

struct prompt_scan {
    struct gw_worker *w;
    struct rp_guard_result worst;
    struct rp_sketch worst_words; /* of the worst text, when it is refused */
    struct joined join;
    bool have_worst;
    size_t n;
};

/* Inspects a text of a request. The tree takes the request when the text is to be modified
 * (the tree rewrites the body) or there are more texts than MAX_TEXTS (the tree refuses it). */
static int prompt_text(void *arg, struct rp_str text)
{
    struct prompt_scan *ps = arg;
    struct gw_worker *w = ps->w;
    if (++ps->n > MAX_TEXTS)
        return RP_SCAN_TREE;
    struct rp_guard_result r;
    if (rp_guard_inspect(w->gw->guard, w->guard_scratch, RP_GUARD_INPUT, text, &r))
        return RP_SCAN_TREE;
    if (r.verdict == RP_GUARD_MODIFY && r.enforced) {
        rp_guard_result_release(&r);
        return RP_SCAN_TREE;
    }
    join_add(&ps->join, text, &r);
    /* Only a refused text's words are needed (its weight): the text is gone after the scan. */
    if (keep_worst(&ps->worst, &ps->have_worst, &r) && ps->worst.verdict == RP_GUARD_REFUSE)
        rp_sketch_text(text, &ps->worst_words);
    return RP_SCAN_OK;
}

int gw_guard_prompt_fast(struct gw_worker *w, struct gw_req *req, const char *path,
                         const struct rp_key_info *key, struct gw_prompt_refusal *out)
{
    memset(out, 0, sizeof(*out));
    if (!w->gw->guard || !w->guard_scratch)
        return 1;
    struct prompt_scan ps = {.w = w, .worst = {.verdict = RP_GUARD_ALLOW}};
    join_init(&ps.join);
    int rc = rp_prompt_texts_scan(gw_req_body(req), path, prompt_text, &ps) != RP_SCAN_OK;
    if (!rc)
        rc = join_verdict(w, &ps.join, &ps.worst, &ps.worst_words) ? 1 : 0;
    rp_buf_release(&ps.join.text);
    if (rc) { /* the tree takes it (and says what is wrong, if anything is) */
        rp_guard_result_release(&ps.worst);
        return 1;
    }
    return prompt_verdict(w, path, key, &ps.worst, &ps.worst_words, out);
}
