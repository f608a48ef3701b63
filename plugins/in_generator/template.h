/* template.h - payload templates with {seq}, {ts} and {worker} fields,
 * split once at start so rendering is a few memcpys. */
#ifndef SLUICE_TEMPLATE_H
#define SLUICE_TEMPLATE_H

#include <sluice/sluice.h>

enum tpl_field { TPL_TEXT, TPL_SEQ, TPL_TS, TPL_WORKER };

struct tpl_part {
    int field;
    const char *text; /* TPL_TEXT */
    size_t len;
};

struct tpl {
    struct tpl_part *parts;
    size_t n;
    size_t max_len; /* longest rendering */
};

int tpl_parse(struct tpl *t, const char *text);
void tpl_free(struct tpl *t);
/* Render into b (replacing its content). Returns 0 or -1 out of memory. */
int tpl_render(const struct tpl *t, struct sl_buf *b, uint64_t seq, int64_t ts_ms, unsigned worker);

#endif
