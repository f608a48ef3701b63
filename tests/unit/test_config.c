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
                      "outputs = ( { type = \"file\"; path = \"/tmp/x\";\n"
                      "              colour = \"red\"; } );\n",
                      3, "unknown option 'colour' for output 'file' (it takes: path, ...");
}

static void test_wrong_option_type(void **state)
{
    (void)state;
    expect_error_line("optype.conf",
                      "inputs = ( { type = \"file\"; path = \"/dev/null\";\n"
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
    /* the one thing said: failures would be discarded, with no choice made */
    assert_non_null(strstr(err, "valid.conf: warning: no dead_letter and no failure = "));
    assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1); /* and nothing else */
    assert_int_equal(pl->failure_mode, SL__FAILURE_UNSET);
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

/* Every check an options table can declare, through in_opts: each value
 * that would fail at run time is refused with its line. */
static void test_option_checks(void **state)
{
    (void)state;
    static const struct want w[] = {
        {2, "option 'range' of input 'opts' must be between 1 and 10, not 0"},
        {3, "option 'frac' of input 'opts' must be between 0.5 and 2.5, not 3"},
        {4, "option 'least' of input 'opts' must be >= 0, not -1"},
        {5, "option 'ms' of input 'opts' must be a duration in ms >= 0, not -5"},
        {6, "option 'color' of input 'opts' must be one of \"red\", \"green\", not \"blue\""},
        {7, "option 'nonempty' of input 'opts' must not be empty"},
        {8, "option 'infile' of input 'opts' must be a readable file ('/nonexistent/in.txt': No "
            "such file or directory)"},
        {9, "option 'outfile' of input 'opts' must be a file to write (directory '/nonexistent' "
            "does not exist)"},
        {10, "option 'addr' of input 'opts' must be HOST:PORT ('localhost' has no port (want "
             "HOST:PORT))"},
        {11, "option 're' of input 'opts' must be a valid regular expression ('a(': ..."},
        {12,
         "option 'names' of input 'opts' item 2 must be a valid regular expression ('^b[': ..."},
    };
    expect_errors("checks.conf",
                  "inputs = ( { type = \"opts\"; req = \"r\";\n"
                  "  range = 0;\n"
                  "  frac = 3.0;\n"
                  "  least = -1;\n"
                  "  ms = -5;\n"
                  "  color = \"blue\";\n"
                  "  nonempty = \"\";\n"
                  "  infile = \"/nonexistent/in.txt\";\n"
                  "  outfile = \"/nonexistent/out.txt\";\n"
                  "  addr = \"localhost\";\n"
                  "  re = \"a(\";\n"
                  "  names = [ \"plain\", \"^b[\" ];\n"
                  "} );\n"
                  "outputs = ( { type = \"null\"; } );\n",
                  w, sizeof(w) / sizeof(w[0]));
    static const struct {
        const char *setting, *msg;
    } more[] = {
        {"infile = \"/tmp\";", "option 'infile' of input 'opts' must be a readable file ('/tmp' is "
                               "a directory)"},
        {"outfile = \"/tmp\";", "option 'outfile' of input 'opts' must be a file to write ('/tmp' "
                                "is a directory)"},
        {"addr = \"::1:80\";", "option 'addr' of input 'opts' must be HOST:PORT ('::1:80': write "
                               "an IPv6 address in brackets, [ADDRESS]:PORT)"},
        {"addr = \"h:0\";", "option 'addr' of input 'opts' must be HOST:PORT ('h:0': the port "
                            "must be a number 1..65535)"},
        {"addr = \"h:80x\";", "option 'addr' of input 'opts' must be HOST:PORT ('h:80x': the "
                              "port must be a number 1..65535)"},
        {"addr = \"[::1]80\";", "option 'addr' of input 'opts' must be HOST:PORT ('[::1]80' is "
                                "not [IPV6]:PORT)"},
        {"addr = \"a b:80\";", "option 'addr' of input 'opts' must be HOST:PORT ('a b:80': 'a b' "
                               "is not a host name or address)"},
        {"names = [];", "option 'names' of input 'opts' must not be empty"},
        {"names = [ \"a\", \"\" ];", "option 'names' of input 'opts' item 2 must not be empty"},
        {"optfile = \"/nonexistent/x\";", "option 'optfile' of input 'opts' must be a file to "
                                          "write (directory '/nonexistent' does not exist)"},
        {"range = 11;", "option 'range' of input 'opts' must be between 1 and 10, not 11"},
    };
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
        char conf[512];
        snprintf(conf, sizeof(conf),
                 "inputs = ( { type = \"opts\"; req = \"r\"; %s } );\n"
                 "outputs = ( { type = \"null\"; } );\n",
                 more[i].setting);
        expect_error_line("check.conf", conf, 1, more[i].msg);
    }
    /* and the good forms pass */
    char err[4096], conf[1024];
    snprintf(conf, sizeof(conf),
             "inputs = ( { type = \"opts\"; req = \"r\"; range = 10; frac = 0.5; least = 0;\n"
             "  ms = 0; color = \"green\"; nonempty = \"x\"; infile = \"%s/checks.conf\";\n"
             "  outfile = \"%s/new.txt\"; addr = \"[::1]:9464\"; re = \"^a(b|c)+$\";\n"
             "  optfile = \"\"; /* \"\" is its default: off */\n"
             "  names = [ \"orders\", \"^orders-[0-9]+$\" ]; } );\n"
             "outputs = ( { type = \"null\"; } );\n",
             dir, dir);
    const char *path = write_conf("checks-ok.conf", conf);
    struct sl__pipeline *pl = load_capture(path, err, sizeof(err));
    if (!pl)
        fail_msg("good values refused:\n%s", err);
    sl__pipeline_free(pl);
    for (const char *const *a = (const char *const[]){"127.0.0.1:1", ":9464", "kafka-1.local:9092",
                                                      "[fe80::1]:65535", NULL};
         *a; a++) {
        snprintf(conf, sizeof(conf),
                 "inputs = ( { type = \"opts\"; req = \"r\"; addr = \"%s\"; } );\n"
                 "outputs = ( { type = \"null\"; } );\n",
                 *a);
        path = write_conf("addr-ok.conf", conf);
        if (!(pl = load_capture(path, err, sizeof(err))))
            fail_msg("address %s refused:\n%s", *a, err);
        sl__pipeline_free(pl);
    }
}

/* Values that used to pass --check and then failed (or misbehaved) at run
 * time: each is refused with FILE:LINE. */
static void test_refused_at_check(void **state)
{
    (void)state;
    static const struct {
        const char *name, *conf;
        int line;
        const char *msg;
    } cases[] = {
        {"listen-noport.conf", "metrics = {\n  listen = \"localhost\"; };\n", 2,
         "metrics.listen must be HOST:PORT or [IPV6]:PORT ('localhost' has no port (want "
         "HOST:PORT))"},
        {"listen-name.conf", "metrics = { listen = \"example.com:9464\"; };\n", 1,
         "metrics.listen: 'example.com' is not an IPv4 address of this host"},
        {"listen-v6.conf", "metrics = { listen = \"[::g]:9464\"; };\n", 1,
         "metrics.listen: '::g' is not an IPv6 address of this host"},
        {"listen-port.conf", "metrics = { listen = \"127.0.0.1:65536\"; };\n", 1,
         "metrics.listen must be HOST:PORT or [IPV6]:PORT ('127.0.0.1:65536': the port must be a "
         "number 1..65535)"},
        {"kafka-regex.conf",
         "inputs = ( { type = \"kafka\"; brokers = \"127.0.0.1:1\";\n"
         "  topics = [ \"^orders-(\" ]; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         2,
         "option 'topics' of input 'kafka' item 1 must be a valid regular expression "
         "('^orders-(': ..."},
        {"kafka-timeout.conf",
         "inputs = ( { type = \"kafka\"; brokers = \"127.0.0.1:1\"; topics = [ \"t\" ];\n"
         "  drain_timeout_ms = -1; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         2, "option 'drain_timeout_ms' of input 'kafka' must be between 0 and 3600000, not -1"},
        {"kafka-commit.conf",
         "inputs = ( { type = \"kafka\"; brokers = \"127.0.0.1:1\"; topics = [ \"t\" ];\n"
         "  commit_interval_ms = -5; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         2, "option 'commit_interval_ms' of input 'kafka' must be between 0 and 3600000, not -5"},
        {"backoff.conf", "retry = { backoff_ms = 5000;\n  max_backoff_ms = 1000; };\n", 1,
         "retry: 'backoff_ms' (5000) must not exceed 'max_backoff_ms' (1000)"},
        {"backoff-stage.conf",
         "retry = { max_backoff_ms = 1000; };\n"
         "inputs = ( { type = \"generator\"; } );\n"
         "outputs = ( { type = \"null\"; retry = { backoff_ms = 2000; }; } );\n",
         3, "retry: 'backoff_ms' (2000) must not exceed 'max_backoff_ms' (1000)"},
        {"match-empty.conf",
         "inputs = ( { type = \"generator\"; } );\n"
         "outputs = ( { type = \"null\";\n  match = \"\"; } );\n",
         3, "'match' must not be empty (\"*\" takes every route)"},
        {"path-empty.conf",
         "inputs = ( { type = \"file\"; path = \"\"; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         1, "option 'path' of input 'file' must not be empty"},
        {"out-path-empty.conf",
         "inputs = ( { type = \"generator\"; } );\n"
         "outputs = ( { type = \"file\"; path = \"\"; } );\n",
         2, "option 'path' of output 'file' must not be empty"},
        {"out-dir.conf",
         "inputs = ( { type = \"generator\"; } );\n"
         "dead_letter = { type = \"file\"; path = \"/nonexistent/dlq.txt\"; };\n"
         "outputs = ( { type = \"null\"; } );\n",
         2,
         "option 'path' of output 'file' must be a file to write (directory '/nonexistent' does "
         "not exist)"},
        {"encode-only.conf",
         "inputs = ( { type = \"generator\";\n  codec = \"encodeonly\"; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         2, "codec 'encodeonly' only encodes: an input needs one that decodes"},
        {"decode-only.conf",
         "inputs = ( { type = \"generator\"; } );\n"
         "outputs = ( { type = \"null\";\n  codec = { type = \"decodeonly\"; }; } );\n",
         3, "codec 'decodeonly' only decodes: an output needs one that encodes"},
        {"file-workers.conf",
         "inputs = ( { type = \"file\"; path = \"/dev/null\";\n  workers = 2; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         2, "input 'file' runs at most 1 worker, not 2"},
        {"stdin-workers.conf",
         "inputs = ( { type = \"stdin\"; workers = 4; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         1, "input 'stdin' runs at most 1 worker, not 4"},
        {"json-depth.conf",
         "inputs = ( { type = \"generator\"; codec = { type = \"json\";\n  max_depth = 0; }; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         2, "option 'max_depth' of codec 'json' must be between 1 and 10000, not 0"},
        {"generator-rate.conf",
         "inputs = ( { type = \"generator\"; rate = -1.5; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         1, "option 'rate' of input 'generator' must be >= 0, not -1.5"},
        {"max-line.conf",
         "inputs = ( { type = \"stdin\"; max_line = 0; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         1, "option 'max_line' of input 'stdin' must be between 1 and 1073741824, not 0"},
        {"lua-memory.conf",
         "inputs = ( { type = \"generator\"; } );\n"
         "handlers = ( { type = \"lua\"; script = \"x.lua\"; memory_mb = -1; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         2, "option 'memory_mb' of handler 'lua' must be between 0 and 1048576, not -1"},
        {"file-state.conf",
         "inputs = ( { type = \"file\"; path = \"/dev/null\";\n"
         "  state_file = \"/nonexistent/state\"; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         2,
         "option 'state_file' of input 'file' must be a file to write (directory '/nonexistent' "
         "does not exist)"},
        {"dedup-state.conf",
         "inputs = ( { type = \"generator\"; } );\n"
         "handlers = ( { type = \"dedup\"; key = \"payload\"; state_file = \"/nonexistent/d\"; } "
         ");\n"
         "outputs = ( { type = \"null\"; } );\n",
         2,
         "option 'state_file' of handler 'dedup' must be a file to write (directory "
         "'/nonexistent' does not exist)"},
        {"kafka-reset.conf",
         "inputs = ( { type = \"kafka\"; brokers = \"127.0.0.1:1\"; topics = [ \"t\" ];\n"
         "  auto_offset_reset = \"newest\"; } );\n"
         "outputs = ( { type = \"null\"; } );\n",
         2,
         "option 'auto_offset_reset' of input 'kafka' must be one of \"earliest\", \"latest\", "
         "not \"newest\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error_line(cases[i].name, cases[i].conf, cases[i].line, cases[i].msg);
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
    assert_int_equal(in->max_attempts, 1);
    sl__pipeline_free(pl);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/sluice-test-config-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    /* the built plugins, and test plugins compiled from tests/plugins/ into dir:
     * in_opts, and codec_oneway as an encode-only and a decode-only codec */
    char path[600], cmd[4096];
    snprintf(path, sizeof(path), "%s:%s", SLUICE_TEST_PLUGIN_DIR, dir);
    setenv("SLUICE_PLUGIN_PATH", path, 1);
    static const char *const builds[][3] = {
        {"in_opts", "in_opts", ""},
        {"codec_encodeonly", "codec_oneway", "-DONLY_ENCODE"},
        {"codec_decodeonly", "codec_oneway", ""},
    };
    size_t len = 0;
    for (size_t i = 0; i < 3; i++)
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len,
                                "%scc -shared -fPIC -std=c11 -fvisibility=hidden %s "
                                "-I'%s/core/include' -o '%s/%s.so' '%s/tests/plugins/%s.c'",
                                i ? " && " : "", builds[i][2], SLUICE_SOURCE_DIR, dir, builds[i][0],
                                SLUICE_SOURCE_DIR, builds[i][1]);
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
        cmocka_unit_test(test_option_checks),
        cmocka_unit_test(test_refused_at_check),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    sl__ack_destroy();
    sl__pool_destroy();
    return rc;
}
