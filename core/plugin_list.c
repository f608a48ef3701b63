/* plugin_list.c - --list-plugins: every plugin on the search path, its
 * options and the checks the core makes on them, as text for a terminal or
 * as Markdown for docs/options.md (which a test keeps equal to it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static const char *type_name(int t)
{
    static const char *const names[] = {
        [SL_OPT_STRING] = "string", [SL_OPT_INT] = "int",   [SL_OPT_BOOL] = "bool",
        [SL_OPT_DOUBLE] = "number", [SL_OPT_LIST] = "list", [SL_OPT_GROUP] = "group",
        [SL_OPT_ANY] = "any",
    };
    return t >= SL_OPT_STRING && t <= SL_OPT_ANY ? names[t] : "?";
}

/* Markdown table cells: a | would end the cell. */
static void cell(FILE *out, const char *s)
{
    for (; s && *s; s++)
        fputs(*s == '|' ? "\\|" : (char[2]){*s, 0}, out);
}

static void text_plugin(FILE *out, const struct sl_plugin *p)
{
    fprintf(out, "%-8s %-12s %-8s %s\n", sl__kind_name(p->kind), p->name, p->version, p->doc);
    if (p->max_workers)
        fprintf(out, "%30s%-18s at most %u\n", "", "(workers)", p->max_workers);
    for (const struct sl_option *o = p->options; o && o->name; o++) {
        char def[160] = "", checks[400], rule[420] = "";
        if (o->def)
            snprintf(def, sizeof(def), " [default: %s]", o->def);
        if (*sl__option_describe(o, checks, sizeof(checks)))
            snprintf(rule, sizeof(rule), " [%s]", checks);
        fprintf(out, "%30s%-18s %s%s%s%s\n", "", o->name, o->required ? "(required) " : "",
                o->doc ? o->doc : "", def, rule);
    }
}

static void markdown_plugin(FILE *out, const struct sl_plugin *p)
{
    fprintf(out, "\n## %s `%s`\n\n", sl__kind_name(p->kind), p->name);
    cell(out, p->doc);
    fputs("\n", out);
    if (p->max_workers)
        fprintf(out, "\n`workers`: at most %u.\n", p->max_workers);
    if (!p->options || !p->options->name) {
        fputs("\nNo options.\n", out);
        return;
    }
    fputs("\n| option | type | default | checked at --check | meaning |\n|---|---|---|---|---|\n",
          out);
    for (const struct sl_option *o = p->options; o->name; o++) {
        char checks[400];
        fprintf(out, "| `%s` | %s | ", o->name, type_name(o->type));
        if (o->required)
            fputs("required", out);
        else if (o->def && *o->def)
            fprintf(out, "`%s`", o->def);
        else
            fputs(o->def ? "\"\"" : "—", out);
        fputs(" | ", out);
        cell(out, sl__option_describe(o, checks, sizeof(checks)));
        fputs(" | ", out);
        cell(out, o->doc);
        fputs(" |\n", out);
    }
}

int sl__loader_list(struct sl__loader *l, FILE *out, bool markdown)
{
    struct sl__found *found;
    size_t n = sl__loader_scan(l, &found);
    int count = 0;
    if (!markdown)
        fprintf(out, "%-8s %-12s %-8s %s\n", "KIND", "NAME", "VERSION", "DESCRIPTION");
    for (size_t i = 0; i < n; i++) {
        char err[1024];
        const struct sl_plugin *p =
            sl__loader_get(l, found[i].kind, found[i].name, err, sizeof(err));
        if (!p) {
            if (markdown)
                fprintf(out, "\n## %s `%s`: refused\n\n%s\n", sl__kind_name(found[i].kind),
                        found[i].name, err);
            else
                fprintf(out, "%-8s %-12s %-8s (refused) %s\n", sl__kind_name(found[i].kind),
                        found[i].name, "-", err);
            continue;
        }
        (markdown ? markdown_plugin : text_plugin)(out, p);
        count++;
    }
    free(found);
    return count;
}
