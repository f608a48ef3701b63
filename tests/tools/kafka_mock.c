/* kafka_mock - serve librdkafka's in-process mock Kafka cluster on loopback for tests.
 *
 *   kafka_mock [-b BROKERS] [-t TOPIC:PARTITIONS]... [-D]
 *
 * Prints the bootstrap list ("127.0.0.1:port,...") as the first line of stdout,
 * then runs until SIGTERM/SIGINT (or "quit" on stdin).
 * Control: SIGUSR1 sets every broker down, SIGUSR2 sets every broker up.
 * Commands on stdin, one per line, each answered with "ok" or "error ...":
 *   down ID | up ID     (ID 0 = every broker)
 *   rtt ID MS           round-trip delay for a broker
 *   topic NAME N        create a topic with N partitions
 *   errors API CODE N   the next N requests of Kafka API key API fail with error CODE
 *                       (API 0 = Produce, 1 = Fetch, 8 = OffsetCommit)
 *   quit
 * -D starts with every broker down (a broker unreachable at start).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t down_req;
static volatile sig_atomic_t up_req;
static int n_brokers = 1;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        down_req = 1;
    else if (sig == SIGUSR2)
        up_req = 1;
    else
        stop_flag = 1;
}

/* Sets broker id (0: all) up or down. Returns 0, or -1 for an unknown broker. */
static int set_state(rd_kafka_mock_cluster_t *mc, int id, int up)
{
    if (id < 0 || id > n_brokers)
        return -1;
    for (int b = 1; b <= n_brokers; b++) {
        if (id != 0 && b != id)
            continue;
        if (up)
            rd_kafka_mock_broker_set_up(mc, b);
        else
            rd_kafka_mock_broker_set_down(mc, b);
    }
    fprintf(stderr, "kafka_mock: broker %d %s\n", id, up ? "up" : "down");
    return 0;
}

static int create_topic(rd_kafka_mock_cluster_t *mc, const char *name, int parts)
{
    int rf = n_brokers < 3 ? n_brokers : 3;
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name, parts, rf);
    if (err) {
        fprintf(stderr, "kafka_mock: topic %s: %s\n", name, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

static void command(rd_kafka_mock_cluster_t *mc, char *line)
{
    char name[256];
    int a, b, c, rc = -1;
    if (sscanf(line, "down %d", &a) == 1)
        rc = set_state(mc, a, 0);
    else if (sscanf(line, "up %d", &a) == 1)
        rc = set_state(mc, a, 1);
    else if (sscanf(line, "rtt %d %d", &a, &b) == 2)
        rc = rd_kafka_mock_broker_set_rtt(mc, a, b) ? -1 : 0;
    else if (sscanf(line, "topic %255s %d", name, &b) == 2)
        rc = create_topic(mc, name, b);
    else if (sscanf(line, "errors %d %d %d", &a, &b, &c) == 3 && c > 0 && c <= 1000) {
        rd_kafka_resp_err_t errs[1000];
        for (int i = 0; i < c; i++)
            errs[i] = (rd_kafka_resp_err_t)b;
        rd_kafka_mock_push_request_errors_array(mc, (int16_t)a, (size_t)c, errs);
        rc = 0;
    } else if (strncmp(line, "quit", 4) == 0) {
        stop_flag = 1;
        rc = 0;
    }
    if (rc == 0)
        printf("ok\n");
    else
        printf("error: %s\n", line);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    char errstr[256];
    int opt, start_down = 0;
    char *topics[64];
    int n_topics = 0;

    while ((opt = getopt(argc, argv, "b:t:D")) != -1) {
        switch (opt) {
        case 'b':
            n_brokers = atoi(optarg);
            break;
        case 't':
            if (n_topics < 64)
                topics[n_topics++] = optarg;
            break;
        case 'D':
            start_down = 1;
            break;
        default:
            fprintf(stderr, "usage: %s [-b brokers] [-t topic:partitions]... [-D]\n", argv[0]);
            return 1;
        }
    }
    if (n_brokers < 1 || n_brokers > 16) {
        fprintf(stderr, "kafka_mock: -b must be 1..16\n");
        return 1;
    }

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, n_brokers);
    if (!mc) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        return 1;
    }
    for (int i = 0; i < n_topics; i++) {
        char *colon = strrchr(topics[i], ':');
        int parts = 1;
        if (colon) {
            *colon = '\0';
            parts = atoi(colon + 1);
        }
        if (create_topic(mc, topics[i], parts > 0 ? parts : 1) != 0)
            return 1;
    }
    if (start_down)
        set_state(mc, 0, 0);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    char line[512];
    size_t used = 0;
    int stdin_open = 1;
    while (!stop_flag) {
        if (down_req) {
            down_req = 0;
            set_state(mc, 0, 0);
        }
        if (up_req) {
            up_req = 0;
            set_state(mc, 0, 1);
        }
        if (!stdin_open) {
            usleep(50 * 1000);
            continue;
        }
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        int r = poll(&pfd, 1, 50);
        if (r <= 0)
            continue;
        ssize_t got = read(0, line + used, sizeof(line) - 1 - used);
        if (got <= 0) {
            if (got < 0 && errno == EINTR)
                continue;
            stdin_open = 0; /* no more commands; keep serving until a signal */
            continue;
        }
        used += (size_t)got;
        line[used] = '\0';
        char *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            command(mc, line);
            size_t rest = used - (size_t)(nl + 1 - line);
            memmove(line, nl + 1, rest);
            used = rest;
            line[used] = '\0';
        }
        if (used == sizeof(line) - 1)
            used = 0; /* an overlong line: drop it */
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
