package registrar

import (
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// pendingReply is the reply save decided: sent at once, or kept on the
// message for reg_send_reply (flag 0x02).
type pendingReply struct {
	why      rerr
	contacts string // the Contact header value; "" for none
	path     string
}

// pendingKey keys the pending reply on the message.
type pendingKey struct{}

// contactHeader is Kamailio's build_contact: every live binding as
// <uri>;q=..;expires=..;received="..";+sip.instance="..";reg-id=.., in one
// Contact header, separated by ", ".
func (mod *Module) contactHeader(bs []kemi.Binding, now time.Time) string {
	var b strings.Builder
	for i := range bs {
		c := &bs[i]
		if c.Expired(now) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("<" + c.Contact + ">")
		if c.Q >= 0 {
			b.WriteString(";q=" + kemi.QValue(c.Q))
		}
		exp := 0
		if !c.Expires.IsZero() {
			exp = int(c.Expires.Sub(now).Round(time.Second) / time.Second)
		}
		b.WriteString(";expires=" + strconv.Itoa(exp))
		if mod.cfg.receivedParam != "" && c.Received != "" {
			b.WriteString(";" + mod.cfg.receivedParam + `="` + c.Received + `"`)
		}
		if c.Instance != "" {
			b.WriteString(`;+sip.instance="` + c.Instance + `"`)
		}
		if c.RegID > 0 {
			b.WriteString(";reg-id=" + strconv.Itoa(c.RegID))
		}
	}
	return b.String()
}

// reply sends r now, keeps it for reg_send_reply (flag 0x02), or only
// puts its headers on the message (0x02|0x10), as save does.
func (mod *Module) reply(m *kemi.Msg, flags int, r *pendingReply) kemi.Value {
	switch {
	case flags&saveNoReply == 0:
		if m.Route == kemi.RouteRequest || m.Route == kemi.RouteFailure || m.Route == kemi.RouteNone {
			return mod.send(m, r, true)
		}
		return kemi.OK
	case flags&savePrepReply != 0:
		return mod.send(m, r, false)
	}
	m.SetValue(pendingKey{}, r)
	return kemi.OK
}

// sendPending is reg_send_reply: it sends what save with flag 0x02 kept.
func (mod *Module) sendPending(m *kemi.Msg) kemi.Value {
	r, ok := m.Value(pendingKey{}).(*pendingReply)
	if !ok {
		m.Errorf(mod.log, "registrar: reg_send_reply: no save with flag 0x02 ran for this message")
		return kemi.Fail
	}
	m.SetValue(pendingKey{}, nil)
	return mod.send(m, r, true)
}

// send adds the reply headers of r to the message, as Kamailio's
// reg_reply_helper adds its reply lumps, and sends the reply when doSend:
// statefully when the request has a transaction, else statelessly.
func (mod *Module) send(m *kemi.Msg, r *pendingReply, doSend bool) kemi.Value {
	why := r.why
	var hs []sip.Header
	if r.contacts != "" {
		hs = append(hs, sip.NewHeader("Contact", r.contacts))
	}
	if why == rFine && mod.cfg.usePath && r.path != "" && mod.cfg.pathMode != pathModeOff {
		switch {
		case supports(m, "path"):
			hs = append(hs, sip.NewHeader("Path", r.path))
		case mod.cfg.pathMode == pathModeStrict:
			why = rPathUnsup
			hs = append(hs, sip.NewHeader("Unsupported", "path"), sip.NewHeader("Path", r.path))
		}
	}
	if why == rLowExp {
		hs = append(hs, sip.NewHeader("Min-Expires", strconv.FormatInt(mod.cfg.minExpires.Load(), 10)))
	}
	info := rerrInfo[why]
	if info.code != 200 {
		hs = append(hs, sip.NewHeader("P-Registrar-Error", info.info))
		if info.code >= 500 && mod.cfg.retryAfter > 0 {
			hs = append(hs, sip.NewHeader("Retry-After", strconv.Itoa(mod.cfg.retryAfter)))
		}
	}
	m.ReplyHeaders = append(m.ReplyHeaders, hs...)
	if !doSend {
		return kemi.OK
	}
	if m.Request().Method == sip.ACK {
		return kemi.Fail
	}
	if mod.tm != nil {
		done, err := mod.tm.StatefulReply(m, info.code, info.reason)
		if done {
			if err != nil {
				mod.log.Warn("registrar: stateful reply failed", "code", info.code, "err", err, "at", m.Where())
				return kemi.Fail
			}
			return kemi.OK
		}
	}
	if err := m.Host.Reply(m, m.NewReply(info.code, info.reason)); err != nil {
		mod.log.Warn("registrar: reply failed", "code", info.code, "err", err, "at", m.Where())
		return kemi.Fail
	}
	return kemi.OK
}

// supports reports whether the request lists the option tag in a
// Supported header.
func supports(m *kemi.Msg, tag string) bool {
	for _, v := range m.HeaderValues("Supported") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), tag) {
				return true
			}
		}
	}
	return false
}
