package tm

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// uacPrefix starts the Via branch of requests tm sends as a UAC.
const uacPrefix = "z9hG4bKkmu"

// uacTx is a request of our own (t_uac_send, a module's kemi.UAC): a
// client transaction on the module's wheel, like a branch without a
// server side.
type uacTx struct {
	mu     sync.Mutex
	id     string
	req    *sip.Request
	dst    kemi.Dest
	retr   tentry // timer A / E
	fr     tentry // the timeout
	retrIv time.Duration
	prov   bool // a provisional reply came
	ended  bool
	done   func(kemi.UACResult)
}

// uacTable holds the requests of our own by Via branch, so that their
// replies end there and not in the script.
type uacTable struct {
	mu sync.Mutex
	m  map[string]*uacTx
}

func (u *uacTable) add(x *uacTx) {
	u.mu.Lock()
	if u.m == nil {
		u.m = map[string]*uacTx{}
	}
	u.m[x.id] = x
	u.mu.Unlock()
}

func (u *uacTable) get(id string) *uacTx {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.m[id]
}

func (u *uacTable) remove(id string) {
	u.mu.Lock()
	delete(u.m, id)
	u.mu.Unlock()
}

// uacSend is t_uac_send(method, ruri, nexthop, socket, headers, body): a
// new request of our own, sent statefully (retransmitted over UDP until a
// reply comes, fr_timer at most). headers must hold From and To; Call-ID,
// CSeq, Max-Forwards, a From tag and Content-Length are added when
// missing. nexthop and socket may be empty (or "."). Replies are
// absorbed; a 2xx to an INVITE is not acknowledged (as in Kamailio, the
// script would need t_uac_ack_local).
func (mod *Module) uacSend(m *kemi.Msg, method, ruri, nexthop, socket, headers, body string) kemi.Value {
	r := kemi.UACRequest{Method: method, RURI: ruri, NextHop: nexthop, Socket: socket, Headers: headers, Body: body}
	if err := mod.SendRequest(r, nil); err != nil {
		m.Errorf(mod.log, "t_uac_send: %v", err)
		return kemi.Fail
	}
	return kemi.OK
}

// SendRequest sends a request of a module's own (kemi.UAC): statefully,
// retransmitted over UDP, ended by its final reply, r.Timeout (fr_timer
// when 0) or a transport error. done, when not nil, gets the outcome.
func (mod *Module) SendRequest(r kemi.UACRequest, done func(kemi.UACResult)) error {
	req, err := buildUACRequest(r.Method, r.RURI, r.Headers, r.Body)
	if err != nil {
		return err
	}
	next := r.RURI
	if r.NextHop != "" && r.NextHop != "." {
		next = r.NextHop
	}
	dst, err := mod.resolve(next)
	if err != nil {
		return fmt.Errorf("cannot resolve %s: %w", next, err)
	}
	if r.Socket != "" && r.Socket != "." {
		s := mod.host.FindSocket(r.Socket)
		if s == nil {
			return fmt.Errorf("no local socket %q", r.Socket)
		}
		if s.Proto == dst.Proto {
			dst.Sock = s
		}
	}
	id := uacPrefix + mod.prefix + "." + strconv.FormatUint(mod.nextID.Add(1), 36)
	via := mod.host.Via(nil, &dst, id)
	if via == nil {
		return fmt.Errorf("no local socket for %s", dst)
	}
	req.PrependHeader(via)
	req.SetTransport(strings.ToUpper(dst.Proto))
	req.SetDestination(dst.Addr.String())
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = mod.frTimer.Load()
	}
	x := &uacTx{id: id, req: req, dst: dst, done: done}
	x.retr.u, x.fr.u = x, x
	// in the table before it is sent, so that a quick reply finds it
	mod.uacs.add(x)
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := mod.host.SendRequest(nil, req, dst); err != nil {
		x.ended = true
		mod.uacs.remove(id)
		mod.met.sendErrors.Inc()
		return err
	}
	mod.met.uacRequests.Inc()
	if !reliable(dst) {
		x.retrIv = mod.t1
		mod.wheel.set(&x.retr, x.retrIv, tkRequest)
	}
	mod.wheel.set(&x.fr, timeout, tkFR)
	return nil
}

// fireUAC acts on an expiry of a request of our own.
func (mod *Module) fireUAC(x expiry) {
	u := x.e.u
	u.mu.Lock()
	if u.ended || !mod.wheel.current(x) {
		u.mu.Unlock()
		return
	}
	switch x.kind {
	case tkRequest:
		if u.prov && u.req.Method == sip.INVITE {
			break
		}
		if err := mod.resend(u.req, u.dst); err != nil {
			// no use retransmitting into a transport that fails: the
			// outcome is known now (kemi.UAC: 477 when sending failed)
			done := mod.endUAC(u)
			u.mu.Unlock()
			mod.report(done, kemi.UACResult{Code: 477, Reason: "Unfortunately error on sending to next hop occurred"})
			return
		}
		switch {
		case u.prov:
			u.retrIv = mod.t2
		default: // capped at T2 for INVITE too, as Kamailio's
			u.retrIv = min(2*u.retrIv, mod.t2)
		}
		mod.wheel.set(&u.retr, u.retrIv, tkRequest)
	case tkFR:
		mod.met.timeouts.Inc()
		done := mod.endUAC(u)
		u.mu.Unlock()
		mod.report(done, kemi.UACResult{Code: 408, Reason: "Request Timeout"})
		return
	}
	u.mu.Unlock()
}

// endUAC ends a request of our own and returns its callback; u.mu held.
func (mod *Module) endUAC(u *uacTx) func(kemi.UACResult) {
	u.ended = true
	mod.wheel.stop(&u.retr)
	mod.wheel.stop(&u.fr)
	mod.uacs.remove(u.id)
	done := u.done
	u.done, u.req = nil, nil
	return done
}

// report gives a request's outcome to its callback, outside any lock.
func (mod *Module) report(done func(kemi.UACResult), res kemi.UACResult) {
	if done == nil {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			mod.log.Error("core/tm: UAC reply callback panicked", "panic", p)
		}
	}()
	done(res)
}

// onUACReply hands a reply to the request of ours it belongs to: a
// provisional one stops an INVITE's retransmissions, a final one ends the
// request (a negative reply to an INVITE is acknowledged, RFC 3261
// §17.1.1.3; a 2xx is not, as in Kamailio).
func (mod *Module) onUACReply(id string, res *sip.Response) {
	mod.met.absorbed.Inc()
	u := mod.uacs.get(id)
	if u == nil {
		return
	}
	u.mu.Lock()
	if u.ended {
		u.mu.Unlock()
		return
	}
	if res.StatusCode < 200 {
		u.prov = true
		if u.req.Method == sip.INVITE {
			mod.wheel.stop(&u.retr)
		}
		u.mu.Unlock()
		return
	}
	if res.StatusCode >= 300 && u.req.Method == sip.INVITE {
		if err := mod.host.SendRequest(nil, negativeAck(u.req, res.To()), u.dst); err != nil {
			mod.met.sendErrors.Inc()
		}
	}
	done := mod.endUAC(u)
	u.mu.Unlock()
	mod.report(done, kemi.UACResult{Code: res.StatusCode, Reason: res.Reason, Reply: res})
}

// buildUACRequest parses method, R-URI, the script's headers and body
// into a request and fills in what a request must have.
func buildUACRequest(method, ruri, headers, body string) (*sip.Request, error) {
	method = strings.ToUpper(strings.TrimSpace(method))
	if method == "" || strings.ContainsAny(method, " \t\r\n") {
		return nil, fmt.Errorf("bad method %q", method)
	}
	var u sip.Uri
	if err := sip.ParseUri(ruri, &u); err != nil {
		return nil, fmt.Errorf("bad R-URI %q: %v", ruri, err)
	}
	var sb strings.Builder
	sb.WriteString(method + " " + ruri + " SIP/2.0\r\n")
	for _, line := range strings.Split(strings.ReplaceAll(headers, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		if kemi.HeaderNameIs(strings.TrimSpace(name), "Content-Length") {
			continue // written below, from the body
		}
		sb.WriteString(line + "\r\n")
	}
	sb.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	msg, err := sip.ParseMessage([]byte(sb.String()))
	if err != nil {
		return nil, fmt.Errorf("bad headers: %v", err)
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return nil, fmt.Errorf("not a request")
	}
	if req.From() == nil || req.To() == nil {
		return nil, fmt.Errorf("headers need From and To")
	}
	if body != "" && req.ContentType() == nil {
		return nil, fmt.Errorf("a body needs a Content-Type header")
	}
	if !req.From().Params.Has("tag") {
		req.From().Params.Add("tag", randomToken(8))
	}
	if req.CallID() == nil {
		cid := sip.CallIDHeader(randomToken(16))
		req.AppendHeader(&cid)
	}
	if req.CSeq() == nil {
		req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.RequestMethod(method)})
	} else if string(req.CSeq().MethodName) != method {
		return nil, fmt.Errorf("CSeq method %s is not %s", req.CSeq().MethodName, method)
	}
	if req.MaxForwards() == nil {
		mf := sip.MaxForwardsHeader(70)
		req.AppendHeader(&mf)
	}
	return req, nil
}

// randomToken returns n random bytes in hex (tags, Call-IDs).
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
