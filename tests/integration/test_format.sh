#!/usr/bin/env bash
# Every C/C++ source is formatted with the committed .clang-format.
source "$(dirname "$0")/lib.sh"
command -v clang-format > /dev/null || fail "clang-format not installed"
bad=()
while IFS= read -r f; do
  clang-format --dry-run -Werror "$f" > /dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.c' '*.h' '*.cpp' 2>/dev/null || find core plugins tests bench -name '*.[ch]')
[ ${#bad[@]} -eq 0 ] || fail "not clang-formatted (run make format): ${bad[*]}"
pass "every source is clang-formatted"
