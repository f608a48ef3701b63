/* log.c - one line per event on stderr: time, level, instance, message. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

static int log_level = SL_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sl__log_set_level(int level)
{
    log_level = level;
}

int sl__log_parse_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

bool sl_log_enabled(int level)
{
    return level >= log_level;
}

void sl_vlog(const struct sl_instance *inst, int level, const char *fmt, va_list ap)
{
    if (level < log_level)
        return;
    if (level < SL_LOG_DEBUG || level > SL_LOG_ERROR)
        level = SL_LOG_ERROR;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], inst ? inst->name : "sluice", ": ");
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write per line keeps lines whole across threads. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void sl_log(const struct sl_instance *inst, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_vlog(inst, level, fmt, ap);
    va_end(ap);
}

bool sl__throttle_pass(struct sl__throttle *t, uint64_t *suppressed)
{
    uint64_t nth = atomic_fetch_add_explicit(&t->seen, 1, memory_order_relaxed);
    *suppressed = 0;
    if (nth < SL__LOG_FIRST || (nth - SL__LOG_FIRST) % SL__LOG_EVERY == SL__LOG_EVERY - 1 ||
        sl_log_enabled(SL_LOG_DEBUG)) {
        *suppressed = atomic_exchange_explicit(&t->suppressed, 0, memory_order_relaxed);
        return true;
    }
    atomic_fetch_add_explicit(&t->suppressed, 1, memory_order_relaxed);
    return false;
}
