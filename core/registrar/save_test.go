package registrar_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi/kemitest"
)

// TestSave checks save's replies, return values and what it stores, step
// by step for one AOR, against Kamailio's registrar.
func TestSave(t *testing.T) {
	type step struct {
		req      string
		flags    int
		wantRet  int64
		wantCode int
		// wantContact, when set, must appear in the reply's Contact
		// header; wantHdr "Name: value" among its headers.
		wantContact string
		wantHdr     string
		want        []string // the stored contacts after the step
	}
	a := "Contact: <sip:alice@192.0.2.10:5062>"
	b := "Contact: <sip:alice@192.0.2.20:5062>"
	tests := []struct {
		name   string
		params map[string]any
		steps  []step
	}{
		{"new binding, default expires", nil, []step{
			{req: register("c1", 1, a), wantRet: 1, wantCode: 200, wantContact: "<sip:alice@192.0.2.10:5062>;expires=3600", want: []string{"sip:alice@192.0.2.10:5062"}},
		}},
		{"Expires header", nil, []step{
			{req: register("c1", 1, a, "Expires: 120"), wantRet: 1, wantCode: 200, wantContact: ";expires=120"},
		}},
		{"expires param wins over the header", nil, []step{
			{req: register("c1", 1, a+";expires=300", "Expires: 120"), wantRet: 1, wantCode: 200, wantContact: ";expires=300"},
		}},
		{"below min_expires is raised", nil, []step{
			{req: register("c1", 1, a+";expires=30"), wantRet: 1, wantCode: 200, wantContact: ";expires=60"},
		}},
		{"below min_expires with min_expires_mode 1: 423", map[string]any{"min_expires_mode": 1, "min_expires": 90}, []step{
			{req: register("c1", 1, a+";expires=30"), wantRet: -1, wantCode: 423, wantHdr: "Min-Expires: 90"},
		}},
		{"above max_expires is lowered", map[string]any{"max_expires": 600}, []step{
			{req: register("c1", 1, a, "Expires: 3600"), wantRet: 1, wantCode: 200, wantContact: ";expires=600"},
		}},
		{"refresh with a higher CSeq", nil, []step{
			{req: register("c1", 1, a), wantRet: 1, wantCode: 200},
			{req: register("c1", 2, a, "Expires: 200"), wantRet: 2, wantCode: 200, wantContact: ";expires=200", want: []string{"sip:alice@192.0.2.10:5062"}},
		}},
		{"older CSeq of the same Call-ID is refused", nil, []step{
			{req: register("c1", 5, a), wantRet: 1, wantCode: 200},
			{req: register("c1", 4, a, "Expires: 0"), wantRet: -1, wantCode: 400, wantHdr: "P-Registrar-Error: Invalid CSeq number", want: []string{"sip:alice@192.0.2.10:5062"}},
		}},
		{"same CSeq at once is a retransmission", nil, []step{
			{req: register("c1", 5, a), wantRet: 1, wantCode: 200},
			{req: register("c1", 5, a, "Expires: 0"), wantRet: 1, wantCode: 200, wantContact: "<sip:alice@192.0.2.10:5062>", want: []string{"sip:alice@192.0.2.10:5062"}},
		}},
		{"another Call-ID may have a lower CSeq", nil, []step{
			{req: register("c1", 5, a), wantRet: 1, wantCode: 200},
			{req: register("c2", 1, a), wantRet: 2, wantCode: 200, want: []string{"sip:alice@192.0.2.10:5062"}},
		}},
		{"second contact, both listed, by q (none counts as -1)", nil, []step{
			{req: register("c1", 1, a), wantRet: 1, wantCode: 200},
			{req: register("c2", 1, b+";q=0.5"), wantRet: 1, wantCode: 200, wantContact: "<sip:alice@192.0.2.20:5062>;q=0.5;expires=3600, <sip:alice@192.0.2.10:5062>;expires=3600",
				want: []string{"sip:alice@192.0.2.10:5062", "sip:alice@192.0.2.20:5062"}},
		}},
		{"expires=0 removes one binding", nil, []step{
			{req: register("c1", 1, a)},
			{req: register("c2", 1, b)},
			{req: register("c1", 2, a+";expires=0"), wantRet: 3, wantCode: 200, wantContact: "<sip:alice@192.0.2.20:5062>;expires=3600", want: []string{"sip:alice@192.0.2.20:5062"}},
		}},
		{"Contact: * with Expires: 0 removes all", nil, []step{
			{req: register("c1", 1, a)},
			{req: register("c2", 1, b)},
			{req: register("c3", 1, "Contact: *", "Expires: 0"), wantRet: 3, wantCode: 200},
		}},
		{"Contact: * without Expires: 0 is refused", nil, []step{
			{req: register("c1", 1, a)},
			{req: register("c3", 1, "Contact: *", "Expires: 10"), wantRet: -1, wantCode: 400, wantHdr: "P-Registrar-Error: * used in contact and expires is not zero", want: []string{"sip:alice@192.0.2.10:5062"}},
		}},
		{"Contact: * with another contact is refused", nil, []step{
			{req: register("c3", 1, "Contact: *", a, "Expires: 0"), wantRet: -1, wantCode: 400},
		}},
		{"no Contact lists the bindings", nil, []step{
			{req: register("c1", 1, a)},
			{req: register("c2", 1), wantRet: 4, wantCode: 200, wantContact: "<sip:alice@192.0.2.10:5062>;expires="},
		}},
		{"max_contacts exceeded: 503", map[string]any{"max_contacts": 1}, []step{
			{req: register("c1", 1, a), wantRet: 1, wantCode: 200},
			{req: register("c2", 1, b), wantRet: -2, wantCode: 503, wantHdr: "P-Registrar-Error: Too many registered contacts", want: []string{"sip:alice@192.0.2.10:5062"}},
		}},
		{"max_contacts: two in a first REGISTER", map[string]any{"max_contacts": 1}, []step{
			{req: register("c1", 1, a, b), wantRet: -2, wantCode: 503},
		}},
		{"max_contacts: a refresh is fine", map[string]any{"max_contacts": 1}, []step{
			{req: register("c1", 1, a)},
			{req: register("c1", 2, a), wantRet: 2, wantCode: 200},
		}},
		{"same +sip.instance replaces the old contact", nil, []step{
			{req: register("c1", 1, a+`;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1`), wantRet: 1, wantCode: 200,
				wantContact: `;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1`},
			{req: register("c2", 1, b+`;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1`), wantRet: 2, wantCode: 200,
				want: []string{"sip:alice@192.0.2.20:5062"}},
		}},
		{"non-numeric Expires header", nil, []step{
			{req: register("c1", 1, a, "Expires: soon"), wantRet: -1, wantCode: 400, wantHdr: "P-Registrar-Error: Expires parse error"},
		}},
		{"negative expires param", nil, []step{
			{req: register("c1", 1, a+";expires=-5"), wantRet: -1, wantCode: 400, wantHdr: "P-Registrar-Error: Invalid expires param in contact"},
		}},
		{"non-numeric expires param changes nothing", nil, []step{
			{req: register("c1", 1, a)},
			{req: register("c2", 1, b, a+";expires=abc"), wantRet: -1, wantCode: 400, want: []string{"sip:alice@192.0.2.10:5062"}},
		}},
		{"invalid q", nil, []step{
			{req: register("c1", 1, a+";q=2"), wantRet: -1, wantCode: 400, wantHdr: "P-Registrar-Error: Invalid q param in contact"},
		}},
		{"contact URI kemi cannot route", nil, []step{
			{req: register("c1", 1, "Contact: <foo:bar>"), wantRet: -1, wantCode: 400, wantHdr: "P-Registrar-Error: Contact parse error"},
		}},
		{"invalid reg-id", nil, []step{
			{req: register("c1", 1, a+`;+sip.instance="<urn:x>";reg-id=0`), wantRet: -1, wantCode: 400},
		}},
		{"flag 0x04 replaces all contacts", nil, []step{
			{req: register("c1", 1, a)},
			{req: register("c2", 1, b), flags: 0x04, wantRet: 1, wantCode: 200, want: []string{"sip:alice@192.0.2.20:5062"}},
		}},
		{"flag 0x02 sends no reply", nil, []step{
			{req: register("c1", 1, a), flags: 0x02, wantRet: 1, wantCode: 0, want: []string{"sip:alice@192.0.2.10:5062"}},
		}},
		{"received param kept", nil, []step{
			{req: register("c1", 1, a+`;received="sip:203.0.113.7:5062"`), wantRet: 1, wantCode: 200, wantContact: `;received="sip:203.0.113.7:5062"`},
		}},
		{"Path stored and returned when supported", map[string]any{"use_path": 1}, []step{
			{req: register("c1", 1, a, "Path: <sip:edge.example.net;lr>", "Supported: path"), wantRet: 1, wantCode: 200, wantHdr: "Path: <sip:edge.example.net;lr>"},
		}},
		{"Path without Supported: path, strict mode: 420", map[string]any{"use_path": 1}, []step{
			{req: register("c1", 1, a, "Path: <sip:edge.example.net;lr>"), wantRet: 1, wantCode: 420, wantHdr: "Unsupported: path"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, tt.params)
			for i, s := range tt.steps {
				ret, res, _ := f.save(t, s.req, s.flags)
				if s.wantRet == 0 && s.wantCode == 0 && s.want == nil {
					continue // set-up step
				}
				if ret != s.wantRet {
					t.Errorf("step %d: save returned %d, want %d", i, ret, s.wantRet)
				}
				if code(res) != s.wantCode {
					t.Errorf("step %d: reply %d, want %d\n%v", i, code(res), s.wantCode, res)
				}
				if s.wantContact != "" && !strings.Contains(hdr(res, "Contact"), s.wantContact) {
					t.Errorf("step %d: Contact %q, want it to hold %q", i, hdr(res, "Contact"), s.wantContact)
				}
				if s.wantHdr != "" {
					name, val, _ := strings.Cut(s.wantHdr, ": ")
					if hdr(res, name) != val {
						t.Errorf("step %d: %s %q, want %q", i, name, hdr(res, name), val)
					}
				}
				if s.want != nil {
					got := contacts(f)
					slices.Sort(got)
					if !slices.Equal(got, s.want) {
						t.Errorf("step %d: stored %v, want %v", i, got, s.want)
					}
				}
			}
		})
	}
}

// TestSaveStores checks the binding fields save writes.
func TestSaveStores(t *testing.T) {
	f := setup(t, nil)
	req := register("call-7", 7, `Contact: <sip:alice@192.0.2.10:5062;transport=udp>;q=0.7;+sip.instance="<urn:uuid:1>";reg-id=2`,
		"User-Agent: phone/1.0", "Allow: INVITE, ACK, BYE", "Expires: 300")
	ret, _, _ := f.save(t, req, 0x01)
	if ret != 1 {
		t.Fatalf("save returned %d", ret)
	}
	bs := f.loc.all("location", "alice")
	if len(bs) != 1 {
		t.Fatalf("stored %d bindings", len(bs))
	}
	b := bs[0]
	left := time.Until(b.Expires)
	if b.AOR != "alice" || b.Q != 700 || b.CallID != "call-7" || b.CSeq != 7 || b.UserAgent != "phone/1.0" ||
		b.Instance != "<urn:uuid:1>" || b.RegID != 2 || b.Methods != 1|4|8 || b.Flags != 1 || b.RUID == "" ||
		b.Socket != "udp:127.0.0.1:5060" || left < 299*time.Second || left > 300*time.Second {
		t.Errorf("binding %+v", b)
	}
}

// TestSaveStorageError checks that a storage error acknowledges nothing:
// save returns -1, replies 500 and leaves the error for sl_reply_error.
func TestSaveStorageError(t *testing.T) {
	f := setup(t, map[string]any{"retry_after": 30})
	f.loc.setFail(true)
	ret, res, m := f.save(t, register("c1", 1, "Contact: <sip:alice@192.0.2.10:5062>"), 0)
	if ret != -1 || code(res) != 500 || m.ErrCode != 500 || hdr(res, "Retry-After") != "30" {
		t.Errorf("save %d, reply %d, error %d, Retry-After %q", ret, code(res), m.ErrCode, hdr(res, "Retry-After"))
	}
	f.loc.setFail(false)
	if got := contacts(f); len(got) != 0 {
		t.Errorf("stored %v", got)
	}
	var page bytes.Buffer
	f.e.Metrics.WritePrometheus(&page)
	if !strings.Contains(page.String(), "kemi_registrar_rejected_total 1\n") || !strings.Contains(page.String(), "kemi_registrar_accepted_total 0\n") {
		t.Errorf("metrics:\n%s", page.String())
	}
}

// TestRegSendReply checks save with 0x02 then reg_send_reply.
func TestRegSendReply(t *testing.T) {
	f := setup(t, nil)
	ret, res, m := f.save(t, register("c1", 1, "Contact: <sip:alice@192.0.2.10:5062>"), 0x02)
	if ret != 1 || res != nil {
		t.Fatalf("save %d, reply %v", ret, res)
	}
	if v := f.e.Call(t, "KSR.registrar.reg_send_reply", m); v.Int != 1 {
		t.Fatalf("reg_send_reply %d", v.Int)
	}
	res = f.lastReply(t)
	if code(res) != 200 || !strings.Contains(hdr(res, "Contact"), "<sip:alice@192.0.2.10:5062>;expires=3600") {
		t.Errorf("reply %v", res)
	}
	if v := f.e.Call(t, "KSR.registrar.reg_send_reply", m); v.Int != -1 {
		t.Errorf("second reg_send_reply %d, want -1", v.Int)
	}
}

// TestSaveStoresConnID checks that a REGISTER over a stream transport
// stores the id of its connection, which usrloc removes the binding by
// when the connection closes, and one over UDP none.
func TestSaveStoresConnID(t *testing.T) {
	tests := []struct {
		proto  string
		connID uint64
		want   int64
	}{
		{"udp", 0, 0},
		{"tcp", 7, 7},
		{"tls", 8, 8},
		{"ws", 9, 9},
		{"wss", 10, 10},
	}
	for _, tc := range tests {
		t.Run(tc.proto, func(t *testing.T) {
			f := setup(t, nil)
			f.e.Host.Reset()
			m := f.e.Prepare(kemitest.ParseMsg(t, register("c-"+tc.proto, 1, "Contact: <sip:alice@192.0.2.10:5062>")))
			m.Proto, m.ConnID = tc.proto, tc.connID
			if v := f.e.Call(t, "KSR.registrar.save", m, "location", 0); v.Int != 1 {
				t.Fatalf("save returned %d", v.Int)
			}
			bs := f.loc.all("location", "alice")
			if len(bs) != 1 || bs[0].ConnID != tc.want {
				t.Errorf("stored %+v, want one binding with connection id %d", bs, tc.want)
			}
		})
	}
}
