/* Key admission: whether an API key's request may go on, from what its lookup says of the key
 * and its account, and when a ban of escalation has run its time (see rampart/policy.h). */
#include <stdio.h>

#include "rampart/policy.h"

bool rp_ban_expired(const struct rp_key_info *key, int64_t now)
{
    return !key->revoked && key->account_status == RP_ACCOUNT_BANNED && key->ban_until > 0 &&
           now >= key->ban_until;
}

static void refuse(struct rp_verdict *out, const char *code, const char *sentence)
{
    out->action = RP_ACTION_REFUSE;
    out->code = code;
    snprintf(out->sentence, sizeof(out->sentence), "%s", sentence);
}

void rp_key_admit(const struct rp_key_info *key, int64_t now, struct rp_verdict *out)
{
    if (!key || key->revoked) {
        refuse(out, "invalid_api_key",
               key ? "the API key is not valid (it was revoked)" : "the API key is not valid");
        return;
    }
    if (key->account_status == RP_ACCOUNT_BANNED) {
        out->action = RP_ACTION_REFUSE;
        out->code = "account_banned";
        if (key->ban_until > 0)
            snprintf(out->sentence, sizeof(out->sentence),
                     "this account is banned for %lld more seconds after repeated refused "
                     "requests",
                     (long long)(key->ban_until - now));
        else
            snprintf(out->sentence, sizeof(out->sentence),
                     "this account is banned; contact the operator of this service");
        return;
    }
    if (key->account_status != RP_ACCOUNT_ACTIVE) {
        refuse(out, "invalid_api_key", "the account of this key is not active");
        return;
    }
    out->action = RP_ACTION_ALLOW;
    out->code = "";
    out->sentence[0] = '\0';
}
