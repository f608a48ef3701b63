/* hl_pattern.c - string.find, match, gmatch and gsub with Lua 5.4's pattern
 * language, under the call's budget.
 *
 * Lua's own matcher backtracks without executing a Lua instruction, so the
 * count hook never sees it: ("a"):rep(30000):find(".-.-.-.-x") runs for
 * hours. This matcher has the same semantics and counts its steps, charging
 * them to max_instructions and checking max_cpu_ms as it goes. Plain finds
 * use memmem (linear time). */
#include <ctype.h>
#include <string.h>

#include "handler_lua.h"

#define MAX_DEPTH      200   /* nesting of match calls ("pattern too complex") */
#define MAX_CAPTURES   32    /* as in Lua */
#define STEPS_PER_TICK 10000 /* steps between two budget checks */

enum { CAP_UNFINISHED = -1, CAP_POSITION = -2 };

struct matcher {
    lua_State *L;
    const char *src, *src_end, *p_end;
    int depth; /* match calls left */
    int steps; /* until the next budget check */
    int level; /* captures open or closed */
    struct {
        const char *init;
        ptrdiff_t len; /* or CAP_UNFINISHED, CAP_POSITION */
    } cap[MAX_CAPTURES];
};

static void tick(struct matcher *m, int n)
{
    m->steps -= n;
    if (m->steps <= 0) {
        hl_budget_charge(m->L, STEPS_PER_TICK - m->steps);
        m->steps = STEPS_PER_TICK;
    }
}

static void matcher_init(struct matcher *m, lua_State *L, const char *s, size_t ls, const char *p,
                         size_t lp)
{
    m->L = L;
    m->src = s;
    m->src_end = s + ls;
    m->p_end = p + lp;
    m->steps = STEPS_PER_TICK;
}

static void matcher_reset(struct matcher *m)
{
    m->level = 0;
    m->depth = MAX_DEPTH;
}

/* The end of the single-character class that starts at p. */
static const char *class_end(struct matcher *m, const char *p)
{
    char c = *p++;
    if (c == '%') {
        if (p >= m->p_end)
            luaL_error(m->L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c == '[') {
        if (*p == '^')
            p++;
        do { /* the first ']' of a set is a member */
            if (p >= m->p_end)
                luaL_error(m->L, "malformed pattern (missing ']')");
            c = *p++;
            if (c == '%' && p < m->p_end)
                p++;
        } while (*p != ']');
        return p + 1;
    }
    return p;
}

/* Does c belong to class cl (the letter after '%')? */
static bool in_class(int c, int cl)
{
    bool r;
    switch (tolower(cl)) {
    case 'a':
        r = isalpha(c);
        break;
    case 'c':
        r = iscntrl(c);
        break;
    case 'd':
        r = isdigit(c);
        break;
    case 'g':
        r = isgraph(c);
        break;
    case 'l':
        r = islower(c);
        break;
    case 'p':
        r = ispunct(c);
        break;
    case 's':
        r = isspace(c);
        break;
    case 'u':
        r = isupper(c);
        break;
    case 'w':
        r = isalnum(c);
        break;
    case 'x':
        r = isxdigit(c);
        break;
    case 'z': /* deprecated, still in Lua 5.4 */
        r = c == 0;
        break;
    default:
        return cl == c; /* an escaped character */
    }
    return isupper(cl) ? !r : r;
}

/* Does c belong to the set [p .. ec], p at '[' and ec at its ']'? */
static bool in_set(int c, const char *p, const char *ec)
{
    bool member = true;
    if (*++p == '^') {
        member = false;
        p++;
    }
    for (; p < ec; p++) {
        if (*p == '%') {
            p++;
            if (in_class(c, (unsigned char)*p))
                return member;
        } else if (p[1] == '-' && p + 2 < ec) {
            if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2])
                return member;
            p += 2;
        } else if ((unsigned char)*p == c) {
            return member;
        }
    }
    return !member;
}

/* Does the character at s match the class [p, ep)? */
static bool single(struct matcher *m, const char *s, const char *p, const char *ep)
{
    if (s >= m->src_end)
        return false;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.':
        return true;
    case '%':
        return in_class(c, (unsigned char)p[1]);
    case '[':
        return in_set(c, p, ep - 1);
    default:
        return (unsigned char)*p == c;
    }
}

static const char *match(struct matcher *m, const char *s, const char *p);

/* %bxy at p (pointing at x): a balanced run starting at s. */
static const char *balance(struct matcher *m, const char *s, const char *p)
{
    if (p + 1 >= m->p_end)
        luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= m->src_end || *s != *p)
        return NULL;
    int open = *p, close = p[1], depth = 1;
    const char *start = s, *end = NULL;
    while (!end && ++s < m->src_end) {
        if (*s == close) {
            if (--depth == 0)
                end = s + 1;
        } else if (*s == open) {
            depth++;
        }
    }
    ptrdiff_t walked = s - start;
    tick(m, walked > (1 << 30) ? 1 << 30 : (int)walked);
    return end;
}

/* The longest run of [p, ep) at s that lets the rest (ep + 1) match. */
static const char *max_expand(struct matcher *m, const char *s, const char *p, const char *ep)
{
    ptrdiff_t i = 0;
    while (single(m, s + i, p, ep)) {
        i++;
        tick(m, 1);
    }
    for (; i >= 0; i--) {
        const char *r = match(m, s + i, ep + 1);
        if (r)
            return r;
    }
    return NULL;
}

/* The shortest run of [p, ep) at s that lets the rest (ep + 1) match. */
static const char *min_expand(struct matcher *m, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *r = match(m, s, ep + 1);
        if (r)
            return r;
        if (!single(m, s, p, ep))
            return NULL;
        s++;
    }
}

static const char *open_capture(struct matcher *m, const char *s, const char *p, ptrdiff_t what)
{
    if (m->level >= MAX_CAPTURES)
        luaL_error(m->L, "too many captures");
    m->cap[m->level].init = s;
    m->cap[m->level].len = what;
    m->level++;
    const char *r = match(m, s, p);
    if (!r)
        m->level--;
    return r;
}

static const char *close_capture(struct matcher *m, const char *s, const char *p)
{
    int l = m->level - 1;
    while (l >= 0 && m->cap[l].len != CAP_UNFINISHED)
        l--;
    if (l < 0)
        luaL_error(m->L, "invalid pattern capture");
    m->cap[l].len = s - m->cap[l].init;
    const char *r = match(m, s, p);
    if (!r)
        m->cap[l].len = CAP_UNFINISHED;
    return r;
}

/* %1..%9: the text of capture c again at s. */
static const char *back_reference(struct matcher *m, const char *s, int c)
{
    int l = c - '1';
    if (l < 0 || l >= m->level || m->cap[l].len == CAP_UNFINISHED)
        luaL_error(m->L, "invalid capture index %%%d", l + 1);
    ptrdiff_t len = m->cap[l].len;
    if (len < 0) /* a position capture matches no text */
        return NULL;
    if (m->src_end - s >= len && memcmp(m->cap[l].init, s, (size_t)len) == 0) {
        tick(m, (int)(len >> 4));
        return s + len;
    }
    return NULL;
}

/* Matches the pattern from p against the subject from s: the end of the
 * match, or NULL. Recursion only where Lua's matcher backtracks. */
static const char *match(struct matcher *m, const char *s, const char *p)
{
    if (m->depth-- == 0)
        luaL_error(m->L, "pattern too complex");
    for (;;) {
        tick(m, 1);
        if (p == m->p_end)
            break;
        const char *ep;
        switch (*p) {
        case '(':
            s = p + 1 < m->p_end && p[1] == ')' ? open_capture(m, s, p + 2, CAP_POSITION)
                                                : open_capture(m, s, p + 1, CAP_UNFINISHED);
            goto out;
        case ')':
            s = close_capture(m, s, p + 1);
            goto out;
        case '$':
            if (p + 1 != m->p_end)
                goto single_char;
            s = s == m->src_end ? s : NULL;
            goto out;
        case '%':
            if (p[1] == 'b') {
                s = balance(m, s, p + 2);
                if (!s)
                    goto out;
                p += 4;
                continue;
            }
            if (p[1] == 'f') {
                p += 2;
                if (*p != '[')
                    luaL_error(m->L, "missing '[' after '%%f' in pattern");
                ep = class_end(m, p);
                int before = s == m->src ? 0 : (unsigned char)s[-1];
                int at = s < m->src_end ? (unsigned char)*s : 0;
                if (!in_set(before, p, ep - 1) && in_set(at, p, ep - 1)) {
                    p = ep;
                    continue;
                }
                s = NULL;
                goto out;
            }
            if (isdigit((unsigned char)p[1])) {
                s = back_reference(m, s, (unsigned char)p[1]);
                if (!s)
                    goto out;
                p += 2;
                continue;
            }
            goto single_char;
        default:
        single_char:
            ep = class_end(m, p);
            if (!single(m, s, p, ep)) {
                if (*ep == '*' || *ep == '?' || *ep == '-') { /* may match nothing */
                    p = ep + 1;
                    continue;
                }
                s = NULL;
                goto out;
            }
            switch (*ep) {
            case '?': {
                const char *r = match(m, s + 1, ep + 1);
                if (r) {
                    s = r;
                    goto out;
                }
                p = ep + 1;
                continue;
            }
            case '+':
                s = max_expand(m, s + 1, p, ep);
                goto out;
            case '*':
                s = max_expand(m, s, p, ep);
                goto out;
            case '-':
                s = min_expand(m, s, p, ep);
                goto out;
            default:
                s++;
                p = ep;
                continue;
            }
        }
    }
out:
    m->depth++;
    return s;
}

/* Pushes capture i (the whole match [s, e) when there are none). */
static void push_capture(struct matcher *m, int i, const char *s, const char *e)
{
    if (i >= m->level) {
        if (i != 0)
            luaL_error(m->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(m->L, s, (size_t)(e - s));
        return;
    }
    ptrdiff_t len = m->cap[i].len;
    if (len == CAP_UNFINISHED)
        luaL_error(m->L, "unfinished capture");
    if (len == CAP_POSITION)
        lua_pushinteger(m->L, (m->cap[i].init - m->src) + 1);
    else
        lua_pushlstring(m->L, m->cap[i].init, (size_t)len);
}

/* Pushes every capture (or the whole match when s is not NULL and there are
 * none); returns how many. */
static int push_captures(struct matcher *m, const char *s, const char *e)
{
    int n = m->level == 0 && s ? 1 : m->level;
    luaL_checkstack(m->L, n, "too many captures");
    for (int i = 0; i < n; i++)
        push_capture(m, i, s, e);
    return n;
}

/* A start position argument, made 0-based; may be past the end. */
static size_t start_of(lua_State *L, int arg, size_t len)
{
    lua_Integer pos = luaL_optinteger(L, arg, 1);
    if (pos > 0)
        return (size_t)pos - 1;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 0;
    return len + (size_t)pos;
}

/* True when p has no magic characters (a plain find). */
static bool is_plain(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++)
        if (p[i] && strchr("^$*+?.([%-", p[i]))
            return false;
    return true;
}

static int find_or_match(lua_State *L, bool find)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_of(L, 3, ls);
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || is_plain(p, lp))) {
        const char *at = memmem(s + init, ls - init, p, lp);
        if (!at) {
            luaL_pushfail(L);
            return 1;
        }
        lua_pushinteger(L, (at - s) + 1);
        lua_pushinteger(L, (lua_Integer)((size_t)(at - s) + lp));
        return 2;
    }
    struct matcher m;
    bool anchor = lp > 0 && *p == '^';
    if (anchor) {
        p++;
        lp--;
    }
    matcher_init(&m, L, s, ls, p, lp);
    const char *from = s + init;
    do {
        matcher_reset(&m);
        const char *e = match(&m, from, p);
        if (e) {
            if (!find)
                return push_captures(&m, from, e);
            lua_pushinteger(L, (from - s) + 1);
            lua_pushinteger(L, e - s);
            return push_captures(&m, NULL, NULL) + 2;
        }
    } while (from++ < m.src_end && !anchor);
    luaL_pushfail(L);
    return 1;
}

static int str_find(lua_State *L)
{
    return find_or_match(L, true);
}

static int str_match(lua_State *L)
{
    return find_or_match(L, false);
}

/* The state of one gmatch iteration (upvalue 3; 1 and 2 keep the subject
 * and pattern alive). */
struct gmatch {
    const char *from, *last;
    struct matcher m;
};

static int gmatch_next(lua_State *L)
{
    struct gmatch *g = lua_touserdata(L, lua_upvalueindex(3));
    g->m.L = L;
    const char *p = lua_tostring(L, lua_upvalueindex(2));
    for (const char *from = g->from; from <= g->m.src_end; from++) {
        matcher_reset(&g->m);
        const char *e = match(&g->m, from, p);
        if (e && e != g->last) {
            g->from = g->last = e;
            return push_captures(&g->m, from, e);
        }
    }
    return 0;
}

static int str_gmatch(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_of(L, 3, ls);
    if (init > ls)
        init = ls + 1; /* past the end: no match */
    lua_settop(L, 2);
    struct gmatch *g = lua_newuserdatauv(L, sizeof *g, 0);
    matcher_init(&g->m, L, s, ls, p, lp);
    g->from = s + init;
    g->last = NULL;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* Appends the replacement string (argument 3) for the match [s, e). */
static void add_template(struct matcher *m, luaL_Buffer *b, const char *s, const char *e)
{
    lua_State *L = m->L;
    size_t l;
    const char *t = lua_tolstring(L, 3, &l);
    const char *pct;
    while ((pct = memchr(t, '%', l)) != NULL) {
        luaL_addlstring(b, t, (size_t)(pct - t));
        pct++;
        if (*pct == '%') {
            luaL_addchar(b, '%');
        } else if (*pct == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit((unsigned char)*pct)) {
            push_capture(m, *pct - '1', s, e);
            luaL_tolstring(L, -1, NULL);
            lua_remove(L, -2);
            luaL_addvalue(b);
        } else {
            luaL_error(L, "invalid use of '%%' in replacement string");
        }
        l -= (size_t)(pct + 1 - t);
        t = pct + 1;
    }
    luaL_addlstring(b, t, l);
}

/* Appends the replacement for the match [s, e); false when the match stays
 * as it was (a function or table gave false or nil). */
static bool add_replacement(struct matcher *m, luaL_Buffer *b, const char *s, const char *e,
                            int type)
{
    lua_State *L = m->L;
    if (type == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = push_captures(m, s, e);
        lua_call(L, n, 1);
    } else if (type == LUA_TTABLE) {
        push_capture(m, 0, s, e);
        lua_gettable(L, 3);
    } else {
        add_template(m, b, s, e);
        return true;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return false;
    }
    if (!lua_isstring(L, -1))
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return true;
}

static int str_gsub(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int type = lua_type(L, 3);
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    luaL_argexpected(L,
                     type == LUA_TNUMBER || type == LUA_TSTRING || type == LUA_TFUNCTION ||
                         type == LUA_TTABLE,
                     3, "string/function/table");
    bool anchor = lp > 0 && *p == '^';
    if (anchor) {
        p++;
        lp--;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    struct matcher m;
    matcher_init(&m, L, s, ls, p, lp);
    const char *from = s, *last = NULL;
    lua_Integer n = 0;
    bool changed = false;
    while (n < max) {
        matcher_reset(&m);
        const char *e = match(&m, from, p);
        if (e && e != last) {
            n++;
            changed = add_replacement(&m, &b, from, e, type) || changed;
            from = last = e;
        } else if (from < m.src_end) {
            luaL_addchar(&b, *from++);
        } else {
            break;
        }
        if (anchor)
            break;
    }
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, from, (size_t)(m.src_end - from));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

void hl_open_patterns(lua_State *L, int string_table)
{
    static const luaL_Reg fns[] = {
        {"find", str_find}, {"match", str_match}, {"gmatch", str_gmatch},
        {"gsub", str_gsub}, {NULL, NULL},
    };
    lua_pushvalue(L, string_table);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}
