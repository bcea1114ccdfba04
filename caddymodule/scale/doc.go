// Package scale holds tokengate's scale test (issue 14): about a million
// tokens over 50,000 owners, generated straight into Postgres (SQL) and into
// the embedded bolt store (its own Import), against the real binary, with a
// 1k-token twin of each for comparison. It proves that every admin list is a
// bounded page, that `tokens list` and `tokens cap-lifetime` run in flat
// memory, that concurrent admin lists keep the server's memory flat, and that
// bolt's History(owner) and import scale linearly; it prints the 1k vs 1M
// table.
//
// The tests carry the build tag "scale", so `go test ./...` skips them; run
// them with .ci/scale.sh (without the race detector):
//
//	go test -tags scale -count=1 -timeout 45m -v ./caddymodule/scale/
//
// TOKENGATE_SCALE_TOKENS (default 1000000) and TOKENGATE_SCALE_OWNERS
// (default 50000) set the size; TOKENGATE_SCALE_REPORT names a file for the
// markdown table.
package scale
