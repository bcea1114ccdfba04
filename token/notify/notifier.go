package notify

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tokengate/tokengate/token"
)

// Observer counts deliveries; the Caddy module backs it with Prometheus. Its
// methods must be cheap and safe for concurrent use.
type Observer interface {
	// Delivered / Failed / Retried count deliveries by channel ("email",
	// "webhook") and event ("token.expiring", "token.expired",
	// "token.rejected").
	Delivered(channel, event string)
	Retried(channel, event string)
	Failed(channel, event string)
	// Dropped counts messages not queued because the queue was full.
	Dropped(channel, event string)
}

type nopObserver struct{}

func (nopObserver) Delivered(string, string) {}
func (nopObserver) Retried(string, string)   {}
func (nopObserver) Failed(string, string)    {}
func (nopObserver) Dropped(string, string)   {}

// RejectionSource is what rejection alerts count from; token.Store
// satisfies it.
type RejectionSource interface {
	Rejections(ctx context.Context, owner string, limit int) ([]token.Rejection, error)
}

// Channel names, as passed to Observer.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// Event names, as passed to Observer and sent in webhooks.
const (
	EventExpiring = "token.expiring"
	EventExpired  = "token.expired"
	EventRejected = "token.rejected"
)

// tuning holds what tests shorten; production uses defaultTuning.
type tuning struct {
	backoff    []time.Duration // waits between attempts; len+1 attempts in all
	lease      time.Duration   // an unsent claim older than this is taken over
	sendTO     time.Duration   // one SMTP or webhook attempt
	storeTO    time.Duration   // one store call
	stopWait   time.Duration   // how long Stop waits for the workers
	queueLen   int             // per channel
	alertQueue int             // batches of rejections
	pageSize   int             // tokens per ExpiringPage
	tlsConfig  tlsConfigFunc   // nil: system roots (tests trust their own CA)
}

func defaultTuning() *tuning {
	return &tuning{
		backoff:    []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second},
		lease:      5 * time.Minute,
		sendTO:     20 * time.Second,
		storeTO:    10 * time.Second,
		stopWait:   10 * time.Second,
		queueLen:   256,
		alertQueue: 64,
		pageSize:   500,
	}
}

// Notifier sends expiry warnings and rejection alerts. Create it with New,
// run it with Start, end it with Stop. Safe for concurrent use.
type Notifier struct {
	store   token.NoticeStore
	rejs    RejectionSource
	cfg     Config
	t       *tuning
	chans   []channel
	queues  map[string]chan *delivery
	alerts  chan []token.Rejection
	scanMu  sync.Mutex // one Scan at a time per Notifier
	lifeMu  sync.Mutex
	started bool
	stopped bool
	ctx     context.Context // done at Stop
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New checks cfg and returns a Notifier over store (the claims) and tokens
// (what rejection alerts count from). Nothing runs until Start.
func New(store token.NoticeStore, tokens RejectionSource, cfg Config) (*Notifier, error) {
	if store == nil {
		return nil, fmt.Errorf("notify: a notice store is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RejectionCount > 0 && tokens == nil {
		return nil, fmt.Errorf("notify: rejection alerts need a rejection source")
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{store: store, rejs: tokens, cfg: cfg, t: cfg.tuning, ctx: ctx, cancel: cancel,
		queues: map[string]chan *delivery{}, alerts: make(chan []token.Rejection, cfg.tuning.alertQueue)}
	if cfg.SMTP != nil {
		n.chans = append(n.chans, newEmail(cfg))
	}
	if cfg.Webhook != nil {
		n.chans = append(n.chans, newWebhook(cfg))
	}
	for _, c := range n.chans {
		n.queues[c.name()] = make(chan *delivery, n.t.queueLen)
	}
	return n, nil
}

// Channels returns the configured channels, e.g. ["email", "webhook"].
func (n *Notifier) Channels() []string {
	out := make([]string, len(n.chans))
	for i, c := range n.chans {
		out[i] = c.name()
	}
	return out
}

// AddressFor returns the mail address owner's warnings go to: "" without
// SMTP or when owner does not make a valid address.
func (n *Notifier) AddressFor(owner string) string {
	if n.cfg.SMTP == nil {
		return ""
	}
	a, err := addressFor(n.cfg.EmailFor, owner)
	if err != nil {
		return ""
	}
	return a
}

// Start runs an expiry scan at once and then every ScanInterval, the
// delivery workers and the rejection-alert worker. Calling it again, or
// after Stop, does nothing.
func (n *Notifier) Start() {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if n.started || n.stopped {
		return
	}
	n.started = true
	for _, c := range n.chans {
		n.wg.Add(1)
		go n.deliverLoop(c, n.queues[c.name()])
	}
	n.wg.Add(2)
	go n.alertLoop()
	go n.scanLoop()
}

// Stop stops scanning and sending and waits (at most about ten seconds) for
// the attempts in progress; claims of messages not yet sent are released,
// so that another instance or the next start sends them. Calling it again
// does nothing.
func (n *Notifier) Stop() {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if n.stopped {
		return
	}
	n.stopped = true
	n.cancel()
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		// A Scan that was running queues nothing after it returns: wait for
		// it, then release whatever the workers left in the queues.
		n.waitScan()
		for _, q := range n.queues {
			n.drain(q)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(n.t.stopWait):
		n.report(fmt.Errorf("notify: stop: workers still busy after %v", n.t.stopWait))
	}
}

// waitScan returns when no Scan is running.
func (n *Notifier) waitScan() {
	n.scanMu.Lock()
	defer n.scanMu.Unlock()
}

// scanLoop scans at once and then every ScanInterval until Stop.
func (n *Notifier) scanLoop() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.ScanInterval)
	defer tick.Stop()
	for {
		if err := n.Scan(n.ctx); err != nil && n.ctx.Err() == nil {
			n.report(err)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// report hands a background error to OnError.
func (n *Notifier) report(err error) { n.cfg.OnError(err) }
