// simdjson.cpp - reference figure for bench/json_libs.sh: simdjson's DOM parse alone, on the
// same corpus as json_libs.c (the codec's simdjson path, which also builds the record tree,
// is measured there).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include <simdjson.h>

static std::vector<std::string> lines;
static volatile size_t sink;

static double now()
{
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next()
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

// Must match make_corpus() in json_libs.c.
static void make_corpus(size_t n)
{
    static const char *levels[] = {"info", "warn", "error", "debug"};
    static const char *verbs[] = {"GET", "POST", "PUT", "DELETE"};
    char buf[256];
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next();
        int len = snprintf(buf, sizeof(buf),
                           "{\"ts\":%llu,\"lvl\":\"%s\",\"host\":\"web-%02u\",\"msg\":\"%s "
                           "/orders/%u\",\"ms\":%u.%02u,\"ok\":%s,\"user\":{\"id\":%u}}",
                           1732579200000ull + i, levels[r & 3], (unsigned)(r >> 8) % 64,
                           verbs[(r >> 4) & 3], (unsigned)(r >> 16) % 100000,
                           (unsigned)(r >> 32) % 500, (unsigned)(r >> 40) % 100,
                           (r >> 50) & 1 ? "true" : "false", (unsigned)(r >> 20) % 10000);
        lines.emplace_back(buf, (size_t)len);
    }
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], nullptr, 10) : 2000000;
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    make_corpus(n);
    simdjson::dom::parser parser;
    double best = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        for (const std::string &l : lines) {
            simdjson::dom::element doc;
            if (parser.parse(l.data(), l.size()).get(doc) != simdjson::SUCCESS)
                return 1;
            sink += doc.is_object();
        }
        double rate = lines.size() / (now() - t0);
        if (rate > best)
            best = rate;
    }
    printf("json_libs %-38s parse %10.0f\n", "simdjson DOM (no tree)", best);
    return 0;
}
