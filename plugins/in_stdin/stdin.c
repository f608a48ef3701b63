/* in_stdin - one message per line from standard input, until EOF. */
#include <stdlib.h>
#include <unistd.h>

#include "../in_file/line_reader.h"

static int stdin_init(struct sl_instance *inst, void **ctx)
{
    int64_t max_line = sl_opt_int(inst, "max_line");
    if (max_line < 1) {
        sl_log(inst, SL_LOG_ERROR, "%s: max_line must be at least 1", sl_instance_where(inst));
        return SL_ERROR;
    }
    if (sl_instance_checking(inst))
        return SL_OK;
    struct line_reader *r = malloc(sizeof(*r));
    if (!r || line_reader_init(r, STDIN_FILENO, "stdin", (size_t)max_line, false, inst) < 0) {
        free(r);
        return SL_ERROR;
    }
    *ctx = r;
    return SL_OK;
}

static void stdin_destroy(void *ctx)
{
    line_reader_fini(ctx);
    free(ctx);
}

static int stdin_run(void *ctx, struct sl_input_sink *sink)
{
    return line_reader_run(ctx, sink);
}

static void stdin_stop(void *ctx)
{
    line_reader_stop(ctx);
}

static const struct sl_option stdin_options[] = {
    {"max_line", SL_OPT_INT, "16777216", false, "longer lines go to dead_letter (bytes)"},
    {NULL, 0, NULL, false, NULL},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "stdin",
    .version = SLUICE_VERSION,
    .doc = "read standard input one message per line",
    .options = stdin_options,
    .init = stdin_init,
    .destroy = stdin_destroy,
    .run = stdin_run,
    .stop = stdin_stop,
};
