/* What a guard verdict means in the shape of OpenAI's moderation endpoint: the categories
 * OpenAI's clients know (harassment ... violence/graphic), rampart's own for what OpenAI does
 * not name (prompt attacks, secrets, personal data, hidden text, links), a score a category
 * and whether the text is flagged (docs/api.md, "Moderation"). */
#include <stdio.h>
#include <string.h>

#include "rampart/policy.h"

const char *const rp_moderation_categories[RP_MOD_NCATS] = {
    [RP_MOD_HARASSMENT] = "harassment",
    [RP_MOD_HARASSMENT_THREATENING] = "harassment/threatening",
    [RP_MOD_HATE] = "hate",
    [RP_MOD_HATE_THREATENING] = "hate/threatening",
    [RP_MOD_ILLICIT] = "illicit",
    [RP_MOD_ILLICIT_VIOLENT] = "illicit/violent",
    [RP_MOD_SELF_HARM] = "self-harm",
    [RP_MOD_SELF_HARM_INTENT] = "self-harm/intent",
    [RP_MOD_SELF_HARM_INSTRUCTIONS] = "self-harm/instructions",
    [RP_MOD_SEXUAL] = "sexual",
    [RP_MOD_SEXUAL_MINORS] = "sexual/minors",
    [RP_MOD_VIOLENCE] = "violence",
    [RP_MOD_VIOLENCE_GRAPHIC] = "violence/graphic",
    [RP_MOD_PROMPT_INJECTION] = "prompt-injection",
    [RP_MOD_JAILBREAK] = "jailbreak",
    [RP_MOD_PROMPT_ATTACK] = "prompt-attack",
    [RP_MOD_SECRET] = "secret",
    [RP_MOD_PERSONAL_DATA] = "personal-data",
    [RP_MOD_HIDDEN_TEXT] = "hidden-text",
    [RP_MOD_LINK] = "link",
};

/* The categories of a rule of the default pack's harmful-request category, by its id; up to
 * two each. Another harmful-request rule (an operator's) is "illicit". */
static const struct {
    const char *code;
    enum rp_mod_category cat[2];
} harmful[] = {
    {"harmful-explosives", {RP_MOD_ILLICIT, RP_MOD_ILLICIT_VIOLENT}},
    {"harmful-chemical-biological-weapons", {RP_MOD_ILLICIT, RP_MOD_ILLICIT_VIOLENT}},
    {"harmful-weapons", {RP_MOD_ILLICIT, RP_MOD_ILLICIT_VIOLENT}},
    {"harmful-kill-person", {RP_MOD_VIOLENCE, RP_MOD_ILLICIT_VIOLENT}},
    {"harmful-murder-cover-up", {RP_MOD_VIOLENCE, RP_MOD_ILLICIT_VIOLENT}},
    {"harmful-trafficking-abduction", {RP_MOD_VIOLENCE, RP_MOD_ILLICIT_VIOLENT}},
    {"harmful-csam", {RP_MOD_SEXUAL, RP_MOD_SEXUAL_MINORS}},
    {"harmful-self-harm", {RP_MOD_SELF_HARM, RP_MOD_SELF_HARM_INSTRUCTIONS}},
};

/* The categories of a reason into cat (at most 2); returns how many. */
static size_t categories_of(const struct rp_guard_reason *r, enum rp_mod_category cat[2])
{
    static const struct {
        const char *category;
        enum rp_mod_category cat;
    } direct[] = {
        {"prompt-injection", RP_MOD_PROMPT_INJECTION},
        {"jailbreak", RP_MOD_JAILBREAK},
        {"prompt-attack", RP_MOD_PROMPT_ATTACK},
        {"secret", RP_MOD_SECRET},
        {"personal-data", RP_MOD_PERSONAL_DATA},
        {"hidden-text", RP_MOD_HIDDEN_TEXT},
        {"link", RP_MOD_LINK},
    };
    if (!r->category)
        return 0;
    if (!strcmp(r->category, "harmful-request")) {
        for (size_t i = 0; i < sizeof(harmful) / sizeof(harmful[0]); i++) {
            if (!strcmp(r->code, harmful[i].code)) {
                cat[0] = harmful[i].cat[0];
                cat[1] = harmful[i].cat[1];
                return 2;
            }
        }
        cat[0] = RP_MOD_ILLICIT;
        return 1;
    }
    for (size_t i = 0; i < sizeof(direct) / sizeof(direct[0]); i++) {
        if (!strcmp(r->category, direct[i].category)) {
            cat[0] = direct[i].cat;
            return 1;
        }
    }
    return 0;
}

void rp_moderation_of(const struct rp_guard_result *r, double refuse_score,
                      struct rp_moderation *out)
{
    memset(out, 0, sizeof(*out));
    out->flagged = r->verdict == RP_GUARD_REFUSE;
    for (size_t i = 0; i < r->n_reasons; i++) {
        enum rp_mod_category cat[2];
        size_t n = categories_of(&r->reasons[i], cat);
        double score = refuse_score > 0 ? r->reasons[i].points / refuse_score : 1;
        if (score > 1)
            score = 1;
        for (size_t k = 0; k < n; k++) {
            if (score > out->scores[cat[k]])
                out->scores[cat[k]] = score;
            out->categories[cat[k]] = out->flagged;
        }
    }
}

const char *rp_moderation_inputs(json_t *body, json_t **out, size_t cap, size_t *n, char *why,
                                 size_t why_size)
{
    json_t *in = json_object_get(body, "input");
    *n = 0;
    if (json_is_string(in) && cap > 0) {
        out[(*n)++] = in;
        return NULL;
    }
    if (!json_is_array(in) || json_array_size(in) == 0) {
        snprintf(why, why_size,
                 "'input' must be a string, or a non-empty array of strings or of "
                 "{\"type\": \"text\", \"text\": ...} parts");
        return "invalid_input";
    }
    if (json_array_size(in) > cap) {
        snprintf(why, why_size, "'input' has %zu texts; at most %zu are moderated in one request",
                 json_array_size(in), cap);
        return "too_many_inputs";
    }
    size_t i;
    json_t *v;
    json_array_foreach(in, i, v)
    {
        const char *type = json_string_value(json_object_get(v, "type"));
        json_t *text = json_object_get(v, "text");
        if (json_is_string(v)) {
            out[(*n)++] = v;
        } else if (type && !strcmp(type, "text") && json_is_string(text)) {
            out[(*n)++] = text;
        } else if (type && strcmp(type, "text")) {
            snprintf(why, why_size, "input[%zu] is a '%.64s' part: only text is moderated here", i,
                     type);
            *n = 0;
            return "unsupported_input";
        } else {
            snprintf(why, why_size,
                     "input[%zu] is neither a string nor a {\"type\": \"text\", \"text\": "
                     "...} part",
                     i);
            *n = 0;
            return "invalid_input";
        }
    }
    return NULL;
}
