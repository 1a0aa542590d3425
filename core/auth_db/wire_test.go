package auth_db_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// Helpers shared by the tests that speak SIP over real sockets to kemi
// (engine_test.go, sipp_test.go) and to Kamailio (kamailio_test.go).

// registerScript is testdata/register.lua: auth_check on every REGISTER,
// 200 on success, the return code in X-RC (challenges) or in the reason
// (403). Kamailio runs the same file.
func registerScript(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/register.lua")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// uac sends REGISTERs to one server with a sipgo client.
type uac struct {
	t      testing.TB
	ua     *sipgo.UserAgent
	client *sipgo.Client
	addr   string
	cseq   uint32
}

func newUAC(t testing.TB, addr string) *uac {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("authe2e"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	return &uac{t: t, ua: ua, client: client, addr: addr}
}

// request returns a REGISTER of user@domain (R-URI sip:domain, From and
// To the AOR) carrying the header lines in authz ("" for none).
func (u *uac) request(user, domain, authz string) *sip.Request {
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: domain})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: domain}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: domain}, Params: sip.NewParams()})
	u.cseq++
	req.AppendHeader(&sip.CSeqHeader{SeqNo: u.cseq, MethodName: sip.REGISTER})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "192.0.2.10", Port: 5062}})
	if authz != "" {
		req.AppendHeader(sip.NewHeader("Authorization", authz))
	}
	req.SetDestination(u.addr)
	return req
}

// do sends req and returns its final response.
func (u *uac) do(req *sip.Request) *sip.Response {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := u.client.Do(ctx, req)
	if err != nil {
		u.t.Fatalf("REGISTER to %s: %v", u.addr, err)
	}
	return res
}

// register sends one REGISTER of user@domain with the credentials authz.
func (u *uac) register(user, domain, authz string) *sip.Response {
	u.t.Helper()
	return u.do(u.request(user, domain, authz))
}

// challenge sends a REGISTER without credentials and returns the 401's
// challenge for algorithm alg ("" the first one) and its nonce.
func (u *uac) challenge(user, domain, alg string) (*kemi.Digest, string) {
	u.t.Helper()
	res := u.register(user, domain, "")
	if res.StatusCode != 401 {
		u.t.Fatalf("REGISTER without credentials answered %d %s, want 401", res.StatusCode, res.Reason)
	}
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		d, err := kemi.ParseDigest(h.Value())
		if err != nil {
			u.t.Fatalf("challenge %q: %v", h.Value(), err)
		}
		if a, _ := d.Param("algorithm"); alg == "" || strings.EqualFold(a, alg) {
			nonce, _ := d.Param("nonce")
			return d, nonce
		}
	}
	u.t.Fatalf("no %q challenge in\n%s", alg, res)
	return nil, ""
}

// digest is the Authorization a UA computes, by hand, so that a test
// can get every part wrong on purpose.
type digest struct {
	user, realm, pass string
	alg               string // "" MD5 without an algorithm parameter
	nonce             string
	uri               string // "" sip:<realm>
	nc                int    // 0: no qop, no nc
	cnonce            string
}

// header returns the Authorization value.
func (d digest) header() string {
	h := func(s string) string { return hexHash(d.alg, s) }
	uri := d.uri
	if uri == "" {
		uri = "sip:" + d.realm
	}
	cnonce := d.cnonce
	if cnonce == "" {
		cnonce = "0a4f113b"
	}
	ha1 := h(d.user + ":" + d.realm + ":" + d.pass)
	ha2 := h("REGISTER:" + uri)
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username="%s", realm="%s", nonce="%s", uri="%s"`, d.user, d.realm, d.nonce, uri)
	if d.nc == 0 {
		fmt.Fprintf(&b, `, response="%s"`, h(ha1+":"+d.nonce+":"+ha2))
	} else {
		nc := fmt.Sprintf("%08x", d.nc)
		fmt.Fprintf(&b, `, response="%s", qop=auth, nc=%s, cnonce="%s"`, h(ha1+":"+d.nonce+":"+nc+":"+cnonce+":auth:"+ha2), nc, cnonce)
	}
	if d.alg != "" {
		b.WriteString(", algorithm=" + d.alg)
	}
	return b.String()
}

// outcome is a reply as the tests compare it: status, reason, the
// script's return code (X-RC), and the challenges with their nonces
// replaced by N.
type outcome struct {
	status     int
	reason, rc string
	challenges []string
}

var nonceParam = regexp.MustCompile(`nonce="[^"]*"`)

func outcomeOf(res *sip.Response) outcome {
	o := outcome{status: res.StatusCode, reason: res.Reason}
	if h := res.GetHeader("X-RC"); h != nil {
		o.rc = h.Value()
	}
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		o.challenges = append(o.challenges, nonceParam.ReplaceAllString(h.Value(), `nonce="N"`))
	}
	return o
}

func (o outcome) String() string {
	s := fmt.Sprintf("%d %s", o.status, o.reason)
	if o.rc != "" {
		s += " X-RC:" + o.rc
	}
	for _, c := range o.challenges {
		s += " [" + c + "]"
	}
	return s
}

// tryRegister sends a REGISTER without credentials and waits at most
// timeout for the final response: to poll a server that is starting.
func (u *uac) tryRegister(user, domain string, timeout time.Duration) (*sip.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return u.client.Do(ctx, u.request(user, domain, ""))
}

// forge changes one base64 character of a nonce inside its signature,
// for kemi's nonces and Kamailio's alike (its 29th character: bytes 21
// and 22, past the times both put first), so the nonce decodes but
// was not signed by anyone.
func forge(nonce string) string {
	b := []byte(nonce)
	if b[28] == 'A' {
		b[28] = 'B'
	} else {
		b[28] = 'A'
	}
	return string(b)
}
