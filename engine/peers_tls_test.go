package engine_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// peerScript relays requests statefully: new ones to the TARGET the
// test sets, in-dialog ones along their route. It registers WebSocket
// clients and answers an OPTIONS for no user itself.
const peerScript = `
function ksr_request_route()
	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 then
			KSR.tm.t_relay()
			return
		end
		KSR.sl.sl_send_reply(404, "Not Here")
		return
	end
	if KSR.is_REGISTER() then
		if KSR.is_WSX() then KSR.nathelper.add_contact_alias() end
		KSR.registrar.save("location", 0)
		return
	end
	if KSR.is_OPTIONS() and KSR.pv.get("$rU") == nil then
		KSR.hdr.append_to_reply("X-Proto: " .. tostring(KSR.pv.get("$pr")) .. "\r\n")
		KSR.sl.sl_send_reply(200, "OK")
		return
	end
	if KSR.is_INVITE() then KSR.rr.record_route() end
	KSR.pv.sets("$du", TARGET)
	if KSR.tm.t_relay() < 0 then KSR.sl.sl_send_reply(500, "Relay Failed") end
end
`

// sipgoUAS is a sipgo UA answering OPTIONS, INVITE and BYE with 200 and
// recording what reached it.
type sipgoUAS struct {
	ua             *sipgo.UserAgent
	srv            *sipgo.Server
	contact        sip.Uri
	invites        chan *sip.Request
	gotAck, gotBye atomic.Bool
	gotOptions     atomic.Int32
}

// newSipgoUAS makes a UAS whose 200s carry contact.
func newSipgoUAS(t *testing.T, name string, contact sip.Uri, opts ...sipgo.UserAgentOption) *sipgoUAS {
	t.Helper()
	ua, err := sipgo.NewUA(append([]sipgo.UserAgentOption{sipgo.WithUserAgent(name)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	u := &sipgoUAS{ua: ua, srv: srv, contact: contact, invites: make(chan *sip.Request, 4)}
	ok := func(req *sip.Request) *sip.Response {
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(sip.NewHeader("X-Peer", name))
		return res
	}
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		u.gotOptions.Add(1)
		_ = tx.Respond(ok(req))
	})
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		u.invites <- req
		res := ok(req)
		res.AppendHeader(&sip.ContactHeader{Address: u.contact})
		_ = tx.Respond(res)
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { u.gotAck.Store(true) })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		u.gotBye.Store(true)
		_ = tx.Respond(ok(req))
	})
	return u
}

// transportParam is the URI parameter transport=proto.
func transportParam(proto string) sip.HeaderParams {
	p := sip.NewParams()
	p.Add("transport", proto)
	return p
}

// waitAckBye checks that the ACK and the BYE reached the UAS; the ACK
// has no response, so it may come after the BYE's 200.
func (u *sipgoUAS) waitAckBye(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !(u.gotAck.Load() && u.gotBye.Load()) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !u.gotAck.Load() || !u.gotBye.Load() {
		t.Errorf("the UAS got ACK=%v BYE=%v", u.gotAck.Load(), u.gotBye.Load())
	}
}

// finalResponse waits for the final response of tx, and returns it with
// the status codes of all responses seen.
func finalResponse(t *testing.T, ctx context.Context, tx sip.ClientTransaction) (*sip.Response, []int) {
	t.Helper()
	var codes []int
	for {
		select {
		case res := <-tx.Responses():
			codes = append(codes, res.StatusCode)
			if res.StatusCode >= 200 {
				return res, codes
			}
		case <-tx.Done():
			t.Fatalf("transaction ended without a final response (%v): %v", codes, tx.Err())
		case <-ctx.Done():
			t.Fatalf("no final response; got %v", codes)
		}
	}
}

// inDialog builds an ACK or BYE for the dialog final set up, routed by
// its Record-Route.
func inDialog(method sip.RequestMethod, final *sip.Response, cseq uint32) *sip.Request {
	req := sip.NewRequest(method, final.Contact().Address)
	rrs := final.GetHeaders("Record-Route")
	for i := len(rrs) - 1; i >= 0; i-- {
		rr := rrs[i].(*sip.RecordRouteHeader)
		req.AppendHeader(&sip.RouteHeader{Address: rr.Address})
	}
	for _, h := range []string{"From", "To", "Call-ID"} {
		req.AppendHeader(sip.HeaderClone(final.GetHeader(h)))
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	return req
}

// TestPeerSipgoTLS: a sipgo UAC talks to kemi over TLS, and kemi relays
// statefully over TLS to a sipgo UAS that demands and verifies kemi's
// client certificate while kemi verifies the UAS's with ca_list. sipgo's
// parser and transaction layer judge every message on both sides.
func TestPeerSipgoTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "ca")
	kemiCert, kemiKey := ca.issue("kemi", "kemi.test", "kemi.test", "127.0.0.1")
	uasCert, uasKey := ca.issue("uas", "uas.test", "127.0.0.1")

	// the UAS listens on TLS and asks for a client certificate from the CA
	var kemiSeen atomic.Value
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pair(t, uasCert, uasKey)},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.pool(),
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				kemiSeen.Store(cs.PeerCertificates[0].Subject.CommonName)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	uasPort := ln.Addr().(*net.TCPAddr).Port
	uasContact := sip.Uri{Scheme: "sip", User: "uas", Host: "127.0.0.1", Port: uasPort,
		UriParams: transportParam("tls")}
	uas := newSipgoUAS(t, "uas", uasContact)
	go func() { _ = uas.srv.ServeTLS(ln) }()
	t.Cleanup(func() { ln.Close() })

	script := fmt.Sprintf("TARGET = \"sip:127.0.0.1:%d;transport=tls\"\n", uasPort) + peerScript
	s := enginetest.Start(t, script, withTLS(&engine.TLSConfig{
		TLSProfile: engine.TLSProfile{Certificate: kemiCert, PrivateKey: kemiKey, CAList: ca.caFile()},
	}))
	kemiTLS := s.Addr("tls")

	uac, err := sipgo.NewUA(sipgo.WithUserAgent("uac"), sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: ca.pool()}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uac.Close() })
	client, err := sipgo.NewClient(uac, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := peerContext(t)
	kemiURI := func(user string) sip.Uri {
		return sip.Uri{Scheme: "sip", User: user, Host: kemiTLS.Addr().String(), Port: int(kemiTLS.Port()),
			UriParams: transportParam("tls")}
	}

	t.Run("OPTIONS", func(t *testing.T) {
		res, err := client.Do(ctx, sip.NewRequest(sip.OPTIONS, kemiURI("uas")))
		if err != nil {
			t.Fatalf("OPTIONS: %v\n%s", err, s.Logs())
		}
		if res.StatusCode != 200 || res.GetHeader("X-Peer") == nil || res.GetHeader("X-Peer").Value() != "uas" {
			t.Fatalf("OPTIONS answered by someone else:\n%s", res)
		}
		if got := uas.gotOptions.Load(); got != 1 {
			t.Errorf("the UAS got %d OPTIONS, want 1", got)
		}
	})

	t.Run("INVITE ACK BYE", func(t *testing.T) {
		invite := sip.NewRequest(sip.INVITE, kemiURI("bob"))
		invite.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "uac", Host: "127.0.0.1",
			UriParams: transportParam("tls")}})
		tx, err := client.TransactionRequest(ctx, invite)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Terminate()
		final, codes := finalResponse(t, ctx, tx)
		if final.StatusCode != 200 || codes[0] != 100 {
			t.Fatalf("responses %v, want 100 then 200\n%s", codes, s.Logs())
		}
		if vias := final.GetHeaders("Via"); len(vias) != 1 {
			t.Errorf("the 200 kept %d Vias, want only the UAC's", len(vias))
		}
		var relayed *sip.Request
		select {
		case relayed = <-uas.invites:
		default:
			t.Fatal("the UAS answered but recorded no INVITE")
		}
		if via := relayed.Via(); via.Transport != "TLS" || via.Port != int(kemiTLS.Port()) {
			t.Errorf("kemi's Via at the UAS: %s", via.Value())
		}
		rr := final.GetHeader("Record-Route")
		if rr == nil || !strings.Contains(rr.Value(), fmt.Sprintf("127.0.0.1:%d;transport=tls", kemiTLS.Port())) {
			t.Fatalf("Record-Route %v, want kemi's TLS socket", rr)
		}
		if cn, _ := kemiSeen.Load().(string); cn != "kemi.test" {
			t.Errorf("the UAS saw the client certificate %q, want kemi.test", cn)
		}

		if err := client.WriteRequest(inDialog(sip.ACK, final, final.CSeq().SeqNo)); err != nil {
			t.Fatal(err)
		}
		res, err := client.Do(ctx, inDialog(sip.BYE, final, final.CSeq().SeqNo+1))
		if err != nil {
			t.Fatalf("BYE: %v\n%s", err, s.Logs())
		}
		if res.StatusCode != 200 || res.GetHeader("X-Peer") == nil {
			t.Fatalf("BYE answered\n%s", res)
		}
		uas.waitAckBye(t)
	})
	if got := s.Metric(`kemi_core_tls_handshake_failures_total{direction="out"}`); got != 0 {
		t.Errorf("outbound handshake failures %v, want 0", got)
	}
}
