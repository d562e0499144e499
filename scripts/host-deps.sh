#!/usr/bin/env bash
# Installs the Debian packages Mallee needs (only those missing) and starts
# libvirtd when it is not running. Needs root; harmless to run again.
set -euo pipefail

PACKAGES=(
  qemu-system-x86 qemu-utils qemu-block-extra libvirt-daemon-system libvirt-dev pkg-config gcc
  python3-venv python3-dev dnsmasq-base iptables ipset ebtables tgt busybox-static
  linux-image-amd64 e2fsprogs cpio iproute2 s3cmd dropbear-bin rclone restic s3fs debootstrap
  conntrack nftables openssh-client curl procps xfsprogs
  # VPC mode (docs/vpc.md): OVN and Open vSwitch; Mallee runs their daemons itself.
  openvswitch-switch ovn-central ovn-host iperf3
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "mallee: these Debian packages are missing: ${missing[*]}; run as root (or sudo make up)" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libvirtd without systemd: start it ourselves when nothing answers.
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "mallee: libvirtd is not running and starting it needs root" >&2
    exit 1
  fi
  pgrep -x virtlogd >/dev/null || virtlogd -d
  pgrep -x libvirtd >/dev/null || libvirtd -d
  for _ in $(seq 1 50); do
    virsh -c qemu:///system version >/dev/null 2>&1 && break
    sleep 0.2
  done
  virsh -c qemu:///system version >/dev/null 2>&1 || { echo "mallee: libvirtd did not start" >&2; exit 1; }
fi
