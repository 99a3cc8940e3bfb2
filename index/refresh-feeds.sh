#!/bin/sh
# Bring an index up to date with feeds (http(s) addresses or feed files) and folders, once, then stop:
# new and changed articles are added in one commit, unchanged ones skipped. Run it from cron, e.g. hourly:
#   0 * * * *  cd /path/to/checkout && index/refresh-feeds.sh https://example.com/news.rss
#
#   index/refresh-feeds.sh FEED|FOLDER...   the index: $QA_INDEX_DIR, else this folder (index/)
set -eu
if [ $# -lt 1 ]; then
    echo "usage: index/refresh-feeds.sh FEED|FOLDER..." >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
exec "${QA:-qa}" watch --once --index-dir "${QA_INDEX_DIR:-$here}" "$@"
