/* template.c - see template.h. */
#include <stdlib.h>
#include <string.h>

#include "template.h"

static const struct {
    const char *name;
    int field;
} fields[] = {{"{seq}", TPL_SEQ}, {"{ts}", TPL_TS}, {"{worker}", TPL_WORKER}};

int tpl_parse(struct tpl *t, const char *text)
{
    size_t len = strlen(text);
    t->parts = calloc(len * 2 + 1, sizeof(*t->parts));
    t->n = 0;
    if (!t->parts)
        return -1;
    const char *lit = text;
    for (const char *p = text; *p;) {
        int field = TPL_TEXT;
        size_t flen = 0;
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            size_t n = strlen(fields[i].name);
            if (strncmp(p, fields[i].name, n) == 0) {
                field = fields[i].field;
                flen = n;
            }
        }
        if (field == TPL_TEXT) {
            p++;
            continue;
        }
        if (p > lit)
            t->parts[t->n++] = (struct tpl_part){TPL_TEXT, lit, (size_t)(p - lit)};
        t->parts[t->n++] = (struct tpl_part){field, NULL, 0};
        p += flen;
        lit = p;
    }
    if (*lit)
        t->parts[t->n++] = (struct tpl_part){TPL_TEXT, lit, strlen(lit)};
    t->max_len = 0;
    for (size_t i = 0; i < t->n; i++)
        t->max_len += t->parts[i].field == TPL_TEXT ? t->parts[i].len : 20; /* digits of 2^64 */
    return 0;
}

void tpl_free(struct tpl *t)
{
    free(t->parts);
    t->parts = NULL;
}

static size_t utoa(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

int tpl_render(const struct tpl *t, struct sl_buf *b, uint64_t seq, int64_t ts_ms, unsigned worker)
{
    b->len = 0;
    if (sl_buf_reserve(b, t->max_len + 1) < 0)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        const struct tpl_part *p = &t->parts[i];
        char num[24];
        const void *src = p->text;
        size_t n = p->len;
        if (p->field != TPL_TEXT) {
            uint64_t v = p->field == TPL_SEQ ? seq : p->field == TPL_TS ? (uint64_t)ts_ms : worker;
            n = utoa(num, v);
            src = num;
        }
        memcpy(b->data + b->len, src, n);
        b->len += n;
    }
    b->data[b->len] = 0;
    return 0;
}
