#!/bin/sh
# Rebuild an index from a folder of articles: the new index replaces the old one only once it is complete,
# so questions keep being answered from the old one meanwhile (see index/README.md).
#
#   index/rebuild.sh FOLDER [INDEX_DIR]     INDEX_DIR: default $QA_INDEX_DIR, else this folder (index/)
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: index/rebuild.sh FOLDER [INDEX_DIR]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
exec "${QA:-qa}" index build --index-dir "${2:-${QA_INDEX_DIR:-$here}}" "$1"
