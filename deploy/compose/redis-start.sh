#!/bin/sh
# The compose Redis with the ACL users of deploy/local/redis.sh (digests only in the file), default user off.
set -eu
digest() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
keys='resetkeys ~zvt.* ~*.zvt.* resetchannels'
connect='+ping +hello +select +auth'
publish='+evalsha +eval +script|load +script|exists +xadd +zadd +zcard +zremrangebyrank'
groups='+multi +exec +discard +xreadgroup +xread +xrevrange +xack +xautoclaim +xpending +xgroup|create +xinfo|groups +xlen'
umask 077
cat >/data/users.acl <<ACL
user default off resetpass ~* &* +@all
user admin on #$(digest "$ZVT_REDIS_ADMIN_PASSWORD") ~* &* +@all
user bridge on #$(digest "$ZVT_REDIS_BRIDGE_PASSWORD") $keys $connect $publish $groups
user workflows on #$(digest "$ZVT_REDIS_WORKFLOWS_PASSWORD") $keys $connect $publish +xread +xrevrange +set
user smoke on #$(digest "$ZVT_REDIS_SMOKE_PASSWORD") resetkeys ~zvt.alerts ~*.zvt.alerts resetchannels $connect +xadd +xgroup|create +xreadgroup +xack +xpending
ACL
exec redis-server --appendonly yes --appendfsync always --save "" --aclfile /data/users.acl
