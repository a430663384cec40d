-- dpkg sort keys of versions without a revision were encoded below those
-- with a revision of "0~…" (fixed in pakiti-versions, found by fuzzing):
-- the stored keys of dpkg packages are dropped; those versions are then
-- compared in dpkg's order, as versions without a key always are, and
-- packages stored from now on get the corrected key.
UPDATE packages SET version_key = NULL WHERE scheme = 'dpkg';
