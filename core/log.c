/* log.c - one line per event on stderr: time, level, instance, message, as
 * text, JSON or logfmt; a call site that repeats itself is rate-limited and
 * the suppressed lines are counted. A line about one message names its
 * trace id, in every format, here and nowhere else. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

static int log_level = SL_LOG_INFO;
static int log_format = SL__LOG_TEXT;
static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"text", "json", "logfmt"};

/* Rate limit: per (instance, level, format string) -- one call site of one
 * instance -- at most LIMIT_BURST lines per LIMIT_WINDOW_NS; the rest are
 * counted and summed up in one line when the window is over (on the next
 * line from that site, or at exit). */
#define LIMIT_BURST     20
#define LIMIT_WINDOW_NS (10 * 1000000000LL)
#define LIMIT_SLOTS     256

struct site {
    const struct sl_instance *inst;
    const char *fmt;
    int level;
    int64_t window_start;
    uint32_t lines;      /* in this window */
    uint64_t suppressed; /* in this window */
    char last[160];      /* the last line let through, for the summary */
};

static pthread_mutex_t sites_mu = PTHREAD_MUTEX_INITIALIZER;
static struct site sites[LIMIT_SLOTS];

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

void sl__log_set_format(int format)
{
    log_format = format;
}

int sl__log_parse_format(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, format_names[i]) == 0)
            return i;
    return -1;
}

bool sl_log_enabled(int level)
{
    return level >= log_level;
}

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] < 0x80                   ? 1
               : s[0] >= 0xc2 && s[0] < 0xe0 ? 2
               : s[0] >= 0xe0 && s[0] < 0xf0 ? 3
               : s[0] >= 0xf0 && s[0] < 0xf5 ? 4
                                             : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
        (n == 4 && s[0] == 0xf0 && s[1] < 0x90) || (n == 4 && s[0] == 0xf4 && s[1] >= 0x90))
        return 0; /* overlong, surrogate, beyond U+10FFFF */
    return n;
}

/* Append s to buf[*n..cap) quoted for JSON (json) or logfmt (!json): the
 * quote, backslash and control characters escaped, bytes that are not UTF-8
 * replaced by U+FFFD so every line stays valid; truncates silently. */
static void put_quoted(char *buf, size_t cap, size_t *n, const char *s, bool json)
{
    size_t i = *n;
    if (i + 1 < cap)
        buf[i++] = '"';
    while (*s && i + 8 < cap) {
        unsigned char c = (unsigned char)*s;
        size_t len = utf8_len((const unsigned char *)s);
        if (len == 0) {
            memcpy(buf + i, "\xef\xbf\xbd", 3);
            i += 3;
            s++;
            continue;
        }
        if (len > 1) {
            memcpy(buf + i, s, len);
            i += len;
            s += len;
            continue;
        }
        s++;
        if (c == '"' || c == '\\') {
            buf[i++] = '\\';
            buf[i++] = (char)c;
        } else if (c == '\n') {
            buf[i++] = '\\';
            buf[i++] = 'n';
        } else if (c == '\t') {
            buf[i++] = '\\';
            buf[i++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            i += (size_t)snprintf(buf + i, cap - i, json ? "\\u%04x" : "\\x%02x", c);
        } else {
            buf[i++] = (char)c;
        }
    }
    if (i + 1 < cap)
        buf[i++] = '"';
    *n = i;
}

static void put_raw(char *buf, size_t cap, size_t *n, const char *s)
{
    size_t len = strlen(s);
    if (*n + len >= cap)
        len = cap - *n - 1;
    memcpy(buf + *n, s, len);
    *n += len;
}

/* Format and write one line; one write(2) keeps lines whole across threads.
 * trace_id: the hex trace id of the message the line is about, or NULL. */
static void emit(const struct sl_instance *inst, int level, const char *msg, const char *trace_id)
{
    char line[4096], ts[64];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
    const char *name = inst ? inst->name : "sluice";
    const char *plugin = inst && inst->plugin ? inst->plugin->name : NULL;
    const char *kind = inst && inst->plugin ? sl__kind_name(inst->kind) : NULL;
    size_t n = 0, cap = sizeof(line) - 1; /* room for the newline */
    if (log_format == SL__LOG_TEXT) {
        n = (size_t)snprintf(line, cap, "%s %s %s: ", ts, level_names[level], name);
        put_raw(line, cap, &n, msg);
        if (trace_id) {
            put_raw(line, cap, &n, " trace_id=");
            put_raw(line, cap, &n, trace_id);
        }
    } else {
        bool json = log_format == SL__LOG_JSON;
        const char *const keys[] = {"ts", "level", "instance", "kind", "plugin", "trace_id", "msg"};
        const char *const values[] = {ts, level_names[level], name, kind, plugin, trace_id, msg};
        put_raw(line, cap, &n, json ? "{" : "");
        bool first = true;
        for (size_t k = 0; k < sizeof(keys) / sizeof(*keys); k++) {
            if (!values[k])
                continue;
            put_raw(line, cap, &n, first ? "" : json ? "," : " ");
            first = false;
            if (json) {
                put_quoted(line, cap, &n, keys[k], true);
                put_raw(line, cap, &n, ":");
                put_quoted(line, cap, &n, values[k], true);
            } else {
                put_raw(line, cap, &n, keys[k]);
                put_raw(line, cap, &n, "=");
                /* logfmt: bare values when they need no quotes */
                if (strpbrk(values[k], " =\"\\\n\t") || !*values[k])
                    put_quoted(line, cap, &n, values[k], false);
                else
                    put_raw(line, cap, &n, values[k]);
            }
        }
        put_raw(line, cap, &n, json ? "}" : "");
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

static void emit_suppressed(const struct site *s)
{
    char msg[400];
    snprintf(msg, sizeof(msg),
             "%llu more lines like this were suppressed (at most %d per %llds): %s",
             (unsigned long long)s->suppressed, LIMIT_BURST,
             (long long)(LIMIT_WINDOW_NS / 1000000000LL), s->last);
    emit(s->inst, s->level, msg, NULL);
}

/* true: print this line. Reports the previous window's suppressed count
 * first when a new window begins. *site_out: where to keep the line's text,
 * NULL when the site is not tracked. */
static bool admit(const struct sl_instance *inst, int level, const char *fmt,
                  struct site **site_out)
{
    *site_out = NULL;
    uintptr_t h = ((uintptr_t)fmt * 31u + (uintptr_t)inst) * 7u + (uintptr_t)level;
    size_t i = (h ^ (h >> 9)) % LIMIT_SLOTS;
    int64_t now = sl__now_ns();
    bool ok = true;
    pthread_mutex_lock(&sites_mu);
    for (size_t probe = 0; probe < 8; probe++, i = (i + 1) % LIMIT_SLOTS) {
        struct site *s = &sites[i];
        if (s->fmt && (s->fmt != fmt || s->inst != inst || s->level != level))
            continue;
        if (!s->fmt || now - s->window_start >= LIMIT_WINDOW_NS) {
            if (s->suppressed)
                emit_suppressed(s);
            *s = (struct site){inst, fmt, level, now, 0, 0, ""};
        }
        if (s->lines < LIMIT_BURST) {
            s->lines++;
            *site_out = s;
        } else {
            s->suppressed++;
            ok = false;
        }
        break;
    } /* a full neighbourhood: not limited */
    pthread_mutex_unlock(&sites_mu);
    return ok;
}

void sl__log_flush_suppressed(void)
{
    pthread_mutex_lock(&sites_mu);
    for (size_t i = 0; i < LIMIT_SLOTS; i++)
        if (sites[i].fmt && sites[i].suppressed) {
            emit_suppressed(&sites[i]);
            sites[i].suppressed = 0;
        }
    pthread_mutex_unlock(&sites_mu);
}

static void vlog(const struct sl_instance *inst, int level, bool limited,
                 const struct sl_msg *about, const char *fmt, va_list ap)
{
    if (level < log_level)
        return;
    if (level < SL_LOG_DEBUG || level > SL_LOG_ERROR)
        level = SL_LOG_ERROR;
    struct site *site = NULL;
    if (limited && !admit(inst, level, fmt, &site))
        return;
    char msg[2048];
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        return;
    if (site) {
        pthread_mutex_lock(&sites_mu);
        if (site->fmt == fmt && site->inst == inst) { /* not taken over meanwhile */
            size_t len = strnlen(msg, sizeof(site->last) - 1);
            memcpy(site->last, msg, len);
            site->last[len] = '\0';
        }
        pthread_mutex_unlock(&sites_mu);
    }
    char trace_id[33];
    if (about)
        sl__trace_id_hex(about, trace_id);
    emit(inst, level, msg, about ? trace_id : NULL);
}

void sl_log(const struct sl_instance *inst, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(inst, level, true, NULL, fmt, ap);
    va_end(ap);
}

void sl__log_unlimited(const struct sl_instance *inst, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(inst, level, false, NULL, fmt, ap);
    va_end(ap);
}

void sl_log_msg(const struct sl_instance *inst, int level, const struct sl_msg *m, const char *fmt,
                ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(inst, level, true, m, fmt, ap);
    va_end(ap);
}

void sl__log_msg_unlimited(const struct sl_instance *inst, int level, const struct sl_msg *m,
                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(inst, level, false, m, fmt, ap);
    va_end(ap);
}

/* A config problem, like config.c's: "FILE:LINE: NAME: message", plain (not
 * in --log-format: it is what --check prints), never throttled. */
void sl_instance_error(const struct sl_instance *inst, const char *fmt, ...)
{
    char msg[2048], line[2400];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    int n = snprintf(line, sizeof(line) - 1, "%s: %s: %s", inst->where,
                     inst->name ? inst->name : "?", msg);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) - 1 ? (size_t)n : sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
    /* The instance is the core's; plugins see it const. */
    ((struct sl_instance *)inst)->error_reported = true;
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
