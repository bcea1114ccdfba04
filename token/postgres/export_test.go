package postgres

// Internals for the external tests.
var (
	ListPageQuery    = listPageQuery
	HistoryPageQuery = historyPageQuery
)
