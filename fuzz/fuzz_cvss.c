/* libFuzzer target: CVSS vectors, on any bytes. Besides crashes and sanitizer reports, a finding
 * is an accepted vector whose score is outside 0..10 or not in tenths, a rating that disagrees
 * with the score, a score that changes when the metrics come in reverse order, or a rejection
 * without a message. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/vuln.h"

static const char *expected_rating(double s)
{
    return s == 0.0 ? "none" : s < 4.0 ? "low" : s < 7.0 ? "medium" : s < 9.0 ? "high" : "critical";
}

/* Writes the metrics of v ("CVSS:x.y/M:V/M:V...") to out in reverse order; returns its length,
 * or 0 when v has no '/' or does not fit. */
static size_t reversed(const char *v, size_t len, char *out, size_t cap)
{
    const char *first = memchr(v, '/', len);
    if (!first || len > cap)
        return 0;
    size_t head = (size_t)(first - v) + 1, o = head;
    memcpy(out, v, head);
    size_t end = len;
    while (end > head) {
        size_t start = end;
        while (start > head && v[start - 1] != '/')
            start--;
        memcpy(out + o, v + start, end - start);
        o += end - start;
        if (start > head)
            out[o++] = '/';
        end = start > head ? start - 1 : head;
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_str in = {(const char *)data, size};
    struct rp_error err;
    memset(&err, 0, sizeof(err));
    double score = -1;
    int rc = rp_cvss_base_score(in, &score, &err);
    if (rc) {
        if (rc != RP_EINVAL || err.msg[0] == '\0' || memchr(err.msg, '\0', sizeof(err.msg)) == NULL)
            abort();
        if (score != -1)
            abort();
        return 0;
    }
    if (!(score >= 0.0 && score <= 10.0))
        abort();
    if (fabs(score * 10 - round(score * 10)) > 1e-9)
        abort();
    if (strcmp(rp_cvss_rating(score), expected_rating(score)) != 0)
        abort();
    double again = -1;
    if (rp_cvss_base_score(in, &again, NULL) != 0 || again != score)
        abort();
    /* Metric order carries no meaning. */
    static char buf[4096];
    size_t n = reversed(in.ptr, in.len, buf, sizeof(buf));
    if (n) {
        double rev = -1;
        if (rp_cvss_base_score((struct rp_str){buf, n}, &rev, &err) != 0 || rev != score)
            abort();
    }
    return 0;
}
