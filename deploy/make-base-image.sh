#!/usr/bin/env bash
# Makes the base image deploy/Dockerfile starts FROM (debian:bookworm-slim) when
# the Docker engine does not have it, without any image registry: a minimal
# Debian 12 root filesystem is made with debootstrap from the Debian mirror the
# host's apt already uses and imported with `docker import` under that tag.
# Where a registry is reachable, `docker pull debian:bookworm-slim` does the same
# job and this script is not needed.
#
#   deploy/make-base-image.sh            make it if missing (no-op otherwise)
#   deploy/make-base-image.sh --force    make it again
#   DEBIAN_MIRROR=http://host/debian deploy/make-base-image.sh
#
# Invariants: nothing is pulled from a registry; the image's
# /etc/apt/sources.list names the same mirror (bookworm, bookworm-updates and,
# when the host has one, the security archive), so `apt-get update` works
# inside it; its apt lists and package cache are empty, as in the official slim
# image. Needs root (debootstrap) and debootstrap (scripts/setup.sh installs it).
set -euo pipefail

tag="${RAFTLOG_BASE_IMAGE:-debian:bookworm-slim}"
suite=bookworm
force=0
[[ "${1:-}" == --force ]] && force=1

if ((!force)) && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "make-base-image: $tag present"
  exit 0
fi

# The mirror: $DEBIAN_MIRROR, else the first Debian archive URI apt uses
# (deb822 .sources files or one-line .list files), else deb.debian.org.
apt_uris() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [[ -r "$f" ]] || continue
    case "$f" in
      *.sources) awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f" ;;
      *) awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f" ;;
    esac
  done
}
mirror="${DEBIAN_MIRROR:-}"
security="${DEBIAN_SECURITY_MIRROR:-}"
if [[ -z "$mirror" ]]; then
  mirror="$(apt_uris | grep -E '/debian/?$' | head -n1 || true)"
fi
if [[ -z "$security" ]]; then
  security="$(apt_uris | grep -E '/debian-security/?$' | head -n1 || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"
mirror="${mirror%/}"
security="${security%/}"

command -v debootstrap >/dev/null || {
  echo "make-base-image: debootstrap is missing (scripts/setup.sh installs it)" >&2
  exit 1
}
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"

rootfs="$(mktemp -d /var/tmp/raftlog-rootfs.XXXXXX)"
cleanup() { $SUDO rm -rf --one-file-system "$rootfs"; }
trap cleanup EXIT

echo "make-base-image: debootstrap --variant=minbase $suite from $mirror"
start=$SECONDS
if ! $SUDO debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
  tail -n 30 "$rootfs.log" >&2
  rm -f "$rootfs.log"
  echo "make-base-image: debootstrap failed" >&2
  exit 1
fi
rm -f "$rootfs.log"

# apt inside the image uses the same mirror; slim the tree as the official
# -slim image does (no package cache or lists, no docs or man pages).
{
  echo "deb $mirror $suite main"
  echo "deb $mirror $suite-updates main"
  [[ -n "$security" ]] && echo "deb $security $suite-security main"
} | $SUDO tee "$rootfs/etc/apt/sources.list" >/dev/null
$SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
$SUDO tee "$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
CFG

$SUDO tar -C "$rootfs" -c . | docker import \
  --change 'CMD ["bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --message "debootstrap --variant=minbase $suite $mirror (deploy/make-base-image.sh)" \
  - "$tag" >/dev/null
echo "make-base-image: imported $tag in $((SECONDS - start)) s" \
  "($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}'))"
