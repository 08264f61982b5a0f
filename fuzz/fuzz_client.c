/* libFuzzer target: what clients send that the gateway reads itself: the e-mail address of a
 * sign-up and the X-Forwarded-For header (with trusted proxies configured). */
#include <stdint.h>
#include <stdlib.h>

#include "rampart/gate.h"

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
    struct rp_str s = {(const char *)data, size};
    rp_email_problem(s);
    struct sockaddr_storage ss;
    rp_forwarded_client(s, trusted, 2, &ss);
    return 0;
}
