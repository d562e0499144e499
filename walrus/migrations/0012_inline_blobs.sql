-- Small blobs kept in the database itself (walrus/blobs.py; `[walrus] inline_max_bytes`):
-- the bytes of the blob an objects, versions or parts row names when that name starts
-- with 'i' (a blob file's name is hex). Written in the transaction that records the row
-- naming it and deleted in the one that drops that row, so its commit is the write's
-- durability point. An encrypted object's bytes here are sealed, as in a file.
-- A rowid table: rows of up to a megabyte do not belong in a WITHOUT ROWID b-tree.
CREATE TABLE inline_blobs (
    name  TEXT PRIMARY KEY,
    data  BLOB NOT NULL
);
