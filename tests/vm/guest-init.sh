#!/bin/busybox sh
# /init of the tests/vm initramfs: build the guest's root (host / over 9p,
# read-only, under a tmpfs overlay), mount the API filesystems and the cgroup
# layout asked for, then switch_root into stage2.
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
        echo "nook-vm init: $*" >&2
        poweroff -f
        sleep 10
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /mods/order); do
        insmod "/mods/${m##*/}" || fail "insmod $m"
done

# virtio devices may still be probing when insmod returns.
i=0
while ! grep -q hostroot /sys/bus/virtio/drivers/9pnet_virtio/virtio*/mount_tag 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 500 ] || fail "no virtio-9p device tagged hostroot"
        usleep 10000
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /lower ||
        fail "mount 9p root"
mount -t tmpfs -o mode=0755 rw /rw
mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
        fail "mount overlay root"

r=/newroot
mount --move /dev $r/dev
mount --move /proc $r/proc
mount --move /sys $r/sys
mkdir -p $r/dev/pts $r/dev/shm $r/dev/mqueue
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts $r/dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev shm $r/dev/shm
mount -t mqueue mqueue $r/dev/mqueue
ln -sfn /proc/self/fd $r/dev/fd
ln -sfn /proc/self/fd/0 $r/dev/stdin
ln -sfn /proc/self/fd/1 $r/dev/stdout
ln -sfn /proc/self/fd/2 $r/dev/stderr
mount -t tmpfs -o mode=0755,nosuid,nodev run $r/run
mount -t bpf bpf $r/sys/fs/bpf 2>/dev/null
mkdir -p $r/run/nook-vm $r/run/.nook-vm
mount -t 9p -o trans=virtio,version=9p2000.L,cache=none nookvm $r/run/nook-vm || fail "mount 9p share"
cp /bin/busybox /stage2 $r/run/.nook-vm/
# A fresh /tmp; with run.sh --host-cwd a working directory under it (a
# checkout cloned there) stays the host's, through the overlay.
keep=$(cat $r/run/nook-vm/host-cwd 2>/dev/null)
case "$keep" in
/tmp/?*) mkdir -p /keep && mount --bind "$r$keep" /keep || fail "keep $keep" ;;
*) keep= ;;
esac
mount -t tmpfs -o mode=1777,nosuid,nodev tmp $r/tmp
if [ -n "$keep" ]; then
        mkdir -p "$r$keep" && mount --move /keep "$r$keep" || fail "keep $keep"
fi

cg=$r/sys/fs/cgroup
if [ "$(cat $r/run/nook-vm/mode)" = v1 ]; then
        # The layout systemd used on v1 hosts: a tmpfs of per-controller
        # hierarchies, cpu+cpuacct and net_cls+net_prio co-mounted.
        mount -t tmpfs -o mode=0755,nosuid,nodev,noexec cgroup $cg
        for c in $(awk 'NR > 1 && $4 == 1 { print $1 }' $r/proc/cgroups); do
                case "$c" in
                cpu|net_cls) continue ;;
                cpuacct) d=cpu,cpuacct o=cpu,cpuacct ;;
                net_prio) d=net_cls,net_prio o=net_cls,net_prio ;;
                *) d=$c o=$c ;;
                esac
                mkdir -p $cg/$d
                mount -t cgroup -o nosuid,nodev,noexec,$o cgroup $cg/$d || fail "mount cgroup $o"
        done
        ln -s cpu,cpuacct $cg/cpu
        ln -s cpu,cpuacct $cg/cpuacct
        ln -s net_cls,net_prio $cg/net_cls
        ln -s net_cls,net_prio $cg/net_prio
        mkdir $cg/systemd
        mount -t cgroup -o nosuid,nodev,noexec,none,name=systemd cgroup $cg/systemd || fail "mount name=systemd"
else
        mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate cgroup2 $cg || fail "mount cgroup2"
        for c in $(cat $cg/cgroup.controllers); do
                echo "+$c" > $cg/cgroup.subtree_control || fail "enable $c"
        done
fi

exec switch_root $r /run/.nook-vm/busybox sh /run/.nook-vm/stage2
