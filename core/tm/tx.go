package tm

import (
	"hash/fnv"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// tx is one transaction: the request received (the server side) and the
// branches it was relayed to (the client side). mu serialises everything
// that happens to it: relaying, replies, timers and the routes they run.
//
// The fields up to txState are what a finished transaction keeps while it
// waits out wt_timer: its keys, where replies go, the bytes of the final
// reply it may have to send again and the ACKs of negative replies it may
// have to send again (Kamailio keeps the same: the cell's keys and
// retransmission buffers). Everything else is in txState, which trim lets
// go once the final reply went upstream, no branch is pending and no
// route holds the transaction; code that may reach a trimmed transaction
// (timers, retransmissions, lookups by key) reads only the first part.
type tx struct {
	mu   sync.Mutex
	id   uint64
	key  string // server transaction key
	call uint64 // callKey of its Call-ID and CSeq number (findCall)

	dst kemi.Dest // where replies to the request go
	// rb holds what a final reply needs sent again; nil for a 2xx to an
	// INVITE (the proxy does not retransmit it: RFC 3261 §17.2.1, the 2xx
	// and its ACK are end to end)
	rb *retrBuf
	tm tentry // lifetime, then timer G / H, then wt_timer

	uasStatus int32 // last status sent upstream
	// routes counts the routes tm runs on the transaction; inRoute: the
	// request route that created it still runs (until AfterRequestRoute).
	// Neither lets trim go: the route may still read the request.
	routes  int32
	inv     bool // an INVITE transaction
	final   bool // a final reply was sent upstream
	done    bool // removed from the tables
	waiting bool // wt_timer runs: released at its end
	acked   bool // the ACK of our negative reply came
	inRoute bool

	*txState
}

// retrBuf is what a finished transaction sends again: its final reply (to
// a retransmitted request, and on timer G) and the ACKs of its branches'
// negative replies (to a retransmitted reply).
type retrBuf struct {
	reply []byte
	// acks are kept in place of the branches by trim
	acks []branchAck
	// retrIv is the next interval of timer G, up to t2; hLeft what
	// remains of timer H (64*T1) until the transaction stops waiting for
	// the ACK
	retrIv, hLeft, t2 time.Duration
}

// finalRes returns the branch's final reply, parsing the bytes the lazy
// path kept the first time it is asked for; nil when there is none (or
// the bytes do not parse, which they did when they arrived).
func (b *branch) finalRes() *sip.Response {
	if b.reply == nil && b.replyWire != nil {
		b.reply = parseReply(b.replyWire)
	}
	return b.reply
}

// hasReply reports whether the branch has a final reply.
func (b *branch) hasReply() bool { return b.reply != nil || b.replyWire != nil }

// parseReply parses a reply kept as bytes; nil when it does not parse.
func parseReply(b []byte) *sip.Response {
	msg, err := sip.ParseMessage(b)
	if err != nil {
		return nil
	}
	res, _ := msg.(*sip.Response)
	return res
}

// finalReply is the final reply's bytes, or nil.
func (t *tx) finalReply() []byte {
	if t.rb == nil {
		return nil
	}
	return t.rb.reply
}

// txState is the part of a transaction that only a live one needs: the
// request, the script's state, the branches' details.
type txState struct {
	// req is the request as received (later: as relayed), in sipgo's
	// form; reqWire the same as bytes, when it was lazy (req is then nil
	// until something asks for it: request)
	req      *sip.Request
	reqWire  []byte
	method   string
	branches []*branch

	// script state kept on the transaction
	flags  uint32
	xflags uint64
	avps   kemi.AVPs
	on     [numCallbacks]string // route names armed with t_on_*

	// per-transaction settings (t_set_*)
	fr, frInv    time.Duration
	t1, t2       time.Duration // T1 and T2 of new branches and of the reply (t_set_retr)
	sw           switches      // t_set_* and relay flags
	created      time.Time
	sent100      bool
	canceled     bool
	uasReason    string
	bestBranch   int // branch whose reply was picked (failure route)
	inFailure    bool
	cancelReason string        // Reason of the CANCEL received, copied to ours
	contacts     contactGroups // t_load_contacts
	lastReply    *sip.Response // the last reply sent upstream, unless lastReplyWire
	// lastReplyWire is the last reply sent upstream when it was relayed
	// in its lazy form (lastReply is then nil): only ever sent again
	lastReplyWire []byte
	callID        string
	cseq          uint32
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
}

// branchAck is the ACK of a branch's negative final reply, as sent.
type branchAck struct {
	idx int
	dst kemi.Dest
	ack []byte
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

// branch is one outgoing copy of the request: a client transaction of
// tm's own (RFC 3261 §17.1), its timers on the module's wheel.
type branch struct {
	tx  *tx
	idx int
	id  string       // our Via branch
	uri string       // Request-URI of this branch, as sent
	req *sip.Request // as sent; nil once the branch ended and the transaction was trimmed
	// wire is the request as sent when it was written from the lazy
	// message (req is then nil): its retransmissions, CANCEL and ACK are
	// written from it
	wire []byte
	// method of the request, kept when req is let go
	method sip.RequestMethod
	dst    kemi.Dest
	flags  uint32 // branch flags, as the branch route left them

	retr   tentry        // timer A / E: the request again
	fr     tentry        // fr_timer / fr_inv_timer
	cretr  tentry        // the CANCEL again
	retrIv time.Duration // next interval of retr
	t1, t2 time.Duration // the transaction's when the branch was sent (t_set_retr)
	crIv   time.Duration // next interval of cretr
	crLeft time.Duration // what remains of the CANCEL's 64*T1

	status int           // last status received (or the local one)
	reply  *sip.Response // the final reply (see finalRes)
	// replyWire is the final reply as relayed, when it was relayed in
	// its lazy form (branchReplyLazy): reply is then parsed from it on
	// demand
	replyWire  []byte
	ack        []byte // the ACK of a negative final reply, as sent
	final      bool
	gotFinal   bool // a final reply came from downstream (final may be a local timeout)
	provisonal bool // a provisional reply came
	timedOut   bool
	sendFailed bool // a retransmission could not be sent: ended with a 503
	local      bool // the final reply was generated here
	cancel     bool // a CANCEL is wanted
	cancelSent bool
	cancelReq  *sip.Request // the CANCEL sent, for its retransmissions
	cancelWire []byte       // the same, when written from wire
	cancelDone bool         // a reply to our CANCEL came
	dropped    bool         // t_drop_replies: not a candidate for the best reply
}

// store holds the transactions of a module, by server key and by id (the
// Via branch of each of our branches holds the id: replies find their
// transaction without a table of branches).
type store struct {
	mu    sync.RWMutex
	byKey map[string]*tx
	byID  map[uint64]*tx
	live  atomic.Int64 // transactions without a final reply upstream
	count atomic.Int64 // transactions in the tables
	// peak is the most transactions the maps held since they were made:
	// Go maps keep their size when entries go, so after a burst remove
	// makes them again once they hold far fewer (shrinkBelow)
	peak int
}

// A store's maps are made again when they hold fewer than 1/shrinkRatio
// of their peak, and the peak was at least shrinkMin: after a burst of
// 50 000 transactions the empty maps kept 3 MB (60 bytes for each
// transaction of the peak). Copying the few left costs less than the
// removals since the peak, and a load that stays level never copies.
const (
	shrinkRatio = 8
	shrinkMin   = 4096
)

func newStore() *store {
	return &store{byKey: map[string]*tx{}, byID: map[uint64]*tx{}}
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
	s.byID[t.id] = t
	s.live.Add(1)
	s.count.Add(1)
	s.peak = max(s.peak, len(s.byKey))
	return nil
}

// byBranchID returns the transaction whose branch has Via branch id, and
// the branch's index.
func (s *store) byBranchID(prefix, id string) (*tx, int) {
	txID, idx, ok := parseBranchID(prefix, id)
	if !ok {
		return nil, 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byID[txID], idx
}

// remove drops t from the tables.
func (s *store) remove(t *tx) {
	s.mu.Lock()
	if s.byKey[t.key] == t {
		delete(s.byKey, t.key)
		s.count.Add(-1)
	}
	if s.byID[t.id] == t {
		delete(s.byID, t.id)
	}
	if n := len(s.byKey); s.peak >= shrinkMin && n < s.peak/shrinkRatio {
		s.shrink()
	}
	s.mu.Unlock()
}

// shrink makes the maps again at the size they need now; s.mu held.
func (s *store) shrink() {
	byKey := make(map[string]*tx, len(s.byKey))
	for k, t := range s.byKey {
		byKey[k] = t
	}
	byID := make(map[uint64]*tx, len(s.byID))
	for id, t := range s.byID {
		byID[id] = t
	}
	s.byKey, s.byID, s.peak = byKey, byID, len(byKey)
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

// replicaPrefix starts the Via branch of t_replicate copies.
const replicaPrefix = "z9hG4bKkmr"

// branchPrefix starts the Via branch of the branches of transactions.
const branchPrefix = "z9hG4bKkmt"

// branchID builds the Via branch of branch idx of transaction id; the
// prefix keeps ids of two engine runs apart.
func branchID(prefix string, id uint64, idx int) string {
	return branchPrefix + prefix + "." + strconv.FormatUint(id, 36) + "." + strconv.Itoa(idx)
}

// parseBranchID is the reverse of branchID for this module's prefix.
func parseBranchID(prefix, id string) (txID uint64, idx int, ok bool) {
	rest, found := strings.CutPrefix(id, branchPrefix)
	if !found {
		return 0, 0, false
	}
	if rest, found = strings.CutPrefix(rest, prefix); !found || rest == "" || rest[0] != '.' {
		return 0, 0, false
	}
	txs, idxs, found := strings.Cut(rest[1:], ".")
	if !found {
		return 0, 0, false
	}
	txID, err := strconv.ParseUint(txs, 36, 64)
	if err != nil {
		return 0, 0, false
	}
	n, err := strconv.Atoi(idxs)
	if err != nil || n < 0 {
		return 0, 0, false
	}
	return txID, n, true
}

// randomPrefix gives each module instance its own branch prefix.
func randomPrefix() string {
	h := fnv.New32a()
	h.Write([]byte(strconv.FormatInt(time.Now().UnixNano(), 10)))
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}
