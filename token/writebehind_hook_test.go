package token_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// hookCalls records the batches OnRejectionsStored gets.
type hookCalls struct {
	mu      sync.Mutex
	batches [][]token.Rejection
}

func (h *hookCalls) record(rs []token.Rejection) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.batches = append(h.batches, rs)
}

func (h *hookCalls) got() [][]token.Rejection {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]token.Rejection(nil), h.batches...)
}

// TestOnRejectionsStored: the hook gets exactly the batch the store
// accepted, never one it refused (that one waits for the next flush), and
// the rejections written through while closing.
func TestOnRejectionsStored(t *testing.T) {
	h := &hookCalls{}
	e := newEnv(t, token.ValidatorConfig{LastUsedFlush: time.Hour, OnRejectionsStored: h.record})
	_, tk := e.create("alice", time.Time{})
	r := token.Result{Outcome: token.OutcomeRevoked, TokenID: tk.ID, Owner: "alice", Label: tk.Label}

	e.v.RecordRejection(r, token.RejectRevoked, "203.0.113.7", "Microsoft.Data.Mashup")
	if len(h.got()) != 0 {
		t.Fatal("hook called before the rejection was stored")
	}
	e.store.down.Store(true)
	if err := e.v.Flush(e.ctx); err == nil {
		t.Fatal("Flush with the store down succeeded")
	}
	if n := len(h.got()); n != 0 {
		t.Fatalf("hook called %d times for a batch the store refused", n)
	}
	e.store.down.Store(false)
	if err := e.v.Flush(e.ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	got := h.got()
	if len(got) != 1 || len(got[0]) != 1 {
		t.Fatalf("hook batches = %v, want one batch of the one rejection", got)
	}
	g := got[0][0]
	if g.TokenID != tk.ID || g.Owner != "alice" || g.Reason != token.RejectRevoked || g.IP != "203.0.113.7" || g.Agent != "Microsoft.Data.Mashup" {
		t.Errorf("hook got %+v, want the recorded rejection", g)
	}
	stored, err := e.store.Rejections(e.ctx, "alice", 10)
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored rejections = %v, %v; want the one the hook saw", stored, err)
	}
	if err := e.v.Flush(e.ctx); err != nil || len(h.got()) != 1 {
		t.Fatalf("an empty flush called the hook (%d batches, %v)", len(h.got()), err)
	}

	// After Close, a rejection is written through and handed over too.
	if err := e.v.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	e.v.RecordRejection(r, token.RejectRevoked, "203.0.113.8", "Microsoft.Data.Mashup")
	if got := h.got(); len(got) != 2 || got[1][0].IP != "203.0.113.8" {
		t.Fatalf("after Close: hook batches %v, want the written-through rejection", got)
	}
}
