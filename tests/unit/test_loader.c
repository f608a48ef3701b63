/* test_loader.c - core/loader.c: the test plugins in tests/plugins/ are compiled
 * at run time into a temp dir; each bad one is refused with an error naming
 * the file and the problem, the good one loads and is listed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

static char dir[256];

static const char *const plugins[] = {
    "in_good",   "in_badmajor",  "in_newminor",   "in_shortsize",      "in_badsig",
    "in_undef",  "in_nosym",     "in_norun",      "handler_noprocess", "in_wrongname",
    "in_badopt", "out_initfail", "out_wrongkind", "in_baddefault",
};

/* cc every plugin, two at a time, then check each .so exists. */
static int build_plugins(void)
{
    char cmd[8192];
    size_t len = 0;
    size_t n = sizeof(plugins) / sizeof(plugins[0]);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len,
                                "cc -shared -fPIC -std=c11 -D_GNU_SOURCE -fvisibility=hidden "
                                "-I'%s/core/include' -o '%s/%s.so' '%s/tests/plugins/%s.c' & %s",
                                SLUICE_SOURCE_DIR, dir, plugins[i], SLUICE_SOURCE_DIR, plugins[i],
                                i % 2 ? "wait; " : "");
    snprintf(cmd + len, sizeof(cmd) - len, "wait");
    if (system(cmd) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char so[512];
        snprintf(so, sizeof(so), "%s/%s.so", dir, plugins[i]);
        if (access(so, R_OK) != 0) {
            fprintf(stderr, "test plugin %s was not built\n", so);
            return -1;
        }
    }
    return 0;
}

static struct sl__loader *loader(void)
{
    const char *dirs[] = {dir};
    struct sl__loader *l = sl__loader_new(dirs, 1);
    assert_non_null(l);
    return l;
}

/* Loading kind/name must fail with an error that names the file and says what. */
static void expect_refused(int kind, const char *name, const char *file, const char *problem)
{
    struct sl__loader *l = loader();
    char err[2048] = "", path[512];
    snprintf(path, sizeof(path), "%s/%s.so", dir, file);
    const struct sl_plugin *p = sl__loader_get(l, kind, name, err, sizeof(err));
    if (p)
        fail_msg("%s loaded; wanted an error about \"%s\"", file, problem);
    if (!strstr(err, path) || !strstr(err, problem))
        fail_msg("%s: error \"%s\" should name %s and say \"%s\"", file, err, path, problem);
    /* asking again gives the same answer (nothing half-loaded is cached) */
    char err2[2048] = "";
    assert_null(sl__loader_get(l, kind, name, err2, sizeof(err2)));
    assert_string_equal(err2, err);
    sl__loader_free(l);
}

static void test_good_plugin_loads(void **state)
{
    (void)state;
    struct sl__loader *l = loader();
    char err[1024] = "";
    const struct sl_plugin *p = sl__loader_get(l, SL_KIND_INPUT, "good", err, sizeof(err));
    if (!p)
        fail_msg("in_good refused: %s", err);
    assert_string_equal(p->name, "good");
    assert_string_equal(p->version, "1.2.3");
    assert_int_equal(p->kind, SL_KIND_INPUT);
    assert_non_null(p->run);
    assert_string_equal(p->options[0].name, "greeting");
    /* loaded once, then served from the cache */
    assert_ptr_equal(sl__loader_get(l, SL_KIND_INPUT, "good", err, sizeof(err)), p);
    /* the kind is part of the file name: there is no out_good */
    assert_null(sl__loader_get(l, SL_KIND_OUTPUT, "good", err, sizeof(err)));
    assert_non_null(strstr(err, "unknown output type 'good': no out_good.so in"));
    assert_non_null(strstr(err, dir));
    sl__loader_free(l);
}

static void test_wrong_abi_major(void **state)
{
    (void)state;
    char want[128];
    snprintf(want, sizeof(want), "plugin ABI %d.%d, this sluice speaks %d.%d: rebuild the plugin",
             SL_ABI_MAJOR + 1, SL_ABI_MINOR, SL_ABI_MAJOR, SL_ABI_MINOR);
    expect_refused(SL_KIND_INPUT, "badmajor", "in_badmajor", want);
}

static void test_newer_abi_minor(void **state)
{
    (void)state;
    char want[128];
    snprintf(want, sizeof(want), "plugin needs ABI %d.%d, this sluice has %d.%d: upgrade sluice",
             SL_ABI_MAJOR, SL_ABI_MINOR + 1, SL_ABI_MAJOR, SL_ABI_MINOR);
    expect_refused(SL_KIND_INPUT, "newminor", "in_newminor", want);
}

static void test_short_struct_size(void **state)
{
    (void)state;
    expect_refused(SL_KIND_INPUT, "shortsize", "in_shortsize",
                   "plugin descriptor is 16 bytes, expected at least");
}

static void test_bad_signature(void **state)
{
    (void)state;
    expect_refused(SL_KIND_INPUT, "badsig", "in_badsig",
                   "plugin built for another platform (signature 0x404");
}

static void test_kind_mismatch(void **state)
{
    (void)state;
    expect_refused(SL_KIND_OUTPUT, "wrongkind", "out_wrongkind",
                   "descriptor kind 1 does not match the file name");
}

static void test_undefined_symbol(void **state)
{
    (void)state;
    expect_refused(SL_KIND_INPUT, "undef", "in_undef", "cannot load: ");
    expect_refused(SL_KIND_INPUT, "undef", "in_undef", "sl_test_no_such_function");
}

static void test_no_plugin_symbol(void **state)
{
    (void)state;
    expect_refused(SL_KIND_INPUT, "nosym", "in_nosym",
                   "no 'sluice_plugin' symbol: not a sluice plugin");
}

static void test_missing_callbacks(void **state)
{
    (void)state;
    expect_refused(SL_KIND_INPUT, "norun", "in_norun", "input plugin has no run/stop callback");
    expect_refused(SL_KIND_HANDLER, "noprocess", "handler_noprocess",
                   "handler plugin has no process callback");
}

static void test_name_mismatch(void **state)
{
    (void)state;
    expect_refused(SL_KIND_INPUT, "wrongname", "in_wrongname", "its name differs");
}

static void test_bad_option_type(void **state)
{
    (void)state;
    expect_refused(SL_KIND_INPUT, "badopt", "in_badopt", "option 'weird' has an unknown type 99");
}

/* A table whose default breaks its own check is the plugin's bug: refused
 * at load, not left to surprise the first user who omits the option. */
static void test_bad_default(void **state)
{
    (void)state;
    expect_refused(SL_KIND_INPUT, "baddefault", "in_baddefault",
                   "option 'size' must be between 1 and 100, not 0");
}

/* The other malformed entries, straight through the table check. */
static void test_bad_table_entries(void **state)
{
    (void)state;
    static const char *const none[] = {NULL};
    static const char *const ab[] = {"a", "b", NULL};
    static const struct {
        struct sl_option o;
        const char *why;
    } cases[] = {
        {{.name = "x", .type = SL_OPT_BOOL, .check = SL_CHECK_REGEX},
         "declares a check that does not fit its type"},
        {{.name = "x", .type = SL_OPT_STRING, .check = SL_CHECK_DURATION_MS},
         "declares a check that does not fit its type"},
        {{.name = "x", .type = SL_OPT_STRING, SL_RANGE(1, 2)},
         "declares a check that does not fit its type"},
        {{.name = "x", .type = SL_OPT_INT, .allowed = ab},
         "declares a check that does not fit its type"},
        {{.name = "x", .type = SL_OPT_INT, SL_RANGE(5, 1)}, "has an empty range"},
        {{.name = "x", .type = SL_OPT_STRING, .allowed = none}, "allows no value at all"},
        {{.name = "x", .type = SL_OPT_STRING, .check = 42}, "has an unknown check 42"},
        {{.name = "x", .type = SL_OPT_STRING, .def = "c", .allowed = ab},
         "must be one of \"a\", \"b\", not \"c\""},
        {{.name = "x", .type = SL_OPT_INT, .def = "ten"}, "default 'ten' is not a number"},
        {{.name = "x", .type = SL_OPT_INT, .def = "-1", .check = SL_CHECK_DURATION_MS},
         "must be a duration in ms >= 0, not -1"},
        {{.name = "x", .type = SL_OPT_STRING, .def = "a(", .check = SL_CHECK_REGEX},
         "must be a valid regular expression ('a(': "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char why[512] = "";
        if (sl__option_table_check(&cases[i].o, why, sizeof(why)) == 0 ||
            strncmp(why, cases[i].why, strlen(cases[i].why)) != 0)
            fail_msg("case %zu: got \"%s\", wanted \"%s\"", i, why, cases[i].why);
    }
    /* a path default is not checked against the file system */
    struct sl_option path = {.name = "p",
                             .type = SL_OPT_STRING,
                             .def = "/nonexistent/x",
                             .check = SL_CHECK_READABLE_FILE};
    char why[512];
    assert_int_equal(sl__option_table_check(&path, why, sizeof(why)), 0);
}

static void test_bad_plugin_names(void **state)
{
    (void)state;
    struct sl__loader *l = loader();
    char err[1024];
    assert_null(sl__loader_get(l, SL_KIND_INPUT, "../in_good", err, sizeof(err)));
    assert_string_equal(err, "bad plugin name '../in_good'");
    assert_null(sl__loader_get(l, SL_KIND_INPUT, "good.so", err, sizeof(err)));
    assert_string_equal(err, "bad plugin name 'good.so'");
    sl__loader_free(l);
}

/* Run fn with fd 2 going to a file; returns what was written there. */
static char *capture_stderr(struct sl__pipeline *(*fn)(const char *), const char *arg,
                            struct sl__pipeline **out)
{
    static char buf[8192];
    char cap[512];
    snprintf(cap, sizeof(cap), "%s/stderr.txt", dir);
    fflush(stderr);
    int saved = dup(2), fd = open(cap, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    *out = fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(cap, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static struct sl__pipeline *check_load(const char *path)
{
    return sl__pipeline_load(path, true);
}

static const char *write_conf(const char *name, const char *body)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "plugin_path = [ \"%s\" ];\n%s", dir, body);
    fclose(f);
    return path;
}

/* A plugin whose init fails stops the load with one line naming the config
 * line and the instance: the plugin's reason (sl_instance_error), or, when it
 * gave none, the core's. Never both. */
static void test_init_fails(void **state)
{
    (void)state;
    static const struct {
        const char *name, *options, *msg;
    } cases[] = {
        {"initfail.conf", "", "x: refusing to start"},
        {"initsilent.conf", " silent = true;",
         "x: output 'initfail' failed to start and gave no reason"},
    };
    for (size_t i = 0; i < 2; i++) {
        char conf[512], want[1024];
        snprintf(conf, sizeof(conf),
                 "inputs = ( { type = \"good\"; } );\n"
                 "outputs = (\n"
                 "  { type = \"initfail\"; name = \"x\";%s }\n"
                 ");\n",
                 cases[i].options);
        const char *path = write_conf(cases[i].name, conf);
        struct sl__pipeline *pl;
        const char *err = capture_stderr(check_load, path, &pl);
        assert_null(pl);
        snprintf(want, sizeof(want), "%s:4: %s\n", path, cases[i].msg); /* line 1: plugin_path */
        if (strcmp(err, want) != 0)
            fail_msg("stderr was\n%s\nwanted exactly\n%s", err, want);
    }
}

/* Through a config: the error names the config line and the plugin file. */
static void test_refusal_in_config(void **state)
{
    (void)state;
    const char *path = write_conf("badmajor.conf", "inputs = (\n"
                                                   "  { type = \"badmajor\"; }\n"
                                                   ");\n"
                                                   "outputs = ( { type = \"null\"; } );\n");
    struct sl__pipeline *pl;
    const char *err = capture_stderr(check_load, path, &pl);
    assert_null(pl);
    char want[1024];
    snprintf(want, sizeof(want), "%s:3: %s/in_badmajor.so: plugin ABI %d.", path, dir,
             SL_ABI_MAJOR + 1);
    if (strncmp(err, want, strlen(want)) != 0 || strchr(err, '\n')[1] != '\0')
        fail_msg("stderr was\n%s\nwanted one line starting\n%s", err, want);
}

static char *list_to_string(struct sl__loader *l, int *count)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    *count = sl__loader_list(l, f, false);
    fclose(f);
    return text;
}

static void test_list(void **state)
{
    (void)state;
    struct sl__loader *l = loader();
    int count = 0;
    char *text = list_to_string(l, &count);
    assert_true(count >= 2); /* in_good and out_initfail at least */
    if (!strstr(text, "input    good         1.2.3    a well-formed test input\n") ||
        !strstr(text, "greeting") || !strstr(text, "[default: hello]"))
        fail_msg("in_good not listed:\n%s", text);
    /* with what the core checks: workers, ranges, allowed values, kinds */
    if (!strstr(text, "(workers)          at most 1\n") ||
        !strstr(text, "times              how often [default: 1] [1..9]\n") ||
        !strstr(text, "mood               how [default: calm] [one of: calm, loud]\n") ||
        !strstr(text, "pause_ms           between greetings [default: 0] [ms, >= 0]\n"))
        fail_msg("in_good's checks not listed:\n%s", text);
    assert_non_null(strstr(text, "output   initfail"));
    /* refused files are listed as such, with the reason and the file */
    char want[600];
    snprintf(want, sizeof(want), "(refused) %s/in_badmajor.so: plugin ABI", dir);
    if (!strstr(text, want))
        fail_msg("in_badmajor not listed as refused:\n%s", text);
    snprintf(want, sizeof(want), "(refused) %s/in_nosym.so: no 'sluice_plugin' symbol", dir);
    assert_non_null(strstr(text, want));
    free(text);
    sl__loader_free(l);
}

/* Listing must not depend on what was loaded before. */
static void test_list_after_get(void **state)
{
    (void)state;
    struct sl__loader *l = loader();
    char err[1024];
    assert_non_null(sl__loader_get(l, SL_KIND_INPUT, "good", err, sizeof(err)));
    int count = 0;
    char *text = list_to_string(l, &count);
    bool listed = strstr(text, "input    good         1.2.3") != NULL;
    if (!listed)
        print_error("in_good, loaded before, is missing from the list:\n%s", text);
    free(text);
    sl__loader_free(l);
    assert_true(listed);
}

/* A copy of in_good.so cut to keep bytes, in its own directory. */
static void truncated_copy(const char *sub, long keep)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd),
             "mkdir -p '%s/%s' && head -c %ld '%s/in_good.so' > '%s/%s/in_good.so'", dir, sub, keep,
             dir, dir, sub);
    assert_int_equal(system(cmd), 0);
}

/* A truncated .so is refused by name before dlopen (which would take SIGBUS
 * touching mapped pages past the end of the file), when loaded and listed. */
static void test_truncated_plugin(void **state)
{
    (void)state;
    char so[1024];
    snprintf(so, sizeof(so), "%s/in_good.so", dir);
    FILE *f = fopen(so, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    const long keeps[] = {0, 20, 100, size / 2, size - 1};
    for (size_t i = 0; i < sizeof(keeps) / sizeof(keeps[0]); i++) {
        char sub[32], path[600], err[1024];
        snprintf(sub, sizeof(sub), "cut%zu", i);
        truncated_copy(sub, keeps[i]);
        snprintf(path, sizeof(path), "%s/%s", dir, sub);
        const char *dirs[] = {path};
        struct sl__loader *l = sl__loader_new(dirs, 1);
        assert_non_null(l);
        err[0] = '\0';
        assert_null(sl__loader_get(l, SL_KIND_INPUT, "good", err, sizeof(err)));
        snprintf(so, sizeof(so), "%s/in_good.so", path);
        if (!strstr(err, so) || !strstr(err, "truncated or damaged"))
            fail_msg("cut to %ld of %ld bytes: %s", keeps[i], size, err);
        int count = 0;
        char *text = list_to_string(l, &count);
        bool refused = strstr(text, "(refused)") && strstr(text, so);
        free(text);
        sl__loader_free(l);
        assert_true(refused);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/sluice-test-loader-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    return build_plugins();
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
        cmocka_unit_test(test_good_plugin_loads),
        cmocka_unit_test(test_wrong_abi_major),
        cmocka_unit_test(test_newer_abi_minor),
        cmocka_unit_test(test_short_struct_size),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_kind_mismatch),
        cmocka_unit_test(test_undefined_symbol),
        cmocka_unit_test(test_no_plugin_symbol),
        cmocka_unit_test(test_missing_callbacks),
        cmocka_unit_test(test_name_mismatch),
        cmocka_unit_test(test_bad_option_type),
        cmocka_unit_test(test_bad_default),
        cmocka_unit_test(test_bad_table_entries),
        cmocka_unit_test(test_bad_plugin_names),
        cmocka_unit_test(test_init_fails),
        cmocka_unit_test(test_refusal_in_config),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_list_after_get),
        cmocka_unit_test(test_truncated_plugin),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    setenv("SLUICE_PLUGIN_PATH", SLUICE_TEST_PLUGIN_DIR, 1);
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    sl__ack_destroy();
    sl__pool_destroy();
    return rc;
}
