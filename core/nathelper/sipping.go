package nathelper

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// build writes the SIP ping of b, sent from sock, byte for byte as
// Kamailio's nathelper writes it: no Max-Forwards, the From tag
// "RUID-AORHASH-COUNTER" (which the reply brings back, so that it tells
// which contact answered) and the Call-ID "PREFIX-COUNTER-TICKS@ADDRESS"
// (whose fixed prefix tells the replies to pings from the others).
func (pg *pinger) build(b *kemi.Binding, sock *kemi.Socket, now time.Time) []byte {
	var sb strings.Builder
	sb.Grow(256 + 2*len(b.Contact) + len(b.Path) + len(b.RUID))
	sb.WriteString(pg.method + " " + b.Contact + " SIP/2.0\r\n")
	sb.WriteString("Via: SIP/2.0/UDP " + kemi.HostPort(sock.Host(), sock.Port()))
	sb.WriteString(";branch=z9hG4bK" + strconv.Itoa(1000000+rand.IntN(9000000)) + "\r\n")
	if b.Path != "" {
		sb.WriteString("Route: " + b.Path + "\r\n")
	}
	sb.WriteString("From: " + pg.from + ";tag=" + b.RUID + "-" + reverseHex(aorHash(b.AOR)) + "-" + reverseHex(pg.tags.Add(1)-1) + "\r\n")
	sb.WriteString("To: " + b.Contact + "\r\n")
	ticks := uint32(now.Sub(pg.start) / time.Second)
	sb.WriteString("Call-ID: " + pg.callIDPrefix + "-" + reverseHex(pg.calls.Add(1)-1) + "-" + reverseHex(ticks) + "@" + sock.Addr.Addr().String() + "\r\n")
	sb.WriteString("CSeq: 1 " + pg.method + "\r\n")
	sb.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(sb.String())
}

// aorHash is the AOR hash written in the From tag (Kamailio writes its
// usrloc hash there; the value is only read back by the sender).
func aorHash(aor string) uint32 {
	return aorSlot(aor, 1<<31) // fnv-1a, reduced to 31 bits
}

// onReply takes the replies to our SIP pings, as Kamailio's reply filter:
// one Via, the ping method in CSeq, and our Call-ID prefix. It reports
// whether the reply was one (then nobody else sees it). With
// keepalive_timeout, the RUID in the From tag marks that contact alive.
func (pg *pinger) onReply(m *kemi.Msg) bool {
	// every reply the engine receives comes here: the cheap Call-ID
	// prefix first, the Via count (a walk of all headers) last
	cid := m.CallID()
	// PREFIX-COUNTER...: what follows the prefix is '-' and more
	if rest, ok := strings.CutPrefix(cid, pg.callIDPrefix); !ok || len(rest) < 2 || rest[0] != '-' {
		return false
	}
	res := m.Response()
	cs := res.CSeq()
	if cs == nil || string(cs.MethodName) != pg.method || len(res.GetHeaders("Via")) != 1 {
		return false
	}
	pg.replies.Inc()
	m.Handled = true
	if pg.kaTimeout > 0 {
		pg.refresh(m)
	}
	return true
}

// refresh records that the contact named in the From tag of a reply to a
// ping answered.
func (pg *pinger) refresh(m *kemi.Msg) {
	from := m.Response().From()
	if from == nil || from.Address.String() != pg.fromURI {
		return
	}
	tag, _ := from.Params.Get("tag")
	// RUID-AORHASH-COUNTER; the RUID may hold '-' itself
	i := strings.LastIndexByte(tag, '-')
	if i <= 0 {
		return
	}
	j := strings.LastIndexByte(tag[:i], '-')
	if j <= 0 {
		return
	}
	if _, ok := parseReverseHex(tag[j+1 : i]); !ok {
		return
	}
	pg.mu.Lock()
	pg.replied[tag[:j]] = time.Now()
	pg.mu.Unlock()
}
