/* in_opts - config test input: one option of every type, with defaults, so
 * test_config can check validation and the sl_opt_* readers. Emits nothing. */
#include <sluice/sluice.h>

static int opts_run(void *wctx, struct sl_input_sink *sink)
{
    (void)wctx;
    (void)sink;
    return SL_OK;
}

static void opts_stop(void *ctx)
{
    (void)ctx;
}

static const char *const colors[] = {"red", "green", NULL};

static const struct sl_option opts_options[] = {
    {.name = "s", .type = SL_OPT_STRING, .def = "dflt", .doc = "a string"},
    {.name = "i", .type = SL_OPT_INT, .def = "42", .doc = "an integer"},
    {.name = "hex", .type = SL_OPT_INT, .def = "0x10", .doc = "an integer default in hex"},
    {.name = "b", .type = SL_OPT_BOOL, .def = "true", .doc = "a boolean"},
    {.name = "d", .type = SL_OPT_DOUBLE, .def = "2.5", .doc = "a number"},
    {.name = "l", .type = SL_OPT_LIST, .doc = "a list of strings"},
    {.name = "g", .type = SL_OPT_GROUP, .doc = "a group"},
    {.name = "any", .type = SL_OPT_ANY, .doc = "anything"},
    {.name = "req", .type = SL_OPT_STRING, .required = true, .doc = "a required string"},
    /* one of each check */
    {.name = "range", .type = SL_OPT_INT, .def = "5", SL_RANGE(1, 10), .doc = "1..10"},
    {.name = "frac", .type = SL_OPT_DOUBLE, SL_RANGE(0.5, 2.5), .doc = "0.5..2.5"},
    {.name = "least", .type = SL_OPT_INT, SL_AT_LEAST(0), .doc = ">= 0"},
    {.name = "ms", .type = SL_OPT_INT, .check = SL_CHECK_DURATION_MS, .doc = "a duration"},
    {.name = "color", .type = SL_OPT_STRING, .allowed = colors, .doc = "red or green"},
    {.name = "nonempty", .type = SL_OPT_STRING, .check = SL_CHECK_NONEMPTY, .doc = "not empty"},
    {.name = "infile", .type = SL_OPT_STRING, .check = SL_CHECK_READABLE_FILE, .doc = "to read"},
    {.name = "outfile", .type = SL_OPT_STRING, .check = SL_CHECK_WRITABLE_PATH, .doc = "to write"},
    {.name = "optfile",
     .type = SL_OPT_STRING,
     .def = "",
     .check = SL_CHECK_WRITABLE_PATH,
     .doc = "to write; \"\" (the default): none"},
    {.name = "addr", .type = SL_OPT_STRING, .check = SL_CHECK_ADDRESS, .doc = "host:port"},
    {.name = "re", .type = SL_OPT_STRING, .check = SL_CHECK_REGEX, .doc = "a regex"},
    {.name = "names",
     .type = SL_OPT_LIST,
     .check = SL_CHECK_NAME_OR_REGEX,
     .doc = "names, ^regexes"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "opts",
    .version = "0.0.1",
    .doc = "one option of every type (config tests)",
    .options = opts_options,
    .run = opts_run,
    .stop = opts_stop,
};
