package engine_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

// kamailioWSConfig is Kamailio's WebSocket example reduced to what rr and
// nathelper do for a WebSocket client: an HTTP upgrade on the tcp
// listener, the contact alias of a request from a WebSocket client,
// record_route, and requests to an aliased contact routed by
// handle_ruri_alias (after loose_route in a dialog). Its ports are the
// UDP and TCP listeners'.
const kamailioWSConfig = `#!KAMAILIO
debug=1
log_stderror=yes
children=1
tcp_children=1
tcp_accept_no_cl=yes
listen=udp:127.0.0.1:%d
listen=tcp:127.0.0.1:%d
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "pv.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "nathelper.so"
loadmodule "xhttp.so"
loadmodule "websocket.so"
request_route {
	if (proto == WS || proto == WSS) {
		force_rport();
		if (is_present_hf("Contact")) add_contact_alias();
	}
	if (has_totag()) {
		if (loose_route()) {
			handle_ruri_alias();
			t_relay();
			exit;
		}
		sl_send_reply("404", "Not here");
		exit;
	}
	record_route();
	handle_ruri_alias();
	t_relay();
}
event_route[xhttp:request] {
	ws_handle_handshake();
	exit;
}
`

// kemiWSScript is kamailioWSConfig's routing as a KEMI script.
const kemiWSScript = `
function ksr_request_route()
	if KSR.is_WSX() then
		KSR.force_rport()
		if KSR.hdr.is_present("Contact") > 0 then
			KSR.nathelper.add_contact_alias()
		end
	end
	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 then
			KSR.nathelper.handle_ruri_alias()
			KSR.tm.t_relay()
			return
		end
		KSR.sl.sl_send_reply(404, "Not here")
		return
	end
	KSR.rr.record_route()
	KSR.nathelper.handle_ruri_alias()
	KSR.tm.t_relay()
end

function ksr_xhttp_event(evname)
	KSR.websocket.handle_handshake()
end
`

// wsDialogWire is what one proxy put on the wire in a dialog between a
// WebSocket client and a UDP phone, its addresses made names.
type wsDialogWire struct {
	inviteRR, inviteContact, inviteVia string // the INVITE at the phone
	okRR                               string // the 200 at the client
	byeRURI, byeRoute, byeVia          string // the phone's BYE at the client
	// the phone calls the client at its aliased contact; the client
	// answers and hangs up
	backRURI, backRR, backVia string // the INVITE at the client
	backByeRURI, backByeRoute string // the client's BYE at the phone
}

// wsDialog runs a dialog through the proxy whose UDP listener is udpAddr
// and whose tcp listener (with ksr_xhttp_event's upgrade) is tcpAddr: a
// WebSocket client calls a UDP phone, which answers and hangs up.
func wsDialog(t *testing.T, udpAddr, tcpAddr string, logs func() string) wsDialogWire {
	t.Helper()
	phone, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	phoneAddr := phone.LocalAddr().String()
	var w *wsClient
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if w, err = dialWS(t, tcpAddr, nil, "sip"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no WebSocket upgrade at %s: %v\n%s", tcpAddr, err, logs())
		}
	}
	clientAddr := w.nc.LocalAddr().String()
	names := strings.NewReplacer(udpAddr, "PROXY_UDP", tcpAddr, "PROXY_TCP", phoneAddr, "PHONE",
		clientAddr, "CLIENT", strings.ReplaceAll(clientAddr, ":", "~"), "CLIENT")
	name := func(s string) string { return names.Replace(s) }
	branch := regexp.MustCompile(`branch=[^;,\s]+`)
	// Kamailio pads the transport of its Via ("WS  host"): spaces do not
	// count
	via := func(v string) string {
		return name(branch.ReplaceAllString(strings.Join(strings.Fields(v), " "), "branch=B"))
	}

	w.send("INVITE sip:bob@" + phoneAddr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-wsrr1\r\n" +
		"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n" +
		"Call-ID: wsrr1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n" +
		"Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>\r\nContent-Length: 0\r\n\r\n")
	_ = phone.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 65536)
	var inv string
	var proxy net.Addr
	for !strings.HasPrefix(inv, "INVITE ") {
		n, from, err := phone.ReadFrom(b)
		if err != nil {
			t.Fatalf("no INVITE at the phone: %v\n%s", err, logs())
		}
		inv, proxy = string(b[:n]), from
	}
	var out wsDialogWire
	rrs := headerLines(inv, "Record-Route")
	out.inviteRR = name(strings.Join(rrs, ", "))
	out.inviteContact = name(header(inv, "Contact"))
	out.inviteVia = via(headerLines(inv, "Via")[0])

	ok := "SIP/2.0 200 OK\r\n"
	for _, v := range headerLines(inv, "Via") {
		ok += "Via: " + v + "\r\n"
	}
	for _, rr := range rrs {
		ok += "Record-Route: " + rr + "\r\n"
	}
	ok += "From: " + header(inv, "From") + "\r\nTo: " + header(inv, "To") + ";tag=b1\r\n" +
		"Call-ID: wsrr1\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@" + phoneAddr + ">\r\nContent-Length: 0\r\n\r\n"
	if _, err := phone.WriteTo([]byte(ok), proxy); err != nil {
		t.Fatal(err)
	}
	got, err := w.read("SIP/2.0 200")
	if err != nil {
		t.Fatalf("no 200 at the client: %v\n%s", err, logs())
	}
	out.okRR = name(strings.Join(headerLines(got, "Record-Route"), ", "))

	// the phone hangs up: to the client's contact, along the route set
	bye := "BYE " + strings.Trim(header(inv, "Contact"), "<>") + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + phoneAddr + ";branch=z9hG4bK-wsrr2\r\n"
	for _, rr := range rrs {
		bye += "Route: " + rr + "\r\n"
	}
	bye += "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:alice@example.com>;tag=a1\r\n" +
		"Call-ID: wsrr1\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := phone.WriteTo([]byte(bye), proxy); err != nil {
		t.Fatal(err)
	}
	got, err = w.read("BYE ")
	if err != nil {
		t.Fatalf("no BYE at the client: %v\n%s", err, logs())
	}
	out.byeRURI = name(strings.Fields(got)[1])
	out.byeRoute = name(strings.Join(headerLines(got, "Route"), ", "))
	out.byeVia = via(headerLines(got, "Via")[0])

	// the phone calls the client at the contact it got, alias and all
	contact := strings.Trim(header(inv, "Contact"), "<>")
	if _, err := phone.WriteTo([]byte("INVITE "+contact+" SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP "+phoneAddr+";branch=z9hG4bK-wsrr3\r\n"+
		"From: <sip:bob@example.com>;tag=b2\r\nTo: <sip:alice@example.com>\r\n"+
		"Call-ID: wsrr2\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"+
		"Contact: <sip:bob@"+phoneAddr+">\r\nContent-Length: 0\r\n\r\n"), proxy); err != nil {
		t.Fatal(err)
	}
	back, err := w.read("INVITE ")
	if err != nil {
		t.Fatalf("no INVITE at the client: %v\n%s", err, logs())
	}
	backRRs := headerLines(back, "Record-Route")
	out.backRURI = name(strings.Fields(back)[1])
	out.backRR = name(strings.Join(backRRs, ", "))
	out.backVia = via(headerLines(back, "Via")[0])
	ok = "SIP/2.0 200 OK\r\n"
	for _, v := range headerLines(back, "Via") {
		ok += "Via: " + v + "\r\n"
	}
	for _, rr := range backRRs {
		ok += "Record-Route: " + rr + "\r\n"
	}
	ok += "From: " + header(back, "From") + "\r\nTo: " + header(back, "To") + ";tag=a2\r\n" +
		"Call-ID: wsrr2\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@df7jal23ls0d.invalid;transport=ws>\r\nContent-Length: 0\r\n\r\n"
	w.send(ok)
	_ = phone.SetReadDeadline(time.Now().Add(5 * time.Second))
	for !strings.HasPrefix(string(b), "SIP/2.0 200") {
		n, _, err := phone.ReadFrom(b)
		if err != nil {
			t.Fatalf("no 200 at the phone: %v\n%s", err, logs())
		}
		b = b[:n]
	}
	// the client hangs up along the route set reversed (RFC 3261 §12.1.2)
	bye = "BYE sip:bob@" + phoneAddr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-wsrr4\r\n"
	for i := len(backRRs) - 1; i >= 0; i-- {
		bye += "Route: " + backRRs[i] + "\r\n"
	}
	bye += "From: <sip:alice@example.com>;tag=a2\r\nTo: <sip:bob@example.com>;tag=b2\r\n" +
		"Call-ID: wsrr2\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	w.send(bye)
	b = b[:cap(b)]
	for {
		n, _, err := phone.ReadFrom(b)
		if err != nil {
			t.Fatalf("no BYE at the phone: %v\n%s", err, logs())
		}
		if msg := string(b[:n]); strings.HasPrefix(msg, "BYE ") {
			out.backByeRURI = name(strings.Fields(msg)[1])
			out.backByeRoute = name(strings.Join(headerLines(msg, "Route"), ", "))
			break
		}
	}
	return out
}

// headerLines returns the values of msg's header name, one per line.
func headerLines(msg, name string) []string {
	var out []string
	for _, line := range strings.Split(msg, "\r\n") {
		if n, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(n), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// TestWSRecordRouteMatchesKamailio runs the same dialog through Kamailio
// 5.6 (websocket, rr, nathelper) and through kemi, a WebSocket client
// upgraded on the tcp listener calling a UDP phone, and compares the
// wire: the double Record-Route with ;transport=ws on the WebSocket side,
// the contact alias, and the phone's BYE routed back over the client's
// connection; then the phone calls the client at its aliased contact
// (the outbound Record-Route with ;transport=ws) and the client hangs up.
func TestWSRecordRouteMatchesKamailio(t *testing.T) {
	udpPort := enginetest.FreeUDPPort(t)
	tcpPort := freeTCPPort(t)
	kamLogs := startKamailio(t, "websocket", fmt.Sprintf(kamailioWSConfig, udpPort, tcpPort))
	want := wsDialog(t, "127.0.0.1:"+strconv.Itoa(udpPort), "127.0.0.1:"+strconv.Itoa(tcpPort), kamLogs)

	s := enginetest.Start(t, kemiWSScript, withListen("udp:127.0.0.1:0", "tcp:127.0.0.1:0"))
	got := wsDialog(t, s.UDP(), s.TCP(), s.Logs)
	t.Logf("Kamailio: %+v", want)
	if got != want {
		t.Errorf("kemi's wire differs from Kamailio's:\n got %+v\nwant %+v", got, want)
	}
}

// freeTCPPort returns a loopback TCP port that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startKamailio runs Kamailio with the configuration text cfg until the
// test ends, in a process group of its own, and returns what reads its
// log. The test is skipped when kamailio or its module is not installed.
func startKamailio(t *testing.T, module, cfg string) (logs func() string) {
	t.Helper()
	bin, err := exec.LookPath("kamailio")
	if err != nil {
		t.Skip("kamailio is not installed: the comparison with Kamailio is skipped")
	}
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/kamailio/modules/" + module + ".so"); err != nil {
		t.Skipf("Kamailio's %s module is not installed: the comparison with Kamailio is skipped", module)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "kamailio.log"))
	if err != nil {
		t.Fatal(err)
	}
	kam := exec.Command(bin, "-f", file, "-DD", "-E", "-Y", dir, "-m", "32", "-M", "8")
	kam.Stdout, kam.Stderr = logFile, logFile
	kam.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its children go with it
	if err := kam.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-kam.Process.Pid, syscall.SIGKILL); kam.Wait(); logFile.Close() })
	return func() string { b, _ := os.ReadFile(logFile.Name()); return string(b) }
}
