#!/usr/bin/env bash
# Kafka, single-node KRaft (broker + controller in one JVM), jars from Maven Central.
# Usage: kafka.sh install|start|stop|status
SERVICE=kafka
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_HOME="$ZVT_CACHE_DIR/kafka/$ZVT_KAFKA_VERSION"
KAFKA_LIB="$KAFKA_HOME/lib"

install() {
    [[ -f "$KAFKA_HOME/.installed" ]] && return 0
    command -v java >/dev/null || apt_install openjdk-17-jre-headless
    command -v mvn >/dev/null || apt_install maven
    log "fetching kafka_${ZVT_KAFKA_SCALA} ${ZVT_KAFKA_VERSION} and its runtime jars from Maven Central"
    local pom_dir; pom_dir="$(mktemp -d)"
    cat >"$pom_dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.zvt</groupId><artifactId>kafka-runtime</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_${ZVT_KAFKA_SCALA}</artifactId><version>${ZVT_KAFKA_VERSION}</version></dependency>
    <!-- Kafka's build declares its logging backend compileOnly, so a runtime one is added here. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>${ZVT_KAFKA_LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
POM
    rm -rf "$KAFKA_LIB"; mkdir -p "$KAFKA_LIB"
    mvn -q -B -Dstyle.color=never -f "$pom_dir/pom.xml" \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIB" >"$KAFKA_HOME/fetch.log" 2>&1 \
        || { tail -n 30 "$KAFKA_HOME/fetch.log" >&2; die "fetching Kafka's jars failed"; }
    rm -rf "$pom_dir"
    [[ -f "$KAFKA_LIB/kafka_${ZVT_KAFKA_SCALA}-${ZVT_KAFKA_VERSION}.jar" ]] || die "kafka jar missing after download"
    touch "$KAFKA_HOME/.installed"
}

# One SCRAM principal per process kind (credentials/<kind>.env); what each may do is in topics/acls.py, granted
# per topic prefix by `zvt topics create`. admin is the super user of the stack's scripts and topic admin.
KAFKA_PRINCIPALS=(admin agents sink bridge workflows publisher monitor smoke api)
KAFKA_MECHANISM=SCRAM-SHA-512

# The TLS listener's keystore: the stack's server certificate (tls.sh) and its key as PKCS#12, whose password
# is a generated secret (openssl reads it from its file, never from the command line).
write_keystore() {
    local dir="$1"
    "$(dirname "${BASH_SOURCE[0]}")/tls.sh" start
    secret kafka-keystore >/dev/null
    (umask 077; openssl pkcs12 -export -name kafka -inkey "$ZVT_TLS_DIR/server.key" -in "$ZVT_TLS_DIR/server.crt" \
        -certfile "$ZVT_TLS_DIR/ca.crt" -passout "file:$(credentials_dir)/kafka-keystore" -out "$dir/server.p12.tmp")
    mv "$dir/server.p12.tmp" "$dir/server.p12"
}

# The fingerprint of the server certificate a broker loads at launch ($dir/.zvt-tls-cert records it).
server_certificate_fingerprint() { openssl x509 -in "$ZVT_TLS_DIR/server.crt" -noout -fingerprint -sha256; }

# Clients: SASL_PLAINTEXT with SCRAM on loopback, and SASL_SSL (the same SCRAM principals, over TLS with the
# stack's server certificate) on its own port. The controller listener (loopback too) takes SASL/PLAIN
# with one static user: KRaft keeps SCRAM credentials in the metadata the controller itself serves.
write_config() {
    local dir="$1"
    write_keystore "$dir"
    (umask 077; : >"$dir/server.properties")
    chmod 600 "$dir/server.properties"   # it holds the admin and controller passwords
    cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${ZVT_KAFKA_CONTROLLER_PORT}
listeners=SASL_PLAINTEXT://127.0.0.1:${ZVT_KAFKA_PORT},SASL_SSL://127.0.0.1:${ZVT_KAFKA_TLS_PORT},CONTROLLER://127.0.0.1:${ZVT_KAFKA_CONTROLLER_PORT}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:${ZVT_KAFKA_PORT},SASL_SSL://127.0.0.1:${ZVT_KAFKA_TLS_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=${KAFKA_MECHANISM}
sasl.mechanism.inter.broker.protocol=${KAFKA_MECHANISM}
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(secret kafka-admin)";
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=${dir}/server.p12
listener.name.sasl_ssl.ssl.keystore.password=$(secret kafka-keystore)
listener.name.sasl_ssl.ssl.client.auth=none
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$(secret kafka-controller)" user_controller="$(secret kafka-controller)";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:controller
allow.everyone.if.no.acl.found=false
log.dirs=${dir}/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
    cat >"$dir/log4j2.properties" <<PROPS
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
PROPS
}

kafka_java() {
    java -cp "$KAFKA_LIB/*" "$@"
}

healthy() { port_open "$ZVT_KAFKA_PORT"; }

launch() {
    local dir; dir="$(service_dir kafka)"
    local port
    for port in "$ZVT_KAFKA_PORT" "$ZVT_KAFKA_TLS_PORT"; do
        if port_open "$port"; then die "port $port is taken by a process this stack did not start"; fi
    done
    write_config "$dir"
    server_certificate_fingerprint >"$dir/.zvt-tls-cert"
    # SCRAM credentials are written into the metadata log when it is formatted: storage formatted before them
    # (or for other principals) is formatted again, topics and all.
    local principals="${KAFKA_PRINCIPALS[*]}"
    if [[ -f "$dir/data/meta.properties" && "$(cat "$dir/data/.zvt-principals" 2>/dev/null)" != "$principals" ]]; then
        log "re-creating Kafka's storage: it was formatted without the SCRAM principals ($principals)"
        rm -rf "$dir/data"
    fi
    if [[ ! -f "$dir/data/meta.properties" ]]; then
        local cluster_id; cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
        log "formatting storage (cluster id $cluster_id) with SCRAM credentials for: $principals"
        local scram=() principal
        for principal in "${KAFKA_PRINCIPALS[@]}"; do
            scram+=(--add-scram "$KAFKA_MECHANISM=[name=$principal,password=$(secret "kafka-$principal")]")
        done
        kafka_java -Dlog4j2.configurationFile="$dir/log4j2.properties" kafka.tools.StorageTool format \
            -t "$cluster_id" -c "$dir/server.properties" --ignore-formatted "${scram[@]}" >>"$dir/kafka.out" 2>&1 \
            || { tail -n 20 "$dir/kafka.out" >&2; die "formatting storage failed"; }
        echo "$principals" >"$dir/data/.zvt-principals"
    fi
    log "starting broker on 127.0.0.1:$ZVT_KAFKA_PORT (TLS on $ZVT_KAFKA_TLS_PORT)"
    start_daemon kafka "$dir/kafka.out" java "-Xmx$ZVT_KAFKA_HEAP" "-Xms$ZVT_KAFKA_HEAP" \
        -XX:+UseG1GC -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$dir/log4j2.properties" \
        -cp "$KAFKA_LIB/*" kafka.Kafka "$dir/server.properties"
    wait_for "kafka port $ZVT_KAFKA_PORT" 120 healthy || { tail -n 40 "$dir/kafka.out" "$dir/server.log" >&2 || true; die "kafka did not start"; }
    wait_for "kafka TLS port $ZVT_KAFKA_TLS_PORT" 60 port_open "$ZVT_KAFKA_TLS_PORT" \
        || { tail -n 40 "$dir/server.log" >&2 || true; die "kafka's TLS listener did not start"; }
}

# A running broker is restarted (storage kept) when it has no TLS listener on $ZVT_KAFKA_TLS_PORT (started
# before TLS, or on another port), or loaded a server certificate that tls.sh has since replaced.
restart_for_tls() {
    local dir; dir="$(service_dir kafka)"
    pid_alive kafka || return 0
    "$(dirname "${BASH_SOURCE[0]}")/tls.sh" start
    if ! grep -q "^listeners=.*SASL_SSL://127.0.0.1:${ZVT_KAFKA_TLS_PORT}," "$dir/server.properties"; then
        log "restarting the broker: it has no TLS listener on port $ZVT_KAFKA_TLS_PORT"
        stop_pid kafka
    elif [[ "$(cat "$dir/.zvt-tls-cert" 2>/dev/null)" != "$(server_certificate_fingerprint)" ]]; then
        log "restarting the broker: its server certificate was renewed"
        stop_pid kafka
    fi
}

start() {
    install
    # A broker started before authentication (PLAINTEXT listener) is restarted with the new configuration.
    if pid_alive kafka && ! grep -q '^authorizer.class.name=' "$(service_dir kafka)/server.properties"; then
        log "restarting the broker: it runs without authentication"
        stop_pid kafka
    fi
    restart_for_tls
    ensure_running kafka launch
    env_file_set ZVT_KAFKA_BOOTSTRAP "127.0.0.1:$ZVT_KAFKA_PORT"
    env_file_set ZVT_KAFKA_SECURITY_PROTOCOL SASL_PLAINTEXT
    env_file_set ZVT_KAFKA_SASL_MECHANISM "$KAFKA_MECHANISM"
    env_file_set ZVT_KAFKA_SSL_CAFILE "$ZVT_TLS_DIR/ca.crt"
    # What a process switches to with ZVT_TLS=1 (runtime/settings.py): the TLS listener, verified against the CA.
    tls_env_file_set ZVT_KAFKA_BOOTSTRAP "127.0.0.1:$ZVT_KAFKA_TLS_PORT"
    tls_env_file_set ZVT_KAFKA_SECURITY_PROTOCOL SASL_SSL
    local p
    for p in "${KAFKA_PRINCIPALS[@]}"; do credentials_login "$p" ZVT_KAFKA_USERNAME ZVT_KAFKA_PASSWORD "$p" "kafka-$p"; done
    log "ready"
}

stop() { stop_pid kafka; }

status() {
    if pid_alive kafka && healthy; then log "running (pid $(cat "$(pid_file kafka)"))"; else log "stopped"; return 1; fi
}

"${1:?usage: kafka.sh install|start|stop|status}"
