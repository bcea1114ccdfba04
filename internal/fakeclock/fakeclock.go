// Package fakeclock is the settable clock that tests inject wherever the
// code takes a token.Clock (the Validator, the Service, the portal): one
// type for every test package instead of a copy in each.
package fakeclock

import (
	"sync/atomic"
	"time"
)

// Clock is a settable clock, safe for concurrent use. Its methods have the
// shape of token.Clock, so c.Now can be passed where one is wanted.
type Clock struct{ ns atomic.Int64 }

// New returns a Clock that reads start until it is set or advanced.
func New(start time.Time) *Clock {
	c := &Clock{}
	c.Set(start)
	return c
}

// Now returns the clock's time, in UTC.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Advance moves the clock by d (backwards when d is negative).
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
