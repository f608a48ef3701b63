/* hl_sandbox.c - the standard libraries a handler script may use, and safe replacements. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include <lualib.h>

#include "handler_lua.h"

/* Resolves path (relative to the script's directory) and pushes its real
 * path; raises an error when it leaves that directory. */
static const char *confine(lua_State *L, const char *path)
{
    const char *dir = hl_state_of(L)->dir;
    char joined[PATH_MAX], real[PATH_MAX];
    int n = path[0] == '/' ? snprintf(joined, sizeof joined, "%s", path)
                           : snprintf(joined, sizeof joined, "%s/%s", dir, path);
    if (n < 0 || (size_t)n >= sizeof joined)
        luaL_error(L, "%s: path too long", path);
    if (!realpath(joined, real))
        luaL_error(L, "%s: %s", path, strerror(errno));
    size_t dl = strlen(dir);
    if (dl > 1 && (strncmp(real, dir, dl) != 0 || real[dl] != '/'))
        luaL_error(L, "%s: outside the script's directory (sandbox)", path);
    return lua_pushstring(L, real);
}

int hl_load_text_file(lua_State *L, const char *real, const char *path)
{
    FILE *f = fopen(real, "rb");
    if (!f) {
        lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
        return LUA_ERRFILE;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        luaL_addlstring(&b, chunk, n);
    fclose(f);
    luaL_pushresult(&b);
    size_t len;
    char *text = (char *)lua_tolstring(L, -1, &len);
    size_t skip = 0;
    if (len && text[0] == '#') /* a #! line: skipped, the line count kept */
        while (skip < len && text[skip] != '\n')
            skip++;
    lua_pushfstring(L, "@%s", path);
    int st = luaL_loadbufferx(L, text + skip, len - skip, lua_tostring(L, -1), "t");
    lua_remove(L, -2); /* name */
    lua_remove(L, -2); /* text */
    return st;
}

/* Loads a text chunk named "@path" (as the script wrote it) from inside the
 * script's directory. Returns a lua_load status; the error is on the stack. */
static int load_confined(lua_State *L, const char *path)
{
    const char *real = confine(L, path);
    int st = hl_load_text_file(L, real, path);
    lua_remove(L, -2); /* real */
    return st;
}

/* loadfile(path [, mode [, env]]): text chunks inside the script's directory. */
static int safe_loadfile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int env = !lua_isnone(L, 3) ? 3 : 0;
    if (load_confined(L, path) != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (env) {
        lua_pushvalue(L, env);
        if (!lua_setupvalue(L, -2, 1))
            lua_pop(L, 1);
    }
    return 1;
}

static int safe_dofile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    if (load_confined(L, path) != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 1;
}

/* load(chunk [, chunkname [, mode [, env]]]) with mode forced to "t". */
static int safe_load(lua_State *L)
{
    bool env = lua_gettop(L) >= 4;
    lua_settop(L, 4);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushliteral(L, "t");
    if (env) {
        lua_pushvalue(L, 4);
        lua_call(L, 4, LUA_MULTRET);
    } else {
        lua_call(L, 3, LUA_MULTRET);
    }
    return lua_gettop(L) - 4;
}

/* require(name): "sluice", or name.lua under the script's directory. */
static int safe_require(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1)); /* 2: loaded modules */
    if (lua_getfield(L, 2, name) != LUA_TNIL)
        return 1;
    lua_pop(L, 1);
    if (strstr(name, "..") || strchr(name, '/') || name[0] == '.' || name[0] == '\0')
        return luaL_error(L, "module '%s' not allowed (sandbox)", name);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (const char *p = name; *p; p++)
        luaL_addchar(&b, *p == '.' ? '/' : *p);
    luaL_addstring(&b, ".lua");
    luaL_pushresult(&b); /* 3 */
    if (load_confined(L, lua_tostring(L, 3)) != LUA_OK)
        return luaL_error(L, "module '%s' not found: %s", name, lua_tostring(L, -1));
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, 2, name);
    return 1;
}

static int safe_collectgarbage(lua_State *L)
{
    static const char *const ok[] = {"collect", "count", "step", "isrunning", NULL};
    luaL_checkoption(L, 1, "collect", ok);
    int top = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, top, LUA_MULTRET);
    return lua_gettop(L);
}

/* print goes to the log: stdout may be a pipeline output. */
static int log_print(lua_State *L)
{
    const struct hl_conf *conf = hl_state_of(L)->conf;
    if (!sl_log_enabled(SL_LOG_INFO))
        return 0;
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        luaL_tolstring(L, i, NULL);
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    sl_log(conf->inst, SL_LOG_INFO, "%s", lua_tostring(L, -1));
    return 0;
}

/* io.open(path [, mode]) for reading inside the script's directory. */
static int ro_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *mode = luaL_optstring(L, 2, "r");
    if (strcmp(mode, "r") != 0 && strcmp(mode, "rb") != 0)
        return luaL_error(L, "io.open: write access is disabled (set allow_io = true)");
    lua_settop(L, 2);
    confine(L, path);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, -2);
    lua_pushstring(L, mode);
    lua_call(L, 2, LUA_MULTRET);
    return lua_gettop(L) - 3;
}

static int ro_lines(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    confine(L, path);
    lua_replace(L, 1);
    int top = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, top, LUA_MULTRET);
    return lua_gettop(L);
}

static void drop(lua_State *L, int t, const char *const *names)
{
    for (; *names; names++) {
        lua_pushnil(L);
        lua_setfield(L, t, *names);
    }
}

/* Wraps field `name` of table t: the original becomes upvalue 1 of f. */
static void wrap(lua_State *L, int t, const char *name, lua_CFunction f)
{
    lua_getfield(L, t, name);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, t, name);
}

void hl_open_sandbox(lua_State *L, const struct hl_conf *conf)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},
        {LUA_COLIBNAME, luaopen_coroutine},
        {LUA_TABLIBNAME, luaopen_table},
        {LUA_IOLIBNAME, luaopen_io},
        {LUA_OSLIBNAME, luaopen_os},
        {LUA_STRLIBNAME, luaopen_string},
        {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},
        {NULL, NULL},
    };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    lua_pushcfunction(L, safe_loadfile);
    lua_setfield(L, g, "loadfile");
    lua_pushcfunction(L, safe_dofile);
    lua_setfield(L, g, "dofile");
    wrap(L, g, "load", safe_load);
    wrap(L, g, "collectgarbage", safe_collectgarbage);
    lua_pushcfunction(L, log_print);
    lua_setfield(L, g, "print");
    lua_newtable(L); /* modules loaded by require */
    lua_pushcclosure(L, safe_require, 1);
    lua_setfield(L, g, "require");

    lua_getfield(L, g, "string");
    drop(L, lua_gettop(L), (const char *const[]){"dump", NULL});
    lua_pop(L, 1);

    lua_getfield(L, g, "os");
    drop(
        L, lua_gettop(L),
        (const char *const[]){"execute", "exit", "remove", "rename", "tmpname", "setlocale", NULL});
    if (!conf->allow_env)
        drop(L, lua_gettop(L), (const char *const[]){"getenv", NULL});
    lua_pop(L, 1);

    lua_getfield(L, g, "io");
    int io = lua_gettop(L);
    drop(L, io, (const char *const[]){"popen", NULL});
    if (!conf->allow_io) {
        drop(L, io,
             (const char *const[]){"write", "read", "input", "output", "close", "tmpfile", "stdin",
                                   "stdout", "stderr", NULL});
        wrap(L, io, "open", ro_open);
        wrap(L, io, "lines", ro_lines);
    }
    lua_pop(L, 1);

    /* the loaded-libraries table would hand out the originals */
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pop(L, 1);
}
