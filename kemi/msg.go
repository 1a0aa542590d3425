package kemi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// RouteType says which kind of route is running for a message.
type RouteType uint8

// Route types, as Kamailio names them.
const (
	// RouteNone: no route is running (script top level, tests).
	RouteNone RouteType = iota
	// RouteRequest is ksr_request_route.
	RouteRequest
	// RouteReply is ksr_reply_route, the core reply route.
	RouteReply
	// RouteOnsend is ksr_onsend_route, run before a request is sent.
	RouteOnsend
	// RouteBranch is a branch route armed with t_on_branch.
	RouteBranch
	// RouteTMReply is an onreply route armed with t_on_reply.
	RouteTMReply
	// RouteFailure is a failure route armed with t_on_failure.
	RouteFailure
	// RouteBranchFailure is a route armed with t_on_branch_failure.
	RouteBranchFailure
	// RouteEvent is an event callback such as ksr_htable_event.
	RouteEvent
)

// String returns the Kamailio name of the route type.
func (t RouteType) String() string {
	switch t {
	case RouteRequest:
		return "request_route"
	case RouteReply:
		return "reply_route"
	case RouteOnsend:
		return "onsend_route"
	case RouteBranch:
		return "branch_route"
	case RouteTMReply:
		return "onreply_route"
	case RouteFailure:
		return "failure_route"
	case RouteBranchFailure:
		return "branch_failure_route"
	case RouteEvent:
		return "event_route"
	}
	return "none"
}

// Socket is one local listening address.
type Socket struct {
	// Proto is the transport in lower case: "udp", "tcp".
	Proto string
	// Addr is the bound address.
	Addr netip.AddrPort
	// AdvHost and AdvPort, when set, are what we put in Via and
	// Record-Route instead of Addr (Kamailio's "advertise").
	AdvHost string
	AdvPort int
	// Name is an optional socket name (Kamailio's "name").
	Name string
}

// String returns the socket as Kamailio writes it: "udp:127.0.0.1:5060".
func (s *Socket) String() string {
	if s == nil {
		return ""
	}
	return s.Proto + ":" + HostPort(s.Addr.Addr().String(), int(s.Addr.Port()))
}

// Host returns the address to advertise for this socket.
func (s *Socket) Host() string {
	if s.AdvHost != "" {
		return s.AdvHost
	}
	return s.Addr.Addr().String()
}

// Port returns the port to advertise for this socket.
func (s *Socket) Port() int {
	if s.AdvPort != 0 {
		return s.AdvPort
	}
	return int(s.Addr.Port())
}

// Branch is one extra destination of a request (append_branch, lookup): the
// request is forked to the R-URI (branch 0) and to every Branch.
type Branch struct {
	URI    string
	DstURI string
	// Q is the q-value times 1000, or -1 when unset.
	Q     int
	Flags uint32
	Path  string
	Sock  *Socket
}

// Proc is the state of one worker (or extra process) that outlives a
// message: Kamailio's per-process $var values.
type Proc struct {
	Rank int
	Vars map[string]Value

	// the last URI CheckURIText accepted and the last next hop
	// CacheDest kept: a route that sends every message to the same
	// constant URI parses and resolves it once per worker
	okURI   string
	hopURI  string
	hopDest Dest
}

// CachedDest returns the destination CacheDest kept for uri, if it is
// the last one kept.
func (p *Proc) CachedDest(uri string) (Dest, bool) {
	if p == nil || uri == "" || p.hopURI != uri {
		return Dest{}, false
	}
	return p.hopDest, true
}

// CacheDest keeps d as what uri resolves to. Only a destination that
// needed no DNS may be kept (its URI names an IP address): it is the
// same for as long as the worker runs.
func (p *Proc) CacheDest(uri string, d Dest) {
	if p != nil {
		p.hopURI, p.hopDest = uri, d
	}
}

// NewProc returns the state of a worker of the given rank.
func NewProc(rank int) *Proc {
	return &Proc{Rank: rank, Vars: make(map[string]Value)}
}

// Runner is the script side of a running route, set on the message by the
// Lua binding while it runs a route.
type Runner interface {
	// Where returns the script position of the KSR call being served,
	// "routing.lua:12", or "" outside a call.
	Where() string
	// Has reports whether the script defines the global function name.
	Has(name string) bool
	// Call runs the script function name with m as the current message and
	// restores the previous message afterwards. It reports whether the
	// function exists, whether it stopped with KSR.x.exit/drop, and a Lua
	// runtime error, if any.
	Call(name string, rt RouteType, m *Msg, args ...string) (CallResult, error)
}

// CallResult is what running a script function gave.
type CallResult struct {
	// Ran is false when the function is not defined.
	Ran bool
	// Exited is true when the script called KSR.x.exit() or KSR.x.drop().
	Exited bool
}

// Msg is the message being routed and its per-route state. It is owned by
// one worker at a time and must not be kept by modules after the route ends
// unless they copy what they need.
type Msg struct {
	// Raw is the message as received (nil for messages we built). The
	// message itself is reached through the methods (Request, Response,
	// Lazy, HeaderValue...): see lazy.go.
	Raw []byte

	// Proto is the transport it arrived on, in lower case.
	Proto string
	// Src is the address it came from.
	Src netip.AddrPort
	// Rcv is the local socket it arrived on (nil for messages we built).
	Rcv *Socket
	// ConnID identifies the TCP connection it arrived on (0 for UDP).
	ConnID uint64
	// Received is when it arrived.
	Received time.Time

	// Route is the kind of route now running.
	Route RouteType
	// OrigURI is the Request-URI as received ($ou).
	OrigURI string
	// DstURI is the destination URI ($du): where the request goes instead
	// of the Request-URI.
	DstURI string
	// Flags are the message (transaction) flags 0..31.
	Flags uint32
	// BFlags are the flags of branch 0.
	BFlags uint32
	// SFlags are the script flags, reset for every top-level route.
	SFlags uint32
	// XFlags are the extended flags 0..63 of corex.
	XFlags uint64
	// Drop is set by KSR.set_drop and KSR.x.drop.
	Drop bool
	// Handled is set once something was sent for the message (a reply, a
	// forward) or a module took it over (a transaction); a request whose
	// route ends without it is counted as dropped.
	Handled bool
	// Snd is where the message goes while the onsend route runs ($snd).
	Snd *Dest
	// Faked is set on the stand-in message of event routes and timers.
	Faked bool
	// MaxFwdChecked is set when the script processed Max-Forwards
	// (maxfwd.process_maxfwd); otherwise core forwarding and tm handle it,
	// as RFC 3261 §16.6 asks of every proxy (see MaxFwdHandled).
	MaxFwdChecked bool
	// RURIUsed is set once t_relay made a branch of the Request-URI, and
	// in a failure route from the start: t_relay then adds a branch for
	// the R-URI only after the script wrote it again (Kamailio's
	// ruri_is_new, cleared after forwarding and when a failure route
	// starts). Every change of the R-URI clears it (MarkRURINew).
	RURIUsed bool

	// ForceRport makes replies go to the source port (RFC 3581).
	ForceRport bool
	// LocalRport adds rport to our own Via of forwarded requests.
	LocalRport bool
	// ForwardClose, ForwardNoConnect, ReplyClose and ReplyNoConnect are the
	// connection flags of KSR.set_forward_close and friends.
	ForwardClose, ForwardNoConnect bool
	ReplyClose, ReplyNoConnect     bool
	// AdvHost and AdvPort override the advertised address for this message.
	AdvHost string
	AdvPort int
	// SendSock forces the socket used to send (corex.set_send_socket).
	SendSock *Socket
	// ReplyHeaders are added to the replies we generate (append_to_reply).
	ReplyHeaders []sip.Header
	// ReplyContentType and ReplyBody are the body of the replies we
	// generate (textops set_reply_body); no body when the type is "".
	ReplyContentType string
	ReplyBody        []byte
	// Branches are the extra destinations (branch 1..n).
	Branches []Branch
	// PathVec is the Path set of branch 0 (Kamailio's path_vec), as a
	// Path header value: registrar's lookup sets it from the binding, and
	// forwarding puts it in Route headers, first hop first.
	PathVec string
	// ErrCode and ErrReason describe the last internal error, for
	// sl_reply_error (Kamailio's ser_error).
	ErrCode   int
	ErrReason string

	// AVPs are the attribute-value pairs of the message ($avp).
	AVPs AVPs
	// Proc is the worker's state ($var).
	Proc *Proc
	// Host is the engine.
	Host Host
	// Run is the script, while a route runs.
	Run Runner

	vals []msgVal
	// ruriQ is the q-value of branch 0 times 1000 when ruriQSet
	// (Kamailio's ruri_q); see RURIQ.
	ruriQ    int
	ruriQSet bool
	// maxFwdArrived is the Max-Forwards the request arrived with
	// (NoteMaxForwards), for MaxFwdHandled.
	maxFwdArrived arrivedMaxFwd
	// added are the headers the script and modules added (AddHeadersFirst,
	// AddHeadersAfter, MarkAdded), so that headers added at one place keep
	// the order they were added in.
	added map[sip.Header]bool

	// the message itself: lazy while only lazy-aware code touched it,
	// then req or res (see lazy.go)
	msgForms
}

type msgVal struct {
	key any
	val any
}

// Copy returns a shallow copy of the message whose module values and
// AVPs can be changed without touching m's (the SIP message, branches and
// reply headers stay shared). A lazy message gets its sipgo form first,
// so that both copies share one.
func (m *Msg) Copy() *Msg {
	m.materialize()
	c := *m
	c.vals = append([]msgVal(nil), m.vals...)
	c.AVPs = m.AVPs.Clone() // Del compacts in place: a shared list would change m's
	return &c
}

// Value returns what a module stored on the message under key.
func (m *Msg) Value(key any) any {
	for i := range m.vals {
		if m.vals[i].key == key {
			return m.vals[i].val
		}
	}
	return nil
}

// SetValue stores module data on the message; nil removes it.
func (m *Msg) SetValue(key, val any) {
	for i := range m.vals {
		if m.vals[i].key == key {
			if val == nil {
				m.vals = append(m.vals[:i], m.vals[i+1:]...)
				return
			}
			m.vals[i].val = val
			return
		}
	}
	if val != nil {
		m.vals = append(m.vals, msgVal{key, val})
	}
}

// SIP returns the message as a sipgo message (see Request).
func (m *Msg) SIP() sip.Message {
	m.materialize()
	if m.req != nil {
		return m.req
	}
	if m.res != nil {
		return m.res
	}
	return nil
}

// Wire returns the message as received, or as it is now for a message
// built rather than received (the stand-in of event routes): Kamailio's
// msg->buf. nil when there is no message.
func (m *Msg) Wire() []byte {
	if m.Raw != nil {
		return m.Raw
	}
	if s := m.SIP(); s != nil {
		return []byte(s.String())
	}
	return nil
}

// SetRURI replaces the Request-URI after checking it (see ParseURI).
func (m *Msg) SetRURI(uri string) error {
	if !m.IsRequest() {
		return fmt.Errorf("not a request")
	}
	u, err := ParseURI(uri)
	if err != nil {
		return err
	}
	m.ReplaceRURI(u)
	return nil
}

// ReplaceRURI makes u, already checked, the Request-URI of m, a request.
// Every change of the R-URI goes through it or SetRURI, which mark the
// R-URI new (MarkRURINew). The lazy form records u as sipgo's form would
// write it.
func (m *Msg) ReplaceRURI(u sip.Uri) {
	if !m.setLazyRURI(&u) {
		m.Request().Recipient = u
	}
	m.MarkRURINew()
}

// MarkRURINew records that the script wrote the Request-URI (or $du
// through its pseudo-variable, as Kamailio's pv module does): t_relay may
// make a branch of it again, even in a failure route and even when the
// value did not change.
func (m *Msg) MarkRURINew() { m.RURIUsed = false }

// RURIQ returns the q-value of branch 0 times 1000 (Kamailio's ruri_q,
// set by registrar's lookup), or -1 when it has none.
func (m *Msg) RURIQ() int {
	if !m.ruriQSet {
		return -1
	}
	return m.ruriQ
}

// SetRURIQ sets the q-value of branch 0 (times 1000; -1 unsets it).
func (m *Msg) SetRURIQ(q int) { m.ruriQ, m.ruriQSet = q, q >= 0 }

// NextHop returns $du if set, else the Request-URI.
func (m *Msg) NextHop() string {
	if m.DstURI != "" {
		return m.DstURI
	}
	return m.RURI()
}

// Where returns the script position of the running KSR call, or "".
func (m *Msg) Where() string {
	if m.Run == nil {
		return ""
	}
	return m.Run.Where()
}

// Errorf logs a script-caused error (a wrong call to a KSR function) with
// the script's file:line.
func (m *Msg) Errorf(log *slog.Logger, format string, args ...any) {
	if log == nil {
		log = slog.Default()
	}
	log.Error(fmt.Sprintf(format, args...), "at", m.Where())
}

// SetError records the last internal error for sl_reply_error.
func (m *Msg) SetError(code int, reason string) {
	m.ErrCode, m.ErrReason = code, reason
}

// MaxBranches is Kamailio's default max_branches: the R-URI branch and at
// most MaxBranches-1 appended ones.
const MaxBranches = 12

// AppendBranch adds b to the destination set, unless it already holds
// MaxBranches branches.
func (m *Msg) AppendBranch(b Branch) error {
	if len(m.Branches) >= MaxBranches-1 {
		return fmt.Errorf("too many branches (at most %d)", MaxBranches)
	}
	m.Branches = append(m.Branches, b)
	return nil
}

// DestinationSet is the destination set as a redirect lists it: the R-URI
// when the script changed it (without a q-value), then every branch.
func (m *Msg) DestinationSet() []Branch {
	var out []Branch
	if ru := m.RURI(); ru != m.OrigURI {
		out = append(out, Branch{URI: ru, Q: -1})
	}
	return append(out, m.Branches...)
}

// QValue prints a q-value kept as thousandths: 1000 is "1", 500 "0.5",
// 0 (or less) "0".
func QValue(q int) string {
	if q >= 1000 {
		return "1"
	}
	if q <= 0 {
		return "0"
	}
	s := strconv.Itoa(1000 + q)[1:]
	return "0." + strings.TrimRight(s, "0")
}

// BranchFlags returns a pointer to the flags of branch b (0 = R-URI branch),
// or nil if there is no such branch.
func (m *Msg) BranchFlags(b int) *uint32 {
	if b == 0 {
		return &m.BFlags
	}
	if b > 0 && b <= len(m.Branches) {
		return &m.Branches[b-1].Flags
	}
	return nil
}

// SetBit sets bit i (0..31) of the flag set f. It reports false, and does
// nothing, when f is nil or i is out of range.
func SetBit(f *uint32, i int) bool {
	if f == nil || i < 0 || i > 31 {
		return false
	}
	*f |= 1 << uint(i)
	return true
}

// ClearBit clears bit i (0..31) of the flag set f. It reports false, and
// does nothing, when f is nil or i is out of range.
func ClearBit(f *uint32, i int) bool {
	if f == nil || i < 0 || i > 31 {
		return false
	}
	*f &^= 1 << uint(i)
	return true
}

// TestBit reports whether bit i (0..31) of the flag set f is set; false
// when i is out of range.
func TestBit(f uint32, i int) bool {
	if i < 0 || i > 31 {
		return false
	}
	return f&(1<<uint(i)) != 0
}

// AVPs is a per-message list of attribute-value pairs. The newest value of
// a name comes first, as in Kamailio.
type AVPs struct {
	list []avp
	// X are the extended AVPs ($xavp). They live here so that they travel
	// with the transaction (to the failure and reply routes) wherever the
	// AVPs do.
	X XAVPs
}

type avp struct {
	name string
	val  Value
}

// Add pushes a value for name.
func (a *AVPs) Add(name string, v Value) {
	a.list = append(a.list, avp{name, v})
}

// Get returns the idx-th value of name, newest first.
func (a *AVPs) Get(name string, idx int) (Value, bool) {
	n := 0
	for i := len(a.list) - 1; i >= 0; i-- {
		if a.list[i].name == name {
			if n == idx {
				return a.list[i].val, true
			}
			n++
		}
	}
	return Null, false
}

// All returns every value of name, newest first.
func (a *AVPs) All(name string) []Value {
	var out []Value
	for i := len(a.list) - 1; i >= 0; i-- {
		if a.list[i].name == name {
			out = append(out, a.list[i].val)
		}
	}
	return out
}

// Set replaces the newest value of name (or adds one).
func (a *AVPs) Set(name string, v Value) {
	for i := len(a.list) - 1; i >= 0; i-- {
		if a.list[i].name == name {
			a.list[i].val = v
			return
		}
	}
	a.Add(name, v)
}

// Del removes every value of name and reports how many were removed.
func (a *AVPs) Del(name string) int {
	out := a.list[:0]
	n := 0
	for _, x := range a.list {
		if x.name == name {
			n++
			continue
		}
		out = append(out, x)
	}
	a.list = out
	return n
}

// Len returns the number of values of all names.
func (a *AVPs) Len() int { return len(a.list) }

// Clone returns an independent copy.
func (a AVPs) Clone() AVPs {
	return AVPs{list: append([]avp(nil), a.list...), X: a.X.Clone()}
}

// MaxForwardsDefault is the Max-Forwards value a forwarded request gets
// when it came without one (RFC 3261 §8.1.1.6, §16.6 step 3).
const MaxForwardsDefault = 70

// ErrTooManyHops is reported when a request was not forwarded because its
// Max-Forwards is 0 (RFC 3261 §16.3 step 3).
var ErrTooManyHops = errors.New("Max-Forwards is 0: not forwarded (483 Too Many Hops)")

// arrivedMaxFwd is the first Max-Forwards header of a request as it
// arrived.
type arrivedMaxFwd struct {
	noted bool // false for a message built rather than received
	had   bool // the request had a Max-Forwards header
	value uint32
}

// NoteMaxForwards records the first Max-Forwards header of the request as
// it arrived, before any route runs: MaxFwdHandled compares the header
// with it. The engine calls it for every request it receives; a message
// built rather than received has nothing of the sender's to compare.
func (m *Msg) NoteMaxForwards() {
	if !m.IsRequest() {
		return
	}
	v, had := m.firstMaxForwards()
	m.maxFwdArrived = arrivedMaxFwd{noted: true, had: had, value: v}
}

// firstMaxForwards returns the value of the first Max-Forwards header,
// the one that counts (as in Kamailio), and whether there is one.
func (m *Msg) firstMaxForwards() (uint32, bool) {
	if lm := m.lazy; lm != nil {
		n, err := lm.MaxForwards()
		if err != nil || n < 0 {
			// the engine checked it: err is for messages it did not
			return 0, err != nil
		}
		return uint32(n), true
	}
	if m.req == nil {
		return 0, false
	}
	h := firstMaxForwards(m.req)
	if h == nil {
		return 0, false
	}
	return uint32(*h), true
}

// MaxFwdHandled reports whether the script took care of Max-Forwards
// itself: it ran maxfwd.process_maxfwd (MaxFwdChecked), or the first
// Max-Forwards header is no longer what it was when the message arrived
// (changed, added or removed; see NoteMaxForwards). Core forwarding and
// tm leave the header alone then.
func (m *Msg) MaxFwdHandled() bool {
	if m.MaxFwdChecked {
		return true
	}
	was := m.maxFwdArrived
	if !m.IsRequest() || !was.noted {
		return false
	}
	now, has := m.firstMaxForwards()
	if !has {
		return was.had
	}
	return !was.had || now != was.value
}

// ProxyMaxForwards is RFC 3261 §16.6 step 3 for a request about to be
// forwarded: unless the script handled Max-Forwards (apply false), the
// copy sent carries value, the received value less one, or
// MaxForwardsDefault when there was none. exhausted reports a value of 0:
// the request must not be forwarded (§16.3 step 3: 483 Too Many Hops).
func (m *Msg) ProxyMaxForwards() (value uint32, apply, exhausted bool) {
	if !m.IsRequest() || m.MaxFwdHandled() {
		return 0, false, false
	}
	v, has := m.firstMaxForwards()
	switch {
	case !has:
		return MaxForwardsDefault, true, false
	case v == 0:
		return 0, true, true
	}
	return v - 1, true, false
}

// SetMaxForwards sets the Max-Forwards of req to v, replacing the first
// header or adding one at the end.
func SetMaxForwards(req *sip.Request, v uint32) {
	mf := sip.MaxForwardsHeader(v)
	if req.MaxForwards() == nil {
		req.AppendHeader(&mf)
		return
	}
	req.ReplaceHeader(&mf)
}

// firstMaxForwards returns the first Max-Forwards header of req, the one
// that counts (as in Kamailio), or nil. sipgo's own shortcut points at the
// last one of a message it parsed: it is pointed at the first again, so
// that SetMaxForwards and req.MaxForwards() work on the same header.
func firstMaxForwards(req *sip.Request) *sip.MaxForwardsHeader {
	for _, h := range req.Headers() {
		if mf, ok := h.(*sip.MaxForwardsHeader); ok {
			if req.MaxForwards() != mf {
				req.ReplaceHeader(mf) // the first of its name: itself
			}
			return mf
		}
	}
	return nil
}

// AddHeadersFirst adds hs above the headers the message came with, below
// the headers added there before: as Kamailio's lumps at one place, the
// headers added at the top (KSR.hdr.insert, record_route,
// process_maxfwd) keep the order they were added in.
func (m *Msg) AddHeadersFirst(hs ...sip.Header) {
	at := 0
	for _, h := range m.HeaderList() {
		if !m.added[h] {
			break
		}
		at++
	}
	m.InsertHeadersAt(at, hs...)
	m.MarkAdded(hs...)
}

// AddHeadersAfter adds hs below header number idx and below the headers
// added right after it before (KSR.hdr.append_after).
func (m *Msg) AddHeadersAfter(idx int, hs ...sip.Header) {
	all := m.HeaderList()
	at := idx + 1
	for at < len(all) && m.added[all[at]] {
		at++
	}
	if at >= len(all) {
		m.AppendHeaders(hs...)
	} else {
		m.InsertHeadersAt(at, hs...)
	}
	m.MarkAdded(hs...)
}

// MarkAdded records hs, already in the message, as added by the script or
// a module (AddHeadersFirst and AddHeadersAfter place more headers below
// them).
func (m *Msg) MarkAdded(hs ...sip.Header) {
	if m.added == nil {
		m.added = make(map[sip.Header]bool, len(hs))
	}
	for _, h := range hs {
		m.added[h] = true
	}
}

// AddedAt returns the positions in the header list of the headers added to
// the message, for MarkAddedAt on a copy of its request. On the lazy form
// they are the positions the headers AddHeaders added will have in
// sipgo's form.
func (m *Msg) AddedAt() []int {
	if m.lazy != nil {
		return m.lazyAddedAt()
	}
	if len(m.added) == 0 {
		return nil
	}
	var at []int
	for i, h := range m.HeaderList() {
		if m.added[h] {
			at = append(at, i)
		}
	}
	return at
}

// MarkAddedAt marks the headers at those positions as added: m's request
// is a copy of one whose AddedAt gave them (a branch, a failure route),
// and headers added to m go below those. On the lazy form the positions
// are those of sipgo's form, as AddedAt gives them: the message stays
// lazy.
func (m *Msg) MarkAddedAt(at []int) {
	if m.lazy != nil {
		m.lazyMarkAddedAt(at)
		return
	}
	all := m.HeaderList()
	for _, i := range at {
		if i < len(all) {
			m.MarkAdded(all[i])
		}
	}
}
