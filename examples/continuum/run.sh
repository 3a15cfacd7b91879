#!/usr/bin/env bash
# Starts the continuum demo: an "edge" gateway (port 8091) and a "cloud" gateway (port 8092),
# both from continuum.yaml, then shows requests that cross from one to the other.
#   examples/continuum/run.sh          # start both, try them, keep them up until Ctrl-C
#   examples/continuum/run.sh --check  # start both, try them, stop (exit status: all went well)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
FDL=examples/continuum/continuum.yaml
DATA=${DEMO_DATA_DIR:-.data/continuum}
TOKEN=continuum-demo  # the admin token of both, as continuum.yaml's clusters say
EDGE=http://127.0.0.1:8091
CLOUD=http://127.0.0.1:8092

pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait; }
trap stop EXIT
trap 'exit 130' INT TERM
for cluster in cloud edge; do
  port=$([ "$cluster" = edge ] && echo 8091 || echo 8092)
  mkdir -p "$DATA/$cluster"
  GATEWAY_CLUSTER_ID=$cluster GATEWAY_ADMIN_TOKEN=$TOKEN GATEWAY_DATA_DIR=$DATA/$cluster \
    GATEWAY_DELEGATION_RETRY_INTERVAL=0.5 GATEWAY_DELEGATION_POLL_INTERVAL=0.5 \
    "$PY" -m gateway serve -f "$FDL" --port "$port" --grpc-port 0 \
    >"$DATA/$cluster/gateway.log" 2>&1 &
  pids+=($!)
done

ready() {  # $1: gateway URL, then service names
  local url=$1; shift
  for _ in $(seq 600); do
    local all=1
    for name in "$@"; do
      curl -sf -H "Authorization: Bearer $TOKEN" "$url/system/services/$name" \
        | grep -q '"state":"ready"' || all=0
    done
    [ $all = 1 ] && return 0
    sleep 0.2
  done
  echo "not ready: $url $*; see $DATA/*/gateway.log" >&2
  return 1
}
ready $CLOUD digits imagenet tally
ready $EDGE digits
echo "edge $EDGE and cloud $CLOUD are up (logs in $DATA/)"

auth=(-H "Authorization: Bearer $TOKEN")
digit=$("$PY" -c 'from tests.support import digit_png, digits_holdout as d
import sys; x, y = d(); sys.stdout.buffer.write(digit_png(x[0], ink_on_paper=False))' \
  | tee "$DATA/digit.png" | wc -c)
echo; echo "# a digit, classified on the edge itself:"
curl -s -D - "${auth[@]}" -H "Content-Type: image/png" --data-binary @"$DATA/digit.png" \
  $EDGE/predict/digits | grep -iE '^x-served-by|predictions' | cut -c1-160
echo; echo "# a photo, sent to the edge, classified by the cloud (X-Served-By: cloud):"
curl -s -D - "${auth[@]}" -H "Content-Type: image/jpeg" \
  --data-binary @model_images/imagenet/samples/flower.jpg $EDGE/predict/imagenet \
  | grep -iE '^x-served-by|predictions' | cut -c1-160
echo; echo "# an async digit job on the edge; its result flows on to the cloud's tally:"
job=$(curl -s "${auth[@]}" -F file=@"$DATA/digit.png" $EDGE/job/digits \
  | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["job_id"])')
for _ in $(seq 300); do
  tallied=$(curl -s "${auth[@]}" "$CLOUD/jobs?service=tally&status=succeeded" \
    | "$PY" -c 'import json, sys; print(len(json.load(sys.stdin)["jobs"]))')
  [ "$tallied" -ge 1 ] && break
  sleep 0.2
done
echo "edge job $job: $(curl -s "${auth[@]}" $EDGE/jobs/$job | cut -c1-120)..."
echo "cloud tally jobs succeeded: $tallied"
[ "$tallied" -ge 1 ]
[ "${1:-}" = "--check" ] && exit 0
echo; echo "Both gateways stay up; Ctrl-C stops them."
wait
