/* main.c - the sluice command line: run, --check, --list-plugins. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "stdfds.h"

static void usage(FILE *out)
{
    fputs(
        "usage: sluice -c FILE [--check | --graph] [--stats SECS] [--log-level L] [--log-format "
        "F]\n"
        "       sluice --list-plugins[=markdown]\n"
        "       sluice --version\n"
        "\n"
        "  -c, --config FILE     the pipeline (libconfig syntax)\n"
        "      --check           validate the config, load plugins, compile scripts; run nothing\n"
        "      --verbose         with --check: print the effective config (after @include and "
        "${VAR})\n"
        "      --graph           print the pipeline as Graphviz DOT (dot -Tsvg); run nothing\n"
        "      --stats SECS      print a progress line to stderr every SECS seconds\n"
        "      --log-level L     debug, info, warn or error (default info)\n"
        "      --log-format F    text (default), json or logfmt\n"
        "      --list-plugins    list every plugin found, its options and their checks\n"
        "                        (=markdown: as the reference in docs/options.md)\n"
        "      --version         print the version and the plugin ABI\n"
        "  -h, --help            this text\n"
        "\n"
        "exit: 0 every message delivered, dead-lettered, dropped or unrouted (also after\n"
        "      SIGINT/SIGTERM and a drain); 1 bad config or usage; 2 fatal runtime error, or\n"
        "      messages discarded (failed with no dead_letter configured)\n",
        out);
}

static int list_plugins(bool markdown)
{
    struct sl__loader *l = sl__loader_new(NULL, 0);
    if (!l)
        return 2;
    int n = sl__loader_list(l, stdout, markdown);
    sl__loader_free(l);
    return n > 0 ? 0 : 1;
}

static void cleanup(struct sl__pipeline *pl)
{
    sl__trace_finish();         /* the stages are done: send the last spans */
    sl__log_flush_suppressed(); /* names instances: before they are freed */
    sl__pipeline_free(pl);
    sl__ack_destroy();
    sl__pool_destroy();
}

/* The last log line says what happened to every message; the exit code is
 * 0 only when each one was delivered, dead-lettered, dropped on purpose or
 * unrouted (filtered by the config), and nothing failed fatally. */
static int summary(struct sl__pipeline *pl, double secs)
{
    struct sl__counts t;
    sl__totals(pl, &t);
    sl_log(NULL, SL_LOG_INFO,
           "done in %.3fs: %llu in, %llu out, %llu dead-lettered, %llu dropped, %llu unrouted, "
           "%llu discarded; %llu pooled messages served them",
           secs, (unsigned long long)t.in, (unsigned long long)t.out, (unsigned long long)t.dead,
           (unsigned long long)t.dropped, (unsigned long long)t.unrouted,
           (unsigned long long)t.discarded, (unsigned long long)sl__pool_msgs_created());
    if (t.discarded && pl->failure_mode != SL__FAILURE_DISCARD) {
        sl_log(NULL, SL_LOG_ERROR,
               "not everything was delivered: %llu failed messages were discarded, as no "
               "dead_letter is configured (exit 2; failure = \"discard\" accepts that)",
               (unsigned long long)t.discarded);
        return 2;
    }
    return atomic_load(&pl->fatal) ? 2 : 0;
}

/* The drain outlived stop_timeout_ms: some stage cannot confirm (an output or
 * the dead-letter output failing for good). Its messages are not acknowledged,
 * so their source sends them again; the threads still retrying cannot be
 * joined, so the process ends here, as on a second signal. */
static void stop_timed_out(struct sl__pipeline *pl, double secs)
{
    uint64_t in_flight = 0;
    for (size_t i = 0; i < pl->n_inputs; i++)
        in_flight += atomic_load(&pl->inputs[i]->in_flight);
    sl_log(NULL, SL_LOG_ERROR,
           "the drain did not finish within stop_timeout_ms (%u ms): exiting without "
           "acknowledging the %llu messages still in flight (their source delivers them again)",
           pl->stop_timeout_ms, (unsigned long long)in_flight);
    summary(pl, secs);
    sl__log_flush_suppressed();
    _exit(2);
}

/* A stop signal this soon after the first is the same request delivered
 * twice (GNU timeout and other supervisors signal the child and then its
 * process group), not an impatient second one. */
#define REPEAT_WINDOW_NS 1000000000LL

/* Signals are taken synchronously on this thread: every other thread has
 * them blocked, so no handler ever runs inside a worker. */
static int run(struct sl__pipeline *pl, double stats_every)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (sl__trace_start(pl) < 0 || sl__pipeline_start(pl) < 0) {
        sl_log(NULL, SL_LOG_ERROR, "cannot start the pipeline");
        return 2;
    }
    sl_log(NULL, SL_LOG_INFO, "pipeline '%s' started (%zu inputs, %zu handlers, %zu outputs%s)",
           pl->name, pl->n_inputs, pl->n_handlers, pl->n_outputs, pl->dlq ? ", dead_letter" : "");
    sl__notify_ready();
    int64_t start = sl__now_ns(), next_stats = start + (int64_t)(stats_every * 1e9);
    bool stopping = false;
    int64_t stop_signal_ns = 0;
    while (!sl__pipeline_wait(pl, 0)) {
        struct timespec ts = {0, 50 * 1000000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGHUP) {
            sl_log(NULL, SL_LOG_INFO, "SIGHUP: reloading scripts");
            sl__notify_reloading();
            sl__pipeline_reload(pl);
            sl__notify_ready();
        } else if (sig == SIGINT || sig == SIGTERM) {
            if (stopping && sl__now_ns() - stop_signal_ns < REPEAT_WINDOW_NS) {
                sl_log(NULL, SL_LOG_DEBUG, "%s again within 1 s: taken as the same request",
                       strsignal(sig));
                continue;
            }
            if (stopping) {
                sl_log(NULL, SL_LOG_WARN, "second signal: exiting now without draining");
                _exit(2);
            }
            stopping = true;
            stop_signal_ns = sl__now_ns();
            sl__notify_stopping();
            sl_log(NULL, SL_LOG_INFO, "%s: stopping inputs and draining", strsignal(sig));
            sl__pipeline_stop(pl);
        }
        if (stopping && pl->stop_timeout_ms &&
            sl__now_ns() - stop_signal_ns >= (int64_t)pl->stop_timeout_ms * 1000000)
            stop_timed_out(pl, (double)(sl__now_ns() - start) / 1e9);
        if (stats_every > 0 && sl__now_ns() >= next_stats) {
            sl__stats_line(pl, stderr, false);
            next_stats += (int64_t)(stats_every * 1e9);
        }
    }
    if (stats_every > 0)
        sl__stats_line(pl, stderr, true);
    return summary(pl, (double)(sl__now_ns() - start) / 1e9);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check", no_argument, NULL, 'k'},
                                         {"graph", no_argument, NULL, 'g'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"stats", required_argument, NULL, 's'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"log-format", required_argument, NULL, 'f'},
                                         {"list-plugins", optional_argument, NULL, 'p'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    if (sl__stdfds_reserve() < 0) {
        perror("sluice: /dev/null");
        return 2;
    }
    const char *config = NULL;
    bool check = false, list = false, graph = false, verbose = false, markdown = false;
    double stats_every = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'k':
            check = true;
            break;
        case 'g':
            graph = true;
            break;
        case 'v':
            verbose = true;
            break;
        case 's': {
            char *end;
            stats_every = strtod(optarg, &end);
            if (*end || stats_every <= 0) {
                fprintf(stderr, "sluice: --stats wants a number of seconds, not '%s'\n", optarg);
                return 1;
            }
            break;
        }
        case 'l': {
            int level = sl__log_parse_level(optarg);
            if (level < 0) {
                fprintf(stderr, "sluice: unknown log level '%s' (debug, info, warn, error)\n",
                        optarg);
                return 1;
            }
            sl__log_set_level(level);
            break;
        }
        case 'f': {
            int format = sl__log_parse_format(optarg);
            if (format < 0) {
                fprintf(stderr, "sluice: unknown log format '%s' (text, json, logfmt)\n", optarg);
                return 1;
            }
            sl__log_set_format(format);
            break;
        }
        case 'p':
            list = true;
            if (optarg && strcmp(optarg, "markdown") != 0 && strcmp(optarg, "text") != 0) {
                fprintf(stderr, "sluice: --list-plugins=%s: want text or markdown\n", optarg);
                return 1;
            }
            markdown = optarg && strcmp(optarg, "markdown") == 0;
            break;
        case 'V':
            printf("sluice %s (plugin ABI %d.%d)\n", SLUICE_VERSION, SL_ABI_MAJOR, SL_ABI_MINOR);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 1;
    }
    if (list)
        return list_plugins(markdown);
    if (verbose && !check) {
        fputs("sluice: --verbose goes with --check\n", stderr);
        return 1;
    }
    if (!config) {
        usage(stderr);
        return 1;
    }
    /* Block before any thread exists so every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file past RLIMIT_FSIZE fails with EFBIG, not the process */

    struct sl__pipeline *pl = sl__pipeline_load(config, check || graph);
    if (!pl) {
        cleanup(NULL);
        return 1;
    }
    if (graph) {
        sl__graph_print(pl, stdout);
        cleanup(pl);
        return 0;
    }
    if (check) {
        /* --verbose: stdout is the effective config alone, so it can be
         * saved and run; the verdict moves to stderr. */
        if (verbose)
            config_write(&pl->cfg, stdout);
        fprintf(verbose ? stderr : stdout, "%s: OK (%zu inputs, %zu handlers, %zu outputs%s)\n",
                config, pl->n_inputs, pl->n_handlers, pl->n_outputs,
                pl->dlq ? ", dead_letter" : "");
        cleanup(pl);
        return 0;
    }
    int rc = run(pl, stats_every);
    cleanup(pl);
    return rc;
}
