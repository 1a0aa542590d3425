// Package sl is Kamailio's sl module: stateless replies (sl_send_reply),
// replies that are stateful when a transaction exists (send_reply), replies
// to internal errors (sl_reply_error) and stateless forwarding of a received
// reply with a new status (sl_forward_reply).
package sl

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "sl", Order: 40, New: func() kemi.Module { return &Module{} }})
}

// Module is the sl module of one engine.
type Module struct {
	log     *slog.Logger
	svc     *kemi.Services
	tm      kemi.StatefulReplier
	sent    [7]*metrics.Counter
	byCode  map[int]*metrics.Counter // the codes Kamailio's sl counts one by one
	failed  *metrics.Counter
	noReply *metrics.Counter
}

// ModInit creates the metrics.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.svc = env.Services
	for i := 1; i <= 6; i++ {
		mod.sent[i] = env.Metrics.NewCounter(fmt.Sprintf(`kemi_sl_replies_sent_total{class="%dxx"}`, i),
			"Replies sent by sl functions (statelessly, or through tm for a transaction), by status class.")
	}
	codes := kemi.SLCountedCodes()
	names := make([]string, len(codes))
	for i, code := range codes {
		names[i] = strconv.Itoa(code)
	}
	help := "Replies sent by sl functions with the status codes Kamailio's sl statistics count one by one (" + strings.Join(names, ", ") + ")."
	mod.byCode = make(map[int]*metrics.Counter, len(codes))
	for _, code := range codes {
		mod.byCode[code] = env.Metrics.NewCounter(fmt.Sprintf(`kemi_sl_replies_sent_by_code_total{code="%d"}`, code), help)
	}
	mod.failed = env.Metrics.NewCounter(`kemi_sl_send_errors_total`, "Replies sl could not send.")
	mod.noReply = env.Metrics.NewCounter(`kemi_sl_ack_not_replied_total`, "Attempts to reply to an ACK, which gets no reply.")
	return nil
}

// ChildInit finds tm, once every module has published its services.
func (mod *Module) ChildInit(rank int) error {
	if rank == kemi.RankInit {
		mod.tm, _ = mod.svc.Lookup(kemi.ServiceTM).(kemi.StatefulReplier)
	}
	return nil
}

// Exports returns KSR.sl.
func (mod *Module) Exports() []kemi.Export {
	return []kemi.Export{
		{Module: "sl", Name: "sl_send_reply", Params: kemi.IS, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.reply(m, a.Int(0), a.Str(1), false, 0)
		}},
		{Module: "sl", Name: "send_reply", Params: kemi.IS, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.reply(m, a.Int(0), a.Str(1), true, 0)
		}},
		{Module: "sl", Name: "send_reply_mode", Params: []kemi.ParamKind{kemi.ParamInt, kemi.ParamStr, kemi.ParamInt}, Return: kemi.ReturnInt,
			Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
				return mod.reply(m, a.Int(0), a.Str(1), true, a.Int(2))
			}},
		{Module: "sl", Name: "sl_reply_error", Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			code, reason := errorReply(m)
			return mod.reply(m, code, reason, false, 0)
		}},
		{Module: "sl", Name: "send_reply_error", Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			code, reason := errorReply(m)
			return mod.reply(m, code, reason, true, 0)
		}},
		{Module: "sl", Name: "sl_forward_reply", Params: kemi.SS, Return: kemi.ReturnInt, Func: mod.forwardReply},
	}
}

// Reply modes of send_reply_mode.
const (
	modeNoConnect = 1 // send only over an existing connection
	modeClose     = 2 // close the connection after sending
)

// errorReply maps the last internal error to a reply, as sl_reply_error.
func errorReply(m *kemi.Msg) (int, string) {
	if m.ErrCode >= 300 && m.ErrCode < 700 {
		reason := m.ErrReason
		if reason == "" {
			reason = "Error"
		}
		return m.ErrCode, reason
	}
	return 500, "Server Internal Error"
}

// reply sends a reply to the request in m: statefully through tm when
// stateful is set and the request has a transaction, else statelessly.
func (mod *Module) reply(m *kemi.Msg, code int, reason string, stateful bool, mode int) kemi.Value {
	if !m.IsRequest() {
		m.Errorf(mod.log, "sl: cannot reply to a reply")
		return kemi.Fail
	}
	if code < 100 || code > 699 {
		m.Errorf(mod.log, "sl: invalid reply code %d", code)
		return kemi.Fail
	}
	if reason == "" {
		reason = kemi.ReasonPhrase(code)
	}
	if m.Request().Method == sip.ACK {
		mod.noReply.Inc()
		mod.log.Debug("ACK is not replied")
		return kemi.Fail
	}
	// set before the stateful branch: tm sends the reply then and honours
	// them too
	if mode&modeNoConnect != 0 {
		m.ReplyNoConnect = true
	}
	if mode&modeClose != 0 {
		m.ReplyClose = true
	}
	if stateful && mod.tm != nil {
		done, err := mod.tm.StatefulReply(m, code, reason)
		if done {
			if err != nil {
				mod.failed.Inc()
				mod.log.Warn("stateful reply failed", "code", code, "err", err, "at", m.Where())
				return kemi.Fail
			}
			mod.count(code)
			return kemi.OK
		}
	}
	res := m.NewReply(code, reason) // a 3xx lists the destination set
	if err := m.Host.Reply(m, res); err != nil {
		mod.failed.Inc()
		mod.log.Warn("stateless reply failed", "code", code, "err", err, "at", m.Where())
		return kemi.Fail
	}
	mod.count(code)
	return kemi.OK
}

func (mod *Module) count(code int) {
	if c := code / 100; c >= 1 && c <= 6 {
		mod.sent[c].Inc()
	}
	if ctr := mod.byCode[code]; ctr != nil {
		ctr.Inc()
	}
}

// forwardReply forwards the received reply statelessly, optionally with a
// new status code and reason.
func (mod *Module) forwardReply(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !m.IsReply() {
		m.Errorf(mod.log, "sl_forward_reply: not a reply")
		return kemi.Fail
	}
	if c := strings.TrimSpace(a.Str(0)); c != "" {
		code, err := strconv.Atoi(c)
		if err != nil || code < 100 || code > 699 {
			m.Errorf(mod.log, "sl_forward_reply: invalid code %q", c)
			return kemi.Fail
		}
		if code/100 != m.Response().StatusCode/100 && !(m.Response().StatusCode >= 300 && code >= 300) {
			m.Errorf(mod.log, "sl_forward_reply: cannot change %d into %d", m.Response().StatusCode, code)
			return kemi.Fail
		}
		m.Response().StatusCode = code
		m.Response().Reason = kemi.ReasonPhrase(code)
	}
	if r := a.Str(1); r != "" {
		m.Response().Reason = r
	}
	if err := m.Host.Forward(m, ""); err != nil {
		mod.log.Warn("sl_forward_reply failed", "err", err, "at", m.Where())
		return kemi.Fail
	}
	return kemi.OK
}

var (
	_ kemi.ModIniter   = (*Module)(nil)
	_ kemi.ChildIniter = (*Module)(nil)
)
