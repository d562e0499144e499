-- Accounts, users and their access keys. Secret keys are stored sealed
-- (Fernet, pki/secrets.key), never in clear.
CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,           -- 12 digits, as AWS account ids
    name       TEXT NOT NULL UNIQUE,
    is_admin   INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);

CREATE TABLE users (
    id         TEXT PRIMARY KEY,           -- AIDA...
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE access_keys (
    id          TEXT PRIMARY KEY,          -- AKIA...
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_enc  BLOB NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
    created_at  REAL NOT NULL
);
CREATE INDEX access_keys_user ON access_keys(user_id);

-- Bumped on every access-key change so Walrus can be told to resync.
CREATE TABLE credential_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO credential_generation VALUES (1, 1);
