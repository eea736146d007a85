/* net_addr: listen addresses as configured ("host:port", "[v6]:port"), turned
 * into socket addresses. Shared by every program that listens. */
#ifndef HOOKPIPE_NET_ADDR_H
#define HOOKPIPE_NET_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Parses "host:port" or "[v6]:port" (host may be a name; an empty host means
 * every address) into *addr and *addr_len. The port must be numeric.
 * 0, or -1 with the reason in errstr. */
int net_addr_parse(const char *text, struct sockaddr_storage *addr, socklen_t *addr_len,
                   char *errstr, size_t errstr_size);

#endif
