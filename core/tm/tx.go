package tm

import (
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// tx is one transaction: the request received (the server side, a sipgo
// ServerTx) and the branches it was relayed to (each a sipgo ClientTx).
// mu serialises everything that happens to it: relaying, replies, timers
// and the routes they run.
type tx struct {
	mod *Module
	id  uint64
	key string // server transaction key

	mu  sync.Mutex
	req *sip.Request  // the request as received (later: as relayed); nil in the wait state of a 2xx-answered INVITE
	stx *sip.ServerTx // nil with req
	dst kemi.Dest     // where replies to the request go
	uas *txConn       // the server transaction's connection (dst)
	inv bool          // an INVITE transaction

	// script state kept on the transaction
	flags  uint32
	xflags uint64
	avps   kemi.AVPs
	on     [numCallbacks]string // route names armed with t_on_*

	branches []*branch
	// per-transaction settings (t_set_*)
	fr, frInv    time.Duration
	sw           switches // t_set_* and relay flags
	created      time.Time
	sent100      bool
	canceled     bool
	uasStatus    int // last status sent upstream
	uasReason    string
	final        bool // a final reply was sent upstream
	done         bool // removed from the tables
	bestBranch   int  // branch whose reply was picked (failure route)
	inFailure    bool
	cancelReason string        // Reason of the CANCEL received, copied to ours
	contacts     contactGroups // t_load_contacts
	lastReply    *sip.Response // the last reply sent upstream
	callID       string
	cseq         uint32
	// the request's transport, for failure routes
	src           netip.AddrPort
	rcv           *kemi.Socket
	proto         string
	connID        uint64
	origURI       string
	dstURI        string // $du when the transaction was created, for failure routes
	pathVec       string // the Path set of branch 0 then, likewise
	reqAdded      []int  // where the headers the script added are in req (kemi.Msg.AddedAt)
	maxFwdChecked bool   // the script handled Max-Forwards: branches carry it as it is
	forceRport    bool
	lifeEnd       time.Time // max_*_lifetime ends
	waiting       bool      // released at wt_timer
	timer         txTimer   // place in the timer heap (timers.mu)
}

// callback names a route a transaction runs (t_on_*).
type callback uint8

const (
	cbFailure callback = iota
	cbReply
	cbBranch
	cbBranchFailure
	numCallbacks
)

// txSwitch is a per-transaction behaviour a script turns on or off.
type txSwitch uint8

const (
	swNoAuto100     txSwitch = 1 << iota // no 100 Trying (t_set_auto_inv_100(0), relay flag 0x01)
	swDisable6xx                         // a 6xx is an ordinary failure (t_set_disable_6xx)
	swNoE2EReason                        // no Reason copied into our CANCEL (t_set_no_e2e_cancel_reason)
	swUseUACHeaders                      // local CANCEL/ACK use the relayed From/To (t_use_uac_headers)
)

// switches holds the switches that are on, and (on a message, before the
// transaction exists) which ones the script set at all.
type switches struct{ on, set txSwitch }

func (s *switches) put(w txSwitch, v bool) {
	s.set |= w
	if v {
		s.on |= w
	} else {
		s.on &^= w
	}
}

func (s switches) has(w txSwitch) bool { return s.on&w != 0 }

// apply copies the switches set in o over s.
func (s *switches) apply(o switches) { s.on = s.on&^o.set | o.on&o.set }

// branch is one outgoing copy of the request.
type branch struct {
	tx  *tx
	idx int
	id  string       // our Via branch
	uri string       // Request-URI of this branch, as sent
	req *sip.Request // nil in the wait state unless an ACK may be needed
	ctx *sip.ClientTx
	// method of the request, kept when req is let go
	method sip.RequestMethod
	dst    kemi.Dest
	flags  uint32 // branch flags, as the branch route left them
	fr     *time.Timer
	frGen  uint32 // which arming of fr is current

	status     int           // last status received (or the local one)
	reply      *sip.Response // the final reply
	final      bool
	provisonal bool // a provisional reply came
	timedOut   bool
	local      bool // the final reply was generated here
	cancel     bool // a CANCEL is wanted
	cancelSent bool
	cancelTx   *sip.ClientTx
	dropped    bool // t_drop_replies: not a candidate for the best reply
}

// store holds the transactions of a module, by server key and by branch.
type store struct {
	mu       sync.RWMutex
	byKey    map[string]*tx
	byBranch map[string]*branch
	live     atomic.Int64 // transactions without a final reply upstream
	count    atomic.Int64 // transactions in the tables
}

func newStore() *store {
	return &store{byKey: map[string]*tx{}, byBranch: map[string]*branch{}}
}

func (s *store) get(key string) *tx {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byKey[key]
}

// add registers t unless a transaction with its key exists, which it
// returns instead.
func (s *store) add(t *tx) *tx {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.byKey[t.key]; old != nil {
		return old
	}
	s.byKey[t.key] = t
	s.live.Add(1)
	s.count.Add(1)
	return nil
}

func (s *store) branch(id string) *branch {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byBranch[id]
}

func (s *store) addBranch(b *branch) {
	s.mu.Lock()
	s.byBranch[b.id] = b
	s.mu.Unlock()
}

// removeBranch forgets a branch that was never sent.
func (s *store) removeBranch(b *branch) {
	s.mu.Lock()
	if s.byBranch[b.id] == b {
		delete(s.byBranch, b.id)
	}
	s.mu.Unlock()
}

// remove drops t and its branches from the tables.
func (s *store) remove(t *tx) {
	s.mu.Lock()
	if s.byKey[t.key] == t {
		delete(s.byKey, t.key)
		s.count.Add(-1)
	}
	for _, b := range t.branches {
		if s.byBranch[b.id] == b {
			delete(s.byBranch, b.id)
		}
	}
	s.mu.Unlock()
}

// all returns the transactions now in the tables.
func (s *store) all() []*tx {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*tx, 0, len(s.byKey))
	for _, t := range s.byKey {
		out = append(out, t)
	}
	return out
}

// serverKey is the key of a request's server transaction (RFC 3261
// §17.2.3): the top Via branch, sent-by and method, ACK and CANCEL mapped
// to the method given. Requests without an RFC 3261 branch use the RFC 2543
// fields.
func serverKey(req *sip.Request, method string) string {
	v := req.Via()
	if v == nil {
		return ""
	}
	if method == "" {
		method = string(req.Method)
		if method == "ACK" {
			method = "INVITE"
		}
	}
	if b, ok := v.Params.Get("branch"); ok && strings.HasPrefix(b, "z9hG4bK") && len(b) > 7 {
		return b + "|" + strings.ToLower(v.Host) + ":" + strconv.Itoa(v.Port) + "|" + method
	}
	// RFC 2543: Request-URI, To tag (not for ACK), From tag, Call-ID, CSeq
	// number and the top Via
	var sb strings.Builder
	if req.Method != sip.ACK {
		sb.WriteString(req.Recipient.String())
	}
	sb.WriteByte('|')
	if f := req.From(); f != nil {
		sb.WriteString(f.Params.GetOr("tag", ""))
	}
	sb.WriteByte('|')
	if c := req.CallID(); c != nil {
		sb.WriteString(c.Value())
	}
	sb.WriteByte('|')
	if cs := req.CSeq(); cs != nil {
		sb.WriteString(strconv.FormatUint(uint64(cs.SeqNo), 10))
	}
	sb.WriteByte('|')
	sb.WriteString(v.Value())
	sb.WriteByte('|')
	sb.WriteString(method)
	return "2543|" + sb.String()
}

// replicaPrefix starts the Via branch of t_replicate copies.
const replicaPrefix = "z9hG4bKkmr"

// branchID builds the Via branch of branch idx of transaction id; the
// prefix keeps ids of two engine runs apart.
func branchID(prefix string, id uint64, idx int) string {
	return "z9hG4bKkmt" + prefix + "." + strconv.FormatUint(id, 36) + "." + strconv.Itoa(idx)
}

// randomPrefix gives each module instance its own branch prefix.
func randomPrefix() string {
	h := fnv.New32a()
	h.Write([]byte(strconv.FormatInt(time.Now().UnixNano(), 10)))
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}

// txConn is the sipgo Connection of one transaction side: every message
// the FSM writes (a reply and its retransmissions, a request, its
// retransmissions and the ACK of a negative reply) goes to one
// destination through the engine.
type txConn struct {
	host kemi.Host
	mu   sync.Mutex // dst may change (send_reply_mode) while sipgo's timers write
	dst  kemi.Dest
	// inv is the INVITE of a branch: sipgo's ACK of a negative reply (all
	// the Vias, a Contact, Max-Forwards 70) is replaced with negativeAck's.
	inv *sip.Request
}

func (c *txConn) dest() kemi.Dest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dst
}

func (c *txConn) setDest(d kemi.Dest) {
	c.mu.Lock()
	c.dst = d
	c.mu.Unlock()
}

func (c *txConn) LocalAddr() net.Addr {
	dst := c.dest()
	if dst.Sock == nil {
		return &net.UDPAddr{}
	}
	a := dst.Sock.Addr
	if dst.Proto == "tcp" {
		return net.TCPAddrFromAddrPort(a)
	}
	return net.UDPAddrFromAddrPort(a)
}

func (c *txConn) WriteMsg(msg sip.Message) error {
	switch m := msg.(type) {
	case *sip.Request:
		if m.Method == sip.ACK && c.inv != nil {
			m = negativeAck(c.inv, m.To())
		}
		return c.host.SendRequest(nil, m, c.dest())
	case *sip.Response:
		return c.host.SendReply(m, c.dest())
	}
	return fmt.Errorf("tm: cannot send %T", msg)
}

// Ref, TryClose and Close: the engine owns the sockets, there is nothing
// to count or close here.
func (c *txConn) Ref(int) int            { return 1 }
func (c *txConn) TryClose() (int, error) { return 1, nil }
func (c *txConn) Close() error           { return nil }

var _ sip.Connection = (*txConn)(nil)
