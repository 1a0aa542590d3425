package rtpengine

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// node is one rtpengine instance of a set.
type node struct {
	url    string // as configured: "udp:127.0.0.1:2223"
	addr   *net.UDPAddr
	weight int

	// disabledUntil is the unix time in nanoseconds until which the node
	// is left out of selection after it stopped answering; 0 when enabled.
	disabledUntil atomic.Int64

	mu      sync.Mutex
	conn    *net.UDPConn
	closed  bool
	pending map[string]chan []byte // by cookie
}

// set is an rtpengine set: the nodes one call may go to.
type set struct {
	id    int
	nodes []*node
}

// errTimeout is reported when a node did not answer a command in
// rtpengine_retr tries of rtpengine_tout_ms each.
var errTimeout = errors.New("timeout")

// client talks the ng protocol to the nodes of every set: one connected
// UDP socket per node shared by all workers, a reader per socket that
// hands each reply to the request whose cookie it carries.
type client struct {
	log          *slog.Logger
	sets         map[int]*set
	tout         time.Duration
	retr         int
	disableTout  time.Duration
	queriedLimit int
	hashTout     time.Duration

	cookiePrefix string
	seq          atomic.Uint64

	// onTimeout and onDisable count for the metrics; onLate logs a
	// reply whose cookie no request waits for.
	onTimeout func()
	onDisable func()

	callsMu   sync.Mutex
	calls     map[callKey]callEntry // the node each call (and branch) went to
	lastSweep time.Time

	now func() time.Time
}

type callKey struct{ callID, branch string }

type callEntry struct {
	node    *node
	expires time.Time
	// lateOffer is the CSeq number of an INVITE that came without SDP: a
	// reply to it with SDP is the offer (rtpengine_manage).
	lateOffer uint32
}

func newClient(log *slog.Logger) *client {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &client{
		log:          log,
		sets:         map[int]*set{},
		cookiePrefix: hex.EncodeToString(b[:]) + "_",
		calls:        map[callKey]callEntry{},
		now:          time.Now,
		onTimeout:    func() {},
		onDisable:    func() {},
	}
}

// parseSock reads one rtpengine_sock value: "udp:h1:p1=2 udp:h2:p2=1",
// optionally preceded by "SETID ==" (without it the set is def).
func parseSock(v string, def int) (int, []*node, error) {
	id := def
	if left, right, ok := strings.Cut(v, "=="); ok {
		n, err := strconv.Atoi(strings.TrimSpace(left))
		if err != nil || n < 0 {
			return 0, nil, fmt.Errorf("set id %q: want a number", strings.TrimSpace(left))
		}
		id, v = n, right
	}
	var nodes []*node
	for _, word := range strings.Fields(v) {
		url, weight := word, 1
		if i := strings.LastIndexByte(word, '='); i >= 0 {
			w, err := strconv.Atoi(word[i+1:])
			if err != nil || w < 0 {
				return 0, nil, fmt.Errorf("%q: bad weight", word)
			}
			url, weight = word[:i], w
		}
		network, hostport := "udp", url
		for _, p := range []string{"udp:", "udp6:", "udp4:"} {
			if rest, ok := strings.CutPrefix(url, p); ok {
				network, hostport = strings.TrimSuffix(p, ":"), rest
				break
			}
		}
		if strings.Contains(hostport, "://") || strings.HasPrefix(hostport, "unix:") || strings.HasPrefix(hostport, "ws") {
			return 0, nil, fmt.Errorf("%q: only udp nodes are supported", url)
		}
		// Kamailio takes a bare port as localhost:port
		if _, err := strconv.Atoi(hostport); err == nil {
			hostport = "127.0.0.1:" + hostport
		}
		addr, err := net.ResolveUDPAddr(network, hostport)
		if err != nil {
			return 0, nil, fmt.Errorf("%q: %w", url, err)
		}
		nodes = append(nodes, &node{url: url, addr: addr, weight: weight})
	}
	if len(nodes) == 0 {
		return 0, nil, fmt.Errorf("%q: no node", v)
	}
	return id, nodes, nil
}

// addNodes appends nodes to set id.
func (c *client) addNodes(id int, nodes []*node) {
	s := c.sets[id]
	if s == nil {
		s = &set{id: id}
		c.sets[id] = s
	}
	s.nodes = append(s.nodes, nodes...)
}

// close closes every node's socket; waiting requests time out.
func (c *client) close() {
	for _, s := range c.sets {
		for _, n := range s.nodes {
			n.mu.Lock()
			n.closed = true
			if n.conn != nil {
				n.conn.Close()
			}
			n.mu.Unlock()
		}
	}
}

// enabled reports whether n may be selected now.
func (c *client) enabled(n *node) bool {
	until := n.disabledUntil.Load()
	return until == 0 || c.now().UnixNano() >= until
}

// disable leaves n out of selection for rtpengine_disable_tout.
func (c *client) disable(n *node) {
	n.disabledUntil.Store(c.now().Add(c.disableTout).UnixNano())
	c.onDisable()
	c.log.Warn("rtpengine node disabled: it does not answer", "node", n.url, "for", c.disableTout)
}

// pick returns the node for a call in s: the one the call already uses
// when it is enabled and was not tried yet for this command, otherwise
// one chosen by the Call-ID's hash over the weights of the enabled nodes
// not yet tried (so a call sticks to its node, as in Kamailio).
func (c *client) pick(s *set, key callKey, tried []*node) *node {
	isTried := func(n *node) bool {
		for _, t := range tried {
			if t == n {
				return true
			}
		}
		return false
	}
	if n := c.callNode(key); n != nil && !isTried(n) && c.enabled(n) {
		for _, m := range s.nodes {
			if m == n {
				return n
			}
		}
	}
	total := 0
	for _, n := range s.nodes {
		if c.enabled(n) && !isTried(n) {
			total += n.weight
		}
	}
	if total == 0 {
		return nil
	}
	cut := int(crc32.ChecksumIEEE([]byte(key.callID)) % uint32(total))
	for _, n := range s.nodes {
		if !c.enabled(n) || isTried(n) {
			continue
		}
		if cut < n.weight {
			return n
		}
		cut -= n.weight
	}
	return nil
}

// callNode returns the node the call went to, or nil.
func (c *client) callNode(key callKey) *node {
	c.callsMu.Lock()
	defer c.callsMu.Unlock()
	e, ok := c.calls[key]
	if !ok || c.now().After(e.expires) {
		return nil
	}
	return e.node
}

// remember records the node of a call (after a command it answered).
func (c *client) remember(key callKey, n *node) {
	c.callsMu.Lock()
	defer c.callsMu.Unlock()
	now := c.now()
	if now.Sub(c.lastSweep) > time.Minute {
		c.lastSweep = now
		for k, e := range c.calls {
			if now.After(e.expires) {
				delete(c.calls, k)
			}
		}
	}
	e := c.calls[key]
	e.node, e.expires = n, now.Add(c.hashTout)
	c.calls[key] = e
}

// forget drops what is known of a call: all its branches when branch is "".
func (c *client) forget(key callKey) {
	c.callsMu.Lock()
	defer c.callsMu.Unlock()
	for k := range c.calls {
		if k.callID == key.callID && (key.branch == "" || k.branch == key.branch) {
			delete(c.calls, k)
		}
	}
}

// setLateOffer notes (cseq > 0) or clears (0) an INVITE without SDP.
func (c *client) setLateOffer(callID string, cseq uint32) {
	c.callsMu.Lock()
	defer c.callsMu.Unlock()
	key := callKey{callID: callID, branch: "\x00late"}
	if cseq == 0 {
		delete(c.calls, key)
		return
	}
	c.calls[key] = callEntry{lateOffer: cseq, expires: c.now().Add(c.hashTout)}
}

// lateOffer returns the CSeq number of the INVITE without SDP of a call.
func (c *client) lateOffer(callID string) uint32 {
	c.callsMu.Lock()
	defer c.callsMu.Unlock()
	return c.calls[callKey{callID: callID, branch: "\x00late"}].lateOffer
}

// replyError is an rtpengine reply with result "error" (or another
// result than the command expects).
type replyError struct {
	node, reason string
}

func (e *replyError) Error() string { return fmt.Sprintf("rtpengine %s: %s", e.node, e.reason) }

// retryElsewhere reports whether an error reply says the node is full,
// which makes Kamailio try the next node of the set.
func retryElsewhere(reply map[string]any) bool {
	res, _ := reply["result"].(string)
	if res == "load limit" {
		return true
	}
	reason, _ := reply["error-reason"].(string)
	return res == "error" && (reason == "Parallel session limit reached" || reason == "Ran out of ports")
}

// call sends the command d to a node of set s chosen for key, trying the
// next node of the set when one does not answer (disabling it) or is
// full, up to queried_nodes_limit nodes. It returns the node's reply,
// whose result is neither "error" nor "load limit".
func (c *client) call(s *set, key callKey, d map[string]any) (map[string]any, *node, error) {
	var tried []*node
	var lastErr error
	for {
		if len(tried) >= c.queriedLimit {
			return nil, nil, fmt.Errorf("queried nodes limit (%d) reached: %w", c.queriedLimit, lastErr)
		}
		n := c.pick(s, key, tried)
		if n == nil {
			if lastErr != nil {
				return nil, nil, fmt.Errorf("no available rtpengine in set %d: %w", s.id, lastErr)
			}
			return nil, nil, fmt.Errorf("no available rtpengine in set %d", s.id)
		}
		tried = append(tried, n)
		reply, err := c.send(n, d)
		if errors.Is(err, errTimeout) {
			c.onTimeout()
			c.disable(n)
			lastErr = fmt.Errorf("rtpengine %s: %w", n.url, err)
			continue
		}
		if err != nil {
			return nil, n, fmt.Errorf("rtpengine %s: %w", n.url, err)
		}
		if retryElsewhere(reply) {
			lastErr = &replyError{n.url, fmt.Sprint(reply["result"], " ", reply["error-reason"], reply["message"])}
			c.log.Info("rtpengine node is full, trying the next one", "node", n.url, "reply", lastErr)
			continue
		}
		switch res, _ := reply["result"].(string); res {
		case "":
			return nil, n, &replyError{n.url, "reply without a result"}
		case "error":
			reason, _ := reply["error-reason"].(string)
			if reason == "" {
				reason = "error without a reason"
			}
			return reply, n, &replyError{n.url, reason}
		}
		return reply, n, nil
	}
}

// send sends d to n and waits for the reply with the same cookie,
// retransmitting every rtpengine_tout_ms, rtpengine_retr times at most.
func (c *client) send(n *node, d map[string]any) (map[string]any, error) {
	body, err := Encode(d)
	if err != nil {
		return nil, err
	}
	cookie := c.cookiePrefix + strconv.FormatUint(c.seq.Add(1), 10)
	ch, err := c.wait(n, cookie)
	if err != nil {
		return nil, err
	}
	defer c.unwait(n, cookie)
	pkt := make([]byte, 0, len(cookie)+1+len(body))
	pkt = append(append(append(pkt, cookie...), ' '), body...)
	timer := time.NewTimer(c.tout)
	defer timer.Stop()
	for try := 0; try < c.retr; try++ {
		if try > 0 {
			timer.Reset(c.tout)
		}
		if _, err := n.conn.Write(pkt); err != nil {
			// a refused port shows as a write error on a connected
			// socket: the node is as good as silent
			c.log.Debug("rtpengine send failed", "node", n.url, "err", err)
		}
		select {
		case raw := <-ch:
			v, err := Decode(raw)
			if err != nil {
				return nil, fmt.Errorf("bad reply: %w", err)
			}
			reply, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("bad reply: a %T, not a dictionary", v)
			}
			return reply, nil
		case <-timer.C:
		}
	}
	return nil, errTimeout
}

// wait registers cookie on n, opening n's socket the first time.
func (c *client) wait(n *node, cookie string) (chan []byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, errors.New("client closed")
	}
	if n.conn == nil {
		conn, err := net.DialUDP(n.addr.Network(), nil, n.addr)
		if err != nil {
			return nil, err
		}
		n.conn = conn
		n.pending = map[string]chan []byte{}
		go c.read(n, conn)
	}
	ch := make(chan []byte, 1)
	n.pending[cookie] = ch
	return ch, nil
}

func (c *client) unwait(n *node, cookie string) {
	n.mu.Lock()
	delete(n.pending, cookie)
	n.mu.Unlock()
}

// read hands the replies arriving on conn to their requests until conn
// is closed. A reply for no waiting request (late, after its request
// gave up, or garbage) is logged and dropped.
func (c *client) read(n *node, conn *net.UDPConn) {
	buf := make([]byte, 65536)
	for {
		k, err := conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP errors of a connected socket: nothing to read, go on
			time.Sleep(time.Millisecond)
			continue
		}
		cookie, body, ok := bytes.Cut(buf[:k], []byte(" "))
		n.mu.Lock()
		ch := n.pending[string(cookie)] // no copy for a map lookup
		n.mu.Unlock()
		if !ok || ch == nil {
			c.log.Debug("rtpengine reply for no waiting request dropped", "node", n.url, "cookie", string(cookie))
			continue
		}
		select {
		case ch <- bytes.Clone(body): // buf is read into again
		default: // a duplicate of an answered retransmission
		}
	}
}
