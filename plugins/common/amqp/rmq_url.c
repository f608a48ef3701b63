/* rmq_url.c - URL parsing on librabbitmq's amqp_parse_url, plus the shown form. */
#include "rmq_url.h"

#include <amqp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The URL with everything between "user:" and "@" replaced, so no log line
 * ever carries the password. */
static char *hide_password(const char *text)
{
    const char *scheme_end = strstr(text, "://");
    const char *auth = scheme_end ? scheme_end + 3 : text;
    const char *at = strchr(auth, '@');
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    size_t n = strlen(text) + 4;
    char *s = malloc(n);
    if (!s)
        return NULL;
    if (!colon)
        snprintf(s, n, "%s", text);
    else
        snprintf(s, n, "%.*s***%s", (int)(colon + 1 - text), text, at);
    return s;
}

int rmq_url_parse(const char *text, struct rmq_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    u->shown = hide_password(text);
    u->buf = strdup(text);
    if (!u->shown || !u->buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (strncmp(text, "amqp://", 7) != 0 && strncmp(text, "amqps://", 8) != 0) {
        snprintf(err, errlen, "url \"%s\" must start with amqp:// or amqps://", u->shown);
        return -1;
    }
    struct amqp_connection_info ci;
    if (amqp_parse_url(u->buf, &ci) != AMQP_STATUS_OK || !ci.host[0]) {
        snprintf(err, errlen, "url \"%s\" is not amqp[s]://user:password@host:port/vhost",
                 u->shown);
        return -1;
    }
    u->tls = ci.ssl;
    u->host = ci.host;
    u->port = ci.port;
    u->user = ci.user;
    u->password = ci.password;
    /* "amqp://host/" names the default vhost, as every client takes it */
    u->vhost = ci.vhost[0] ? ci.vhost : "/";
    return 0;
}

void rmq_url_free(struct rmq_url *u)
{
    free(u->buf);
    free(u->shown);
    memset(u, 0, sizeof(*u));
}
