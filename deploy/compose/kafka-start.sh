#!/bin/bash
# The compose broker as deploy/local/kafka.sh runs it: SASL/SCRAM for clients, SASL/PLAIN for the controller,
# StandardAuthorizer; the SCRAM credentials are written when the storage is formatted. With compose.tls.yaml
# (a keystore at /zvt/kafka.p12) also SASL_SSL on 9094, the same principals over TLS.
set -euo pipefail
conf=/var/lib/kafka/server.properties
umask 077
listeners="SASL_PLAINTEXT://:9092,CONTROLLER://localhost:9093"
advertised="SASL_PLAINTEXT://127.0.0.1:9092"
tls=""
if [[ -s /zvt/kafka.p12 ]]; then
    listeners="SASL_PLAINTEXT://:9092,SASL_SSL://:9094,CONTROLLER://localhost:9093"
    advertised="$advertised,SASL_SSL://127.0.0.1:9094"
    tls="listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=/zvt/kafka.p12
listener.name.sasl_ssl.ssl.keystore.password=$ZVT_KAFKA_KEYSTORE_PASSWORD
listener.name.sasl_ssl.ssl.client.auth=none"
fi
cat >"$conf" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
$tls
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$ZVT_KAFKA_ADMIN_PASSWORD";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$ZVT_KAFKA_CONTROLLER_PASSWORD" user_controller="$ZVT_KAFKA_CONTROLLER_PASSWORD";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:controller
allow.everyone.if.no.acl.found=false
log.dirs=/var/lib/kafka/data
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
if [[ ! -f /var/lib/kafka/data/meta.properties ]]; then
    scram=()
    for principal in admin agents sink bridge workflows publisher monitor smoke; do
        var="ZVT_KAFKA_${principal^^}_PASSWORD"
        scram+=(--add-scram "SCRAM-SHA-512=[name=$principal,password=${!var}]")
    done
    /opt/kafka/bin/kafka-storage.sh format -t "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" -c "$conf" \
        --ignore-formatted "${scram[@]}"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$conf"
