#!/bin/bash
# The "obvious" shell alternative, for the benchmark: inotifywait + aws s3 cp.
# Environment: MONITOR_FILE_PATH, S3_BUCKET_NAME, S3_BACKUP_PREFIX, AWS_ENDPOINT_URL_S3 and the
# AWS_* credentials (awscli 2.9 ignores AWS_ENDPOINT_URL_S3, so it goes to --endpoint-url).
set -u
dir=$(dirname "$MONITOR_FILE_PATH")
base=$(basename "$MONITOR_FILE_PATH")
endpoint=()
[ -n "${AWS_ENDPOINT_URL_S3:-}" ] && endpoint=(--endpoint-url "$AWS_ENDPOINT_URL_S3")

upload() {
    local name
    name="channel-$(date -u +%Y%m%dT%H%M%S.%N).backup"
    aws s3 cp --only-show-errors "${endpoint[@]}" "$MONITOR_FILE_PATH" \
        "s3://$S3_BUCKET_NAME/${S3_BACKUP_PREFIX}$name" && echo "uploaded $name" >&2
}

upload
inotifywait -m -q -e moved_to,close_write --format '%f' "$dir" |
    while IFS= read -r f; do
        [ "$f" = "$base" ] && upload
    done
