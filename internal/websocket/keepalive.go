package websocket

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrPingTimeout is the read error of a connection the keepalive closed
// because its peer left a ping unanswered.
var ErrPingTimeout = errors.New("websocket: ping not answered in time")

// Keepalive pings idle connections and closes those whose peer does not
// answer, for any number of connections from one goroutine ([Keepalive.Run]
// or the caller's timer calling [Keepalive.Tick]). A connection costs it
// one map entry.
type Keepalive struct {
	// Interval is how long a connection may stay without receiving a
	// frame before it is pinged.
	Interval time.Duration
	// Timeout is how long a ping may wait for its pong before the
	// connection is closed.
	Timeout time.Duration
	// WriteTimeout bounds the write of one ping, so a peer that reads
	// nothing cannot hold the ticking goroutine; 1 s when zero.
	WriteTimeout time.Duration
	// OnTimeout, when set, is called (from Tick, without locks held)
	// for each connection closed because of a timeout, after the close.
	OnTimeout func(*Conn)

	mu    sync.Mutex
	conns map[*Conn]struct{}
	batch []*Conn // Tick's copy of conns, kept between ticks to avoid reallocating
}

// Add watches c until [Keepalive.Remove] or its timeout.
func (k *Keepalive) Add(c *Conn) {
	k.mu.Lock()
	if k.conns == nil {
		k.conns = make(map[*Conn]struct{})
	}
	k.conns[c] = struct{}{}
	k.mu.Unlock()
}

// Remove stops watching c (its reader ended).
func (k *Keepalive) Remove(c *Conn) {
	k.mu.Lock()
	delete(k.conns, c)
	k.mu.Unlock()
}

// Len returns the number of connections watched.
func (k *Keepalive) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.conns)
}

// Tick pings the connections idle for Interval and closes those whose
// ping waited Timeout, as of now. It returns how many of each.
func (k *Keepalive) Tick(now time.Time) (pinged, closed int) {
	// The batch is taken out while in use, so two Ticks at once each
	// have their own.
	k.mu.Lock()
	batch := k.batch[:0]
	k.batch = nil
	for c := range k.conns {
		batch = append(batch, c)
	}
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		if k.batch == nil {
			k.batch = batch[:0]
		}
		k.mu.Unlock()
	}()
	wt := k.WriteTimeout
	if wt <= 0 {
		wt = time.Second
	}
	t := now.UnixNano()
	for i, c := range batch {
		batch[i] = nil
		switch c.keepalive(t, k.Interval, k.Timeout, wt) {
		case kaPinged:
			pinged++
		case kaDead:
			closed++
			k.Remove(c)
			if k.OnTimeout != nil {
				k.OnTimeout(c)
			}
		}
	}
	return pinged, closed
}

// Run calls Tick until ctx ends, every quarter of the shorter of
// Interval and Timeout (at least every 10 ms).
func (k *Keepalive) Run(ctx context.Context) {
	period := max(min(k.Interval, k.Timeout)/4, 10*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			k.Tick(now)
		}
	}
}

type kaResult int

const (
	kaNothing kaResult = iota
	kaPinged
	kaDead
)

// keepalive pings c when it has been idle for interval, or closes it when
// its ping has waited timeout, as of now (Unix nanoseconds).
func (c *Conn) keepalive(now int64, interval, timeout, writeTimeout time.Duration) kaResult {
	if at := c.pingAt.Load(); at != 0 {
		if now-at < int64(timeout) {
			return kaNothing
		}
		c.abort()
		return kaDead
	}
	if now-c.lastRead.Load() < int64(interval) {
		return kaNothing
	}
	// A writer busy on c shows the socket is in use: ping on a later tick
	// rather than wait behind it.
	if !c.wmu.TryLock() {
		return kaNothing
	}
	defer c.wmu.Unlock()
	if c.closeSent {
		return kaNothing
	}
	c.pingAt.Store(now)
	err := c.writeLocked(OpPing, nil, writeTimeout)
	if d, ok := c.rw.(interface{ SetWriteDeadline(time.Time) error }); ok && c.writeTimeout == 0 {
		_ = d.SetWriteDeadline(time.Time{}) // the connection's writes have no deadline
	}
	if err != nil {
		c.timedOut.Store(true)
		c.closeSocket()
		return kaDead
	}
	return kaPinged
}

// abort ends a connection whose peer left a ping unanswered: a close frame
// if the socket takes it now, then the socket closed, so the reader
// returns ErrPingTimeout.
func (c *Conn) abort() {
	c.timedOut.Store(true)
	c.closeFrameNow(CloseGoingAway, 10*time.Millisecond)
	c.closeSocket()
}

func (c *Conn) closeSocket() {
	if cl, ok := c.rw.(interface{ Close() error }); ok {
		_ = cl.Close()
	}
}
