/* test_config.c - core/config.c and core/options.c through sl__pipeline_load in
 * checking mode: every config error is reported as exactly "FILE:LINE: message",
 * and a valid config loads with the documented defaults; option types and the
 * sl_opt_* readers through a test plugin with one option of each type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"

static char dir[256];

static char *write_conf(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Load in checking mode with fd 2 redirected to a file; *err gets what was printed. */
static struct sl__pipeline *load_capture(const char *path, char *err, size_t errlen)
{
    char cap[512];
    snprintf(cap, sizeof(cap), "%s/stderr.txt", dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(cap, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    struct sl__pipeline *pl = sl__pipeline_load(path, true);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(cap, "r");
    assert_non_null(f);
    size_t n = fread(err, 1, errlen - 1, f);
    err[n] = '\0';
    fclose(f);
    return pl;
}

/* The config must be refused with exactly these lines on stderr, each
 * "PATH:LINE: msg". A msg ending in "..." is a prefix: for messages whose
 * tail names things outside this test (search dirs, a plugin's option docs). */
struct want {
    int line;
    const char *msg;
};

static void expect_errors(const char *name, const char *conf, const struct want *w, size_t n)
{
    char err[8192];
    const char *path = write_conf(name, conf);
    struct sl__pipeline *pl = load_capture(path, err, sizeof(err));
    if (pl) {
        sl__pipeline_free(pl);
        fail_msg("%s loaded; wanted \"%s:%d: %s\"", name, path, w[0].line, w[0].msg);
    }
    const char *p = err;
    for (size_t i = 0; i < n; i++) {
        char want[1024];
        size_t len = strlen(w[i].msg);
        bool prefix = len >= 3 && strcmp(w[i].msg + len - 3, "...") == 0;
        int k = snprintf(want, sizeof(want), "%s:%d: %.*s", path, w[i].line,
                         (int)(prefix ? len - 3 : len), w[i].msg);
        const char *nl = strchr(p, '\n');
        size_t got = nl ? (size_t)(nl - p) : strlen(p);
        if (!nl || strncmp(p, want, (size_t)k) != 0 || (!prefix && got != (size_t)k))
            fail_msg("%s: line %zu of stderr:\n%s\nwanted%s\n%s", name, i + 1, err,
                     prefix ? " a line starting" : "", want);
        p = nl + 1;
    }
    if (*p)
        fail_msg("%s: more on stderr than expected:\n%s", name, err);
}

static void expect_error_line(const char *name, const char *conf, int line, const char *msg)
{
    expect_errors(name, conf, &(struct want){line, msg}, 1);
}

static const char *const OK_IO = "inputs = (\n"
                                 "  { type = \"generator\"; count = 10; }\n"
                                 ");\n"
                                 "outputs = (\n"
                                 "  { type = \"null\"; }\n"
                                 ");\n";

static void test_syntax_error(void **state)
{
    (void)state;
    expect_error_line("syntax.conf",
                      "name = \"x\";\n"
                      "queue = { capacity = 10 }\n"
                      "inputs = ( { type = \"generator\"; } ;\n",
                      3, "syntax error");
}

static void test_unknown_top_level_key(void **state)
{
    (void)state;
    char conf[1024];
    snprintf(conf, sizeof(conf), "%s\ninptus = ();\n", OK_IO);
    expect_error_line("topkey.conf", conf, 8, "unknown key 'inptus' in the top level");
}

static void test_unknown_plugin_type(void **state)
{
    (void)state;
    expect_error_line("type.conf",
                      "inputs = (\n"
                      "  { type = \"generator\"; },\n"
                      "  { type = \"nosuch\"; }\n"
                      ");\n"
                      "outputs = ( { type = \"null\"; } );\n",
                      3, "unknown input type 'nosuch': no in_nosuch.so in ...");
}

static void test_unknown_option_key(void **state)
{
    (void)state;
    /* the misspelt key, and then the key it was meant to be is missing */
    static const struct want w[] = {
        {4, "unknown option 'pathh' for output 'file' (it takes: path, ..."},
        {3, "output 'file' needs option 'path' (..."},
    };
    expect_errors("option.conf",
                  "inputs = ( { type = \"generator\"; } );\n"
                  "outputs = (\n"
                  "  { type = \"file\";\n"
                  "    pathh = \"x\"; }\n"
                  ");\n",
                  w, 2);
    expect_error_line("option2.conf",
                      "inputs = ( { type = \"generator\"; } );\n"
                      "outputs = ( { type = \"file\"; path = \"/nonexistent/x\";\n"
                      "              colour = \"red\"; } );\n",
                      3, "unknown option 'colour' for output 'file' (it takes: path, ...");
}

static void test_wrong_option_type(void **state)
{
    (void)state;
    expect_error_line("optype.conf",
                      "inputs = ( { type = \"file\"; path = \"/nonexistent/in.txt\";\n"
                      "             follow = \"yes\"; } );\n"
                      "outputs = ( { type = \"null\"; } );\n",
                      2, "option 'follow' of input 'file' must be a boolean");
}

static void test_missing_required_option(void **state)
{
    (void)state;
    expect_error_line("required.conf",
                      "inputs = ( { type = \"generator\"; } );\n"
                      "outputs = (\n"
                      "  { type = \"null\"; },\n"
                      "  { type = \"file\"; append = true; }\n"
                      ");\n",
                      4, "output 'file' needs option 'path' (...");
}

static void test_bad_queue_capacity(void **state)
{
    (void)state;
    char conf[1024];
    snprintf(conf, sizeof(conf), "queue = {\n  capacity = 0;\n};\n%s", OK_IO);
    expect_error_line("capacity.conf", conf, 2, "'capacity' must be between 1 and 16777216, not 0");
    snprintf(conf, sizeof(conf), "queue = { capacity = \"big\"; };\n%s", OK_IO);
    expect_error_line("capacity2.conf", conf, 1, "'capacity' must be an integer");
    snprintf(conf, sizeof(conf), "queue = { capacity = 10; size = 3; };\n%s", OK_IO);
    expect_error_line("queuekey.conf", conf, 1, "unknown key 'size' in queue");
}

static void test_workers_out_of_range(void **state)
{
    (void)state;
    expect_error_line("workers0.conf",
                      "inputs = ( { type = \"generator\"; } );\n"
                      "outputs = ( { type = \"null\";\n"
                      "              workers = 0; } );\n",
                      3, "'workers' must be between 1 and 256, not 0");
    expect_error_line("workers257.conf",
                      "inputs = ( { type = \"generator\"; workers = 257; } );\n"
                      "outputs = ( { type = \"null\"; } );\n",
                      1, "'workers' must be between 1 and 256, not 257");
}

static void test_duplicate_names(void **state)
{
    (void)state;
    expect_error_line("dup.conf",
                      "inputs = ( { type = \"generator\"; name = \"a\"; } );\n"
                      "outputs = (\n"
                      "  { type = \"null\"; name = \"b\"; },\n"
                      "  { type = \"null\"; name = \"a\"; }\n"
                      ");\n",
                      4, "name 'a' is used twice");
}

static void test_bad_codec_type(void **state)
{
    (void)state;
    expect_error_line("codec.conf",
                      "inputs = ( { type = \"generator\";\n"
                      "             codec = \"nosuch\"; } );\n"
                      "outputs = ( { type = \"null\"; } );\n",
                      2, "unknown codec type 'nosuch': no codec_nosuch.so in ...");
    expect_error_line("codec2.conf",
                      "inputs = ( { type = \"generator\"; } );\n"
                      "outputs = ( { type = \"null\";\n"
                      "              codec = 5; } );\n",
                      3, "'codec' must be a name or a group { type = ...; }");
    expect_error_line("codec3.conf",
                      "inputs = ( { type = \"generator\"; } );\n"
                      "outputs = ( { type = \"null\";\n"
                      "              codec = { name = \"x\"; }; } );\n",
                      3, "codec group needs a 'type'");
}

static void test_no_inputs(void **state)
{
    (void)state;
    char err[4096], want[1024];
    const char *path = write_conf("noinputs.conf", "outputs = ( { type = \"null\"; } );\n");
    struct sl__pipeline *pl = load_capture(path, err, sizeof(err));
    assert_null(pl);
    snprintf(want, sizeof(want), "%s: a pipeline needs at least one input and one output\n", path);
    assert_string_equal(err, want);
    path = write_conf("nooutputs.conf", "inputs = ( { type = \"generator\"; } );\noutputs = ();\n");
    pl = load_capture(path, err, sizeof(err));
    assert_null(pl);
    snprintf(want, sizeof(want), "%s: a pipeline needs at least one input and one output\n", path);
    assert_string_equal(err, want);
}

/* Every problem is reported, not just the first. */
static void test_several_errors_all_reported(void **state)
{
    (void)state;
    char err[8192], want[2048];
    const char *path = write_conf("many.conf", "inputs = (\n"
                                               "  { type = \"generator\"; workers = 0; }\n"
                                               ");\n"
                                               "outputs = (\n"
                                               "  { type = \"null\"; bogus = 1; }\n"
                                               ");\n");
    struct sl__pipeline *pl = load_capture(path, err, sizeof(err));
    assert_null(pl);
    snprintf(want, sizeof(want),
             "%s:2: 'workers' must be between 1 and 256, not 0\n"
             "%s:5: unknown option 'bogus' for output 'null' (it takes: no options)\n",
             path, path);
    assert_string_equal(err, want);
}

static void test_valid_config_defaults(void **state)
{
    (void)state;
    char err[4096], conf[1024], out[512];
    snprintf(out, sizeof(out), "%s/never-created.txt", dir);
    snprintf(conf, sizeof(conf),
             "inputs = ( { type = \"generator\"; count = 10; } );\n"
             "outputs = (\n"
             "  { type = \"null\"; },\n"
             "  { type = \"file\"; path = \"%s\"; },\n"
             "  { type = \"null\"; match = \"generator\"; workers = 3; }\n"
             ");\n",
             out);
    const char *path = write_conf("valid.conf", conf);
    struct sl__pipeline *pl = load_capture(path, err, sizeof(err));
    if (!pl)
        fail_msg("valid config refused:\n%s", err);
    assert_string_equal(err, "");
    assert_true(pl->checking);
    assert_string_equal(pl->name, "sluice");
    assert_int_equal(pl->queue_capacity, 1024);
    assert_int_equal(pl->batch_size, 256);
    assert_int_equal(pl->linger_ms, 5);
    assert_int_equal(pl->max_attempts, 1);
    assert_int_equal(pl->n_inputs, 1);
    assert_int_equal(pl->n_handlers, 0);
    assert_int_equal(pl->n_outputs, 3);
    assert_null(pl->dlq);
    struct sl_instance *in = pl->inputs[0];
    assert_string_equal(in->name, "generator"); /* default name: the type */
    assert_int_equal(in->workers, 1);
    assert_int_equal(in->decode_workers, 1);
    assert_false(in->ordered);
    assert_non_null(in->codec);
    assert_string_equal(in->codec->plugin->name, "lines"); /* default codec */
    assert_int_equal(sl_opt_int(in, "count"), 10);
    char where[600];
    snprintf(where, sizeof(where), "%s:1", path);
    assert_string_equal(sl_instance_where(in), where);
    assert_string_equal(pl->outputs[0]->name, "null");
    assert_string_equal(pl->outputs[2]->name, "null-2"); /* made unique */
    assert_int_equal(pl->outputs[2]->workers, 3);
    assert_true(pl->outputs[0]->match_all);
    assert_false(pl->outputs[2]->match_all);
    assert_string_equal(pl->outputs[2]->match, "generator");
    assert_int_equal(pl->outputs[0]->batch_size, 256);
    assert_string_equal(sl_opt_str(pl->outputs[1], "path"), out);
    assert_true(sl_opt_bool(pl->outputs[1], "append")); /* the plugin's default */
    sl__pipeline_free(pl);
    /* checking touches nothing */
    struct stat st;
    assert_int_equal(stat(out, &st), -1);
}

static void test_valid_config_settings(void **state)
{
    (void)state;
    char err[4096];
    const char *path =
        write_conf("settings.conf", "name = \"orders\";\n"
                                    "queue = { capacity = 2; batch_size = 1; linger_ms = 0; };\n"
                                    "retry = { max_attempts = 3; backoff_ms = 10; };\n"
                                    "inputs = ( { type = \"generator\"; name = \"gen\";\n"
                                    "             codec = { type = \"lines\"; }; } );\n"
                                    "outputs = ( { type = \"null\"; name = \"out\";\n"
                                    "              batch = { size = 7; linger_ms = 1; };\n"
                                    "              retry = { max_attempts = 9; }; } );\n"
                                    "dead_letter = { type = \"null\"; };\n");
    struct sl__pipeline *pl = load_capture(path, err, sizeof(err));
    if (!pl)
        fail_msg("valid config refused:\n%s", err);
    assert_string_equal(pl->name, "orders");
    assert_int_equal(pl->queue_capacity, 2);
    assert_int_equal(pl->batch_size, 1);
    assert_int_equal(pl->linger_ms, 0);
    assert_int_equal(pl->max_attempts, 3);
    assert_int_equal(pl->backoff_ms, 10);
    assert_int_equal(pl->inputs[0]->max_attempts, 3);
    struct sl_instance *o = pl->outputs[0];
    assert_int_equal(o->batch_size, 7);
    assert_int_equal(o->linger_ms, 1);
    assert_int_equal(o->max_attempts, 9);
    assert_int_equal(o->backoff_ms, 10);
    assert_non_null(pl->dlq);
    assert_string_equal(pl->dlq->name, "dead_letter");
    char where[600];
    snprintf(where, sizeof(where), "%s:6", path);
    assert_string_equal(sl_instance_where(o), where);
    sl__pipeline_free(pl);
}

/* More refusals, one line each: {file name, config, line, message}. */
static void test_more_errors(void **state)
{
    (void)state;
    static const struct {
        const char *name, *conf;
        int line;
        const char *msg;
    } cases[] = {
        {"name.conf", "name = 5;\n", 1, "'name' must be a string"},
        {"inputs-group.conf",
         "inputs = { type = \"generator\"; };\noutputs = ( { type = \"null\"; } );\n", 1,
         "'inputs' must be a list ( { ... }, { ... } )"},
        {"input-string.conf", "inputs = ( \"generator\" );\noutputs = ( { type = \"null\"; } );\n",
         1, "each input #1 must be a group { type = ...; }"},
        {"no-type.conf",
         "inputs = ( { type = \"generator\"; },\n  { count = 1; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         2, "input #2 needs a 'type'"},
        {"type-int.conf", "inputs = ( { type = 5; } );\noutputs = ( { type = \"null\"; } );\n", 1,
         "'type' must be a string"},
        {"dlq-type.conf",
         "inputs = ( { type = \"generator\"; } );\noutputs = ( { type = \"null\"; } );\n"
         "dead_letter = { path = \"x\"; };\n",
         3, "dead_letter needs a 'type'"},
        {"retry-zero.conf", "retry = {\n  max_attempts = 0; };\n", 2,
         "'max_attempts' must be between 1 and 1000000, not 0"},
        {"retry-key.conf", "retry = { tries = 3; };\n", 1, "unknown key 'tries' in retry"},
        {"retry-type.conf", "retry = 3;\n", 1, "'retry' must be a group { ... }"},
        {"batch-size.conf",
         "inputs = ( { type = \"generator\"; } );\n"
         "outputs = ( { type = \"null\"; batch = { size = 0; }; } );\n",
         2, "'size' must be between 1 and 65536, not 0"},
        {"batch-key.conf",
         "inputs = ( { type = \"generator\"; } );\n"
         "outputs = ( { type = \"null\"; batch = { count = 5; }; } );\n",
         2, "unknown key 'count' in batch"},
        {"stage-retry.conf",
         "inputs = ( { type = \"generator\"; } );\n"
         "outputs = ( { type = \"null\"; retry = { backoff_ms = -1; }; } );\n",
         2, "'backoff_ms' must be between 0 and 3600000, not -1"},
        {"ordered.conf",
         "inputs = ( { type = \"generator\"; ordered = \"yes\"; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         1, "'ordered' must be true or false"},
        {"match.conf",
         "inputs = ( { type = \"generator\"; } );\n"
         "outputs = ( { type = \"null\"; match = 1; } );\n",
         2, "'match' must be a string"},
        {"decode-workers.conf",
         "inputs = ( { type = \"generator\"; decode_workers = 0; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         1, "'decode_workers' must be between 1 and 256, not 0"},
        {"plugin-path.conf", "plugin_path = 5;\n", 1,
         "plugin_path must be a string or a list of strings"},
        {"plugin-path-list.conf", "plugin_path = [ 1 ];\n", 1,
         "plugin_path must list directory names (strings)"},
        {"batch-size-global.conf", "queue = { batch_size = 65537; };\n", 1,
         "'batch_size' must be between 1 and 65536, not 65537"},
        {"codec-option.conf",
         "inputs = ( { type = \"generator\";\n"
         "             codec = { type = \"lines\"; foo = 1; }; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         2, "unknown option 'foo' for codec 'lines' (it takes: no options)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error_line(cases[i].name, cases[i].conf, cases[i].line, cases[i].msg);
}

static void test_unreadable_file(void **state)
{
    (void)state;
    char err[1024], path[512], want[600];
    snprintf(path, sizeof(path), "%s/does-not-exist.conf", dir);
    assert_null(load_capture(path, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s: cannot read the config file\n", path);
    assert_string_equal(err, want);
}

/* Each option type is checked against the plugin's table (in_opts). */
static void test_option_types(void **state)
{
    (void)state;
    static const struct want w[] = {
        {2, "option 's' of input 'opts' must be a string"},
        {3, "option 'i' of input 'opts' must be an integer"},
        {4, "option 'b' of input 'opts' must be a boolean"},
        {5, "option 'd' of input 'opts' must be a number"},
        {6, "option 'l' of input 'opts' must be a list of strings"},
        {7, "option 'g' of input 'opts' must be a group"},
        {1, "input 'opts' needs option 'req' (a required string)"},
    };
    expect_errors("types.conf",
                  "inputs = ( { type = \"opts\";\n"
                  "  s = 1;\n"
                  "  i = \"x\";\n"
                  "  b = 1;\n"
                  "  d = \"x\";\n"
                  "  l = [ 1, 2 ];\n"
                  "  g = 5;\n"
                  "} );\n"
                  "outputs = ( { type = \"null\"; } );\n",
                  w, sizeof(w) / sizeof(w[0]));
    expect_error_line("mixed.conf",
                      "inputs = ( { type = \"opts\"; req = \"r\";\n"
                      "  l = ( \"a\", 1 ); } );\n"
                      "outputs = ( { type = \"null\"; } );\n",
                      2, "option 'l' of input 'opts' must be a list of strings");
    expect_error_line("scalar-list.conf",
                      "inputs = ( { type = \"opts\"; req = \"r\"; l = \"a\"; } );\n"
                      "outputs = ( { type = \"null\"; } );\n",
                      1, "option 'l' of input 'opts' must be a list of strings");
}

/* sl_opt_* read what was set, else the table's default; the whole group is a map. */
static void test_option_readers(void **state)
{
    (void)state;
    char err[4096];
    const char *path =
        write_conf("readers.conf", "inputs = ( { type = \"opts\"; req = \"r\";\n"
                                   "  i = 5000000000L; d = 3; l = [ \"x\", \"y\" ];\n"
                                   "  g = { k = \"v\"; n = 1; };\n"
                                   "  any = ( 1, \"two\", 2.5, true );\n"
                                   "} );\n"
                                   "outputs = ( { type = \"null\"; } );\n");
    struct sl__pipeline *pl = load_capture(path, err, sizeof(err));
    if (!pl)
        fail_msg("refused:\n%s", err);
    const struct sl_instance *in = pl->inputs[0];
    assert_string_equal(sl_opt_str(in, "s"), "dflt"); /* unset: the default */
    assert_null(sl_opt_value(in, "s"));
    assert_string_equal(sl_opt_str(in, "req"), "r");
    assert_int_equal(sl_opt_int(in, "i"), 5000000000LL);
    assert_int_equal(sl_opt_int(in, "hex"), 16); /* default "0x10" */
    assert_true(sl_opt_bool(in, "b"));
    assert_true(sl_opt_double(in, "d") == 3.0); /* an integer is a number too */
    assert_int_equal(sl_opt_list_len(in, "l"), 2);
    assert_string_equal(sl_opt_list_item(in, "l", 0), "x");
    assert_string_equal(sl_opt_list_item(in, "l", 1), "y");
    assert_null(sl_opt_list_item(in, "l", 2));
    assert_int_equal(sl_opt_list_len(in, "s"), 0);
    const struct sl_value *g = sl_opt_value(in, "g");
    assert_non_null(g);
    assert_int_equal(g->type, SL_MAP);
    assert_string_equal(sl_map_get(g, "k")->u.str, "v");
    assert_int_equal(sl_value_path(g, "n")->u.i, 1);
    const struct sl_value *any = sl_opt_value(in, "any");
    assert_int_equal(any->type, SL_ARRAY);
    assert_int_equal(any->len, 4);
    assert_int_equal(any->u.items[0].type, SL_INT);
    assert_int_equal(any->u.items[1].type, SL_STRING);
    assert_int_equal(any->u.items[2].type, SL_DOUBLE);
    assert_int_equal(any->u.items[3].type, SL_BOOL);
    const struct sl_value *conf = sl_instance_config(in);
    assert_string_equal(sl_value_path(conf, "type")->u.str, "opts");
    assert_string_equal(sl_value_path(conf, "l.1")->u.str, "y");
    assert_string_equal(sl_instance_name(in), "opts");
    assert_int_equal(sl_instance_workers(in), 1);
    assert_true(sl_instance_checking(in));
    assert_int_equal(sl_instance_max_attempts(in), 1);
    sl__pipeline_free(pl);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/sluice-test-config-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    /* the built plugins, and in_opts compiled from tests/plugins/ into dir */
    char path[600], cmd[2048];
    snprintf(path, sizeof(path), "%s:%s", SLUICE_TEST_PLUGIN_DIR, dir);
    setenv("SLUICE_PLUGIN_PATH", path, 1);
    snprintf(cmd, sizeof(cmd),
             "cc -shared -fPIC -std=c11 -fvisibility=hidden -I'%s/core/include' -o '%s/in_opts.so' "
             "'%s/tests/plugins/in_opts.c'",
             SLUICE_SOURCE_DIR, dir, SLUICE_SOURCE_DIR);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_unknown_top_level_key),
        cmocka_unit_test(test_unknown_plugin_type),
        cmocka_unit_test(test_unknown_option_key),
        cmocka_unit_test(test_wrong_option_type),
        cmocka_unit_test(test_missing_required_option),
        cmocka_unit_test(test_bad_queue_capacity),
        cmocka_unit_test(test_workers_out_of_range),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_bad_codec_type),
        cmocka_unit_test(test_no_inputs),
        cmocka_unit_test(test_several_errors_all_reported),
        cmocka_unit_test(test_valid_config_defaults),
        cmocka_unit_test(test_valid_config_settings),
        cmocka_unit_test(test_more_errors),
        cmocka_unit_test(test_unreadable_file),
        cmocka_unit_test(test_option_types),
        cmocka_unit_test(test_option_readers),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    sl__ack_destroy();
    sl__pool_destroy();
    return rc;
}
