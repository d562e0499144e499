"""The credentials Walrus authenticates against: the set the CLC last pushed.

Walrus cannot call the CLC (calls go downward only), so the CLC pushes the
whole set with the `sync_credentials` RPC. The set is kept in memory for
lookups and in the metadata database, secrets sealed with the cloud's
SecretBox, so a restarted Walrus authenticates at once.
"""
from __future__ import annotations

from mallee import errors as mallee_errors
from mallee.auth.credentials import Credential
from mallee.pki import SecretBox
from walrus.db import Database

_FIELDS = ("access_key_id", "secret_access_key", "account_id", "account_name",
           "user_id", "user_name")


class CredentialStore:
    def __init__(self, db: Database, box: SecretBox):
        self._db = db
        self._box = box
        self._by_key: dict[str, Credential] = {}
        self.generation = 0

    async def load(self) -> None:
        rows = await self._db.all("SELECT * FROM credentials")
        gen = await self._db.one("SELECT value FROM meta WHERE name='credentials_generation'")
        self.generation = int(gen["value"]) if gen else 0
        self._by_key = {r["access_key_id"]: Credential(
            r["access_key_id"], self._box.open(r["sealed_secret"]), r["account_id"],
            r["account_name"], r["user_id"], r["user_name"], bool(r["is_admin"]),
            bool(r["active"])) for r in rows}

    async def lookup(self, access_key_id: str) -> Credential | None:
        return self._by_key.get(access_key_id)

    def account_names(self) -> dict[str, str]:
        return {c.account_id: c.account_name for c in self._by_key.values()}

    @staticmethod
    def _parse(items) -> list[Credential]:
        if not isinstance(items, list):
            raise mallee_errors.InvalidParameterValue("credentials must be a list.")
        parsed = []
        for item in items:
            if not isinstance(item, dict) or not all(
                    isinstance(item.get(f), str) and item.get(f) for f in _FIELDS):
                raise mallee_errors.InvalidParameterValue(
                    f"each credential needs string fields {', '.join(_FIELDS)}.")
            parsed.append(Credential(**{f: item[f] for f in _FIELDS},
                                     is_admin=bool(item.get("is_admin", False)),
                                     active=bool(item.get("active", True))))
        return parsed

    async def replace(self, generation: int, items) -> int:
        """Install a pushed set; an older generation than ours is ignored."""
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
            raise mallee_errors.InvalidParameterValue("generation must be a whole number.")
        creds = self._parse(items)
        if generation < self.generation:
            return self.generation
        sealed = [(c.access_key_id, self._box.seal(c.secret_access_key), c.account_id,
                   c.account_name, c.user_id, c.user_name, int(c.is_admin), int(c.active))
                  for c in creds]

        def save(conn):
            conn.execute("DELETE FROM credentials")
            conn.executemany("INSERT OR REPLACE INTO credentials VALUES (?,?,?,?,?,?,?,?)",
                             sealed)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('credentials_generation', ?)",
                         (str(generation),))
        await self._db.write(save)
        self._by_key = {c.access_key_id: c for c in creds}
        self.generation = generation
        return generation
