-- Which cloud a cluster's view versions belong to. Nodes keep their last view
-- on disk, outside the CLC's home: a new cloud (a new database) on the same
-- host starts again at version 1, and a node that only compared versions
-- ignored it until it passed the old cloud's count. A view of another epoch
-- replaces whatever the node holds.
ALTER TABLE network_views ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
UPDATE network_views SET epoch = lower(hex(randomblob(8)));
