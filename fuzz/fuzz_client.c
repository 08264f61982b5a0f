/* libFuzzer target: what clients send that the gateway reads itself: the e-mail address of a
 * sign-up (checked, then normalised when it passes, as screening does) and the X-Forwarded-For
 * header (with trusted proxies configured). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/gate.h"
#include "rampart/url_inspect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rp_cidr trusted[2];
    static bool ready;
    struct rp_error err;
    if (!ready) {
        if (rp_cidr_parse("10.0.0.0/8", &trusted[0], &err) ||
            rp_cidr_parse("::1/128", &trusted[1], &err))
            abort();
        ready = true;
    }
    static struct rp_url_inspector *urls;
    if (!urls) {
        struct rp_url_inspector_options o = {0};
        if (rp_url_inspector_new(&o, &urls, &err))
            abort();
    }
    struct rp_str s = {(const char *)data, size};
    if (!rp_email_problem(s) && !memchr(data, '\0', size)) {
        char email[300], key[400];
        if (size < sizeof(email)) {
            memcpy(email, data, size);
            email[size] = '\0';
            if (rp_email_key(email, urls, key, sizeof(key)) == RP_OK && !strchr(key, '@'))
                abort(); /* a key keeps the domain */
        }
    }
    struct sockaddr_storage ss;
    rp_forwarded_client(s, trusted, 2, &ss);
    return 0;
}
