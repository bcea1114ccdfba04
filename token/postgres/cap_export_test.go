package postgres

// CapSQL is the statement of one CapExpiry batch, for the EXPLAIN test.
const CapSQL = capSQL
