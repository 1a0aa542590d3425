package sanity

import (
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// Exports returns KSR.sanity.
func (mod *Module) Exports() []kemi.Export {
	return []kemi.Export{
		{Module: "sanity", Name: "sanity_check", Params: kemi.II, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.check(m, a.Int(0), a.Int(1))
		}},
		{Module: "sanity", Name: "sanity_check_defaults", Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.check(m, mod.msgChecks, mod.uriChecks)
		}},
		{Module: "sanity", Name: "sanity_reply", Return: kemi.ReturnInt, Func: mod.sanityReply},
	}
}

// failure describes a failed check.
type failure struct {
	// check is the metric label.
	check string
	// code and reason are the error reply; code 0 sends none (Kamailio
	// fails a few checks without a reply).
	code   int
	reason string
	// noReply marks the message as one not to answer at all (Kamailio's
	// FL_MSG_NOREPLY): a later sanity_reply sends nothing either.
	noReply bool
	// why is logged.
	why string
}

// state is what the module keeps on a message between calls.
type state struct {
	// code and reason are the reply of the last failed check while
	// noreply is set, for sanity_reply.
	code   int
	reason string
	// noReply is Kamailio's FL_MSG_NOREPLY: set once, never cleared.
	noReply bool
}

type stateKey struct{}

func getState(m *kemi.Msg) *state {
	st, _ := m.Value(stateKey{}).(*state)
	return st
}

func ensureState(m *kemi.Msg) *state {
	st := getState(m)
	if st == nil {
		st = &state{}
		m.SetValue(stateKey{}, st)
	}
	return st
}

// check runs the checks selected by msgChecks (and uriChecks for the parse
// URIs check) in Kamailio's order and stops at the first failure. Bits
// Kamailio does not know are ignored, as its KEMI function does.
func (mod *Module) check(m *kemi.Msg, msgChecks, uriChecks int) kemi.Value {
	if m.SIP() == nil {
		m.Errorf(mod.log, "sanity_check: no message")
		return kemi.Fail
	}
	mod.checks.Inc()
	if mod.noreply {
		// as Kamailio: the reply info belongs to the last call only
		if st := getState(m); st != nil {
			st.code, st.reason = 0, ""
		}
	}
	f := mod.run(m, msgChecks, uriChecks)
	if f == nil {
		return kemi.OK
	}
	mod.failures[f.check].Inc()
	mod.log.Debug("sanity check failed", "check", f.check, "why", f.why, "method", m.Method(), "at", m.Where())
	if f.noReply {
		ensureState(m).noReply = true
	}
	if f.code != 0 {
		mod.reply(m, f.code, f.reason)
	}
	return kemi.Fail
}

// run returns the first failure, or nil.
func (mod *Module) run(m *kemi.Msg, msgChecks, uriChecks int) *failure {
	if msgChecks&checkSizes != 0 || mod.sizeChecks {
		if f := mod.checkSizes(m); f != nil {
			return f
		}
	}
	for _, s := range mod.steps {
		if msgChecks&s.bit == 0 {
			continue
		}
		if f := s.fn(m, uriChecks); f != nil {
			return f
		}
	}
	return nil
}

// step is one check of sanity_check.
type step struct {
	bit int
	fn  func(m *kemi.Msg, uriChecks int) *failure
}

// buildSteps lists the checks after the size checks, in Kamailio's order.
// The Via version and Via protocol checks are disabled in Kamailio and
// always pass, so they are not listed.
func (mod *Module) buildSteps() []step {
	return []step{
		{checkRURIVersion, checkRURIVersionFn},
		{checkRURIScheme, checkRURISchemeFn},
		{checkRequired, checkRequiredHeaders},
		{checkVia1, checkVia1Header},
		{checkRFC3261, checkRFC3261Compliance},
		{checkCSeqMethod, checkCSeqMethodFn},
		{checkCSeqValue, checkCSeqValueFn},
		{checkCL, checkContentLength},
		{checkExpires, checkExpiresValue},
		{checkProxyRequire, mod.checkProxyRequire},
		{checkParseURIs, checkParseURIsFn},
		{checkDigest, func(m *kemi.Msg, _ int) *failure { return checkCredentials(m, "digest_credentials", true) }},
		{checkAuthorization, func(m *kemi.Msg, _ int) *failure { return checkCredentials(m, "authorization", false) }},
		{checkDupTags, checkDuplicateTags},
	}
}

// reply answers a failed request, as Kamailio's internal sanity_reply: never
// a reply or an ACK; with noreply set the reply is kept for sanity_reply.
func (mod *Module) reply(m *kemi.Msg, code int, reason string) {
	if !m.IsRequest() || m.Request().Method == sip.ACK {
		return
	}
	st := ensureState(m)
	if mod.noreply {
		st.code, st.reason = code, reason
		return
	}
	if st.noReply {
		return
	}
	if err := mod.send(m, code, reason); err != nil {
		mod.log.Warn("sanity reply failed", "code", code, "err", err, "at", m.Where())
	}
}

// send sends a stateless reply.
func (mod *Module) send(m *kemi.Msg, code int, reason string) error {
	if m.Host == nil {
		return errNoHost
	}
	res := m.NewReply(code, reason)
	// the request may carry another version (505): we speak SIP/2.0
	res.SipVersion = "SIP/2.0"
	return m.Host.Reply(m, res)
}

type sanityError string

func (e sanityError) Error() string { return string(e) }

const errNoHost = sanityError("no host to send the reply")

// sanityReply sends the reply of the last failed check when noreply is set
// (500 Server Sanity Failure when there is none). It does nothing and
// returns 1 for replies, ACKs, without noreply, and for messages a check
// marked as not to be answered.
func (mod *Module) sanityReply(m *kemi.Msg, _ kemi.Args) kemi.Value {
	if !m.IsRequest() || m.Request().Method == sip.ACK || !mod.noreply {
		return kemi.OK
	}
	st := getState(m)
	if st != nil && st.noReply {
		return kemi.OK
	}
	code, reason := 500, "Server Sanity Failure"
	if st != nil && st.code != 0 && st.reason != "" {
		code, reason = st.code, st.reason
	} else {
		mod.log.Info("no sanity reply info set - sending 500", "at", m.Where())
	}
	if err := mod.send(m, code, reason); err != nil {
		mod.log.Warn("sanity_reply failed", "code", code, "err", err, "at", m.Where())
		return kemi.Fail
	}
	return kemi.OK
}
