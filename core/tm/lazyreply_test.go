package tm_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

// forkScript forks an INVITE to bob and carol. With SIPGO defined, the
// reply route turns every reply into sipgo's form (KSR.hdr.remove needs
// it), so that tm takes its sipgo path (branchReply) instead of the
// lazy one (branchReplyLazy).
const forkScript = `
function ksr_request_route()
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
		return
	end
	if KSR.is_ACK() then KSR.tm.t_relay() return end
	KSR.corex.append_branch_uri(KSR.kx.get_def("carol"))
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_relay()
end
function ksr_reply_route()
	if KSR.kx.ifdef("SIPGO") then KSR.hdr.remove("X-None") end
end`

// rawReply is a reply to the request raw as received, written by hand:
// its Vias (the proxy's on top) on one line when oneLine, a To tag.
func rawReply(raw, status, tag string, oneLine bool) string {
	w := parseWire(raw)
	var b strings.Builder
	b.WriteString("SIP/2.0 " + status + "\r\n")
	vias := w.all("Via")
	if oneLine {
		vals := make([]string, len(vias))
		for i, v := range vias {
			_, vals[i], _ = strings.Cut(v, ": ")
		}
		b.WriteString("Via: " + strings.Join(vals, ", ") + "\r\n")
	} else {
		for _, v := range vias {
			b.WriteString(v + "\r\n")
		}
	}
	b.WriteString(w.one("From") + "\r\n" + w.one("To") + ";tag=" + tag + "\r\n")
	b.WriteString(w.one("Call-ID") + "\r\n" + w.one("CSeq") + "\r\n")
	if strings.HasPrefix(status, "2") && strings.Contains(w.one("CSeq"), "INVITE") {
		b.WriteString("Contact: <sip:" + tag + "@127.0.0.1>\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// TestLazyRepliesMatchSipgoForm: a forked call, its replies relayed by
// tm in their lazy form, gives the caller the same replies and the same
// counters as with the replies in sipgo's form: provisional replies of
// both branches, with our Via on a line shared with the caller's; the
// last one again for a retransmitted INVITE; the first 2xx, the CANCEL
// of the other branch and its crossing 2xx (RFC 6026: relayed after the
// transaction is final); a retransmitted 2xx.
func TestLazyRepliesMatchSipgoForm(t *testing.T) {
	type outcome struct {
		replies []string // status line, Vias and To tag of what the caller got
		metrics []string
	}
	run := func(t *testing.T, sipgoForm bool) outcome {
		bob, carol := newPeer(t, "bob"), newPeer(t, "carol")
		defines := map[string]string{"bob": bob.uri(), "carol": carol.uri()}
		if sipgoForm {
			defines["SIPGO"] = "1"
		}
		s, uac := startWith(t, forkScript, defines)
		invite := uac.invite("sip:bob@"+s.UDP(), "lazy-fork-1", "lazyfork1", 1)
		uac.send(s.UDP(), invite)
		binv := bob.rawRequest("INVITE", 2*time.Second)
		cinv := carol.rawRequest("INVITE", 2*time.Second)
		var out outcome
		next := func() { // the next reply but 100 Trying
			t.Helper()
			for {
				r := uac.next(2 * time.Second)
				if strings.HasPrefix(r.raw, "SIP/2.0 100 ") {
					continue
				}
				w := parseWire(r.raw)
				line := w.first + " | " + strings.Join(w.all("Via"), " ") + " | " + w.one("To")
				// the addresses differ from run to run
				line = strings.NewReplacer(uac.addr(), "UAC", strconv.Itoa(uac.port()), "UACPORT", s.UDP(), "PROXY").Replace(line)
				out.replies = append(out.replies, line)
				return
			}
		}
		bob.send(binv.from.String(), rawReply(binv.raw, "180 Ringing", "bob", true))
		next()
		uac.send(s.UDP(), invite) // retransmitted: the 180 again
		next()
		carol.send(cinv.from.String(), rawReply(cinv.raw, "183 Session Progress", "carol", false))
		next()
		bob.send(binv.from.String(), rawReply(binv.raw, "200 OK", "bob", true))
		next()
		// carol rang: she gets a CANCEL, her 200 crossed it
		cancel := carol.rawRequest("CANCEL", 2*time.Second)
		carol.send(cancel.from.String(), rawReply(cancel.raw, "200 OK", "carol", false))
		carol.send(cinv.from.String(), rawReply(cinv.raw, "200 OK", "carol", true))
		next()
		bob.send(binv.from.String(), rawReply(binv.raw, "200 OK", "bob", true)) // retransmitted
		next()
		uac.quiet(200*time.Millisecond, func(r received) bool { return strings.HasPrefix(r.raw, "SIP/2.0 100 ") })
		for _, series := range []string{
			`kemi_tm_replies_relayed_total{class="1xx"}`,
			`kemi_tm_replies_relayed_total{class="2xx"}`,
			`kemi_tm_local_replies_total{class="1xx"}`,
			`kemi_core_messages_sent_total{type="reply"}`,
			`kemi_tm_retransmissions_absorbed_total`,
		} {
			out.metrics = append(out.metrics, series+" "+strconv.FormatFloat(enginetest.MetricValue(s.Scrape(), series), 'f', -1, 64))
		}
		return out
	}
	lazy, sipgo := run(t, false), run(t, true)
	want := []string{"180 Ringing", "180 Ringing", "183 Session Progress", "200 OK", "200 OK", "200 OK"}
	wantTags := []string{"bob", "bob", "carol", "bob", "carol", "bob"}
	if len(lazy.replies) != len(want) {
		t.Fatalf("lazy form: the caller got %d replies, want %d:\n%s", len(lazy.replies), len(want), strings.Join(lazy.replies, "\n"))
	}
	for i, r := range lazy.replies {
		first, rest, _ := strings.Cut(r, " | ")
		vias, to, _ := strings.Cut(rest, " | ")
		if first != "SIP/2.0 "+want[i] || !strings.HasSuffix(to, ";tag="+wantTags[i]) {
			t.Errorf("reply %d: %q, want %s from %s", i, r, want[i], wantTags[i])
		}
		// only the caller's Via, alone on its line
		if strings.Count(vias, "Via:") != 1 || strings.Contains(vias, ",") || !strings.Contains(vias, "branch=z9hG4bKlazyfork1") {
			t.Errorf("reply %d has Vias %q, want only the caller's", i, vias)
		}
	}
	if strings.Join(lazy.replies, "\n") != strings.Join(sipgo.replies, "\n") {
		t.Errorf("the caller got, lazy form:\n%s\nsipgo form:\n%s", strings.Join(lazy.replies, "\n"), strings.Join(sipgo.replies, "\n"))
	}
	if strings.Join(lazy.metrics, "\n") != strings.Join(sipgo.metrics, "\n") {
		t.Errorf("metrics, lazy form:\n%s\nsipgo form:\n%s", strings.Join(lazy.metrics, "\n"), strings.Join(sipgo.metrics, "\n"))
	}
}
