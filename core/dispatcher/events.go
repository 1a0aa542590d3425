package dispatcher

import (
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// The events a destination leaving or joining the rotation raises.
const (
	evDown = "dispatcher:dst-down"
	evUp   = "dispatcher:dst-up"
)

// rctxKey holds the *replyCtx of a running event on its message ($dsv).
type rctxKey struct{}

// runEvent runs the event_callback function with evname for d, as
// Kamailio's ds_run_route: on m, at once, when the script's message
// changed the state (ds_mark_dst); else, for a probe, on a worker soon,
// with a stand-in message whose R-URI ($ru) is the destination.
func (mod *Module) runEvent(m *kemi.Msg, d *dest, evname string, rc replyCtx) {
	mod.log.Info("dispatcher: destination "+stateWord(evname), "set", d.setID, "uri", d.uri, "code", rc.code)
	if mod.callback == "" {
		return
	}
	if m != nil && m.Run != nil {
		prev := m.Value(rctxKey{})
		m.SetValue(rctxKey{}, &rc)
		if _, err := m.Run.Call(mod.callback, kemi.RouteEvent, m, evname); err != nil {
			mod.log.Error("dispatcher: event callback failed", "callback", mod.callback, "event", evname, "err", err)
		}
		m.SetValue(rctxKey{}, prev)
		return
	}
	if mod.host == nil {
		return
	}
	mod.host.Exec(func(run kemi.Runner, proc *kemi.Proc) {
		fm, err := eventMsg(d.uri, proc, mod.host)
		if err != nil {
			mod.log.Error("dispatcher: event message", "uri", d.uri, "err", err)
			return
		}
		fm.SetValue(rctxKey{}, &rc)
		if _, err := run.Call(mod.callback, kemi.RouteEvent, fm, evname); err != nil {
			mod.log.Error("dispatcher: event callback failed", "callback", mod.callback, "event", evname, "err", err)
		}
	})
}

func stateWord(evname string) string {
	if evname == evDown {
		return "down"
	}
	return "up"
}

// eventMsg returns the stand-in message of an event: an OPTIONS request
// from and to 127.0.0.1 like Kamailio's faked message, whose R-URI is the
// destination (Kamailio sets its new_uri).
func eventMsg(uri string, proc *kemi.Proc, host kemi.Host) (*kemi.Msg, error) {
	raw := "OPTIONS " + uri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKkemi-ds\r\n" +
		"From: <sip:kemi@127.0.0.1>;tag=ds\r\nTo: <sip:you@127.0.0.1>\r\n" +
		"Call-ID: kemi-dispatcher-event\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		return nil, err
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return nil, fmt.Errorf("not a request")
	}
	return kemi.WithRequest(&kemi.Msg{Proto: "udp", Proc: proc, Host: host, OrigURI: "sip:you@127.0.0.1", Received: time.Now(), Faked: true}, req), nil
}

// registerDSV adds $dsv(code), $dsv(reason) and $dsv(flags): the reply
// behind the running dispatcher event, $null outside one.
func registerDSV(pvs *kemi.PVTable) error {
	if pvs == nil {
		return nil
	}
	return pvs.Register(kemi.PVClass{Name: "dsv", Param: true, Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
		rc, _ := m.Value(rctxKey{}).(*replyCtx)
		key := p.Key(m)
		if rc == nil {
			switch key {
			case "code", "reason", "flags":
				return kemi.Null, nil
			}
		} else {
			switch key {
			case "code":
				return kemi.Int(rc.code), nil
			case "reason":
				if rc.reason == "" {
					return kemi.Null, nil
				}
				return kemi.Str(rc.reason), nil
			case "flags":
				return kemi.Int(rc.flags), nil
			}
		}
		return kemi.Null, fmt.Errorf("$dsv(%s): want code, reason or flags", key)
	}})
}
