package rtpengine

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// setChoice is what set_rtpengine_set chose for one message: the set
// every command goes to and, with set_rtpengine_set2, a second one an
// offer goes through after the first (and an answer before it).
type setChoice struct{ first, second int }

type setChoiceKey struct{}

// sets returns the sets a command on m goes through, in order.
func (mod *Module) sets(m *kemi.Msg, cmd string) []*set {
	if len(mod.client.sets) == 0 {
		return []*set{nil}
	}
	ch, ok := m.Value(setChoiceKey{}).(setChoice)
	if !ok {
		return []*set{mod.client.sets[mod.defaultSet]}
	}
	out := []*set{mod.client.sets[ch.first]}
	if ch.second != ch.first && ch.second >= 0 {
		out = append(out, mod.client.sets[ch.second])
		if cmd == cmdAnswer {
			out[0], out[1] = out[1], out[0]
		}
	}
	return out
}

// facts reads from m what a command needs.
func facts(m *kemi.Msg, withSDP bool) msgFacts {
	mf := msgFacts{
		isReply: m.IsReply(),
		callID:  m.CallID(),
		toTag:   m.ToTag(),
		src:     m.Src.Addr(),
	}
	mf.fromTag, _ = m.FromPart(kemi.PartTag)
	branches := viaBranches(m, 2)
	if len(branches) > 0 {
		mf.viaFirst = branches[0]
	}
	if len(branches) > 1 {
		mf.viaSecnd = branches[1]
	}
	if withSDP {
		mf.sdp = string(m.Body())
	}
	return mf
}

// viaBranches returns the branch parameters of the first max Via entries
// ("" for an entry without one), counting the entries of a header that
// lists several.
func viaBranches(m *kemi.Msg, max int) []string {
	var out []string
	for _, h := range m.HeaderBodies("Via") {
		for _, v := range strings.Split(h, ",") {
			if len(out) == max {
				return out
			}
			branch := ""
			for _, p := range strings.Split(v, ";")[1:] {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "branch") {
					branch = strings.TrimSpace(val)
				}
			}
			out = append(out, branch)
		}
	}
	return out
}

// command is one ng command the script asked for.
type command struct {
	fn       string // the KSR function, for logs
	cmd      string
	flags    string
	hasFlags bool // false for the functions without a flags argument
	via      string
}

// run sends c for m to each set the message uses and returns the last
// reply. For offer and answer the SDP rtpengine returns from one set is
// what the next set gets, and it replaces the message's body at the end.
func (mod *Module) run(m *kemi.Msg, c command) (map[string]any, error) {
	withSDP := c.cmd == cmdOffer || c.cmd == cmdAnswer || c.cmd == cmdSubscribeAns
	mf := facts(m, withSDP)
	if withSDP && mod.readSDP != nil {
		v, err := mod.readSDP.Get(m)
		if err != nil {
			mod.count(c.cmd, false)
			return nil, fmt.Errorf("read_sdp_pv %s: %w", mod.readSDP.Text, err)
		}
		if !v.IsNull() { // unset: the body, as without the parameter
			mf.sdp = v.String()
		}
	}
	if withSDP && strings.TrimSpace(mf.sdp) == "" {
		mod.count(c.cmd, false)
		return nil, fmt.Errorf("the message has no SDP body")
	}
	var reply map[string]any
	for _, s := range mod.sets(m, c.cmd) {
		if s == nil {
			mod.count(c.cmd, false)
			return nil, fmt.Errorf("no rtpengine configured (rtpengine_sock)")
		}
		d, cmd, branch, err := buildCommand(c.cmd, mf, c.flags, c.hasFlags, c.via)
		if err != nil {
			mod.count(c.cmd, false)
			return nil, err
		}
		key := callKey{callID: d["call-id"].(string), branch: branch}
		var n *node
		reply, n, err = mod.client.call(s, key, d)
		if n != nil && mod.instPV != nil {
			if perr := mod.instPV.Set(m, kemi.Str(n.url)); perr != nil {
				mod.log.Warn("rtp_inst_pvar: "+perr.Error(), "at", m.Where())
			}
		}
		if err == nil && withSDP && cmd != cmdSubscribeAns {
			sdp, ok := reply["sdp"].(string)
			if !ok {
				err = fmt.Errorf("rtpengine %s replied without an SDP", n.url)
			}
			mf.sdp = sdp
		}
		mod.count(cmd, err == nil)
		if err != nil {
			return reply, err
		}
		if cmd == cmdDelete {
			mod.client.forget(key)
		} else {
			mod.client.remember(key, n)
		}
	}
	if withSDP && c.cmd != cmdSubscribeAns {
		if mod.writeSDP == nil {
			m.SetBody([]byte(mf.sdp), "")
		} else if err := mod.writeSDP.Set(m, kemi.Str(mf.sdp)); err != nil {
			return reply, fmt.Errorf("write_sdp_pv %s: %w", mod.writeSDP.Text, err)
		}
	}
	return reply, nil
}

func (mod *Module) count(cmd string, ok bool) {
	rc := mod.requests[cmd]
	if rc == nil {
		return
	}
	if ok {
		rc.ok.Inc()
	} else {
		rc.failed.Inc()
	}
}

// do runs c and turns the outcome into the script's return: 1, or -1
// with an error logged at the script's file:line.
func (mod *Module) do(m *kemi.Msg, c command) kemi.Value {
	if _, err := mod.run(m, c); err != nil {
		m.Errorf(mod.log, "rtpengine.%s: %v", c.fn, err)
		return kemi.Fail
	}
	return kemi.OK
}

// manage does what the message calls for, as Kamailio's rtpengine_manage:
// delete for BYE and CANCEL and for negative replies (and for an INVITE
// in a failure route); offer for an INVITE or UPDATE with SDP; answer for
// ACK or PRACK with SDP, for a reply with SDP to an UPDATE or to an INVITE
// that had SDP; offer for a reply with SDP to an INVITE that had none.
func (mod *Module) manage(m *kemi.Msg, flags string, hasFlags bool, via string) kemi.Value {
	if m.Route == kemi.RouteBranchFailure {
		return kemi.OK // the failure route deletes
	}
	method := m.Method()
	c := command{fn: "rtpengine_manage", flags: flags, hasFlags: hasFlags, via: via}
	switch method {
	case "CANCEL", "BYE":
		c.cmd = cmdDelete
		return mod.do(m, c)
	case "INVITE", "ACK", "UPDATE", "PRACK":
	default:
		return kemi.Fail
	}
	hasSDP := bodyIsSDP(m)
	if m.IsRequest() {
		switch {
		case !hasSDP:
			if method == "INVITE" && m.Route != kemi.RouteFailure {
				cseq, _ := m.CSeqNum()
				mod.client.setLateOffer(m.CallID(), cseq)
			}
			return kemi.Fail
		case method == "ACK" || method == "PRACK":
			c.cmd = cmdAnswer
		case method == "UPDATE":
			c.cmd = cmdOffer
		case m.Route == kemi.RouteFailure:
			c.cmd = cmdDelete
		default:
			mod.client.setLateOffer(m.CallID(), 0)
			c.cmd = cmdOffer
		}
		return mod.do(m, c)
	}
	if m.StatusCode() >= 300 {
		c.cmd = cmdDelete
		return mod.do(m, c)
	}
	if !hasSDP {
		return kemi.Fail
	}
	c.cmd = cmdAnswer
	if method == "INVITE" {
		if cseq, _ := m.CSeqNum(); cseq != 0 && mod.client.lateOffer(m.CallID()) == cseq {
			c.cmd = cmdOffer
		}
	}
	return mod.do(m, c)
}

// bodyIsSDP reports whether m carries an SDP body.
func bodyIsSDP(m *kemi.Msg) bool {
	body := m.Body()
	if len(body) == 0 {
		return false
	}
	if ct, ok := m.HeaderBody("Content-Type"); ok {
		ct = strings.ToLower(strings.TrimSpace(ct))
		return strings.HasPrefix(ct, "application/sdp") || strings.HasPrefix(ct, "multipart/")
	}
	return strings.HasPrefix(string(body), "v=")
}

// answer is rtpengine_answer: Kamailio refuses it on requests other than
// ACK and PRACK.
func (mod *Module) answer(m *kemi.Msg, flags string, hasFlags bool, via string) kemi.Value {
	if m.IsRequest() {
		if method := m.Method(); method != "ACK" && method != "PRACK" {
			m.Errorf(mod.log, "rtpengine.rtpengine_answer: an answer cannot be in a %s request", method)
			return kemi.Fail
		}
	}
	return mod.do(m, command{fn: "rtpengine_answer", cmd: cmdAnswer, flags: flags, hasFlags: hasFlags, via: via})
}

// setSets is set_rtpengine_set and set_rtpengine_set2 (second < 0 for
// none): the sets the next commands on this message go to.
func (mod *Module) setSets(m *kemi.Msg, first, second int) kemi.Value {
	for _, id := range []int{first, second} {
		if id >= 0 && mod.client.sets[id] == nil {
			m.Errorf(mod.log, "rtpengine.set_rtpengine_set: set %d is not configured", id)
			return kemi.Fail
		}
	}
	if second < 0 {
		second = first
	}
	m.SetValue(setChoiceKey{}, setChoice{first: first, second: second})
	return kemi.OK
}

// rtpstat is $rtpstat: the RTP and RTCP totals rtpengine counts for the
// call, as Kamailio writes them; null when the query fails.
func (mod *Module) rtpstat(m *kemi.Msg, _ *kemi.PVName) (kemi.Value, error) {
	reply, err := mod.run(m, command{fn: "$rtpstat", cmd: cmdQuery})
	if err != nil {
		mod.log.Warn("$rtpstat: "+err.Error(), "at", m.Where())
		return kemi.Null, nil
	}
	tot, _ := reply["totals"].(map[string]any)
	rtp, _ := tot["RTP"].(map[string]any)
	rtcp, _ := tot["RTCP"].(map[string]any)
	if rtp == nil || rtcp == nil {
		return kemi.Null, nil
	}
	n := func(d map[string]any, k string) int64 {
		if v, ok := d[k].(int64); ok {
			return v
		}
		return -1
	}
	return kemi.Str(fmt.Sprintf("RTP: %d bytes, %d packets, %d errors; RTCP: %d bytes, %d packets, %d errors",
		n(rtp, "bytes"), n(rtp, "packets"), n(rtp, "errors"), n(rtcp, "bytes"), n(rtcp, "packets"), n(rtcp, "errors"))), nil
}

// queryV is rtpengine_query_v: the whole query reply, as JSON ("j", or
// "jp" indented), into the pseudo-variable dpv.
func (mod *Module) queryV(m *kemi.Msg, format, dpv string) kemi.Value {
	if format != "j" && format != "jp" && format != "jpretty" {
		m.Errorf(mod.log, "rtpengine.rtpengine_query_v: format %q: want j or jp", format)
		return kemi.Fail
	}
	reply, err := mod.run(m, command{fn: "rtpengine_query_v", cmd: cmdQuery})
	if err != nil {
		m.Errorf(mod.log, "rtpengine.rtpengine_query_v: %v", err)
		return kemi.Fail
	}
	var b []byte
	if format == "j" {
		b, err = json.Marshal(reply)
	} else {
		b, err = json.MarshalIndent(reply, "", "  ")
	}
	if err == nil {
		err = mod.pvs.Set(m, dpv, kemi.Str(string(b)))
	}
	if err != nil {
		m.Errorf(mod.log, "rtpengine.rtpengine_query_v: %s: %v", dpv, err)
		return kemi.Fail
	}
	return kemi.OK
}

// subscribeRequest is rtpengine_subscribe_request: rtpengine makes a new
// media subscription to the call and returns its SDP and to-tag, which go
// into the pseudo-variables sdpPV and toTagPV. streamXAVP, the list of
// streams Kamailio writes for SIPREC, is not filled by kemi: naming one
// is refused rather than left silently empty.
func (mod *Module) subscribeRequest(m *kemi.Msg, flags, sdpPV, toTagPV, streamXAVP string) kemi.Value {
	const fn = "rtpengine.rtpengine_subscribe_request"
	if streamXAVP != "" {
		m.Errorf(mod.log, "%s: the stream xavp %q is not supported by kemi; pass \"\"", fn, streamXAVP)
		return kemi.Fail
	}
	reply, err := mod.run(m, command{fn: "rtpengine_subscribe_request", cmd: cmdSubscribeReq, flags: flags, hasFlags: true})
	if err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	sdp, _ := reply["sdp"].(string)
	toTag, _ := reply["to-tag"].(string)
	if sdp == "" || toTag == "" {
		m.Errorf(mod.log, "%s: rtpengine replied without sdp or to-tag", fn)
		return kemi.Fail
	}
	for _, kv := range [][2]string{{sdpPV, sdp}, {toTagPV, toTag}} {
		if kv[0] == "" {
			continue
		}
		if err := mod.pvs.Set(m, kv[0], kemi.Str(kv[1])); err != nil {
			m.Errorf(mod.log, "%s: %s: %v", fn, kv[0], err)
			return kemi.Fail
		}
	}
	return kemi.OK
}
