# Sourced by scripts/test: a Docker engine for the compose stack test
# (tests/deploy/test_stack.py). As root with apt: installs Debian's docker.io and
# debootstrap, and the compose v2 and buildx CLI plugins from Debian trixie (bookworm
# packages compose v1 only); starts a dockerd with a throwaway data root when no engine
# answers. stop_docker_engine stops only that dockerd and deletes what it stored.

DOCKER_PLUGINS_DIR=/usr/local/lib/docker/cli-plugins

can_install() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null
}

# The Debian mirror apt uses here (debootstrap and the trixie plugins come from it too).
debian_mirror() {
    apt-cache policy | awk '$2 ~ /^https?:.*\/debian\/?$/ && $3 ~ /^[a-z]+\/main$/ { print $2; exit }'
}

install_docker_engine() {
    can_install || return 0
    if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
    fi
    if ! docker compose version >/dev/null 2>&1 || ! docker buildx version >/dev/null 2>&1; then
        install_trixie_plugins
    fi
}

install_trixie_plugins() {
    local scratch
    scratch="$(mktemp -d)"
    mkdir -p "$scratch/lists/partial"
    echo "deb $(debian_mirror) trixie main" >"$scratch/sources.list"
    local apt_options=(-o "Dir::Etc::sourcelist=$scratch/sources.list" -o Dir::Etc::sourceparts=-
        -o "Dir::State::Lists=$scratch/lists" -o APT::Sandbox::User=root)
    apt-get -qq "${apt_options[@]}" update
    (cd "$scratch" && apt-get -qq "${apt_options[@]}" download docker-compose docker-buildx)
    for deb in "$scratch"/*.deb; do
        dpkg-deb -x "$deb" "$scratch/root"
    done
    install -D -m 755 -t "$DOCKER_PLUGINS_DIR" "$scratch"/root/usr/libexec/docker/cli-plugins/*
    rm -rf "$scratch"
}

start_docker_engine() {
    docker info >/dev/null 2>&1 && return 0 # an engine answers: use it, leave it alone
    can_install && command -v dockerd >/dev/null || return 0
    started_docker_dir="$(mktemp -d)"
    dockerd --data-root "$started_docker_dir/data" --exec-root "$started_docker_dir/exec" \
        --pidfile "$started_docker_dir/dockerd.pid" >"$started_docker_dir/dockerd.log" 2>&1 &
    started_dockerd_pid=$!
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && return 0
        sleep 1
    done
    echo "dockerd did not start:" >&2
    tail -5 "$started_docker_dir/dockerd.log" >&2
}

stop_docker_engine() {
    [ -n "${started_dockerd_pid:-}" ] || return 0
    kill "$started_dockerd_pid" 2>/dev/null || true
    wait "$started_dockerd_pid" 2>/dev/null || true
    rm -rf "$started_docker_dir" || echo "left behind: $started_docker_dir" >&2
}
