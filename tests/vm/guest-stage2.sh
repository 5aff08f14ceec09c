# PID 1 of the tests/vm guest after switch_root, run by the initramfs's busybox
# (copied to /run/.nook-vm): run the host's command in a clean environment,
# its output through a pipe (as under pytest on the host) to the virtio
# console, hand its exit status back through the share, power off.
bb=/run/.nook-vm/busybox
share=/run/nook-vm
$bb hostname nook-vm
$bb ip link set lo up
# hvc0 is a tty: raw, or every \n reaches the host as \r\n.  Its driver resets
# termios on the last close, so keep it open on fd 3.
exec 3<>/dev/hvc0
$bb stty raw -echo <&3
$bb mkfifo /run/.nook-vm/out
$bb cat /run/.nook-vm/out >&3 3>&- &
cat=$!
$bb cat /proc/uptime > $share/started
$bb env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root TERM=dumb LANG=C.UTF-8 NOOK_VM="$($bb cat $share/mode)" \
        /bin/sh -c ". $share/env && . $share/cmd" </dev/null >/run/.nook-vm/out 2>&1 3>&-
echo $? > $share/rc.tmp

# Processes CMD left behind keep the pipe open: drain it for at most 2 s.
i=0
while $bb kill -0 $cat 2>/dev/null && [ $i -lt 20 ]; do
        $bb usleep 100000
        i=$((i + 1))
done
$bb kill $cat 2>/dev/null
for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = 1 ] || [ "$p" = $cat ] || [ "$p" = $$ ] && continue
        # Kernel threads have an empty cmdline.
        c=$($bb tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null)
        [ -n "$c" ] && echo "$p $c"
done > $share/leftover
$bb mv $share/rc.tmp $share/rc
$bb sync
$bb poweroff -f
