"""The store: articles, passages, BM25 and vectors on disk: SQLite is the one commit point.

Layout of an index folder:

    index.sqlite   articles, passages, the list of vector segments, settings (SQLite, WAL mode)
    segments/      seg-000001.faiss, ...: one FAISS file per batch of added passages (qa.segments)
    text/          the tantivy BM25 index over the same passages (qa.fulltext)
    .lock          one writer at a time (filelock)

Like Lucene's commit points: a change writes its new files first (a segment file,
fsynced; new BM25 documents), then commits one SQLite transaction that names them,
so a crash at any moment leaves the previous state or the new one. Removed
passages are deleted from the database and masked in their segment at search
time; merges drop them for good. A file a change wrote is named in the database
*before* it is created, and only files named there are ever deleted (files a
merge replaced are kept until the next write, for readers still opening them).
Readers never take a lock: each search reads one database snapshot, and sees a
new commit from any process as soon as it is made.

The cost of a change depends on the change, not on the archive: an add writes one
small segment and its passages; opening reads a few settings and maps the segment files.

Nothing in the folder is trusted to name a path: a file name read from the database
(segments, job keys) or from the format-1 pointer is used only when it is a plain name
of the expected pattern (`own_file`), inside a subfolder that is not a link to
elsewhere; anything else is reported by `check` as foreign and never opened or deleted.
"""

from __future__ import annotations

from qa.maintenance import Maintenance
from qa.staging import Staging


class Store(Maintenance, Staging):
    """An index folder: what is committed in its database, searched through snapshots, changed by commits.

    Its parts, one module each, from reading up to repairing: `qa.snapshots.StoreReader` (open, snapshots,
    cached segments and filter facts), `qa.catalog.Catalog` (questions about articles), `qa.writing.Writer`
    (the one writer's lock, settling, story bands), `qa.commits.Commits` (adds, removals, merges),
    `qa.staging.Staging` (Ray jobs), `qa.maintenance.Maintenance` (check, rebuild). The folder's layout and
    schema are in `qa.layout`.

    Args:
        folder: the index folder.
        embedding_model, dimension: what its vectors are (read from the database once it exists).
        approximate_above: segments with more vectors than this are IVF indexes (0: all, None: never).
        encoder: how the vectors are computed (qa.embeddings.Embedder.encoder); adds keep to it.
    """
