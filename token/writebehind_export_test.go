package token

// SetPendingBounds makes the write-behind buffers of a Validator built from
// cfg hold at most uses last-used records and rejs rejections (instead of
// MaxPendingUses and MaxPendingRejections), so tests can fill them.
func SetPendingBounds(cfg *ValidatorConfig, uses, rejs int) {
	cfg.maxPendingUses, cfg.maxPendingRejections = uses, rejs
}
