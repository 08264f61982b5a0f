/* rampart SSE: an incremental reader of server-sent events (the text/event-stream of a
 * streamed model answer), fed in whatever pieces the network delivers. */
#ifndef RAMPART_SSE_H
#define RAMPART_SSE_H

#include "rampart/base.h"

/* Called once per complete event with its data (the "data:" lines joined by '\n', the one
 * space after the colon removed). The slice is valid during the call only. */
typedef void (*rp_sse_event_fn)(void *arg, struct rp_str data);

struct rp_sse {
    struct rp_buf line; /* the line being assembled */
    struct rp_buf data; /* the data of the event being assembled */
    bool have_data;
    bool overflow;  /* a line or an event went over the cap and was skipped */
    bool line_over; /* the line being assembled is over the cap */
    bool cr;        /* the last byte fed was '\r' (a "\r\n" may be split) */
    /* A line that is neither a comment nor a field of the standard (data, event, id, retry):
     * the reader ignores such a line, as the standard says, but a stream of model answers
     * that has one is not an event stream (a JSON answer sent as text/event-stream, say). */
    bool foreign;
    size_t bom; /* bytes of a leading byte order mark read; 3 once past the start */
    rp_sse_event_fn fn;
    void *arg;
};

/* Prepares a reader whose lines and events are each at most cap bytes (longer ones are
 * skipped whole, and counted in overflow). */
void rp_sse_init(struct rp_sse *s, size_t cap, rp_sse_event_fn fn, void *arg);
void rp_sse_release(struct rp_sse *s);
/* Feeds the next piece of the stream: any bytes, any split. Returns RP_ENOMEM or RP_OK. */
int rp_sse_feed(struct rp_sse *s, const char *ptr, size_t len);

#endif
