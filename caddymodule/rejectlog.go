package caddymodule

import (
	"cmp"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Messages of the lines the rejection log writes besides the callers' own.
const (
	rejectionSummaryMsg = "rejections suppressed"
	rejectionTotalsMsg  = "rejections not itemized"
)

// defaultRejectionLogInterval is used when newRejectionLog is given no interval.
const defaultRejectionLogInterval = 10 * time.Second

// maxRawClientLen bounds the client key of a client IP that does not parse.
const maxRawClientLen = 64

// rejectionLog logs rejected requests in aggregate, so a flood of rejections
// cannot flood the logs. Within one interval the first rejection per
// (outcome, client) is logged at once, as long as fewer than maxLines such
// lines were written in the interval; every other one is only counted. When
// the interval ends (flush), each (outcome, client) with counted rejections
// gets one summary line (at most maxLines of them, largest counts first),
// and one totals line accounts for everything that was not itemized: the
// number of rejections exactly, the number of distinct clients exactly or,
// when keys beyond maxKeys were seen, estimated (HyperLogLog, ~2 %). So an
// interval writes at most 2*maxLines+1 lines, and the immediate lines, the
// summaries' counts and the totals' rejections add up to every rejection
// recorded.
//
// Memory is bounded: at most maxKeys (outcome, client) keys are tracked per
// interval; beyond them only global counters (and a fixed-size cardinality
// sketch) are kept. record is O(1) and does not allocate for a key that is
// already tracked, nor for one that cannot be tracked any more. flush swaps
// in a fresh window under the lock and walks the old one outside it.
//
// It logs exactly the strings it is given: callers redact.
type rejectionLog struct {
	logger   *zap.Logger
	interval time.Duration
	maxLines int
	maxKeys  int
	now      func() time.Time
	seed     maphash.Seed // hashes unparseable clients for the sketch

	// flushMu serializes flushes; it guards spare and order.
	flushMu sync.Mutex
	spare   *rejectWindow   // the previous window, cleared, reused next
	order   []rejectSummary // reused buffer for sorting summaries

	mu  sync.Mutex    // guards cur and everything in it
	cur *rejectWindow // the current interval
}

// rejectKey identifies a client per outcome. It is built without
// allocating: addr is the IPv4 address or the IPv6 /64 prefix address, raw
// the (truncated) string when the client IP does not parse.
type rejectKey struct {
	outcome string
	addr    netip.Addr
	raw     string
}

// rejectCount is the state of one tracked key in one interval.
type rejectCount struct {
	suppressed uint64        // rejections counted but not logged individually
	level      zapcore.Level // highest level recorded for the key
}

// rejectSummary is one tracked key with suppressed rejections, as sorted by flush.
type rejectSummary struct {
	key   rejectKey
	count rejectCount
}

// rejectWindow is the state of one interval.
type rejectWindow struct {
	start time.Time
	keys  map[rejectKey]rejectCount
	lines int // individual lines written in this interval

	untracked      uint64        // rejections of keys beyond maxKeys
	untrackedLevel zapcore.Level // highest level among them
	clients        hyperLogLog   // distinct clients among untracked rejections
}

// newRejectionLog returns a rejection log writing to logger (nil: nowhere).
// interval <= 0 means 10 s; negative maxLines and maxKeys mean 0 (nothing
// logged individually, respectively nothing tracked per key); now nil means
// time.Now. Call run to flush it every interval.
func newRejectionLog(logger *zap.Logger, interval time.Duration, maxLines int, maxKeys int, now func() time.Time) *rejectionLog {
	if logger == nil {
		logger = zap.NewNop()
	}
	if interval <= 0 {
		interval = defaultRejectionLogInterval
	}
	if now == nil {
		now = time.Now
	}
	l := &rejectionLog{
		logger:   logger,
		interval: interval,
		maxLines: max(maxLines, 0),
		maxKeys:  max(maxKeys, 0),
		now:      now,
		seed:     maphash.MakeSeed(),
	}
	l.cur = l.newWindow()
	l.spare = l.newWindow()
	l.cur.start = now()
	return l
}

// newWindow returns an empty window with a map sized for a modest number of keys.
func (l *rejectionLog) newWindow() *rejectWindow {
	return &rejectWindow{keys: make(map[rejectKey]rejectCount, min(l.maxKeys, 64))}
}

// record accounts for one rejection. The first one per (outcome, client key)
// in the interval is logged at once at level with message msg and the fields
// outcome, token_id, user, client_ip and uri, unless maxLines lines were
// already written in the interval; all others are counted for flush. Levels
// the logger does not enable cost nothing and are not counted.
func (l *rejectionLog) record(level zapcore.Level, msg, outcome, clientIP, tokenID, user, uri string) {
	if !l.logger.Core().Enabled(level) {
		return
	}
	addr, raw := parseClient(clientIP)
	k := rejectKey{outcome: outcome, addr: addr, raw: raw}

	l.mu.Lock()
	w := l.cur
	logNow := false
	if c, ok := w.keys[k]; ok {
		c.suppressed++
		c.level = max(c.level, level)
		w.keys[k] = c
	} else if len(w.keys) < l.maxKeys {
		c := rejectCount{level: level}
		if w.lines < l.maxLines {
			w.lines++
			logNow = true
		} else {
			c.suppressed = 1
		}
		k.raw = strings.Clone(k.raw) // do not pin the caller's string
		w.keys[k] = c
	} else {
		w.untracked++
		w.untrackedLevel = max(w.untrackedLevel, level)
		w.clients.add(l.clientHash(k))
	}
	l.mu.Unlock()

	if !logNow {
		return
	}
	logRequest(l.logger, level, msg, outcome, tokenID, user, clientIP, uri)
}

// run flushes the log every interval until done is closed, then flushes
// once more and returns.
func (l *rejectionLog) run(done <-chan struct{}) {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			l.flush()
			return
		case <-t.C:
			l.flush()
		}
	}
}

// flush ends the current interval: it swaps in a fresh window under the
// lock, then, outside it, writes one summary line per tracked key with
// suppressed rejections (at most maxLines, largest counts first; fields
// outcome, client, count, interval) and, if anything was left out, one line
// with the totals not itemized (fields rejections, clients,
// clients_approximate, interval). Each line has the highest level recorded
// for what it covers. The old window is then cleared and kept for reuse, so
// a steady flood does not reallocate its map.
func (l *rejectionLog) flush() {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()

	now := l.now()
	next := l.spare
	next.start = now
	l.mu.Lock()
	w := l.cur
	l.cur = next
	l.mu.Unlock()
	interval := now.Sub(w.start)

	order := l.order[:0]
	for k, c := range w.keys {
		if c.suppressed > 0 {
			order = append(order, rejectSummary{key: k, count: c})
		}
	}
	slices.SortFunc(order, func(a, b rejectSummary) int {
		if c := cmp.Compare(b.count.suppressed, a.count.suppressed); c != 0 {
			return c
		}
		return a.key.compare(b.key)
	})

	itemized := min(len(order), l.maxLines)
	for _, s := range order[:itemized] {
		if ce := l.logger.Check(s.count.level, rejectionSummaryMsg); ce != nil {
			ce.Write(
				zap.String("outcome", s.key.outcome),
				zap.String("client", s.key.client()),
				zap.Uint64("count", s.count.suppressed),
				zap.Duration("interval", interval),
			)
		}
	}

	// Totals of what was not itemized: rejections exactly; distinct clients
	// exactly unless keys beyond maxKeys were seen (then estimated).
	rest := order[itemized:]
	slices.SortFunc(rest, func(a, b rejectSummary) int { return a.key.compare(b.key) })
	rejections := w.untracked
	level := w.untrackedLevel
	var clients uint64
	for i, s := range rest {
		rejections += s.count.suppressed
		level = max(level, s.count.level)
		if i == 0 || !s.key.sameClient(rest[i-1].key) {
			clients++
		}
		if w.untracked > 0 {
			w.clients.add(l.clientHash(s.key))
		}
	}
	if w.untracked > 0 {
		clients = max(w.clients.estimate(), 1)
	}
	if rejections > 0 {
		if ce := l.logger.Check(level, rejectionTotalsMsg); ce != nil {
			ce.Write(
				zap.Uint64("rejections", rejections),
				zap.Uint64("clients", clients),
				zap.Bool("clients_approximate", w.untracked > 0),
				zap.Duration("interval", interval),
			)
		}
	}

	clear(order)
	l.order = order[:0]
	clear(w.keys)
	w.lines, w.untracked, w.untrackedLevel = 0, 0, 0
	w.clients.reset()
	l.spare = w
}

// clientKey returns the key a client IP is aggregated under: an IPv4
// address as is (an IPv4-mapped IPv6 address as its IPv4 address), an IPv6
// address by its /64 prefix (e.g. "2001:db8:1:2::/64"), and a string that
// does not parse as is, but truncated to 64 bytes.
func clientKey(ip string) string {
	addr, raw := parseClient(ip)
	return rejectKey{addr: addr, raw: raw}.client()
}

// parseClient parses a client IP into the parts of a rejectKey without
// allocating: the IPv4 address or IPv6 /64 prefix address, or, when ip does
// not parse, the zero Addr and ip truncated to at most 64 bytes (on a UTF-8
// boundary).
func parseClient(ip string) (netip.Addr, string) {
	if !ipChars(ip) {
		return netip.Addr{}, truncateUTF8(ip, maxRawClientLen)
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}, truncateUTF8(ip, maxRawClientLen)
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr, ""
	}
	p, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return netip.Addr{}, truncateUTF8(ip, maxRawClientLen)
	}
	return p.Addr(), ""
}

// ipChars reports whether s is non-empty and made of the characters an IP
// address can have (hex digits, '.', ':', then anything after a zone's '%').
// It spares most garbage the allocation of netip's parse error.
func ipChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			return i > 0
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// truncateUTF8 returns s cut to at most n bytes, not splitting a UTF-8
// sequence (invalid bytes are cut like single characters).
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && cut > n-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if cut > 0 && !utf8.RuneStart(s[cut]) {
		cut = n // not UTF-8 here: cut at the byte limit
	}
	return s[:cut]
}

// client formats the key's client as clientKey does.
func (k rejectKey) client() string {
	switch {
	case !k.addr.IsValid():
		return k.raw
	case k.addr.Is4():
		return k.addr.String()
	default:
		return netip.PrefixFrom(k.addr, 64).String()
	}
}

// sameClient reports whether two keys are of the same client.
func (k rejectKey) sameClient(o rejectKey) bool {
	return k.addr == o.addr && k.raw == o.raw
}

// compare orders keys by client, then outcome (for deterministic summaries).
func (k rejectKey) compare(o rejectKey) int {
	if c := k.addr.Compare(o.addr); c != 0 {
		return c
	}
	if c := strings.Compare(k.raw, o.raw); c != 0 {
		return c
	}
	return strings.Compare(k.outcome, o.outcome)
}

// clientHash returns a 64-bit hash of the key's client (not its outcome)
// for the cardinality sketch, without allocating.
func (l *rejectionLog) clientHash(k rejectKey) uint64 {
	if !k.addr.IsValid() {
		return maphash.String(l.seed, k.raw)
	}
	return maphash.Comparable(l.seed, k.addr)
}
