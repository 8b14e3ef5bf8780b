-- lifeline snapshot file, schema 3: packed object versions.
--
-- A version may be stored packed: compressed (S2) against a dictionary made from the
-- first versions of its kind in the file, which share its keys and most of its values'
-- shapes. A 2 KB user packs to about 400 bytes, where compressing it alone saves a
-- third. Dictionaries are written once and never change; a packed version names its
-- dictionary by id (see pack.go). Files of schema 2 hold no packed versions.
CREATE TABLE dicts (
    id   INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    data BLOB NOT NULL          -- the dictionary as s2.Dict.Bytes serializes it
) STRICT;
