package token

// SetImportLookups sets how many digests the import check looks up one by
// one before it scans the store's tokens instead, until restore is called.
func SetImportLookups(n int) (restore func()) {
	old := importLookups
	importLookups = n
	return func() { importLookups = old }
}
