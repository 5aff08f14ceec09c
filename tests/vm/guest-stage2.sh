# PID 1 of the tests/vm guest after switch_root (run by the initramfs busybox
# copied to /run/.nook-vm): run the host's command with a clean environment,
# its output on the virtio console, its exit status to the share, power off.
bb=/run/.nook-vm/busybox
share=/run/nook-vm
$bb hostname nook-vm
$bb ip link set lo up
$bb env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root TERM=dumb LANG=C.UTF-8 NOOK_VM=$(cat $share/mode) \
        /bin/sh -c ". $share/env && . $share/cmd" </dev/null >/dev/hvc0 2>&1
echo $? > $share/rc
$bb sync
$bb poweroff -f
