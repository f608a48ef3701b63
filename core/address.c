/* address.c - "host:port" as users write it: an IPv4 address or a host
 * name, or an IPv6 address in brackets ("[::1]:9464"); the host may be
 * empty (":9464", all interfaces when listening). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static bool host_name_ok(const char *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

int sl__address_parse(const char *s, struct sl__address *a, char *why, size_t whylen)
{
    const char *colon = strrchr(s, ':');
    const char *host = s;
    size_t hl;
    a->ipv6 = false;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            snprintf(why, whylen, "'%s' is not [IPV6]:PORT", s);
            return -1;
        }
        host = s + 1;
        hl = (size_t)(close - host);
        colon = close + 1;
        a->ipv6 = true;
    } else {
        if (!colon) {
            snprintf(why, whylen, "'%s' has no port (want HOST:PORT)", s);
            return -1;
        }
        hl = (size_t)(colon - s);
        if (memchr(s, ':', hl)) {
            snprintf(why, whylen, "'%s': write an IPv6 address in brackets, [ADDRESS]:PORT", s);
            return -1;
        }
        if (!host_name_ok(host, hl)) {
            snprintf(why, whylen, "'%s': '%.*s' is not a host name or address", s, (int)hl, host);
            return -1;
        }
    }
    if (hl >= sizeof(a->host) || (a->ipv6 && hl == 0)) {
        snprintf(why, whylen, "'%s': bad host", s);
        return -1;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || port < 1 || port > 65535) {
        snprintf(why, whylen, "'%s': the port must be a number 1..65535", s);
        return -1;
    }
    memcpy(a->host, host, hl);
    a->host[hl] = '\0';
    a->port = (uint16_t)port;
    return 0;
}
