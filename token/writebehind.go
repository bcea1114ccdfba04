package token

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Bounds of what the write-behind buffers keep in memory between flushes.
// A buffer half full wakes the background loop to flush at once, so records
// are dropped only when the store cannot keep up (slow or down); drops are
// counted (DropObserver) and reported once per flush interval (OnError).
const (
	// MaxPendingUses bounds the distinct token ids with an unflushed use.
	MaxPendingUses = 100_000
	// MaxPendingRejections bounds the distinct unflushed rejections.
	MaxPendingRejections = 1024
	// maxAgentLen and maxIPLen bound the recorded user agent and client IP.
	maxAgentLen = 512
	maxIPLen    = 64
)

// pendingUse is the latest use of one token id. Slots survive a flush so that
// a token in steady use records without allocating; a slot not used during a
// whole flush interval is dropped.
type pendingUse struct {
	use   LastUse
	dirty bool
}

// rejectionKey coalesces repeated rejections (a Power BI schedule retrying).
type rejectionKey struct {
	tokenID, ip, agent string
	reason             RejectReason
}

// writeBehind buffers last-used records and rejections until Flush.
type writeBehind struct {
	mu      sync.Mutex
	uses    map[string]*pendingUse
	rejs    []Rejection
	rejIdx  map[rejectionKey]int
	closing bool // set by Validator.Close: record calls write through
	// usesDropped and rejsDropped count the records dropped (buffer full)
	// since the last reportDrops.
	usesDropped, rejsDropped int
	flushMu                  sync.Mutex    // one flush at a time
	kick                     chan struct{} // capacity 1: a buffer is half full, flush now
}

func (w *writeBehind) init() {
	w.uses = make(map[string]*pendingUse)
	w.rejIdx = make(map[rejectionKey]int)
	w.kick = make(chan struct{}, 1)
}

// wake asks the background loop for an early flush without blocking; at
// most one request waits, so at most one early flush follows.
func (w *writeBehind) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// cleanText makes client-supplied text (IP, user agent) safe for every
// store — valid UTF-8 without NUL bytes (Postgres refuses both, and one bad
// record would fail a whole batch) — and cuts it to n bytes. It allocates
// only when it has to change something.
func cleanText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return Clip(s, n)
}

// RecordUse notes that r's token was just used from ip with agent. Only valid
// results are recorded; uses are coalesced per token id (the newest wins) and
// written by the next flush, one store write per token. It does not allocate
// once the token id has a slot (after its first use in a flush interval).
func (v *Validator) RecordUse(r Result, ip, agent string) {
	if r.Outcome != OutcomeValid || r.TokenID == "" {
		return
	}
	now := v.cfg.Clock()
	ip, agent = cleanText(ip, maxIPLen), cleanText(agent, maxAgentLen)
	w := &v.wb
	w.mu.Lock()
	if w.closing {
		// Close has taken (or is taking) the last batch: write this one now
		// rather than leave it in a buffer nobody flushes.
		w.mu.Unlock()
		v.writeThrough([]LastUse{{TokenID: r.TokenID, At: now, IP: ip, Agent: agent}}, nil)
		return
	}
	p := w.uses[r.TokenID]
	wake := false
	if p == nil {
		n, bound := len(w.uses), v.cfg.maxPendingUses
		if n >= bound {
			w.usesDropped++
			w.mu.Unlock()
			w.wake()
			return
		}
		wake = 2*(n+1) >= bound
		p = &pendingUse{}
		w.uses[r.TokenID] = p
	}
	if !p.dirty || !now.Before(p.use.At) {
		p.use = LastUse{TokenID: r.TokenID, At: now, IP: ip, Agent: agent}
	}
	p.dirty = true
	w.mu.Unlock()
	if wake {
		w.wake()
	}
}

// RecordRejection notes that r's known token (r.TokenID != "") was refused
// for reason. Identical rejections (token, reason, ip, agent) are coalesced
// into one record: the newest, its Count the number of attempts (kept
// growing while a failed flush holds it back); at most MaxPendingRejections distinct ones wait for the next
// flush (half of them wake the loop for an early one), further ones are
// dropped and counted.
func (v *Validator) RecordRejection(r Result, reason RejectReason, ip, agent string) {
	if r.TokenID == "" || reason == "" {
		return
	}
	rej := Rejection{
		TokenID: r.TokenID, Owner: r.Owner, Label: r.Label, At: v.cfg.Clock(),
		IP: cleanText(ip, maxIPLen), Agent: cleanText(agent, maxAgentLen), Reason: reason, Count: 1,
	}
	if !v.wb.addRejection(rej, v.cfg.maxPendingRejections) {
		v.writeThrough(nil, []Rejection{rej})
	}
}

// writeThrough writes uses and rejections to the store at once (within
// LookupTimeout), reporting a failure to OnError; for records that arrive
// while the Validator is closing.
func (v *Validator) writeThrough(uses []LastUse, rejs []Rejection) {
	ctx, cancel := context.WithTimeout(context.Background(), v.cfg.LookupTimeout)
	defer cancel()
	if len(uses) > 0 {
		if err := v.store.TouchLastUsed(ctx, uses); err != nil {
			v.report(fmt.Errorf("validator: writing a last-used record while closing: %w", err))
		}
	}
	if len(rejs) > 0 {
		if err := v.store.AddRejections(ctx, rejs); err != nil {
			v.report(fmt.Errorf("validator: writing a rejection while closing: %w", err))
		} else {
			v.rejectionsStored(rejs)
		}
	}
}

// rejectionsStored hands a batch the store accepted to OnRejectionsStored.
func (v *Validator) rejectionsStored(rs []Rejection) {
	if v.cfg.OnRejectionsStored != nil && len(rs) > 0 {
		v.cfg.OnRejectionsStored(rs)
	}
}

// addRejection queues rej, keeping at most bound distinct rejections (a
// further one is dropped and counted); it returns false when the buffer is
// closing and the caller must write rej itself.
func (w *writeBehind) addRejection(rej Rejection, bound int) bool {
	k := rejectionKey{tokenID: rej.TokenID, ip: rej.IP, agent: rej.Agent, reason: rej.Reason}
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return false
	}
	if i, ok := w.rejIdx[k]; ok {
		w.rejs[i] = coalesce(w.rejs[i], rej)
		w.mu.Unlock()
		return true
	}
	n := len(w.rejs)
	if n >= bound {
		w.rejsDropped++ // the bound is the contract
		w.mu.Unlock()
		w.wake()
		return true
	}
	w.rejIdx[k] = n
	w.rejs = append(w.rejs, rej)
	w.mu.Unlock()
	if 2*(n+1) >= bound {
		w.wake()
	}
	return true
}

// coalesce returns the one record for two identical rejections a and b:
// the newer's fields, counting the attempts of both (saturating at
// MaxRejectionCount).
func coalesce(a, b Rejection) Rejection {
	n := int(min(int64(a.Times())+int64(b.Times()), MaxRejectionCount)) // no overflow where int is 32 bits
	if a.At.Before(b.At) {
		a = b
	}
	a.Count = n
	return a
}

// take removes and returns what is due for the store. Slots of tokens used
// since the last flush survive it (a token in steady use then records
// without allocating), unless the buffer is half full (bound is
// MaxPendingUses): then every slot goes, so that the room is there for the
// tokens used next.
func (w *writeBehind) take(bound int) ([]LastUse, []Rejection) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var uses []LastUse
	all := 2*len(w.uses) >= bound
	for id, p := range w.uses {
		if p.dirty {
			uses = append(uses, p.use)
			p.dirty = false
			if !all {
				continue
			}
		}
		delete(w.uses, id)
	}
	rejs := w.rejs
	w.rejs = nil
	clear(w.rejIdx)
	return uses, rejs
}

// requeueUses puts back uses a failed flush could not write, unless newer
// ones arrived meanwhile; what does not fit in bound is dropped and counted.
func (w *writeBehind) requeueUses(uses []LastUse, bound int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, u := range uses {
		p := w.uses[u.TokenID]
		if p == nil {
			if len(w.uses) >= bound {
				w.usesDropped++
				continue
			}
			p = &pendingUse{}
			w.uses[u.TokenID] = p
		}
		if !p.dirty || p.use.At.Before(u.At) {
			p.use = u
		}
		p.dirty = true
	}
}

// Flush writes the pending last-used records (TouchLastUsed) and rejections
// (AddRejections) now. What a failing store call could not write is kept for
// the next flush (within the memory bounds; the rest is dropped and counted).
// Rejections it stored go to OnRejectionsStored after the flush lock is
// released.
func (v *Validator) Flush(ctx context.Context) error {
	stored, err := v.flush(ctx)
	v.rejectionsStored(stored)
	return err
}

// flush is Flush under the flush lock; it returns the rejections stored.
func (v *Validator) flush(ctx context.Context) ([]Rejection, error) {
	w := &v.wb
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	var stored []Rejection
	uses, rejs := w.take(v.cfg.maxPendingUses)
	var errs []error
	if len(uses) > 0 {
		if err := v.store.TouchLastUsed(ctx, uses); err != nil {
			w.requeueUses(uses, v.cfg.maxPendingUses)
			errs = append(errs, fmt.Errorf("validator: writing %d last-used records: %w", len(uses), err))
		}
	}
	if len(rejs) > 0 {
		if err := v.store.AddRejections(ctx, rejs); err != nil {
			for _, r := range rejs {
				_ = w.addRejection(r, v.cfg.maxPendingRejections) // closing: Close reports the error
			}
			errs = append(errs, fmt.Errorf("validator: writing %d rejections: %w", len(rejs), err))
		} else {
			stored = rejs
		}
	}
	return stored, errors.Join(errs...)
}

// reportDrops hands the records dropped since the last call to the
// Observer (if it is a DropObserver) and reports them to OnError, once.
func (v *Validator) reportDrops() {
	w := &v.wb
	w.mu.Lock()
	uses, rejs := w.usesDropped, w.rejsDropped
	w.usesDropped, w.rejsDropped = 0, 0
	w.mu.Unlock()
	if uses == 0 && rejs == 0 {
		return
	}
	if o, ok := v.cfg.Observer.(DropObserver); ok {
		if uses > 0 {
			o.UsesDropped(uses)
		}
		if rejs > 0 {
			o.RejectionsDropped(rejs)
		}
	}
	v.report(fmt.Errorf("validator: dropped %d last-used records and %d rejections (write-behind buffers full: the store is slow or down)", uses, rejs))
}
