/* amqp_relay.c - the bare librabbitmq program bench/rabbitmq.sh measures
 * sluice against: one thread, two connections. It consumes from SRC with
 * manual acks and the given prefetch, publishes each batch to DST
 * (persistent, mandatory) on a confirm channel, waits for the batch's
 * confirms, then acks the batch with multiple = true.
 *
 *   amqp_relay URL SRC DST COUNT [PREFETCH=1000] [BATCH=256]
 *
 * Prints "relayed=N seconds=S rate=R". */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check(const char *what, amqp_rpc_reply_t r)
{
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "amqp_relay: %s failed\n", what);
        exit(1);
    }
}

static amqp_connection_state_t open_conn(struct amqp_connection_info *ci)
{
    amqp_connection_state_t st = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(st);
    if (amqp_socket_open(s, ci->host, ci->port) != AMQP_STATUS_OK) {
        fprintf(stderr, "amqp_relay: cannot connect\n");
        exit(1);
    }
    check("login", amqp_login(st, ci->vhost[0] ? ci->vhost : "/", 0, 131072, 0,
                              AMQP_SASL_METHOD_PLAIN, ci->user, ci->password));
    amqp_channel_open(st, 1);
    check("channel", amqp_get_rpc_reply(st));
    return st;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: amqp_relay URL SRC DST COUNT [PREFETCH] [BATCH]\n");
        return 2;
    }
    long count = atol(argv[4]);
    int prefetch = argc > 5 ? atoi(argv[5]) : 1000;
    int batch = argc > 6 ? atoi(argv[6]) : 256;
    char *url = strdup(argv[1]);
    struct amqp_connection_info ci;
    if (amqp_parse_url(url, &ci) != AMQP_STATUS_OK)
        return 2;
    amqp_connection_state_t in = open_conn(&ci), out = open_conn(&ci);
    amqp_basic_qos(in, 1, 0, (uint16_t)prefetch, 0);
    check("qos", amqp_get_rpc_reply(in));
    amqp_basic_consume(in, 1, amqp_cstring_bytes(argv[2]), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    check("consume", amqp_get_rpc_reply(in));
    amqp_confirm_select(out, 1);
    check("confirm.select", amqp_get_rpc_reply(out));

    amqp_basic_properties_t props = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
                                     .delivery_mode = AMQP_DELIVERY_PERSISTENT};
    amqp_bytes_t dst = amqp_cstring_bytes(argv[3]);
    long done = 0;
    uint64_t out_tag = 0;
    double t0 = 0;
    while (done < count) {
        uint64_t last_in = 0;
        int n = 0;
        while (n < batch && done + n < count) {
            amqp_envelope_t env;
            struct timeval tv = {0, n ? 2000 : 1000000}; /* linger 2 ms once a batch started */
            amqp_maybe_release_buffers(in);
            amqp_rpc_reply_t r = amqp_consume_message(in, &env, &tv, 0);
            if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                r.library_error == AMQP_STATUS_TIMEOUT) {
                if (n)
                    break;
                continue;
            }
            check("consume", r);
            if (!t0)
                t0 = now();
            if (amqp_basic_publish(out, 1, amqp_empty_bytes, dst, 1, 0, &props, env.message.body) !=
                AMQP_STATUS_OK) {
                fprintf(stderr, "amqp_relay: publish failed\n");
                return 1;
            }
            last_in = env.delivery_tag;
            amqp_destroy_envelope(&env);
            n++;
        }
        out_tag += (uint64_t)n;
        for (uint64_t acked = out_tag - (uint64_t)n; acked < out_tag;) {
            amqp_frame_t f;
            if (amqp_simple_wait_frame(out, &f) != AMQP_STATUS_OK)
                return 1;
            if (f.frame_type != AMQP_FRAME_METHOD)
                continue;
            if (f.payload.method.id != AMQP_BASIC_ACK_METHOD) {
                fprintf(stderr, "amqp_relay: publish refused\n");
                return 1;
            }
            amqp_basic_ack_t *a = f.payload.method.decoded;
            if (a->multiple || a->delivery_tag == acked + 1)
                acked = a->delivery_tag;
        }
        amqp_maybe_release_buffers(out);
        amqp_basic_ack(in, 1, last_in, 1);
        done += n;
    }
    double secs = now() - t0;
    printf("relayed=%ld seconds=%.3f rate=%.0f\n", done, secs, (double)done / secs);
    amqp_connection_close(in, AMQP_REPLY_SUCCESS);
    amqp_connection_close(out, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(in);
    amqp_destroy_connection(out);
    free(url);
    return 0;
}
