package siputils

import (
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// optionsReply answers an OPTIONS request addressed to this server (R-URI
// without user, host and port ours) with 200 OK and the capability
// headers of the module parameters. Like Kamailio's sl send_reply, the
// reply goes through the transaction when tm has one for the request.
func (mod *Module) optionsReply(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !m.IsRequest() || m.Request().Method != sip.OPTIONS {
		m.Errorf(mod.log, "options_reply: called for a message that is not an OPTIONS request")
		return kemi.Fail
	}
	_, u, ok := mod.rURI(m, "options_reply")
	if !ok {
		return kemi.Fail
	}
	if u.hasUser {
		m.Errorf(mod.log, "options_reply: the R-URI contains a username")
		return kemi.Fail
	}
	if u.scheme != "sip" && u.scheme != "sips" {
		m.Errorf(mod.log, "options_reply: the R-URI is not a SIP URI")
		return kemi.Fail
	}
	proto := ""
	if p, found := findParam(splitParams(u.params), "transport", true); found {
		proto = strings.ToLower(unquote(p.value))
	}
	if m.Host == nil || !m.Host.IsMyself(u.host, u.portNum(0), proto) {
		m.Errorf(mod.log, "options_reply: the R-URI %s is not this server", m.RURI())
		return kemi.Fail
	}

	hdrs := []sip.Header{
		sip.NewHeader("Accept", mod.optAccept),
		sip.NewHeader("Accept-Encoding", mod.optAcceptEnc),
		sip.NewHeader("Accept-Language", mod.optAcceptLang),
		sip.NewHeader("Supported", mod.optSupported),
	}
	if mod.optAllow != "" {
		hdrs = append([]sip.Header{sip.NewHeader("Allow", mod.optAllow)}, hdrs...)
	}
	// the headers ride on the reply like Kamailio's reply lumps, for this
	// reply only
	saved := m.ReplyHeaders
	m.ReplyHeaders = append(append([]sip.Header(nil), saved...), hdrs...)
	defer func() { m.ReplyHeaders = saved }()

	if tm, _ := mod.svc.Lookup(kemi.ServiceTM).(kemi.StatefulReplier); tm != nil {
		done, err := tm.StatefulReply(m, 200, "OK")
		if done {
			if err != nil {
				mod.optFailed.Inc()
				mod.log.Warn("options_reply: stateful reply failed", "err", err, "at", m.Where())
				return kemi.Fail
			}
			mod.optReplies.Inc()
			return kemi.OK
		}
	}
	res := m.NewReply(200, "OK")
	if err := m.Host.Reply(m, res); err != nil {
		mod.optFailed.Inc()
		mod.log.Warn("options_reply: reply failed", "err", err, "at", m.Where())
		return kemi.Fail
	}
	mod.optReplies.Inc()
	return kemi.OK
}
