#!/usr/bin/env bash
# Hatchet engine (hatchet-lite: engine + REST API + dashboard in one process) on PostgreSQL, its message
# queue in PostgreSQL too or in RabbitMQ (ZVT_HATCHET_MQ, rabbitmq.sh),
# built with the Go toolchain from the Go module proxy at a pinned tag; the dashboard is built from the
# frontend sources in the same module, with Node.js and the npm registry.
# Usage: hatchet.sh install|start|stop|status
SERVICE=hatchet
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HATCHET_MODULE=github.com/hatchet-dev/hatchet
# "-loopback": built with the loopback patch below (a plain build binds every interface).
HATCHET_BIN="$ZVT_CACHE_DIR/hatchet/$ZVT_HATCHET_VERSION-loopback/bin"
ADMIN_EMAIL_DEFAULT=admin@example.com   # the quickstart's e-mail; its password is never the quickstart's
QUICKSTART_PASSWORD='Admin123!!'
HATCHET_CREDENTIALS="$(credentials_dir)/hatchet.env"   # written by postgres.sh

# The engine's HTTP servers (health, REST API, lite's proxy and static files) listen on ":port", every
# interface, with no setting to change it (only gRPC has SERVER_GRPC_BIND_ADDRESS). The build replaces those
# few source lines with 127.0.0.1 in a copy of the module (go.mod `replace`); a version whose lines differ
# fails here instead of silently binding everywhere again.
LOOPBACK_PATCHES=(
    'internal/services/health/health.go|fmt.Sprintf(":%d", port)|fmt.Sprintf("127.0.0.1:%d", port)|1'
    'api/v1/server/run/run.go|fmt.Sprintf(":%d", t.config.Runtime.Port)|fmt.Sprintf("127.0.0.1:%d", t.config.Runtime.Port)|1'
    'cmd/hatchet-lite/main.go|fmt.Sprintf(":%s", |fmt.Sprintf("127.0.0.1:%s", |2'
)

# loopback_copy MODULE_DIR OUT : the module's sources in OUT, with LOOPBACK_PATCHES applied.
loopback_copy() {
    local module_dir="$1" out="$2" entry file from to count
    cp -r "$module_dir" "$out" && chmod -R u+w "$out"
    for entry in "${LOOPBACK_PATCHES[@]}"; do
        IFS='|' read -r file from to count <<<"$entry"
        [[ "$(grep -cF "$from" "$out/$file")" == "$count" ]] \
            || die "$file no longer has $count x '$from': review the loopback patch for $ZVT_HATCHET_VERSION"
        FROM="$from" TO="$to" perl -pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/g' "$out/$file"
    done
}

install() { install_engine; install_dashboard; }

install_engine() {
    [[ -x "$HATCHET_BIN/hatchet-lite" && -x "$HATCHET_BIN/hatchet-admin" && -x "$HATCHET_BIN/hatchet-migrate" ]] && return 0
    command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
    # An older go fetches the toolchain the module asks for (GOTOOLCHAIN=auto) from the module proxy.
    command -v go >/dev/null || die "the Go toolchain (>= 1.26, as the hatchet module requires) is not installed"
    log "building hatchet-lite, hatchet-admin and hatchet-migrate $ZVT_HATCHET_VERSION (first build takes minutes)"
    # A throwaway module pins the engine version; `go install pkg@version` would also ask the proxy for the
    # module's version list (for deprecation notices), which the proxy here refuses.
    local build_dir build_log="$ZVT_CACHE_DIR/hatchet/build.log"
    build_dir="$(mktemp -d)"
    mkdir -p "$(dirname "$build_log")"
    if ! (
        cd "$build_dir"
        go mod init zvt.local/hatchet-build >/dev/null 2>&1
        go mod edit -go=1.26 -require="$HATCHET_MODULE@$ZVT_HATCHET_VERSION"
        go mod download "$HATCHET_MODULE@$ZVT_HATCHET_VERSION"
        # The engine's own go.sum pins every dependency's checksum; some (e.g. hatchet-dev/pgoutbox) are not
        # in the public checksum database, so modules of that organisation are verified by this file alone.
        cp "$(go env GOMODCACHE)/$HATCHET_MODULE@$ZVT_HATCHET_VERSION/go.sum" go.sum
        chmod u+w go.sum
        loopback_copy "$(go env GOMODCACHE)/$HATCHET_MODULE@$ZVT_HATCHET_VERSION" hatchet-src
        go mod edit -replace="$HATCHET_MODULE=./hatchet-src"
        mkdir -p "$HATCHET_BIN"
        GONOSUMDB="github.com/hatchet-dev/*" CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod" \
            go build -ldflags "-X main.Version=$ZVT_HATCHET_VERSION" -o "$HATCHET_BIN/" \
            "$HATCHET_MODULE/cmd/hatchet-lite" "$HATCHET_MODULE/cmd/hatchet-admin" "$HATCHET_MODULE/cmd/hatchet-migrate"
    ) >"$build_log" 2>&1; then
        rm -rf "$build_dir"
        tail -n 30 "$build_log" >&2
        die "hatchet build failed (full log: $build_log)"
    fi
    rm -rf "$build_dir"
    [[ "$("$HATCHET_BIN/hatchet-lite" --version)" == "$ZVT_HATCHET_VERSION" ]] || die "hatchet-lite has no version stamp"
}

# --- The dashboard: frontend/app of the engine's module, built with the pnpm and lockfile it names ---
# Lockfile versions the npm registry does not serve (404), each replaced by a served one (pnpm overrides):
# - better-emitter 4.0.1: 3.0.0 has the same default export and on/once/emit(event, arg) at run time (4.x
#   only added typed event maps); the dashboard uses it for a few in-page events (invites, new tenant).
DASHBOARD_OVERRIDES=(better-emitter=3.0.0)
# The overrides are part of the build's identity: changing them builds a new copy beside the old one.
DASHBOARD_DIR="$ZVT_CACHE_DIR/hatchet/$ZVT_HATCHET_VERSION-dashboard-$(printf '%s\n' "${DASHBOARD_OVERRIDES[@]}" | sha256sum | cut -c1-8)"
DASHBOARD_DIST="$DASHBOARD_DIR/dist"   # LITE_STATIC_ASSET_DIR: index.html (a Go template lite renders), assets/

# engine_sources : the engine module's directory in the Go module cache (downloaded on first use).
engine_sources() {
    local tmp dir; tmp="$(mktemp -d)"
    dir="$(cd "$tmp" && go mod init zvt.local/hatchet-sources >/dev/null 2>&1 \
        && go mod download -json "$HATCHET_MODULE@$ZVT_HATCHET_VERSION" \
        | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).Dir)')" || true
    rm -rf "$tmp"
    [[ -f "$dir/frontend/app/package.json" ]] || die "no frontend/app in $HATCHET_MODULE@$ZVT_HATCHET_VERSION"
    echo "$dir"
}

# build_dashboard SOURCES BUILD : the dashboard from the module in SOURCES, built in the scratch dir BUILD,
# moved to $DASHBOARD_DIST when done.
build_dashboard() {
    local sources="$1" build="$2"
    # The app, the generator of its docs index (frontend/snippets) and what that reads; the generator
    # resolves paths from frontend/snippets/../../, the module's root, here $build.
    mkdir -p "$build/frontend/docs"
    cp -r "$sources/frontend/app" "$sources/frontend/snippets" "$build/frontend/"
    cp -r "$sources/frontend/docs/content" "$build/frontend/docs/"
    chmod -R u+w "$build"
    cd "$build/frontend/app"
    # The pnpm its package.json names (packageManager), from the npm registry, cached beside its store.
    local pnpm_version pnpm
    pnpm_version="$(node -p 'require("./package.json").packageManager.split("@")[1]')"
    pnpm="$ZVT_CACHE_DIR/pnpm/$pnpm_version/node_modules/.bin/pnpm"
    [[ -x "$pnpm" ]] || npm install --no-audit --no-fund --prefix "$ZVT_CACHE_DIR/pnpm/$pnpm_version" "pnpm@$pnpm_version"
    OVERRIDES="${DASHBOARD_OVERRIDES[*]}" node -e '
        const fs = require("fs"), pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
        for (const pair of process.env.OVERRIDES.split(" ")) {
            const [name, version] = pair.split("="); pkg.pnpm.overrides[name] = version;
        }
        fs.writeFileSync("package.json", JSON.stringify(pkg, null, 2) + "\n");'
    # Not --frozen-lockfile: the overrides change the lockfile, and pnpm re-resolves only what they name
    # (every other package keeps its locked version and checksum). No Cypress binary (a download).
    CYPRESS_INSTALL_BINARY=0 "$pnpm" install --no-frozen-lockfile --reporter=append-only \
        --store-dir "$ZVT_CACHE_DIR/pnpm/store"
    (cd ../snippets && python3 -c 'import generate; generate.write_doc_index_to_app()')
    NODE_OPTIONS=--max-old-space-size=4096 "$pnpm" run build
    rm -rf "$DASHBOARD_DIST"
    mv dist "$DASHBOARD_DIST"
}

install_dashboard() {
    [[ -s "$DASHBOARD_DIST/index.html" ]] && return 0
    command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
    command -v node >/dev/null && command -v npm >/dev/null \
        || die "Node.js and npm are needed to build the Hatchet dashboard (Debian: apt-get install nodejs npm)"
    log "building the dashboard $ZVT_HATCHET_VERSION from the engine's frontend sources (first build takes minutes)"
    mkdir -p "$DASHBOARD_DIR"
    # One build at a time (stacks of other checkouts share the cache); the one that waited finds it done.
    exec 9>"$DASHBOARD_DIR/.lock"
    flock 9
    [[ -s "$DASHBOARD_DIST/index.html" ]] && return 0
    local sources build build_log="$DASHBOARD_DIR/build.log"
    sources="$(engine_sources)"
    build="$(mktemp -d "$DASHBOARD_DIR/build.XXXXXX")"
    # In a process of its own: `set -e` holds there (inside `if !` it would be ignored).
    if ! bash "${BASH_SOURCE[0]}" build_dashboard "$sources" "$build" >"$build_log" 2>&1; then
        rm -rf "$build"
        tail -n 30 "$build_log" >&2
        die "dashboard build failed (full log: $build_log)"
    fi
    rm -rf "$build"
    grep -q '{{ .BasePath }}' "$DASHBOARD_DIST/index.html" || die "the dashboard's index.html is not lite's template"
}

# The engine, hatchet-admin and hatchet-migrate must see the same settings: a token minted under another
# SERVER_URL is refused by the engine.
export_engine_env() {
    local dir="$1"
    DATABASE_URL="$(grep '^ZVT_HATCHET_DATABASE_URL=' "$HATCHET_CREDENTIALS" | cut -d= -f2-)"
    [[ -n "$DATABASE_URL" ]] || die "ZVT_HATCHET_DATABASE_URL missing from $HATCHET_CREDENTIALS (start postgres first)"
    export DATABASE_URL
    engine_options_env
    export SERVER_URL="http://localhost:$ZVT_HATCHET_API_PORT"
    export SERVER_PORT="$ZVT_HATCHET_INTERNAL_API_PORT"
    export SERVER_AUTH_COOKIE_DOMAIN=localhost
    export SERVER_AUTH_COOKIE_INSECURE=t
    export SERVER_AUTH_SET_EMAIL_VERIFIED=t
    # One seeded admin with a generated password (quickstart seeds it on a fresh database); nobody signs up.
    export ADMIN_EMAIL="$ADMIN_EMAIL_DEFAULT"
    ADMIN_PASSWORD="$(secret hatchet-admin)"; export ADMIN_PASSWORD
    export SERVER_ALLOW_SIGNUP=f
    export SERVER_ALLOW_CREATE_TENANT=f
    export SERVER_GRPC_INSECURE=t
    export SERVER_GRPC_PORT="$ZVT_HATCHET_GRPC_PORT"
    export SERVER_GRPC_BIND_ADDRESS=127.0.0.1
    export SERVER_GRPC_BROADCAST_ADDRESS="localhost:$ZVT_HATCHET_GRPC_PORT"
    export SERVER_INTERNAL_CLIENT_INTERNAL_GRPC_BROADCAST_ADDRESS="localhost:$ZVT_HATCHET_GRPC_PORT"
    export SERVER_HEALTHCHECK_PORT="$ZVT_HATCHET_HEALTH_PORT"
    export SERVER_LOGGER_LEVEL=warn
    export SERVER_ADDITIONAL_LOGGERS_QUEUE_LEVEL=warn
    export SERVER_ADDITIONAL_LOGGERS_PGXSTATS_LEVEL=error
    export DATABASE_MAX_CONNS=40
    export LITE_STATIC_ASSET_DIR="$DASHBOARD_DIST"
    export LITE_FRONTEND_PORT="$ZVT_HATCHET_INTERNAL_FRONTEND_PORT"
    export LITE_RUNTIME_PORT="$ZVT_HATCHET_API_PORT"
}

# The engine options of config.sh (docs/workflows.md "Engine options measured"). Lite reads the queue's kind
# (it picks postgres only when none is set) and the buffer settings (read by the engine at start-up) as the
# full engine does.
engine_options_env() {
    case "$ZVT_HATCHET_MQ" in
        postgres) export SERVER_MSGQUEUE_KIND=postgres; unset SERVER_MSGQUEUE_RABBITMQ_URL ;;
        rabbitmq)
            export SERVER_MSGQUEUE_KIND=rabbitmq
            SERVER_MSGQUEUE_RABBITMQ_URL="$(grep '^ZVT_HATCHET_RABBITMQ_URL=' "$HATCHET_CREDENTIALS" | cut -d= -f2-)" || true
            [[ -n "$SERVER_MSGQUEUE_RABBITMQ_URL" ]] || die "ZVT_HATCHET_RABBITMQ_URL missing from $HATCHET_CREDENTIALS (start rabbitmq first)"
            export SERVER_MSGQUEUE_RABBITMQ_URL ;;
        *) die "ZVT_HATCHET_MQ must be postgres or rabbitmq, not '$ZVT_HATCHET_MQ'" ;;
    esac
    unset SERVER_DEFAULT_BUFFER_FLUSH_INTERVAL SERVER_DEFAULT_BUFFER_SIZE
    if [[ -n "$ZVT_HATCHET_BUFFER_FLUSH_MS" ]]; then
        [[ "$ZVT_HATCHET_BUFFER_FLUSH_MS" =~ ^[1-9][0-9]*$ ]] || die "ZVT_HATCHET_BUFFER_FLUSH_MS must be a whole number of ms > 0"
        export SERVER_DEFAULT_BUFFER_FLUSH_INTERVAL="${ZVT_HATCHET_BUFFER_FLUSH_MS}ms"
    fi
    if [[ -n "$ZVT_HATCHET_BUFFER_SIZE" ]]; then
        [[ "$ZVT_HATCHET_BUFFER_SIZE" =~ ^[1-9][0-9]*$ ]] || die "ZVT_HATCHET_BUFFER_SIZE must be a whole number > 0"
        export SERVER_DEFAULT_BUFFER_SIZE="$ZVT_HATCHET_BUFFER_SIZE"
    fi
}

# What the running engine was started with: its database credentials and its options.
engine_settings_digest() {
    { grep -E '^ZVT_HATCHET_(DATABASE|RABBITMQ)_URL=' "$HATCHET_CREDENTIALS"
      echo "$ZVT_HATCHET_MQ $ZVT_HATCHET_BUFFER_FLUSH_MS $ZVT_HATCHET_BUFFER_SIZE"; } | sha256sum
}

healthy() { curl -fs -o /dev/null "http://127.0.0.1:$ZVT_HATCHET_HEALTH_PORT/ready"; }

# hatchet-lite exits on SIGTERM without running the engine's teardown, which deletes its controller,
# scheduler and worker partitions and releases its queue and worker leases. Left behind, they keep the tenant
# bound to a dead engine, and the next engine schedules nothing until they expire (30 s to a minute).
# Only one engine uses this database and none is running when this is called, so all of them are stale.
release_dead_engine_state() {
    psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c 'DELETE FROM "Lease";
        DELETE FROM "ControllerPartition"; DELETE FROM "SchedulerPartition"; DELETE FROM "TenantWorkerPartition";' \
        >>"$1/admin.log" 2>&1 || true   # before the first migration these tables do not exist yet
}

launch() {
    local dir="$1"
    if healthy || port_open "$ZVT_HATCHET_GRPC_PORT"; then die "hatchet ports are taken by a process this stack did not start"; fi
    export_engine_env "$dir"
    release_dead_engine_state "$dir"
    log "applying migrations"
    "$HATCHET_BIN/hatchet-migrate" >>"$dir/migrate.log" 2>&1 || { tail -n 30 "$dir/migrate.log" >&2; die "migrations failed"; }
    "$HATCHET_BIN/hatchet-admin" quickstart --skip certs --generated-config-dir "$dir/config" --overwrite=false \
        >>"$dir/admin.log" 2>&1 || { tail -n 30 "$dir/admin.log" >&2; die "quickstart failed"; }
    log "starting engine (gRPC localhost:$ZVT_HATCHET_GRPC_PORT, API and dashboard http://localhost:$ZVT_HATCHET_API_PORT," \
        "loopback only; admin $ADMIN_EMAIL, password in $ZVT_RUN_DIR/credentials/hatchet-admin)"
    start_daemon hatchet "$dir/hatchet.log" "$HATCHET_BIN/hatchet-lite" --config "$dir/config"
    wait_for "hatchet /ready" 120 healthy || { tail -n 40 "$dir/hatchet.log" >&2; die "hatchet did not become ready"; }
}

# login EMAIL PASSWORD COOKIE_JAR -> 0 when the REST API accepts the pair.
login() {
    local body; body="$(printf '{"email":"%s","password":"%s"}' "$1" "$2")"
    curl -fs -o /dev/null -c "$3" -H 'Content-Type: application/json' -d "$body" \
        "http://127.0.0.1:$ZVT_HATCHET_API_PORT/api/v1/users/login"
}

# A database seeded before this stack generated passwords keeps the quickstart's admin password (the seed
# never updates an existing user): change it to the generated one.
api_ready() { curl -fs -o /dev/null "http://127.0.0.1:$ZVT_HATCHET_API_PORT/api/ready"; }

replace_quickstart_password() {
    local dir="$1" jar; jar="$(mktemp)"
    # The engine's /ready comes before the REST API behind lite's proxy answers.
    wait_for "hatchet API" 60 api_ready || die "the hatchet API did not answer on port $ZVT_HATCHET_API_PORT"
    if login "$ADMIN_EMAIL_DEFAULT" "$QUICKSTART_PASSWORD" "$jar"; then
        # In the database, not through the API: lite's proxy makes the API's change-password route refuse
        # every request (403). pgcrypto's bcrypt ($2a$, cost 10) is what the engine's Go bcrypt checks;
        # the password goes in on stdin, never on a command line (it is [A-Za-z0-9] only, from `secret`).
        log "replacing the quickstart admin password with the generated one"
        psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" >/dev/null <<SQL \
            || { rm -f "$jar"; die "could not change the quickstart admin password"; }
CREATE EXTENSION IF NOT EXISTS pgcrypto;
UPDATE "UserPassword" SET hash = crypt('$ADMIN_PASSWORD', gen_salt('bf', 10))
WHERE "userId" = (SELECT id FROM "User" WHERE email = '$ADMIN_EMAIL_DEFAULT');
SQL
    fi
    login "$ADMIN_EMAIL_DEFAULT" "$ADMIN_PASSWORD" "$jar" \
        || { rm -f "$jar"; die "the API refuses the generated admin password (in $ZVT_RUN_DIR/credentials)"; }
    rm -f "$jar"
}

mint_token() {
    local dir="$1"
    [[ -f "$dir/client-token" ]] && chmod 600 "$dir/client-token"   # a credential: the tenant's API token
    # A token lives in the database it was minted in: another database (ZVT_HATCHET_PG_PORT changed) refuses it.
    local database; database="$(printf '%s' "$DATABASE_URL" | sha256sum | cut -d' ' -f1)"
    if [[ -s "$dir/client-token" && "$(cat "$dir/client-token.database" 2>/dev/null)" != "$database" ]]; then
        [[ -e "$dir/client-token.database" ]] && { log "the engine's database changed: minting a new client token"; rm -f "$dir/client-token"; }
    fi
    echo "$database" >"$dir/client-token.database"
    [[ -s "$dir/client-token" ]] && return 0
    log "minting a client token for tenant $ZVT_HATCHET_TENANT_ID"
    export_engine_env "$dir"
    "$HATCHET_BIN/hatchet-admin" token create --config "$dir/config" --tenant-id "$ZVT_HATCHET_TENANT_ID" \
        --name zvt-local --expiresIn 87600h 2>>"$dir/admin.log" | (umask 077; tail -n1 >"$dir/client-token.tmp")
    [[ "$(head -c2 "$dir/client-token.tmp")" == "ey" ]] || { tail -n 20 "$dir/admin.log" >&2; die "token create failed"; }
    mv "$dir/client-token.tmp" "$dir/client-token"
}

start() {
    install
    "$(dirname "${BASH_SOURCE[0]}")/postgres.sh" start
    [[ -n "$ZVT_HATCHET_PG_PORT" ]] && ZVT_PG_CLUSTER=hatchet "$(dirname "${BASH_SOURCE[0]}")/postgres.sh" start
    [[ "$ZVT_HATCHET_MQ" == rabbitmq ]] && "$(dirname "${BASH_SOURCE[0]}")/rabbitmq.sh" start
    local dir; dir="$(service_dir hatchet)"
    # An engine started with other database credentials (a stack from before the hatchet role) or other
    # options is restarted.
    local digest; digest="$(engine_settings_digest)"
    if pid_alive hatchet && [[ "$(cat "$dir/engine-settings.sha256" 2>/dev/null)" != "$digest" ]]; then
        log "restarting the engine: its database credentials or options changed"
        stop_pid hatchet
    fi
    ensure_running hatchet launch "$dir"
    echo "$digest" >"$dir/engine-settings.sha256"
    rm -f "$dir/database-url.sha256"   # the digest's name before the options
    # Selected before, not any more: stopped once the engine no longer uses them.
    [[ -z "$ZVT_HATCHET_PG_PORT" ]] && stop_hatchet_cluster
    [[ "$ZVT_HATCHET_MQ" != rabbitmq ]] && stop_rabbitmq
    export_engine_env "$dir"
    replace_quickstart_password "$dir"
    mint_token "$dir"
    env_file_set HATCHET_CLIENT_TOKEN "$(cat "$dir/client-token")"
    env_file_set HATCHET_CLIENT_TLS_STRATEGY none
    env_file_set HATCHET_CLIENT_HOST_PORT "localhost:$ZVT_HATCHET_GRPC_PORT"
    env_file_set HATCHET_CLIENT_SERVER_URL "http://localhost:$ZVT_HATCHET_API_PORT"
    env_file_set HATCHET_CLIENT_NAMESPACE ""
    env_file_set ZVT_HATCHET_DASHBOARD_URL "http://localhost:$ZVT_HATCHET_API_PORT"
    log "ready"
}

stop_rabbitmq() {
    [[ -e "$(pid_file rabbitmq)" ]] || return 0
    "$(dirname "${BASH_SOURCE[0]}")/rabbitmq.sh" stop
}

stop_hatchet_cluster() {
    [[ -e "$(pid_file postgres-hatchet)" ]] || return 0
    ZVT_PG_CLUSTER=hatchet ZVT_HATCHET_PG_PORT="${ZVT_HATCHET_PG_PORT:-0}" "$(dirname "${BASH_SOURCE[0]}")/postgres.sh" stop
}

# The engine's queue and own cluster go down after it (stack.sh stops services in reverse order).
stop() { stop_pid hatchet; stop_rabbitmq; stop_hatchet_cluster; }

status() {
    if pid_alive hatchet && healthy; then log "running (pid $(cat "$(pid_file hatchet)"))"; else log "stopped"; return 1; fi
}

"${1:?usage: hatchet.sh install|start|stop|status}" "${@:2}"
