/* Guard providers: the requests to, and the answers of, the guard models an operator may run
 * beside rampart's own classifiers (rampart/guard.h, "Guard providers"): OpenAI's moderation
 * endpoint and a Llama Guard model behind a chat completion. The answers come from outside and
 * are checked as such: anything but the documented shape is an error, never a verdict. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/guard.h"

/* Llama Guard 3's hazard categories (MLCommons' taxonomy), by code. */
static const char *const llama_guard_names[] = {
    NULL,
    "violent crimes",
    "non-violent crimes",
    "sex-related crimes",
    "child sexual exploitation",
    "defamation",
    "specialized advice",
    "privacy",
    "intellectual property",
    "indiscriminate weapons",
    "hate",
    "suicide and self-harm",
    "sexual content",
    "elections",
    "code interpreter abuse",
};

const char *rp_provider_category_name(const char *code)
{
    if (code[0] != 'S' || !isdigit((unsigned char)code[1]))
        return NULL;
    unsigned n = (unsigned)(code[1] - '0');
    if (isdigit((unsigned char)code[2])) {
        n = n * 10 + (unsigned)(code[2] - '0');
        if (code[3])
            return NULL;
    } else if (code[2]) {
        return NULL;
    }
    return n >= 1 && n < sizeof(llama_guard_names) / sizeof(llama_guard_names[0])
               ? llama_guard_names[n]
               : NULL;
}

static void add_category(struct rp_provider_verdict *v, const char *name, size_t len)
{
    if (v->n_categories == RP_PROVIDER_MAX_CATEGORIES || len == 0)
        return;
    if (len >= sizeof(v->categories[0]))
        len = sizeof(v->categories[0]) - 1;
    memcpy(v->categories[v->n_categories], name, len);
    v->categories[v->n_categories++][len] = '\0';
}

/* The JSON object of an answer, or NULL with why in err; out is cleared for the reader. */
static json_t *answer_object(struct rp_str body, struct rp_provider_verdict *out,
                             struct rp_error *err)
{
    memset(out, 0, sizeof(*out));
    out->score = -1;
    json_error_t je;
    json_t *j = json_loadb(body.ptr ? body.ptr : "", body.len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        rp_error_set(err, "the provider's answer is not JSON: %s", je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        rp_error_set(err, "the provider's answer is not a JSON object");
        json_decref(j);
        return NULL;
    }
    return j;
}

int rp_provider_read_moderation(struct rp_str body, struct rp_provider_verdict *out,
                                struct rp_error *err)
{
    json_t *j = answer_object(body, out, err);
    if (!j)
        return RP_EINVAL;
    json_t *r = json_array_get(json_object_get(j, "results"), 0);
    json_t *flagged = json_object_get(r, "flagged");
    if (!json_is_object(r) || !json_is_boolean(flagged)) {
        rp_error_set(err, "the provider's answer has no results[0].flagged (true or false)");
        json_decref(j);
        return RP_EINVAL;
    }
    out->flagged = json_is_true(flagged);
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(r, "categories"), name, v)
    {
        if (json_is_true(v))
            add_category(out, name, strlen(name));
    }
    json_object_foreach(json_object_get(r, "category_scores"), name, v)
    {
        double s = json_number_value(v);
        if (json_is_number(v) && s >= 0 && s <= 1 && s > out->score)
            out->score = s;
    }
    json_decref(j);
    return RP_OK;
}

int rp_provider_read_llama_guard(struct rp_str body, struct rp_provider_verdict *out,
                                 struct rp_error *err)
{
    json_t *j = answer_object(body, out, err);
    if (!j)
        return RP_EINVAL;
    json_t *msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
    json_t *content = json_object_get(msg, "content");
    if (!json_is_string(content)) {
        rp_error_set(err, "the provider's answer has no choices[0].message.content");
        json_decref(j);
        return RP_EINVAL;
    }
    const char *p = json_string_value(content), *end = p + json_string_length(content);
    while (p < end && isspace((unsigned char)*p))
        p++;
    size_t word = 0;
    while (p + word < end && isalpha((unsigned char)p[word]))
        word++;
    int result = RP_OK;
    if (word == 4 && !strncmp(p, "safe", 4)) {
        out->flagged = false;
    } else if (word == 6 && !strncmp(p, "unsafe", 6)) {
        out->flagged = true;
        /* The next line, when there is one: the codes, "S1,S10". */
        for (p += word; p < end;) {
            while (p < end && (isspace((unsigned char)*p) || *p == ','))
                p++;
            size_t n = 0;
            while (p + n < end && isalnum((unsigned char)p[n]))
                n++;
            if (n == 0)
                break;
            add_category(out, p, n);
            p += n;
        }
    } else {
        rp_error_set(err, "the provider's answer says neither 'safe' nor 'unsafe'");
        result = RP_EINVAL;
    }
    json_decref(j);
    return result;
}

int rp_provider_moderation_request(struct rp_str text, const char *model, struct rp_buf *out)
{
    json_t *j = json_pack("{s:s%,s:s}", "input", text.ptr ? text.ptr : "", text.len, "model",
                          model ? model : "omni-moderation-latest");
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    int rc = s ? rp_buf_adds(out, s) : RP_ENOMEM;
    free(s);
    return rc;
}

int rp_provider_llama_guard_request(struct rp_str prompt, struct rp_str answer, bool has_answer,
                                    const char *model, struct rp_buf *out)
{
    json_t *msgs = json_array();
    json_array_append_new(msgs, json_pack("{s:s,s:s%}", "role", "user", "content",
                                          prompt.ptr ? prompt.ptr : "", prompt.len));
    if (has_answer)
        json_array_append_new(msgs, json_pack("{s:s,s:s%}", "role", "assistant", "content",
                                              answer.ptr ? answer.ptr : "", answer.len));
    json_t *j = json_pack("{s:s,s:o,s:i,s:i}", "model", model ? model : "llama-guard3", "messages",
                          msgs, "temperature", 0, "max_tokens", 20);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    int rc = s ? rp_buf_adds(out, s) : RP_ENOMEM;
    free(s);
    return rc;
}
