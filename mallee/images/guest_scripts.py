"""Shell scripts that run inside the test image, under busybox sh.

STAGE1_INIT is the initramfs's /init: it loads the modules, mounts the root
disk named by root= and switch_roots into its /sbin/mallee-init; without a
usable root disk it runs the same program from the initramfs, so the image
still boots with a kernel and ramdisk alone.

GUEST_INIT is the guest itself: DHCP on eth0, metadata (IMDSv2 token first,
then v1), the key pair's public key for root, dropbear on port 22, the
console markers tests wait for, user data that starts with `#!` run in the
background, hot-plugged disks reported as they come and go, then it waits for the
ACPI power button and powers off. Every network step is bounded by `timeout`
(busybox wget -T crashes on Debian 12) so a guest without networking prints
its marker within a few seconds.

VOLUME_TOOL is /usr/bin/mallee-volume, for user data that writes or checks a
volume by its id. GUEST_FILES lists what both the initramfs and the root disk
hold besides busybox.
"""

STAGE1_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in $(cat /etc/mallee/modules); do
    insmod "/lib/modules/$module.ko" 2>/dev/null
done

root=$(sed -n 's/.*root=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$root" ]; then
    tries=0
    while [ ! -b "$root" ] && [ $tries -lt 20 ]; do sleep 0.1; tries=$((tries + 1)); done
    if mount -t ext4 "$root" /newroot 2>/dev/null && [ -x /newroot/sbin/mallee-init ]; then
        for fs in proc sys dev; do mount --move /$fs /newroot/$fs; done
        exec switch_root /newroot /sbin/mallee-init
    fi
    echo "mallee: root disk $root not usable, running from the initramfs"
fi
exec /sbin/mallee-init
"""

GUEST_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s 2>/dev/null
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
[ -e /proc/self ] || mount -t proc proc /proc
[ -d /sys/kernel ] || mount -t sysfs sys /sys
[ -e /dev/null ] || mount -t devtmpfs dev /dev
mount -t tmpfs run /run
hostname mallee-test
ifconfig lo 127.0.0.1 up

IMDS=169.254.169.254

imds_token() {
    printf 'PUT /latest/api/token HTTP/1.0\r\nHost: %s\r\nX-aws-ec2-metadata-token-ttl-seconds: 300\r\n\r\n' $IMDS \
        | timeout 3 nc $IMDS 80 2>/dev/null > /run/token.http
    head -n1 /run/token.http | grep -q ' 200' && tail -n1 /run/token.http | tr -d '\r\n'
}

metadata() {
    if [ -n "$token" ]; then
        timeout 3 wget -q -O - --header "X-aws-ec2-metadata-token: $token" "http://$IMDS/latest/$1" 2>/dev/null
    else
        timeout 3 wget -q -O - "http://$IMDS/latest/$1" 2>/dev/null
    fi
}

if ip link show eth0 >/dev/null 2>&1; then
    ip link set eth0 up
    if udhcpc -i eth0 -s /usr/share/udhcpc/default.script -O staticroutes -f -q -n -t 3 -T 1 -A 1 >/dev/null 2>&1; then
        token=$(imds_token)
        instance_id=$(metadata meta-data/instance-id)
        metadata user-data > /run/user-data
        user_data=$(head -n1 /run/user-data)
        public_key=$(metadata meta-data/public-keys/0/openssh-key)
        if [ -n "$public_key" ]; then
            mkdir -p /root/.ssh && echo "$public_key" > /root/.ssh/authorized_keys
            chmod 700 /root /root/.ssh && chmod 600 /root/.ssh/authorized_keys
        fi
    fi
fi

# dropbear: host key made at first boot (kept on the root disk), keys only.
mkdir -p /dev/pts && mount -t devpts -o gid=5,mode=620 devpts /dev/pts 2>/dev/null
host_key=/etc/dropbear/dropbear_ed25519_host_key
[ -s $host_key ] || dropbearkey -t ed25519 -f $host_key >/dev/null 2>&1
dropbear -r $host_key -p 22 -P /run/dropbear.pid -s 2>/dev/null && ssh_started=1

# Open the ACPI power button devices before announcing the boot, so a press
# right after the marker is already queued for us; one reader per device.
mkfifo /run/power
fd=3
for event in /sys/class/input/event*; do
    case "$(cat "$event/device/name" 2>/dev/null)" in
        *"Power Button"*)
            eval "exec $fd< /dev/input/${event##*/}"
            (dd of=/dev/null bs=24 count=1 <&$fd 2>/dev/null; echo pressed > /run/power) &
            fd=$((fd + 1)) ;;
    esac
done
echo
[ -f /etc/mallee-release ] && echo "root: disk" || echo "root: initramfs"
echo MALLEE-TEST-BOOTED
[ -n "$instance_id" ] && echo "instance-id: $instance_id"
[ -n "$user_data" ] && echo "user-data: $user_data"
[ -n "$public_key" ] && echo "public-key: installed"
[ -n "$ssh_started" ] && echo "ssh: started"
case "$user_data" in
    '#!'*) chmod +x /run/user-data && (/run/user-data; echo "user-data: exit $?") & ;;
esac

# Volumes: say on the console where each hot-plugged disk lands, with its serial
# (the volume id), and when it goes, so the user sees the guest's own device name.
(known=$(ls /sys/block | grep '^vd')
while :; do
    now=$(ls /sys/block | grep '^vd')
    for disk in $now; do
        case " $(echo $known) " in *" $disk "*) ;; *)
            echo "disk: $disk $(cat /sys/block/$disk/serial 2>/dev/null)" ;; esac
    done
    for disk in $known; do
        case " $(echo $now) " in *" $disk "*) ;; *) echo "disk gone: $disk" ;; esac
    done
    known=$now
    sleep 1
done) &

# PID 1 adopts the orphans busybox timeout leaves behind; their SIGCHLD can
# interrupt the blocking open, so retry until a reader reports a press.
until read -r _ < /run/power; do :; done 2>/dev/null
echo MALLEE-TEST-POWEROFF
poweroff -f
"""

VOLUME_TOOL = r"""#!/bin/busybox sh
# mallee-volume write|check VOLUME-ID [MIB [AT]]: find the disk whose serial is the
# volume id without its dash (vol0123..., as EC2 shows it; waiting up to 5 minutes
# for it to be attached), then write MIB MiB (16 by default) of random bytes at
# AT MiB (0) and print their MD5 once the disk has them, or print the MD5 of the
# MIB MiB at AT. For user data: the console shows what the disk holds.
# `speed` times a sequential write of MIB MiB of zeros (synced) and a read of them
# with the guest's cache dropped (VOLUME-ID may be any serial, e.g. ephemeral0).
op=$1 volume=$2 mib=${3:-16} at=${4:-0}
serial=$(echo "$volume" | sed 's/^vol-/vol/' | cut -c1-20)
device="" tries=0
while [ -z "$device" ] && [ $tries -lt 300 ]; do
    for disk in /sys/block/vd*; do
        [ "$(cat $disk/serial 2>/dev/null)" = "$serial" ] && device=/dev/${disk##*/}
    done
    [ -n "$device" ] || { sleep 1; tries=$((tries + 1)); }
done
[ -n "$device" ] || { echo "volume $volume: not attached"; exit 1; }
where="${device#/dev/}: $mib MiB at $at MiB"
case "$op" in
    write)
        head -c $((mib * 1048576)) /dev/urandom > /run/volume-pattern
        dd if=/run/volume-pattern of=$device bs=1M seek=$at conv=fsync,notrunc 2>/dev/null \
            || { echo "volume $volume on $where: write failed"; exit 1; }
        sum=$(md5sum < /run/volume-pattern) ; rm -f /run/volume-pattern
        echo "volume $volume on $where: wrote md5 ${sum%% *}" ;;
    check)
        sum=$(dd if=$device bs=1M skip=$at count=$mib 2>/dev/null | md5sum)
        echo "volume $volume on $where: md5 ${sum%% *}" ;;
    speed)
        up() { cut -d' ' -f1 /proc/uptime; }
        t0=$(up)
        dd if=/dev/zero of=$device bs=1M seek=$at count=$mib conv=fsync,notrunc 2>/dev/null \
            || { echo "volume $volume on $where: write failed"; exit 1; }
        t1=$(up)
        sync; echo 3 > /proc/sys/vm/drop_caches
        t2=$(up)
        dd if=$device of=/dev/null bs=1M skip=$at count=$mib 2>/dev/null
        t3=$(up)
        echo "volume $volume on $where: speed write $(awk "BEGIN{print $t1-$t0}") s read $(awk "BEGIN{print $t3-$t2}") s" ;;
    *) echo "usage: mallee-volume write|check|speed VOLUME-ID [MIB [AT]]"; exit 2 ;;
esac
"""

UDHCPC_SCRIPT = r"""#!/bin/busybox sh
case "$1" in
    deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
    bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
        # option 121 (OVN in a VPC: 169.254.169.254 on the link): "dest/len gateway" pairs
        set -- $staticroutes
        while [ $# -ge 2 ]; do
            if [ "$2" = 0.0.0.0 ]; then ip route replace "$1" dev "$interface"
            else ip route replace "$1" via "$2" dev "$interface"; fi
            shift 2
        done
        : > /etc/resolv.conf
        for server in $dns; do echo "nameserver $server" >> /etc/resolv.conf; done ;;
esac
exit 0
"""


# (path, contents, mode) of the guest's own programs, in the initramfs and on the root disk.
GUEST_FILES = (
    ("sbin/mallee-init", GUEST_INIT, 0o755),
    ("usr/bin/mallee-volume", VOLUME_TOOL, 0o755),
    ("usr/share/udhcpc/default.script", UDHCPC_SCRIPT, 0o755),
)
