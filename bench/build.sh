#!/bin/bash
# Build one 10-step Containerfile with nook, `podman build` (buildah) and
# `docker build` (when its daemon answers; else that column is skipped),
# cold (--no-cache: every step runs, the base image is there) and warm
# (the same build again: every step from the cache). Prints hyperfine's
# tables and medians with ratios to podman.
#
# The base is nook's embedded busybox, handed to podman and docker with
# `nook save | podman load`, so nothing is fetched from a network. Every
# tool gets a store of its own in a temp dir (docker: its daemon's, the
# image removed at the end). RUN steps run without network everywhere.
set -eu
cd "$(dirname "$0")/.."
nook=${NOOK_BIN:-$PWD/build/nook}
runs=${RUNS:-10}
work=$(mktemp -d /var/tmp/nook-bench-build.XXXXXX)
docker_ok=
cleanup() {
        set +e
        [ -n "$docker_ok" ] && docker rmi -f nook-bench-build nook-bench-base >/dev/null 2>&1
        for m in $(awk -v w="$work" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
                umount -l "$m"
        done
        rm -rf "$work"
}
trap cleanup EXIT

# The context: 200 small files, one of 8 MiB, a .dockerignore.
ctx=$work/ctx
mkdir -p "$ctx/src" "$ctx/skip"
for i in $(seq 1 200); do echo "file $i" >"$ctx/src/f$i.txt"; done
head -c $((8 << 20)) /dev/urandom >"$ctx/blob.bin"
echo skip >"$ctx/skip/x"
echo skip >"$ctx/.dockerignore"
cat >"$ctx/Containerfile" <<'EOF'
FROM nook-bench-base
ENV APP=/app LANG=C.UTF-8
WORKDIR /app
COPY src/ src/
COPY blob.bin /data/blob.bin
RUN mkdir -p /app/out && for i in 1 2 3 4 5 6 7 8 9 10; do echo $i > /app/out/$i; done
RUN sha256sum /data/blob.bin > /app/out/sum && rm /bin/vi
LABEL org.example=bench
USER nobody
CMD ["cat", "/app/out/sum"]
EOF

export NOOK_STORE=$work/nook NOOK_ROOT=$work/nook-run NOOK_CGROUP_PARENT=/nook-bench-build
$nook tag busybox nook-bench-base >/dev/null
$nook save -o "$work/base.tar" nook-bench-base
podman=(podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay
        --cgroup-manager cgroupfs --events-backend file --runtime runc)

names=(nook)
cold=("$nook build -q --no-cache -t nook-bench-build $ctx")
warm=("$nook build -q -t nook-bench-build $ctx")
if command -v podman >/dev/null; then
        "${podman[@]}" load -q -i "$work/base.tar" >/dev/null
        "${podman[@]}" tag docker.io/library/nook-bench-base:latest nook-bench-base 2>/dev/null || true
        names+=(podman)
        cold+=("${podman[*]} build -q --no-cache --network none --pull=never -t nook-bench-build $ctx")
        warm+=("${podman[*]} build -q --network none --pull=never -t nook-bench-build $ctx")
fi
if command -v docker >/dev/null && timeout 5 docker info >/dev/null 2>&1; then
        docker load -q -i "$work/base.tar" >/dev/null && docker_ok=1
        names+=(docker)
        cold+=("docker build -q --no-cache --network none -t nook-bench-build $ctx")
        warm+=("docker build -q --network none -t nook-bench-build $ctx")
else
        echo "docker: no daemon answers; its column is skipped" >&2
fi

args=()
for i in "${!names[@]}"; do args+=(-n "${names[$i]} cold" "${cold[$i]}"); done
hyperfine -w 1 -r "$runs" --export-json "$work/cold.json" "${args[@]}" >&2
# one build to fill each cache, then the warm runs
for i in "${!names[@]}"; do eval "${warm[$i]}" >/dev/null; done
args=()
for i in "${!names[@]}"; do args+=(-n "${names[$i]} warm" "${warm[$i]}"); done
hyperfine -w 1 -r "$((runs * 2))" --export-json "$work/warm.json" "${args[@]}" >&2

/usr/bin/python3 - "$work/cold.json" "$work/warm.json" <<'PY'
import json, sys
print(f"\n{'build':<14} {'median':>10} {'mean':>10}   nook/this")
for path in sys.argv[1:]:
    res = {r["command"]: r for r in json.load(open(path))["results"]}
    nook = next(r for k, r in res.items() if k.startswith("nook"))
    for k, r in res.items():
        print(f"{k:<14} {r['median']*1000:>8.1f}ms {r['mean']*1000:>8.1f}ms   "
              f"{nook['median']/r['median']:.3f}x")
PY
