#!/usr/bin/env bash
# The Lua examples (lua/examples/*.lua) through their configs (configs/lua_*.conf)
# over the bundled orders (tests/data/lua_orders.jsonl): exact output checks.
source "$(dirname "$0")/lib.sh"
SRC=${SLUICE_SOURCE_DIR:-$PWD}

# The configs use paths relative to the repository root; run them from a
# scratch directory that mirrors it so the route example's file lands in $T.
ln -s "$SRC/tests" "$T/tests"
ln -s "$SRC/lua" "$T/lua"

run_example() { # name -> stdout of the pipeline in $T/<name>.out
  (cd "$T" && "$SLUICE" -c "$SRC/configs/lua_$1.conf" > "$T/$1.out" 2> "$T/$1.log") ||
    { cat "$T/$1.log"; fail "lua_$1.conf exited non-zero"; }
}

expect() { # name file: compares with stdin
  cat > "$T/$1.want"
  diff -u "$T/$1.want" "$2" || fail "$1: output differs"
}

run_example enrich
expect enrich "$T/enrich.out" <<'JSON'
{"id":1,"customer":"ada","country":"GB","status":"paid","items":[{"sku":"A-1","qty":2,"price":12.5},{"sku":"B-7","qty":1,"price":80}],"items_count":2,"tag":"from-config","total":105.0}
{"id":2,"customer":"bob","country":"US","status":"pending","items":[{"sku":"C-3","qty":10,"price":3}],"items_count":1,"tag":"from-config","total":30}
{"id":3,"customer":"chloé","country":"FR","status":"paid","items":[{"sku":"A-1","qty":1,"price":12.5}],"note":null,"items_count":1,"tag":"from-config","total":12.5}
{"id":1,"customer":"ada","country":"GB","status":"paid","items":[{"sku":"A-1","qty":2,"price":12.5},{"sku":"B-7","qty":1,"price":80}],"items_count":2,"tag":"from-config","total":105.0}
{"id":4,"customer":"dan","country":"DE","status":"cancelled","items":[],"items_count":0,"tag":"from-config","total":0}
{"id":5,"customer":"eve","country":"US","status":"paid","items":[{"sku":"Z-9","qty":3,"price":150},{"sku":"C-3","qty":4,"price":3},{"sku":"B-7","qty":1,"price":80}],"meta":{"source":"web","tags":["vip"]},"items_count":3,"tag":"from-config","total":542}
{"id":3,"customer":"chloé","country":"FR","status":"paid","items":[{"sku":"A-1","qty":1,"price":12.5}],"note":null,"items_count":1,"tag":"from-config","total":12.5}
{"id":6,"customer":"fay","country":"JP","status":"paid","items":[{"sku":"Q-2","qty":7,"price":1}],"items_count":1,"tag":"from-config","total":7}
JSON
pass "enrich: computed fields, ints stay ints, params reach init(conf)"

run_example filter
expect filter "$T/filter.out" <<'JSON'
{"id":1,"customer":"ada","country":"gb","status":"paid","items":[{"sku":"A-1","qty":2,"price":12.5},{"sku":"B-7","qty":1,"price":80}]}
{"id":3,"customer":"chloé","country":"fr","status":"paid","items":[{"sku":"A-1","qty":1,"price":12.5}],"note":null}
{"id":1,"customer":"ada","country":"gb","status":"paid","items":[{"sku":"A-1","qty":2,"price":12.5},{"sku":"B-7","qty":1,"price":80}]}
{"id":5,"customer":"eve","country":"us","status":"paid","items":[{"sku":"Z-9","qty":3,"price":150},{"sku":"C-3","qty":4,"price":3},{"sku":"B-7","qty":1,"price":80}],"meta":{"source":"web","tags":["vip"]}}
{"id":3,"customer":"chloé","country":"fr","status":"paid","items":[{"sku":"A-1","qty":1,"price":12.5}],"note":null}
{"id":6,"customer":"fay","country":"jp","status":"paid","items":[{"sku":"Q-2","qty":7,"price":1}]}
JSON
pass "filter: unpaid orders dropped"

run_example route
expect route "$T/route.out" <<'JSON'
{"id":1,"customer":"ada","country":"gb","status":"paid","items":[{"sku":"A-1","qty":2,"price":12.5},{"sku":"B-7","qty":1,"price":80}]}
{"id":1,"customer":"ada","country":"gb","status":"paid","items":[{"sku":"A-1","qty":2,"price":12.5},{"sku":"B-7","qty":1,"price":80}]}
{"id":5,"customer":"eve","country":"us","status":"paid","items":[{"sku":"Z-9","qty":3,"price":150},{"sku":"C-3","qty":4,"price":3},{"sku":"B-7","qty":1,"price":80}],"meta":{"source":"web","tags":["vip"]}}
JSON
expect route_small "$T/lua_small_orders.jsonl" <<'JSON'
{"id":2,"customer":"bob","country":"us","status":"pending","items":[{"sku":"C-3","qty":10,"price":3}]}
{"id":3,"customer":"chloé","country":"fr","status":"paid","items":[{"sku":"A-1","qty":1,"price":12.5}],"note":null}
{"id":4,"customer":"dan","country":"de","status":"cancelled","items":[]}
{"id":3,"customer":"chloé","country":"fr","status":"paid","items":[{"sku":"A-1","qty":1,"price":12.5}],"note":null}
{"id":6,"customer":"fay","country":"jp","status":"paid","items":[{"sku":"Q-2","qty":7,"price":1}]}
JSON
pass "route: big orders to stdout, small ones to the file"

run_example split
expect split "$T/split.out" <<'JSON'
{"line":1,"order_id":1,"qty":2,"sku":"A-1"}
{"line":2,"order_id":1,"qty":1,"sku":"B-7"}
{"line":1,"order_id":2,"qty":10,"sku":"C-3"}
{"line":1,"order_id":3,"qty":1,"sku":"A-1"}
{"line":1,"order_id":1,"qty":2,"sku":"A-1"}
{"line":2,"order_id":1,"qty":1,"sku":"B-7"}
{"line":1,"order_id":5,"qty":3,"sku":"Z-9"}
{"line":2,"order_id":5,"qty":4,"sku":"C-3"}
{"line":3,"order_id":5,"qty":1,"sku":"B-7"}
{"line":1,"order_id":3,"qty":1,"sku":"A-1"}
{"line":1,"order_id":6,"qty":7,"sku":"Q-2"}
JSON
pass "split: one message per order line, empty orders dropped"

run_example dedup
expect dedup "$T/dedup.out" <<'JSON'
{"id":1,"customer":"ada","country":"gb","status":"paid","items":[{"sku":"A-1","qty":2,"price":12.5},{"sku":"B-7","qty":1,"price":80}]}
{"id":2,"customer":"bob","country":"us","status":"pending","items":[{"sku":"C-3","qty":10,"price":3}]}
{"id":3,"customer":"chloé","country":"fr","status":"paid","items":[{"sku":"A-1","qty":1,"price":12.5}],"note":null}
{"id":4,"customer":"dan","country":"de","status":"cancelled","items":[]}
{"id":5,"customer":"eve","country":"us","status":"paid","items":[{"sku":"Z-9","qty":3,"price":150},{"sku":"C-3","qty":4,"price":3},{"sku":"B-7","qty":1,"price":80}],"meta":{"source":"web","tags":["vip"]}}
{"id":6,"customer":"fay","country":"jp","status":"paid","items":[{"sku":"Q-2","qty":7,"price":1}]}
JSON
pass "dedup: repeated ids dropped"

# every run ended with everything delivered (no dead letters, nothing lost)
for n in enrich filter route split dedup; do
  grep -q "0 dead-lettered" "$T/$n.log" || { cat "$T/$n.log"; fail "$n: dead letters"; }
done
grep -q "8 in, 11 out" "$T/split.log" || fail "split: wrong counts"
pass "all examples finished clean"
