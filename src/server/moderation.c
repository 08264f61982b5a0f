/* POST /v1/moderations: rampart's own guardrails, answered in the shape of OpenAI's moderation
 * endpoint, for applications that check texts themselves (docs/api.md, "Moderation"). A key is
 * needed and its request limit counts; a flagged text is no soft-block: the application is
 * asking about a text, not sending it to a model. What a verdict means is lib/gate's
 * (rp_moderation_of). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "gateway.h"

/* The most texts one request may ask about (OpenAI's own limit is of this order). */
#define MAX_INPUTS 256

/* One result: OpenAI's fields, and rampart's verdict beside them. */
static json_t *result_of(const struct rp_guard_result *r, double refuse)
{
    struct rp_moderation m;
    rp_moderation_of(r, refuse, &m);
    json_t *cats = json_object(), *scores = json_object(), *reasons = json_array();
    for (size_t c = 0; c < RP_MOD_NCATS; c++) {
        json_object_set_new(cats, rp_moderation_categories[c], json_boolean(m.categories[c]));
        json_object_set_new(scores, rp_moderation_categories[c], json_real(m.scores[c]));
    }
    for (size_t i = 0; i < r->n_reasons; i++)
        json_array_append_new(reasons,
                              json_pack("{s:s,s:s,s:f}", "code", r->reasons[i].code, "category",
                                        r->reasons[i].category, "points", r->reasons[i].points));
    return json_pack("{s:b,s:o,s:o,s:{s:s,s:f,s:f,s:o}}", "flagged", m.flagged, "categories", cats,
                     "category_scores", scores, "rampart", "verdict",
                     rp_guard_verdict_name(r->verdict), "score", r->score, "confidence",
                     r->confidence, "reasons", reasons);
}

static void moderation_authenticated(struct gw_worker *w, struct gw_req *req,
                                     const struct rp_key_info *k, const struct gw_refusal *no)
{
    struct gw *gw = w->gw;
    if (!k) {
        gw_refuse(gw, req, no);
        return;
    }
    struct rp_key_info key = *k;
    struct gw_refusal why;
    if (!gw_limits_take(gw, &key, &why)) {
        gw_refuse(gw, req, &why);
        return;
    }
    json_t *body = NULL, *texts[MAX_INPUTS];
    size_t n = 0;
    if (!gw->guard)
        gw_refusal_set(&why, 503, "server_error", "moderation_unavailable",
                       "the guardrails are off here (guard.mode: off)");
    else if (!w->guard_scratch)
        gw_refusal_set(&why, 503, "server_error", "overloaded", "the gateway is out of memory");
    else if ((body = gw_body_object(req, &why))) {
        char sentence[256];
        const char *code =
            rp_moderation_inputs(body, texts, MAX_INPUTS, &n, sentence, sizeof(sentence));
        if (code)
            gw_refusal_set(&why, 400, "invalid_request_error", code, "%s", sentence);
    }
    json_t *results = n ? json_array() : NULL;
    double refuse = gw->guard ? rp_guard_refuse_score(gw->guard, RP_GUARD_INPUT) : 0;
    for (size_t i = 0; results && i < n; i++) {
        struct rp_guard_result r;
        struct rp_str t = {json_string_value(texts[i]), json_string_length(texts[i])};
        if (rp_guard_inspect(gw->guard, w->guard_scratch, RP_GUARD_INPUT, t, &r)) {
            json_decref(results);
            results = NULL;
            gw_refusal_set(&why, 503, "server_error", "overloaded", "the gateway is out of memory");
            break;
        }
        if (r.verdict == RP_GUARD_REFUSE)
            atomic_fetch_add(&gw->m.moderation_flagged, 1);
        json_t *one = result_of(&r, refuse);
        rp_guard_result_release(&r);
        if (!one || json_array_append_new(results, one)) {
            json_decref(results);
            results = NULL;
            gw_refusal_set(&why, 503, "server_error", "overloaded", "the gateway is out of memory");
        }
    }
    json_decref(body);
    gw_limits_release(gw, &key);
    atomic_fetch_add(&gw->m.moderation_requests, 1);
    if (!results) {
        gw_refuse(gw, req, &why);
        return;
    }
    uint64_t id = 0;
    if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id))
        id = (uint64_t)(gw_now() * 1e6);
    char idtext[32];
    snprintf(idtext, sizeof(idtext), "modr-%016" PRIx64, id);
    gw_json(gw, req, 200,
            json_pack("{s:s,s:s,s:o}", "id", idtext, "model", "rampart-guard", "results", results));
}

void gw_moderations(struct gw_worker *w, struct gw_req *req)
{
    if (gw_req_method(req) != GW_POST) {
        gw_error(w->gw, req, 405, "invalid_request_error", "method_not_allowed",
                 "/v1/moderations takes POST");
        return;
    }
    gw_authenticate_then(w, req, moderation_authenticated);
}
