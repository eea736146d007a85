/* net_addr: "host:port" listen addresses to socket addresses. */
#include "net_addr.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

int net_addr_parse(const char *text, struct sockaddr_storage *addr, socklen_t *addr_len,
                   char *errstr, size_t errstr_size) {
    char host[256];
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || !colon[1]) {
        snprintf(errstr, errstr_size, "'%s': expected host:port", text ? text : "");
        return -1;
    }
    size_t hl = (size_t)(colon - text);
    const char *h = text;
    if (text[0] == '[' && hl >= 2 && text[hl - 1] == ']') {
        h = text + 1;
        hl -= 2;
    }
    if (hl >= sizeof(host)) {
        snprintf(errstr, errstr_size, "'%s': host too long", text);
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
    int rc = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(errstr, errstr_size, "'%s': %s", text, rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}
