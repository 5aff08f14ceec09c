#!/bin/bash
# Build and run every nook test: unit tests (normal and ASan+UBSan builds),
# the integration suite as root against the real kernel (including the
# pure-cgroup-v2 QEMU guest and the podman/docker/containerd client tests
# when their tools are installed), and end with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
top=$PWD
results=$(mktemp -d)
# pytest's temp dirs live here too (--basetemp), so nothing stays in /tmp.
# Whatever a failed test left mounted below goes first; rm never crosses
# into another filesystem.
cleanup_results() {
        awk -v r="$results/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r |
                while read -r m; do umount -l "$m"; done
        rm -rf --one-file-system "$results"
}
trap cleanup_results EXIT

build() { # dir, meson options...
        local dir=$1; shift
        if [ -d "$dir" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null
        else meson setup "$dir" "$@" >/dev/null; fi && ninja -C "$dir" >/dev/null
}

echo "== build"
build build || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug ||
        { echo "ASan build failed"; echo "0 passed, 1 failed"; exit 1; }

unit() { # build dir, label
        echo "== unit tests ($2)"
        meson test -C "$1" --suite unit --print-errorlogs >"$results/unit-$2.log" 2>&1
        grep -E '^(Ok|Fail|Expected Fail|Unexpected Pass|Skipped|Timeout):' "$results/unit-$2.log"
        local ok fail skip
        ok=$(awk '/^Ok:/{print $2}' "$results/unit-$2.log")
        fail=$(awk '/^(Fail|Timeout|Unexpected Pass):/{s+=$NF} END{print s+0}' "$results/unit-$2.log")
        skip=$(awk '/^Skipped:/{print $2}' "$results/unit-$2.log")
        echo "${ok:-0} ${fail:-0} ${skip:-0}" >"$results/unit-$2.count"
        [ "${fail:-0}" = 0 ] || grep -E 'FAIL|CHECK failed|ERROR' "$results/unit-$2.log" | head -40
}
# Formatting is checked, not reviewed: .clang-format is the rule.
echo "== format"
if scripts/check-format.sh >"$results/format.log" 2>&1; then echo "1 0" >"$results/format.count"
else echo "0 1" >"$results/format.count"; fi
tail -n 40 "$results/format.log"

# No file of src/ depends on itself through others: the graph comes from
# the objects just built (which file defines a symbol another uses).
echo "== file cycles"
if scripts/check-cycles.py build >"$results/cycles.log" 2>&1; then echo "1 0" >"$results/cycles.count"
else echo "0 1" >"$results/cycles.count"; fi
tail -n 40 "$results/cycles.log"

unit build normal
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 unit build-asan asan

# The arm64 build (cross/aarch64-linux-gnu.ini), its unit tests run by
# qemu-user; a test needing what the emulator lacks skips with its reason
# (tests/unit/unit.h). Counted like the other unit runs. Without the cross
# compiler or qemu-user (scripts/install-deps.sh --arm64) it is one skip.
arm64() {
        echo "== arm64 cross build"
        local t0=$SECONDS
        if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
                echo "arm64: SKIPPED: aarch64-linux-gnu-gcc or qemu-aarch64-static not installed" \
                        "(scripts/install-deps.sh --arm64)"
                echo "0 0 1" >"$results/unit-arm64.count"
                return
        fi
        if ! build build-arm64 --cross-file cross/aarch64-linux-gnu.ini; then
                echo "arm64 cross build failed"
                echo "0 1" >"$results/unit-arm64.count"
                return
        fi
        echo "arm64 build: $((SECONDS - t0)) s"
        unit build-arm64 arm64
        grep -h '^SKIP:' build-arm64/meson-logs/testlog.txt | sort | uniq -c
        echo "arm64 build and unit tests: $((SECONDS - t0)) s"

        # On a real aarch64 kernel, in one boot: the same unit tests (but
        # the engine's), where what qemu-user skipped runs (unit.sh builds
        # them), then the runtime's core integration subset (namespaces,
        # mounts, capabilities, seccomp, cgroup v2, exec, a multi-arch
        # pull, the engine's `nook run --rm busybox`): each `ok`/`FAIL`
        # line is one test. tests/vm/arm64/integ.sh --unit.
        echo "== arm64 guest (qemu-system-aarch64): unit tests and integration checks"
        t0=$SECONDS
        tests/vm/arm64/integ.sh --unit build-arm64 >"$results/arm64vm.log" 2>&1
        local rc=$?
        cat "$results/arm64vm.log"
        if [ $rc = 125 ]; then
                echo "arm64 guest: SKIPPED (it could not run, above)"
                echo "0 0 1" >"$results/unit-arm64vm.count"
                echo "0 0 1" >"$results/arm64integ.count"
        else
                awk '/^arm64 guest: [0-9]+ ok/ {ok=$3; fail=$5; skip=$7} END {print ok+0, (fail == "" ? 1 : fail), skip+0}' \
                        "$results/arm64vm.log" >"$results/unit-arm64vm.count"
                awk '/^arm64 integ: [0-9]+ ok/ {ok=$3; fail=$5} END {print ok+0, (fail == "" ? 1 : fail)}' \
                        "$results/arm64vm.log" >"$results/arm64integ.count"
        fi
        echo "arm64 guest: $((SECONDS - t0)) s"
}
arm64

# Fuzz targets (libFuzzer, clang, ASan+UBSan): a short run of each on its
# seed corpus; new inputs go to a temp dir, the repository's corpus is read
# only. A crash fails the target and leaves the reproducer in the log.
fuzz() {
        echo "== fuzz smoke (${NOOK_FUZZ_SECONDS:-12}s per target)"
        local ok=0 fail=0
        if ! command -v clang >/dev/null; then
                echo "clang not installed: fuzz targets not built"
                echo "0 1" >"$results/fuzz.count"
                return
        fi
        local opts=(-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false)
        if [ -d build-fuzz ]; then meson setup --reconfigure build-fuzz "${opts[@]}" >/dev/null
        else CC=clang meson setup build-fuzz "${opts[@]}" >/dev/null; fi
        if ! ninja -C build-fuzz tests/fuzz/fuzz_spec tests/fuzz/fuzz_tar tests/fuzz/fuzz_manifest tests/fuzz/fuzz_net tests/fuzz/fuzz_containerfile tests/fuzz/fuzz_tmpl >/dev/null; then
                echo "fuzz build failed"
                echo "0 1" >"$results/fuzz.count"
                return
        fi
        for t in spec tar manifest net containerfile tmpl; do
                local new="$results/fuzz-$t" before
                mkdir -p "$new"
                before=$(ls -d /tmp/nook-fuzz-* 2>/dev/null)
                # A target's scratch directories must go with it.
                if (cd "$new" && "$top/build-fuzz/tests/fuzz/fuzz_$t" -max_total_time="${NOOK_FUZZ_SECONDS:-12}" \
                        -rss_limit_mb=2048 "$new" "$top/tests/fuzz/corpus/$t") >"$results/fuzz-$t.log" 2>&1 &&
                   [ "$(ls -d /tmp/nook-fuzz-* 2>/dev/null)" = "$before" ]; then
                        ok=$((ok + 1)); echo "fuzz_$t: ok ($(grep -c . "$results/fuzz-$t.log") log lines)"
                else
                        fail=$((fail + 1)); echo "fuzz_$t: FAILED"; tail -n 30 "$results/fuzz-$t.log"
                fi
        done
        echo "$ok $fail" >"$results/fuzz.count"
}
fuzz

echo "== integration tests"
[ $# -gt 0 ] || set -- tests/integration tests/clients
# Debian's python: the suite uses python3-pytest from apt.
NOOK_BIN="$top/build/nook" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
        --basetemp="$results/pytest" --junitxml="$results/integration.xml" "$@" 2>&1 | tail -n 60

# The runtime core again with the ASan+UBSan binary: a sanitizer report
# (including a leak at exit) makes nook exit non-zero and the test fail.
if [ -z "${NOOK_SKIP_ASAN_INTEGRATION:-}" ]; then
        echo "== integration tests, ASan+UBSan nook (runtime core)"
        touch "$results/asan.ran"
        NOOK_BIN="$top/build-asan/nook" ASAN_OPTIONS=detect_leaks=1 \
                UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                /usr/bin/python3 -m pytest -q -p no:cacheprovider --basetemp="$results/pytest-asan" \
                --junitxml="$results/integration-asan.xml" tests/integration/test_runtime.py \
                tests/integration/test_process.py tests/integration/test_mounts.py \
                tests/integration/test_exec.py tests/integration/test_security.py 2>&1 | tail -n 30
fi

/usr/bin/python3 - "$results" <<'PY'
import glob, os, sys, xml.etree.ElementTree as ET
res = sys.argv[1]
passed = failed = skipped = 0
for f in glob.glob(f"{res}/unit-*.count") + glob.glob(f"{res}/fuzz.count") + glob.glob(f"{res}/format.count") + glob.glob(f"{res}/cycles.count") + glob.glob(f"{res}/arm64integ.count"):
    ok, fail, *skip = open(f).read().split()
    passed += int(ok); failed += int(fail); skipped += int(skip[0]) if skip else 0
for name in ("integration.xml", "integration-asan.xml"):
    try:
        root = ET.parse(f"{res}/{name}").getroot()
    except OSError:
        if name == "integration.xml" or os.path.exists(f"{res}/asan.ran"):
            failed += 1
        continue
    except ET.ParseError:
        failed += 1
        continue
    for ts in root.iter("testsuite"):
        t = int(ts.get("tests", 0)); f_ = int(ts.get("failures", 0)) + int(ts.get("errors", 0))
        s = int(ts.get("skipped", 0))
        passed += t - f_ - s; failed += f_; skipped += s
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
