#!/bin/bash
# Fail when a tracked C file differs from what .clang-format makes of it,
# and name each such file with the first lines of the difference.
# Fix with: git ls-files '*.c' '*.h' | xargs clang-format -i
set -u
cd "$(dirname "$0")/.."
fmt=$(command -v clang-format || command -v clang-format-14) ||
        { echo "clang-format is not installed (scripts/install-deps.sh --test)"; exit 1; }
bad=0
while read -r f; do
        if ! "$fmt" --style=file "$f" | diff -u --label "$f" --label "$f (formatted)" "$f" - >/tmp/nook-fmt.$$; then
                bad=$((bad + 1))
                head -n 12 /tmp/nook-fmt.$$
        fi
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find src tests -name '*.[ch]')
rm -f /tmp/nook-fmt.$$
[ "$bad" = 0 ] && echo "format: every C file matches .clang-format" && exit 0
echo "format: $bad file(s) differ from .clang-format"
exit 1
