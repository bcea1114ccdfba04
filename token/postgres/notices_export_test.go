package postgres

// ExpiringPageSQL is ExpiringPage's query, for the EXPLAIN test.
const ExpiringPageSQL = expiringPageSQL
