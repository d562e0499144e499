"""mallee.ids.request_id: UUID-shaped, distinct within a process and across a fork."""
import os
import uuid

from mallee import ids


def test_request_ids_are_distinct_uuids():
    made = [ids.request_id() for _ in range(10000)]
    assert len(set(made)) == len(made)
    assert all(uuid.UUID(r).version == 4 and str(uuid.UUID(r)) == r for r in made[:100])


def test_a_forked_child_draws_its_own_base():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, ids.request_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    parent = ids.request_id()
    assert child != parent and child[:18] != parent[:18]  # not the same base
