# integ-guest.sh DIR BUILD [UNIT_DIR]: run by tests/vm/arm64/integ.sh in
# the arm64 guest (boot.sh: busybox sh, pure cgroup v2, cwd the worktree
# under /host). UNIT_DIR: static unit tests to run first, as unit.sh's
# init.c does (each from /tmp/unit, 120 s at most, `UNIT name status`).
# DIR holds the rootfs and one bundle (b/NAME/config.json) per check group;
# BUILD the cross-built nook. Each check prints `ok NAME` or
# `FAIL NAME: why`; `time GROUP S` lines give each group's guest seconds.
# Ends with `integ: done`.
src=$1
nook_oci=$PWD/$2/nook-oci
nook=$PWD/$2/nook
root=/run/nook-integ
oci() { "$nook_oci" --root "$root" "$@"; }

pass() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }
expect() { # name, got, want
        if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi
}
# The rest of the line of OUTPUT whose first word is KEY.
field() { # output, key
        printf '%s\n' "$1" | awk -v k="$2" '$1 == k {sub(/^[^ \t]+[ \t]*/, ""); print; exit}'
}
uptime() { cut -d' ' -f1 /proc/uptime; }
t0=$(uptime)
lap() { # group
        t=$(uptime)
        echo "time $1 $(awk -v a="$t0" -v b="$t" 'BEGIN {printf "%.1f", b - a}') s"
        t0=$t
}

if [ -n "${3:-}" ]; then
        mkdir -p /tmp/unit
        echo "UNIT-START"
        for t in "$3"/test_*; do
                n=${t##*/}
                (cd /tmp/unit && exec timeout 120 "$t") >/tmp/unit/$n.log 2>&1 </dev/null
                st=$?
                echo "UNIT $n $st"
                # What a failed or skipped test said.
                [ $st = 0 ] || grep -E 'CHECK failed|expected|got|^SKIP' /tmp/unit/$n.log | head -n 20
        done
        echo "UNIT-END"
        lap unit-tests
fi

# The rootfs, writable (containers write under /dev/shm only), and the
# directory the mounts check binds read-only.
mkdir -p /tmp/integ && cp -a "$src/rootfs" "$src/share" /tmp/integ/ || { fail setup "copy $src"; exit 1; }

# ---- namespaces, and the run itself (pid 1, exit status)
out=$(oci run --bundle "$src/b/ns" ns 2>&1)
expect run-exit "$?" 0
expect pid-ns "$(field "$out" pid)" 1
expect pid-ns-ppid "$(field "$out" ppid)" 0
expect uts-ns "$(field "$out" hostname) $(hostname)" "arm64-container arm64-guest"
for n in pid uts ipc mnt net; do
        c=$(field "$out" "ns-$n") h=$(readlink /proc/self/ns/$n)
        if [ -n "$c" ] && [ "$c" != "$h" ]; then pass "ns-$n"; else fail "ns-$n" "container '$c', guest '$h'"; fi
done
# Not asked for in this config: shared with the guest.
expect ns-cgroup-shared "$(field "$out" ns-cgroup)" "$(readlink /proc/self/ns/cgroup)"
expect net-ns-lo-only "$(field "$out" netdevs)" "lo "
lap namespaces

# ---- mounts: read-only root, masked and read-only paths, tmpfs, ro bind
out=$(oci run --bundle "$src/b/mounts" mounts 2>&1)
expect mounts-exit "$?" 0
expect root-readonly "$(field "$out" rootwrite)" "open: EROFS"
expect masked-kcore "$(field "$out" kcore)" "character special file,1,3"
[ "$(wc -c </proc/timer_list)" -gt 0 ] || fail masked-timer_list "empty in the guest too"
expect masked-timer_list "$(field "$out" timer_list)" 0
[ "$(ls -A /sys/firmware | wc -l)" -gt 0 ] || fail masked-sys-firmware "empty in the guest too"
expect masked-sys-firmware "$(field "$out" firmware)" 0
expect readonly-proc-sys "$(field "$out" procsys)" "open: EROFS"
d=$(field "$out" data)
case $d in
"700 "*" /data "*nosuid,nodev*" - tmpfs "*size=2048k*mode=700*) pass tmpfs-mount-options ;;
*) fail tmpfs-mount-options "mode and mountinfo: '$d'" ;;
esac
expect bind-readonly "$(field "$out" share)" "shared open: EROFS"
lap mounts

# ---- capabilities: the sets /proc/self/status shows, and what they allow
out=$(oci run --bundle "$src/b/caps" caps 2>&1)
expect caps-exit "$?" 0
got=""
for k in CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs; do got="$got $k=$(field "$out" $k:)"; done
expect caps-status "$got" " CapInh=0000000000000000 CapPrm=0000000000000021 CapEff=0000000000000021 CapBnd=0000000000002421 CapAmb=0000000000000000 NoNewPrivs=1"
expect caps-no-sys-admin "$(field "$out" mount)" "mount: EPERM"
expect caps-chown "$(field "$out" chown)" 1000
lap capabilities

# ---- seccomp: errno, an argument filter, kill, on aarch64 (+ arm compat)
out=$(oci run --bundle "$src/b/seccomp" seccomp 2>&1)
expect seccomp-exit "$?" 0
expect seccomp-mode "$(field "$out" mode)" 2
expect seccomp-errno "$(field "$out" mkdir)" "1 mkdir: can't create directory '/dev/shm/x': No message of desired type"
v=$(field "$out" arg-hit)
expect seccomp-arg-match "${v#*: }" EDOM
v=$(field "$out" arg-miss)
expect seccomp-arg-nomatch "${v#*: }" ret=0
expect seccomp-kill "$(field "$out" kill)" 159 # 128 + SIGSYS
lap seccomp

# ---- cgroup v2 and exec: a running container with limits
cg=/sys/fs/cgroup/nook-integ/long
oci run --detach --bundle "$src/b/long" long </dev/null >/dev/null 2>/tmp/integ/err
expect detach-exit "$?" 0
pid=$(oci state long 2>/dev/null | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
expect cgroup-path "$(cat /proc/"${pid:-0}"/cgroup 2>&1)" "0::/nook-integ/long"
expect cgroup-memory.max "$(cat $cg/memory.max)" 25165824
expect cgroup-memory.swap.max "$(cat $cg/memory.swap.max)" 0
expect cgroup-pids.max "$(cat $cg/pids.max)" 12
expect cgroup-cpu.max "$(cat $cg/cpu.max)" "50000 100000"
out=$(oci exec long sh -c 'echo "init $(tr "\0" " " </proc/1/cmdline | sed "s/ $//")"; echo "host $(hostname)";
        echo "cgroup $(cat /proc/self/cgroup)"; echo "memmax $(cat /sys/fs/cgroup/memory.max)"' 2>&1)
expect exec-sees-init "$(field "$out" init)" "sleep 600"
expect exec-uts "$(field "$out" host)" arm64-container
expect exec-cgroupns "$(field "$out" cgroup) $(field "$out" memmax)" "0::/ 25165824"
oci exec long sh -c 'exit 7'
expect exec-exit-status "$?" 7
expect exec-user "$(oci exec --user 1000:1000 long sh -c 'echo $(id -u) $(id -g)' 2>&1)" "1000 1000"
expect exec-cwd-env "$(oci exec --cwd /dev/shm --env FOO=bar long sh -c 'echo $PWD $FOO' 2>&1)" "/dev/shm bar"
lap exec
# memory.max enforced: a 64 MiB buffer, filled, is OOM-killed (SIGKILL).
out=$(oci exec long dd if=/dev/zero of=/dev/null bs=64M count=1 2>&1)
rc=$?
kills=$(awk '$1 == "oom_kill" {print $2}' $cg/memory.events)
if [ "${kills:-0}" -ge 1 ] && [ "$rc" = 137 ]; then pass memory-limit-enforced
else fail memory-limit-enforced "exit $rc, oom_kill ${kills:-none}, output '$out'"; fi
lap memory
# pids.max enforced: forks beyond it fail (the last check on this
# container: at the limit, nothing more can be exec'd into it).
oci exec long sh -c 'i=0; while [ $i -lt 20 ]; do sleep 600 </dev/null >/dev/null 2>&1 & i=$((i + 1)); done' \
        >/dev/null 2>&1
hits=$(awk '$1 == "max" {print $2}' $cg/pids.events)
cur=$(cat $cg/pids.current)
if [ "${hits:-0}" -ge 1 ] && [ "$cur" -le 12 ]; then pass pids-limit-enforced
else fail pids-limit-enforced "pids.events max ${hits:-none}, pids.current $cur"; fi
lap pids
oci kill long KILL
i=0
while [ $i -lt 100 ] && ! oci state long 2>/dev/null | grep -q '"status": *"stopped"'; do sleep 0.1; i=$((i + 1)); done
oci delete long
expect delete-removes-cgroup "$([ -e $cg ] && echo present || echo gone)" gone
expect delete-kills-all "$(ps -o args | grep -c '^sleep 600')" 0
lap delete

# ---- the engine: `nook run --rm busybox` from the embedded (arm64) image
out=$("$nook" run --rm busybox sh -c 'echo "arch $(uname -m)"; echo "pid $$";
        echo "seccomp $(grep ^Seccomp: /proc/self/status | cut -f2)";
        echo "rootfs $(grep " / / " /proc/self/mountinfo | sed "s/.* - //" | cut -d" " -f1)";
        echo "netdevs $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sort | tr "\n" " ")";
        echo "route $(grep -c "^eth0[[:space:]]00000000" /proc/net/route)"' 2>&1)
expect engine-run-exit "$?" 0
lap engine-first-run
expect engine-run "$(field "$out" arch) $(field "$out" pid) $(field "$out" seccomp) $(field "$out" rootfs)" \
        "aarch64 1 2 overlay"
# The default network (a bridge, a veth pair, nftables: the arm64
# kernel's modules, loaded on demand): eth0 with a default route.
expect engine-run-network "$(field "$out" netdevs)/$(field "$out" route)" "eth0 lo /1"
[ -n "$(field "$out" arch)" ] || echo "engine output: $out"
"$nook" run --rm busybox sh -c 'exit 5'
expect engine-run-exit-status "$?" 5
expect engine-image-arm64 "$("$nook" image inspect busybox 2>&1 | grep -o '"Architecture": *"[^"]*"' | tr -d ' ')" \
        '"Architecture":"arm64"'
expect engine-rm-removed "$("$nook" ps -a -q 2>&1)" ""
lap engine

# ---- multi-arch pull: the arm64 build takes the index's arm64 image by
# default (amd64 is listed first, arm/v7 before it). --platform is checked
# on the host (test_images_registry.py): a second pull here costs ~10 s.
# The registry: static files served by busybox httpd on loopback.
cp -a "$src/registry" /tmp/integ/
httpd -f -p 127.0.0.1:5000 -h /tmp/integ/registry &
httpd=$!
i=0 # until it listens (port 5000 is 1388 in /proc/net/tcp, LISTEN 0A)
while [ $i -lt 100 ] && ! grep -q ':1388 00000000:0000 0A' /proc/net/tcp; do sleep 0.1; i=$((i + 1)); done
reg=127.0.0.1:5000/test/arch:1
if out=$("$nook" pull $reg 2>&1); then
        info=$("$nook" image inspect $reg 2>&1)
        a=$(printf '%s' "$info" | grep -o '"Architecture": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
        v=$(printf '%s' "$info" | grep -o '"Variant": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
        l=$(printf '%s' "$info" | tr -d ' \n' | sed -n 's/.*"Layers":\["sha256:\([0-9a-f]*\)".*/\1/p')
        expect pull-arm64-default "$a/$v $(cat /var/lib/nook/layers/$l/diff/arch 2>&1)" "arm64/v8 arm64v8"
else
        fail pull-arm64-default "pull: $out"
fi
"$nook" rmi $reg >/dev/null 2>&1
kill $httpd
wait $httpd 2>/dev/null
lap pull

# ---- nothing left behind
expect no-oci-state "$(ls -A $root 2>/dev/null)" ""
expect no-container-mounts "$(grep -c -E ' overlay |/tmp/integ/|nook' /proc/mounts)" 0
left=$(ps -o pid,args | awk 'NR > 1 && $2 !~ /^\[/ && !/ps -o|awk|integ-guest|stage2|sh \/cmd/')
expect no-processes-left "$left" ""
echo "integ: done"
