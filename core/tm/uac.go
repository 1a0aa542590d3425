package tm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
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

// uacTable holds the client transactions of t_uac_send by Via branch, so
// that their replies end there and not in the script.
type uacTable struct {
	mu sync.Mutex
	m  map[string]*sip.ClientTx
}

func (u *uacTable) add(id string, ctx *sip.ClientTx) {
	u.mu.Lock()
	if u.m == nil {
		u.m = map[string]*sip.ClientTx{}
	}
	u.m[id] = ctx
	u.mu.Unlock()
}

func (u *uacTable) get(id string) *sip.ClientTx {
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
	ctx := sip.NewClientTx(id+"|"+string(req.Method), req, &txConn{host: mod.host, dst: dst}, mod.sipLog)
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = mod.frTimer
	}
	mod.uacs.add(id, ctx)
	// The reader starts first so that a quick reply finds it; it reports
	// nothing when the first transmission fails (the error is returned).
	sent := make(chan bool, 1)
	go mod.consumeUAC(id, ctx, timeout, sent, done)
	if err := ctx.Init(); err != nil {
		sent <- false
		mod.met.sendErrors.Inc()
		ctx.Terminate()
		return err
	}
	sent <- true
	mod.met.uacRequests.Inc()
	return nil
}

// consumeUAC reads the replies of a request of ours until the final one,
// the timeout, or sipgo's own end of the transaction, and reports the
// outcome to done.
func (mod *Module) consumeUAC(id string, ctx *sip.ClientTx, timeout time.Duration, sent <-chan bool, done func(kemi.UACResult)) {
	defer mod.uacs.remove(id)
	res := kemi.UACResult{Code: 408, Reason: "Request Timeout"}
	report := true
	defer func() {
		if done == nil || !report {
			return
		}
		defer func() {
			if p := recover(); p != nil {
				mod.log.Error("core/tm: UAC reply callback panicked", "panic", p)
			}
		}()
		done(res)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ok := <-sent:
			if !ok {
				report = false
				return
			}
			sent = nil
		case r := <-ctx.Responses():
			if r.StatusCode >= 200 {
				res = kemi.UACResult{Code: r.StatusCode, Reason: r.Reason, Reply: r}
				ctx.Terminate()
				return
			}
		case <-timer.C:
			mod.met.timeouts.Inc()
			ctx.Terminate()
			return
		case <-ctx.Done():
			if err := ctx.Err(); err != nil && !errors.Is(err, sip.ErrTransactionTimeout) {
				res = kemi.UACResult{Code: 477, Reason: "Unfortunately error on sending to next hop occurred"}
			}
			return
		}
	}
}

// onUACReply hands a reply to the t_uac_send transaction it belongs to.
func (mod *Module) onUACReply(id string, res *sip.Response) {
	if ctx := mod.uacs.get(id); ctx != nil {
		ctx.Receive(res)
	}
	mod.met.absorbed.Inc()
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
