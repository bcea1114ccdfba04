package token

// WaitCache blocks until every cache write queued so far is applied, so a
// test can tell "not cached" apart from "ristretto has not applied it yet".
func (v *Validator) WaitCache() { v.cache.Wait() }

// BypassPrefilter makes v look every cache miss up in the store, as if the
// prefilter had not been loaded: tests of the lookup path (negative caching,
// outages) use it to reach the store with a made-up token.
func (v *Validator) BypassPrefilter() {
	v.filter.mu.Lock()
	v.filter.bypass = true
	v.filter.mu.Unlock()
}

// PrefilterSyncs reports how many syncs the prefilter has run.
func (v *Validator) PrefilterSyncs() int64 { return v.filter.syncCount.Load() }
