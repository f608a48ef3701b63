/* amqp_io.c - a small AMQP client for the RabbitMQ tests: publishes and dumps
 * messages with their properties and headers as text lines.
 *
 *   amqp_io publish URL EXCHANGE ROUTING_KEY < lines   (confirms on, mandatory)
 *   amqp_io dump URL QUEUE COUNT [IDLE_MS] > lines     (acks what it prints)
 *
 * One message per line, TAB-separated name=value fields: the properties
 * content_type, content_encoding, delivery_mode, priority, correlation_id,
 * reply_to, expiration, message_id, timestamp, type, app_id, then h.NAME for
 * each header (string values; others printed as "?KIND"), and last body=...
 * up to the end of the line. dump prints properties in that order and headers
 * sorted by name, so two dumps compare with cmp. */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, amqp_rpc_reply_t r)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        fprintf(stderr, "amqp_io: %s: %s\n", what, amqp_error_string2(r.library_error));
    else
        fprintf(stderr, "amqp_io: %s: broker error (method 0x%08x)\n", what, r.reply.id);
    exit(1);
}

static amqp_connection_state_t connect_url(const char *url)
{
    char *u = strdup(url);
    struct amqp_connection_info ci;
    if (amqp_parse_url(u, &ci) != AMQP_STATUS_OK) {
        fprintf(stderr, "amqp_io: bad url %s\n", url);
        exit(1);
    }
    amqp_connection_state_t st = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(st);
    if (amqp_socket_open(s, ci.host, ci.port) != AMQP_STATUS_OK) {
        fprintf(stderr, "amqp_io: cannot connect to %s:%d\n", ci.host, ci.port);
        exit(1);
    }
    die("login", amqp_login(st, ci.vhost[0] ? ci.vhost : "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                            ci.user, ci.password));
    amqp_channel_open(st, 1);
    die("channel", amqp_get_rpc_reply(st));
    free(u);
    return st;
}

struct prop {
    const char *name;
    amqp_flags_t flag;
    size_t off;
    char kind; /* s: bytes, b: uint8, t: uint64 */
};
#define P(n, F, k)                                                                                 \
    {                                                                                              \
#n, AMQP_BASIC_##F##_FLAG, offsetof(amqp_basic_properties_t, n), k                         \
    }
static const struct prop props[] = {
    P(content_type, CONTENT_TYPE, 's'),
    P(content_encoding, CONTENT_ENCODING, 's'),
    P(delivery_mode, DELIVERY_MODE, 'b'),
    P(priority, PRIORITY, 'b'),
    P(correlation_id, CORRELATION_ID, 's'),
    P(reply_to, REPLY_TO, 's'),
    P(expiration, EXPIRATION, 's'),
    P(message_id, MESSAGE_ID, 's'),
    P(timestamp, TIMESTAMP, 't'),
    P(type, TYPE, 's'),
    P(app_id, APP_ID, 's'),
};
#define N_PROPS (sizeof(props) / sizeof(props[0]))

/* ---- publish ---- */

/* Parses one line into p (pointing into line) and the body. */
static void parse_line(char *line, amqp_basic_properties_t *p, amqp_table_entry_t *h, int *nh,
                       amqp_bytes_t *body)
{
    memset(p, 0, sizeof(*p));
    *nh = 0;
    char *f = line;
    for (;;) {
        if (strncmp(f, "body=", 5) == 0) {
            *body = amqp_cstring_bytes(f + 5);
            break;
        }
        char *tab = strchr(f, '\t');
        if (!tab) {
            fprintf(stderr, "amqp_io: line without body=\n");
            exit(1);
        }
        *tab = '\0';
        char *eq = strchr(f, '=');
        if (!eq) {
            fprintf(stderr, "amqp_io: field without '=': %s\n", f);
            exit(1);
        }
        *eq = '\0';
        char *v = eq + 1;
        if (strncmp(f, "h.", 2) == 0) {
            h[*nh].key = amqp_cstring_bytes(f + 2);
            h[*nh].value.kind = AMQP_FIELD_KIND_UTF8;
            h[*nh].value.value.bytes = amqp_cstring_bytes(v);
            (*nh)++;
        } else {
            size_t i = 0;
            while (i < N_PROPS && strcmp(props[i].name, f) != 0)
                i++;
            if (i == N_PROPS) {
                fprintf(stderr, "amqp_io: unknown property %s\n", f);
                exit(1);
            }
            char *at = (char *)p + props[i].off;
            if (props[i].kind == 's')
                *(amqp_bytes_t *)at = amqp_cstring_bytes(v);
            else if (props[i].kind == 'b')
                *(uint8_t *)at = (uint8_t)atoi(v);
            else
                *(uint64_t *)at = strtoull(v, NULL, 10);
            p->_flags |= props[i].flag;
        }
        f = tab + 1;
    }
    if (*nh) {
        p->headers.num_entries = *nh;
        p->headers.entries = h;
        p->_flags |= AMQP_BASIC_HEADERS_FLAG;
    }
}

/* Waits for acks up to tag; a nack or a return fails. */
static void wait_confirms(amqp_connection_state_t st, uint64_t upto)
{
    static uint64_t acked; /* every tag up to this one is confirmed */
    while (acked < upto) {
        amqp_frame_t f;
        if (amqp_simple_wait_frame(st, &f) != AMQP_STATUS_OK) {
            fprintf(stderr, "amqp_io: connection lost waiting for confirms\n");
            exit(1);
        }
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue;
        if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *a = f.payload.method.decoded;
            if (a->multiple || a->delivery_tag == acked + 1)
                acked = a->delivery_tag;
        } else {
            fprintf(stderr, "amqp_io: publish refused (method 0x%08x)\n", f.payload.method.id);
            exit(1);
        }
    }
}

static int publish(const char *url, const char *exchange, const char *key)
{
    amqp_connection_state_t st = connect_url(url);
    amqp_confirm_select(st, 1);
    die("confirm.select", amqp_get_rpc_reply(st));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t tag = 0;
    static amqp_table_entry_t h[256];
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        amqp_basic_properties_t p;
        amqp_bytes_t body;
        int nh;
        parse_line(line, &p, h, &nh, &body);
        if (amqp_basic_publish(st, 1, amqp_cstring_bytes(exchange), amqp_cstring_bytes(key), 1, 0,
                               &p, body) != AMQP_STATUS_OK) {
            fprintf(stderr, "amqp_io: publish failed\n");
            return 1;
        }
        if (++tag % 1000 == 0)
            wait_confirms(st, tag);
    }
    wait_confirms(st, tag);
    free(line);
    amqp_channel_close(st, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(st, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(st);
    return 0;
}

/* ---- dump ---- */

static void put_bytes(amqp_bytes_t b)
{
    fwrite(b.bytes, 1, b.len, stdout);
}

static int entry_cmp(const void *a, const void *b)
{
    const amqp_table_entry_t *x = a, *y = b;
    size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int c = memcmp(x->key.bytes, y->key.bytes, n);
    return c ? c : (x->key.len > y->key.len) - (x->key.len < y->key.len);
}

static void print_message(const amqp_message_t *m)
{
    const amqp_basic_properties_t *p = &m->properties;
    for (size_t i = 0; i < N_PROPS; i++) {
        if (!(p->_flags & props[i].flag))
            continue;
        const char *at = (const char *)p + props[i].off;
        printf("%s=", props[i].name);
        if (props[i].kind == 's')
            put_bytes(*(const amqp_bytes_t *)at);
        else if (props[i].kind == 'b')
            printf("%u", *(const uint8_t *)at);
        else
            printf("%llu", (unsigned long long)*(const uint64_t *)at);
        putchar('\t');
    }
    if (p->_flags & AMQP_BASIC_HEADERS_FLAG) {
        amqp_table_entry_t *e = p->headers.entries;
        qsort(e, (size_t)p->headers.num_entries, sizeof(*e), entry_cmp);
        for (int i = 0; i < p->headers.num_entries; i++) {
            printf("h.");
            put_bytes(e[i].key);
            putchar('=');
            if (e[i].value.kind == AMQP_FIELD_KIND_UTF8 || e[i].value.kind == AMQP_FIELD_KIND_BYTES)
                put_bytes(e[i].value.value.bytes);
            else
                printf("?%c", e[i].value.kind);
            putchar('\t');
        }
    }
    printf("body=");
    put_bytes(m->body);
    putchar('\n');
}

static int dump(const char *url, const char *queue, long count, int idle_ms)
{
    amqp_connection_state_t st = connect_url(url);
    amqp_basic_qos(st, 1, 0, 1000, 0);
    die("qos", amqp_get_rpc_reply(st));
    amqp_basic_consume(st, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    die("consume", amqp_get_rpc_reply(st));
    long got = 0;
    uint64_t last = 0;
    while (count <= 0 || got < count) {
        amqp_envelope_t env;
        struct timeval tv = {idle_ms / 1000, (idle_ms % 1000) * 1000};
        amqp_maybe_release_buffers(st);
        amqp_rpc_reply_t r = amqp_consume_message(st, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            break;
        die("consume", r);
        print_message(&env.message);
        last = env.delivery_tag;
        amqp_destroy_envelope(&env);
        if (++got % 500 == 0)
            amqp_basic_ack(st, 1, last, 1);
    }
    fflush(stdout);
    if (last)
        amqp_basic_ack(st, 1, last, 1);
    amqp_channel_close(st, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(st, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(st);
    return count > 0 && got < count ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "publish") == 0)
        return publish(argv[2], argv[3], argv[4]);
    if (argc >= 5 && strcmp(argv[1], "dump") == 0)
        return dump(argv[2], argv[3], atol(argv[4]), argc > 5 ? atoi(argv[5]) : 2000);
    fprintf(stderr, "usage: amqp_io publish URL EXCHANGE KEY < lines\n"
                    "       amqp_io dump URL QUEUE COUNT [IDLE_MS] > lines\n");
    return 2;
}
