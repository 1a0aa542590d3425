package nathelper

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// keepaliveGrace is how long a contact that stopped answering keepalives
// still lives: Kamailio's usrloc sets its expiry 10 s ahead, and the usrloc
// timer removes it then (running the contact-expired event).
const keepaliveGrace = 10 * time.Second

// udpPing is what a contact without the SIP ping flag gets: four zero
// bytes, as Kamailio's nathelper sends.
var udpPing = []byte{0, 0, 0, 0}

// pinger is the NAT keepalive of Kamailio's nathelper: every
// natping_interval it sends an OPTIONS (or four zero bytes) to the
// registered UDP contacts, from natping_processes extra processes that
// each take their share of the AORs, spread over the seconds of the
// interval. With keepalive_timeout, contacts that did not answer within
// that time are left to expire.
type pinger struct {
	log  *slog.Logger
	host kemi.Host
	raw  kemi.RawSender
	ul   kemi.Location
	list kemi.ContactLister

	interval    time.Duration // natping_interval
	procs       int           // natping_processes
	listFlags   uint32        // usrloc's nat flag with ping_nated_only, else 0
	onlyNATed   bool          // ping_nated_only
	sipFlag     uint32        // sipping_bflag as a mask, 0 when unset
	disableFlag uint32        // natping_disable_bflag as a mask
	from        string        // sipping_from
	fromURI     string        // sipping_from as sipgo writes it, to match replies
	method      string        // sipping_method
	kaTimeout   time.Duration // keepalive_timeout; 0 off
	forceSocket string        // force_socket
	serverID    int           // filter_server_id: only this node's contacts; -1 all

	callIDPrefix string // the fixed part of the Call-IDs, reverse hex
	tags, calls  atomic.Uint32
	start        time.Time

	mu      sync.Mutex
	replied map[string]time.Time // RUID -> when a keepalive reply last came

	pings, replies, removed *metrics.Counter
}

// readPinger reads the keepalive parameters. It returns nil when
// natping_interval is 0 (no keepalive), as Kamailio.
func readPinger(env *kemi.Env) (*pinger, error) {
	p := env.Params
	interval := p.Duration("natping_interval", 0, time.Second)
	pg := &pinger{
		log:         env.Logger,
		host:        env.Host,
		interval:    interval,
		procs:       p.Int("natping_processes", 1),
		onlyNATed:   p.Int("ping_nated_only", 0) != 0,
		from:        p.Str("sipping_from", ""),
		method:      p.Str("sipping_method", "OPTIONS"),
		kaTimeout:   p.Duration("keepalive_timeout", 0, time.Second),
		forceSocket: p.Str("force_socket", ""),
		serverID:    -1,
		start:       time.Now(),
		replied:     map[string]time.Time{},
	}
	// the series exist with the keepalive off too, at 0
	set := env.Metrics
	pg.pings = set.NewCounter(`kemi_nathelper_pings_total`, "NAT keepalives sent (SIP pings and 4-byte UDP pings).")
	pg.replies = set.NewCounter(`kemi_nathelper_ping_replies_total`, "Replies to SIP pings, absorbed by nathelper.")
	pg.removed = set.NewCounter(`kemi_nathelper_keepalive_removed_total`, "Contacts left to expire in 10 s because they did not answer keepalives within keepalive_timeout.")
	sipBflag := p.Int("sipping_bflag", -1)
	disableBflag := p.Int("natping_disable_bflag", -1)
	filterSrv := p.Int("filter_server_id", 0) != 0
	rawSocket := p.Str("natping_socket", "")
	fromPath := p.Int("udpping_from_path", 0)
	if interval < 0 {
		return nil, fmt.Errorf("nathelper: natping_interval %v: want 0 (off) or more", interval)
	}
	if interval == 0 {
		return nil, nil
	}
	if rawSocket != "" || fromPath != 0 {
		// both send from a spoofed source over a raw socket
		return nil, fmt.Errorf("nathelper: natping_socket and udpping_from_path need raw sockets, which kemi does not open")
	}
	if pg.procs < 0 {
		return nil, fmt.Errorf("nathelper: natping_processes %d: want 0 or more", pg.procs)
	}
	for name, f := range map[string]int{"sipping_bflag": sipBflag, "natping_disable_bflag": disableBflag} {
		if f < -1 || f > 31 {
			return nil, fmt.Errorf("nathelper: %s %d: want a branch flag 0..31, or -1 for none", name, f)
		}
	}
	if sipBflag >= 0 {
		pg.sipFlag = 1 << sipBflag
	}
	if disableBflag >= 0 {
		pg.disableFlag = 1 << disableBflag
	}
	if pg.sipFlag != 0 {
		if pg.from == "" {
			return nil, fmt.Errorf("nathelper: sipping_bflag is set but sipping_from is empty")
		}
		var u sip.Uri
		if err := sip.ParseUri(pg.from, &u); err != nil {
			return nil, fmt.Errorf("nathelper: sipping_from %q: %w", pg.from, err)
		}
		pg.fromURI = u.String()
		if pg.method == "" || strings.ContainsAny(pg.method, " \t\r\n;:") {
			return nil, fmt.Errorf("nathelper: sipping_method %q: want a method name", pg.method)
		}
	} else {
		// Kamailio sets the timeout in usrloc only for SIP pings
		pg.kaTimeout = 0
	}
	svc, _ := env.Services.Lookup(kemi.ServiceUsrloc).(kemi.Location)
	list, _ := svc.(kemi.ContactLister)
	if list == nil {
		return nil, fmt.Errorf("nathelper: natping_interval needs the usrloc module (load it before nathelper)")
	}
	pg.ul, pg.list = svc, list
	if pg.onlyNATed {
		if list.NATFlag() == 0 {
			return nil, fmt.Errorf("nathelper: ping_nated_only is set but usrloc has no nat_bflag")
		}
		pg.listFlags = list.NATFlag()
	}
	if filterSrv {
		pg.serverID = list.ServerID()
	}
	pg.raw, _ = env.Host.(kemi.RawSender)
	if pg.raw == nil && !env.DryRun {
		return nil, fmt.Errorf("nathelper: the engine cannot send keepalives (no kemi.RawSender)")
	}
	pg.callIDPrefix = reverseHex(rand.Uint32())
	pg.tags.Store(rand.Uint32())
	pg.calls.Store(rand.Uint32())
	return pg, nil
}

// schedule returns the tick of a pinging process and the ticks of an
// interval: Kamailio's pinger wakes every second and pings, each time,
// one second's share of the contacts; an interval under a second (for
// tests) pings all of them at every tick.
func (pg *pinger) schedule() (tick time.Duration, ticks int) {
	ticks = max(1, int(pg.interval/time.Second))
	return pg.interval / time.Duration(ticks), ticks
}

// process returns the Run of pinging process idx.
func (pg *pinger) process(idx int) func(ctx context.Context, pc *kemi.ProcContext) error {
	return func(ctx context.Context, pc *kemi.ProcContext) error {
		tick, ticks := pg.schedule()
		slots := uint32(pg.procs * ticks)
		t := time.NewTicker(tick)
		defer t.Stop()
		var mine [][]kemi.TableBinding
		for it := 0; ; it = (it + 1) % ticks {
			var now time.Time
			select {
			case <-ctx.Done():
				return nil
			case now = <-t.C:
			}
			if it == 0 {
				mine = pg.share(ctx, idx, ticks, slots)
			}
			for i := range mine[it] {
				pg.handle(ctx, &mine[it][i], now)
			}
		}
	}
}

// share lists the contacts to ping and keeps those of process idx, by
// the tick of the interval that pings them (the AOR's slot is hashed
// once per interval, not at every tick).
func (pg *pinger) share(ctx context.Context, idx, ticks int, slots uint32) [][]kemi.TableBinding {
	all, err := pg.list.AllContacts(ctx, pg.listFlags)
	if err != nil {
		pg.log.Error("nathelper: cannot list the contacts to ping", "err", err)
	}
	pg.prune(time.Now())
	byTick := make([][]kemi.TableBinding, ticks)
	for _, tb := range all {
		if pg.serverID >= 0 && tb.ServerID != pg.serverID {
			continue
		}
		if s := int(aorSlot(tb.AOR, slots)); s/ticks == idx {
			byTick[s%ticks] = append(byTick[s%ticks], tb)
		}
	}
	return byTick
}

// aorSlot spreads AORs over the slots of the pinging processes and
// seconds, as Kamailio spreads them by their hash-table slot.
func aorSlot(aor string, slots uint32) uint32 {
	h := fnv.New32a()
	h.Write([]byte(aor))
	return h.Sum32() % slots
}

// handle pings one contact, or leaves it to expire when it has not
// answered for keepalive_timeout.
func (pg *pinger) handle(ctx context.Context, tb *kemi.TableBinding, now time.Time) {
	b := &tb.Binding
	if pg.kaTimeout > 0 && strings.HasPrefix(b.Socket, "udp:") && pg.lastAlive(b).Add(pg.kaTimeout).Before(now) {
		pg.expireSoon(ctx, tb, now)
		return
	}
	if b.CFlags&pg.disableFlag != 0 {
		return
	}
	sipPing := b.CFlags&pg.sipFlag != 0 || (!pg.onlyNATed && pg.sipFlag != 0)
	target := b.Contact
	if b.Received != "" {
		target = b.Received
	}
	if b.Path != "" && b.CFlags&pg.sipFlag != 0 {
		hop, err := kemi.PathFirstHop(b.Path)
		if err != nil || hop == "" {
			pg.log.Error("nathelper: cannot read the first Path URI", "aor", b.AOR, "path", b.Path, "err", err)
			return
		}
		target = hop
	}
	dst, ok := pg.dest(ctx, target, b)
	if !ok {
		return
	}
	msg := udpPing
	if sipPing {
		msg = pg.build(b, dst.Sock, now)
	}
	if err := pg.raw.SendRaw(dst, msg); err != nil {
		pg.log.Warn("nathelper: keepalive not sent", "aor", b.AOR, "dst", dst.String(), "err", err)
		return
	}
	pg.pings.Inc()
}

// dest resolves where the keepalive of b goes: target over UDP (port 5060
// when none), from force_socket, else the socket b registered through,
// else one the engine picks. A target over another transport is not
// pinged, as in Kamailio.
func (pg *pinger) dest(ctx context.Context, target string, b *kemi.Binding) (kemi.Dest, bool) {
	var u sip.Uri
	if err := sip.ParseUri(target, &u); err != nil || u.Host == "" {
		pg.log.Error("nathelper: cannot parse the contact to ping", "aor", b.AOR, "uri", target)
		return kemi.Dest{}, false
	}
	if tr, ok := u.UriParams.Get("transport"); u.Scheme == "sips" || ok && !strings.EqualFold(tr, "udp") {
		return kemi.Dest{}, false
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	dst := kemi.Dest{Proto: "udp", Host: u.Host}
	if ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]")); err == nil {
		dst.Addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	} else {
		r, err := pg.host.Resolve(ctx, "sip:"+kemi.HostPort(u.Host, port)+";transport=udp")
		if err != nil {
			pg.log.Error("nathelper: cannot resolve the contact to ping", "aor", b.AOR, "uri", target, "err", err)
			return kemi.Dest{}, false
		}
		dst.Addr = r.Addr
	}
	spec := pg.forceSocket
	if spec == "" {
		spec = b.Socket
	}
	if spec != "" {
		if s := pg.host.FindSocket(spec); s != nil && s.Proto == "udp" {
			dst.Sock = s
		}
	}
	if dst.Sock == nil && pg.host.Via(nil, &dst, "") == nil {
		pg.log.Error("nathelper: no UDP socket to ping from", "aor", b.AOR, "dst", dst.String())
		return kemi.Dest{}, false
	}
	return dst, true
}

// lastAlive is when b last showed it lives: its last REGISTER, a reply
// to a keepalive, or the start of the pinger (Kamailio counts contacts
// loaded at start from then).
func (pg *pinger) lastAlive(b *kemi.Binding) time.Time {
	t := b.LastModified
	if pg.start.After(t) {
		t = pg.start
	}
	pg.mu.Lock()
	r := pg.replied[b.RUID]
	pg.mu.Unlock()
	if r.After(t) {
		t = r
	}
	return t
}

// expireSoon gives a contact that stopped answering keepalives
// keepaliveGrace to live, as Kamailio's usrloc; a permanent contact stays
// (it is no longer pinged).
func (pg *pinger) expireSoon(ctx context.Context, tb *kemi.TableBinding, now time.Time) {
	end := now.Add(keepaliveGrace)
	if tb.Expires.IsZero() || !tb.Expires.After(end) {
		return
	}
	var changed bool
	err := pg.ul.Update(ctx, tb.Table, tb.AOR, func(cur []kemi.Binding) (kemi.BindingChange, error) {
		for _, b := range cur {
			if b.RUID != tb.RUID {
				continue
			}
			// the contact may have registered again since it was listed
			if !pg.lastAlive(&b).Add(pg.kaTimeout).Before(now) || b.Expires.IsZero() || !b.Expires.After(end) {
				return kemi.BindingChange{}, nil
			}
			b.Expires = end
			changed = true
			return kemi.BindingChange{Put: []kemi.Binding{b}}, nil
		}
		return kemi.BindingChange{}, nil
	})
	if err != nil {
		pg.log.Error("nathelper: cannot expire a contact that stopped answering", "aor", tb.AOR, "err", err)
		return
	}
	if changed {
		pg.removed.Inc()
		pg.log.Info("nathelper: contact did not answer keepalives, it expires soon", "aor", tb.AOR, "contact", tb.Contact, "timeout", pg.kaTimeout)
	}
}

// prune forgets replies older than keepalive_timeout: they can no longer
// keep a contact alive, and the contact may be gone.
func (pg *pinger) prune(now time.Time) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	for ruid, t := range pg.replied {
		if now.Sub(t) > pg.kaTimeout {
			delete(pg.replied, ruid)
		}
	}
}

// reverseHex writes n in hex, least significant digit first, as
// Kamailio's int2reverse_hex ("0" for zero).
func reverseHex(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b [8]byte
	i := 0
	for ; n != 0; n >>= 4 {
		b[i] = "0123456789abcdef"[n&0xf]
		i++
	}
	return string(b[:i])
}

// parseReverseHex reads what reverseHex wrote.
func parseReverseHex(s string) (uint32, bool) {
	if s == "" || len(s) > 8 {
		return 0, false
	}
	var n uint32
	for i := len(s) - 1; i >= 0; i-- {
		d, err := strconv.ParseUint(s[i:i+1], 16, 8)
		if err != nil {
			return 0, false
		}
		n = n<<4 | uint32(d)
	}
	return n, true
}
