/* Outgoing TCP connections of the gateway (to the upstream, its health probe and the mail
 * relay): the program's I/O, not the library's. */
#ifndef RAMPART_SERVER_CONNECT_H
#define RAMPART_SERVER_CONNECT_H

#include <stdbool.h>

/* A TCP socket (close-on-exec) connected, or connecting, to host:port: the first address of
 * getaddrinfo() that takes it. Non-blocking sockets are returned while connecting
 * (EINPROGRESS), blocking ones once connected. Returns the descriptor, or -1. Blocks on name
 * resolution: call it where that may wait (a host name resolved once at start, or a thread of
 * its own). */
int gw_tcp_connect(const char *host, unsigned port, bool nonblocking);

#endif
