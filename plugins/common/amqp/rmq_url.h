/* rmq_url.h - amqp:// and amqps:// URLs, and the form of them that is safe to log. */
#ifndef SLUICE_RMQ_URL_H
#define SLUICE_RMQ_URL_H

#include <stdbool.h>
#include <stddef.h>

struct rmq_url {
    bool tls; /* amqps:// */
    const char *host;
    int port;
    const char *user;
    const char *password;
    const char *vhost; /* "/" when the URL names none */
    char *shown;       /* the URL with the password replaced by "***", for logs */
    char *buf;         /* owns host, user, password, vhost */
};

/* Parses amqp://user:pass@host:port/vhost (percent-escapes decoded; an empty
 * vhost is "/"). Returns 0, or -1 with a message in err that never contains
 * the password. Free with rmq_url_free, also after a failure. */
int rmq_url_parse(const char *text, struct rmq_url *u, char *err, size_t errlen);
void rmq_url_free(struct rmq_url *u);

#endif
