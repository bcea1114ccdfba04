package postgres

// Internals of TouchLastUsed for the external tests.
const (
	TouchSQL   = touchSQL
	TouchChunk = touchChunk
)
