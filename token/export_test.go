package token

// WaitCache blocks until every cache write queued so far is applied, so a
// test can tell "not cached" apart from "ristretto has not applied it yet".
func (v *Validator) WaitCache() { v.cache.Wait() }
