// Command transport measures kemi's REGISTER and call rates over UDP, TLS
// and WSS side by side, with kemi's CPU time per registration and per
// call, and the memory that idle WSS connections cost (issue 10).
//
// It starts `kemi run` with a script and config of its own (registrar
// with an in-memory location table; INVITE record-routed and relayed to
// a UAS this tool runs on UDP; ACK and BYE along the route set), then
// for each transport runs clients at a target rate, and prints one
// markdown table and a line for the idle connections.
//
//	go run ./examples/bench/transport -kemi bin/kemi -rate 500 -duration 10s
package main

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kemisip/kemi/internal/testcert"
	"github.com/kemisip/kemi/internal/websocket"
)

func main() {
	kemiBin := flag.String("kemi", "bin/kemi", "kemi binary to run")
	rate := flag.Int("rate", 200, "target registrations/s and calls/s per transport")
	duration := flag.Duration("duration", 5*time.Second, "length of each register and call run")
	clients := flag.Int("clients", 20, "concurrent clients (connections, for tls and wss) per transport")
	idle := flag.Int("idle", 1000, "idle WSS connections for the memory line (0: skip)")
	transports := flag.String("transports", "udp,tls,wss", "transports to measure, comma-separated")
	workers := flag.Int("workers", 2, "kemi's workers")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./examples/bench/transport [flags]\n\n"+
			"Runs kemi with a registrar and a record-routing proxy script, loads it over udp, tls\n"+
			"and wss, and prints registers/s and calls/s with kemi's CPU µs per register and per\n"+
			"call, then kemi's memory before and after opening idle WSS connections.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*kemiBin, *rate, *duration, *clients, *idle, strings.Split(*transports, ","), *workers); err != nil {
		fmt.Fprintln(os.Stderr, "transport:", err)
		os.Exit(1)
	}
}

func run(kemiBin string, rate int, d time.Duration, clients, idle int, transports []string, workers int) error {
	if rate <= 0 || clients <= 0 || d <= 0 {
		return errors.New("-rate, -clients and -duration must be positive")
	}
	raiseFileLimit()
	var seen uasCounts
	uas, err := startUAS(&seen)
	if err != nil {
		return err
	}
	defer uas.Close()
	k, err := startKemi(kemiBin, uas.LocalAddr().String(), workers)
	if err != nil {
		return err
	}
	defer k.stop()

	// kemi's own CPU with no load (timers, the Go runtime): part of every
	// figure below, and most of it at low rates
	idle0 := treeCPU(k.pid)
	time.Sleep(2 * time.Second)
	fmt.Fprintf(os.Stderr, "kemi idle: %.1f %% of a core\n", float64(treeCPU(k.pid)-idle0)/float64(2*time.Second)*100)
	fmt.Printf("| %d/s, %s, %d clients, %d workers | registers/s | CPU µs/register | calls/s | CPU µs/call | failed |\n", rate, d, clients, workers)
	fmt.Println("|---|---|---|---|---|---|")
	for _, tr := range transports {
		dial, ok := dialers[tr]
		if !ok {
			return fmt.Errorf("unknown transport %q (udp, tls, wss)", tr)
		}
		addr := k.addr[tr]
		reg := load(k.pid, dial, addr, tr, rate, d, clients, (*client).register)
		call := load(k.pid, dial, addr, tr, rate, d, clients, (*client).call)
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %.0f | %d |\n", tr,
			reg.perSecond(), reg.cpuPer(), call.perSecond(), call.cpuPer(), reg.failed+call.failed)
		for _, e := range append(reg.errs, call.errs...) {
			fmt.Fprintf(os.Stderr, "  %s: %v\n", tr, e)
		}
	}
	// what reached the UAS through kemi, as a check of the call flow
	fmt.Fprintf(os.Stderr, "UAS received: %d INVITE, %d ACK, %d BYE\n", seen.invite.Load(), seen.ack.Load(), seen.bye.Load())
	if idle > 0 {
		if err := idleWSS(k, idle); err != nil {
			return err
		}
	}
	return nil
}

// raiseFileLimit lifts the soft limit on open files to the hard one: the
// idle connections need one descriptor each here and in kemi, which
// inherits the limit.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// kemi is the engine under load.
type kemi struct {
	cmd  *exec.Cmd
	pid  int
	dir  string
	addr map[string]string // transport: host:port
}

const script = `-- the transport benchmark's script, written by examples/bench/transport
function ksr_request_route()
	if KSR.is_REGISTER() then
		if KSR.registrar.save("location", 0) < 0 then
			KSR.sl.sl_reply_error()
		end
		KSR.x.exit()
	end
	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 then
			if KSR.is_ACK() then
				KSR.forward()
			else
				KSR.tm.t_relay()
			end
			KSR.x.exit()
		end
		if not KSR.is_ACK() then
			KSR.sl.sl_send_reply(404, "Not here")
		end
		KSR.x.exit()
	end
	if KSR.is_INVITE() then
		KSR.rr.record_route()
		KSR.setdsturi("sip:%s")
		if KSR.tm.t_relay() < 0 then
			KSR.sl.sl_reply_error()
		end
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(405, "Method Not Allowed")
end
`

const config = `[core]
script = "bench.lua"
listen = ["udp:%s", "tls:%s", "wss:%s"]
workers = %d
metrics_addr = ""
log_level = "warn"
modules = ["core", "kx", "sl", "tm", "rr", "siputils", "registrar", "usrloc", "tls", "websocket"]
tcp_max_connections = 8192
tcp_accept_iplimit = 8192

[tls]
certificate = "cert.pem"
private_key = "key.pem"

[usrloc]
db_url = "memory"
`

// startKemi writes the script, config and certificate to a temporary
// folder and runs kemi on free loopback ports until it answers on each.
func startKemi(bin, uasAddr string, workers int) (*kemi, error) {
	dir, err := os.MkdirTemp("", "kemi-bench-transport")
	if err != nil {
		return nil, err
	}
	cert, err := testcert.New()
	if err != nil {
		return nil, err
	}
	udp, tcp1, tcp2, err := freePorts()
	if err != nil {
		return nil, err
	}
	files := map[string]string{
		"bench.lua": fmt.Sprintf(script, uasAddr),
		"kemi.toml": fmt.Sprintf(config, udp, tcp1, tcp2, workers),
		"cert.pem":  string(cert.CertPEM),
		"key.pem":   string(cert.KeyPEM),
	}
	for name, s := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(bin, "run", "--config", filepath.Join(dir, "kemi.toml"))
	logf, err := os.Create(filepath.Join(dir, "kemi.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	k := &kemi{cmd: cmd, pid: cmd.Process.Pid, dir: dir,
		addr: map[string]string{"udp": udp, "tls": tcp1, "wss": tcp2}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := dialWSS(tcp2)
		if err == nil {
			c.close()
			return k, nil
		}
		if time.Now().After(deadline) {
			k.stop()
			log, _ := os.ReadFile(filepath.Join(dir, "kemi.log"))
			return nil, fmt.Errorf("kemi did not listen on wss %s: %v\n%s", tcp2, err, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (k *kemi) stop() {
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = k.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-k.pid, syscall.SIGKILL)
		<-done
	}
	_ = os.RemoveAll(k.dir)
}

// freePorts returns a free UDP address and two free TCP addresses on
// loopback (free when asked: kemi binds them a moment later).
func freePorts() (udp, tcp1, tcp2 string, err error) {
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", "", "", err
	}
	defer u.Close()
	var tcp [2]string
	for i := range tcp {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", "", err
		}
		defer l.Close()
		tcp[i] = l.Addr().String()
	}
	return u.LocalAddr().String(), tcp[0], tcp[1], nil
}

// result is one run's count and kemi's CPU time over it.
type result struct {
	ok, failed int64
	elapsed    time.Duration
	cpu        time.Duration
	errs       []error // the first few failures
}

func (r result) perSecond() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r result) cpuPer() float64 {
	if r.ok == 0 {
		return 0
	}
	return float64(r.cpu.Microseconds()) / float64(r.ok)
}

// load runs n clients of one transport taking jobs from a ticker at rate
// per second for d, and measures kemi's CPU over the run. A job that finds
// every client busy waits: the rate achieved is then below the target.
func load(pid int, dial func(string) (msgConn, error), addr, tr string, rate int, d time.Duration, n int, job func(*client) error) result {
	var r result
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		r.failed++
		if len(r.errs) < 3 {
			r.errs = append(r.errs, err)
		}
		mu.Unlock()
	}
	jobs := make(chan struct{}, n)
	var wg sync.WaitGroup
	var ok atomic.Int64
	var cls []*client
	for i := 0; i < n; i++ {
		c, err := newClient(dial, addr, tr)
		if err != nil {
			fail(fmt.Errorf("dial: %w", err))
			continue
		}
		cls = append(cls, c)
	}
	cpu0 := treeCPU(pid)
	start := time.Now()
	for _, c := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if err := job(c); err != nil {
					fail(err)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	end := time.After(d)
loop:
	for {
		select {
		case <-end:
			break loop
		case <-tick.C:
			select {
			case jobs <- struct{}{}:
			case <-end:
				break loop
			}
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	r.elapsed = time.Since(start)
	r.cpu = treeCPU(pid) - cpu0
	r.ok = ok.Load()
	for _, c := range cls {
		c.conn.close()
	}
	return r
}

// msgConn sends and receives whole SIP messages.
type msgConn interface {
	send([]byte) error
	recv(deadline time.Time) ([]byte, error)
	close()
	local() string // host:port for Via and Contact
}

var dialers = map[string]func(string) (msgConn, error){
	"udp": dialUDP,
	"tls": dialTLS,
	"wss": dialWSS,
}

type udpConn struct {
	c   *net.UDPConn
	buf []byte
}

func dialUDP(addr string) (msgConn, error) {
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		return nil, err
	}
	return &udpConn{c: c, buf: make([]byte, 65536)}, nil
}

func (u *udpConn) send(b []byte) error { _, err := u.c.Write(b); return err }
func (u *udpConn) close()              { u.c.Close() }
func (u *udpConn) local() string       { return u.c.LocalAddr().String() }
func (u *udpConn) recv(deadline time.Time) ([]byte, error) {
	_ = u.c.SetReadDeadline(deadline)
	n, err := u.c.Read(u.buf)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), u.buf[:n]...), nil
}

// streamConn frames SIP over TLS by Content-Length.
type streamConn struct {
	c net.Conn
	r *bufio.Reader
}

func tlsClientConfig() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} // our own self-signed certificate
}

func dialTLS(addr string) (msgConn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tlsClientConfig())
	if err != nil {
		return nil, err
	}
	return &streamConn{c: c, r: bufio.NewReader(c)}, nil
}

func (s *streamConn) send(b []byte) error { _, err := s.c.Write(b); return err }
func (s *streamConn) close()              { s.c.Close() }
func (s *streamConn) local() string       { return s.c.LocalAddr().String() }
func (s *streamConn) recv(deadline time.Time) ([]byte, error) {
	_ = s.c.SetReadDeadline(deadline)
	var msg []byte
	length := 0
	for {
		line, err := s.r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if len(msg) == 0 && len(strings.TrimSpace(string(line))) == 0 {
			continue // keepalive CRLF
		}
		msg = append(msg, line...)
		if name, v, ok := strings.Cut(string(line), ":"); ok && (strings.EqualFold(strings.TrimSpace(name), "Content-Length") || strings.TrimSpace(name) == "l") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if string(line) == "\r\n" {
			break
		}
	}
	if length < 0 || length > 65535 {
		return nil, fmt.Errorf("Content-Length %d out of range", length)
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(s.r, body); err != nil {
		return nil, err
	}
	return append(msg, body...), nil
}

// wsConn is SIP over WebSocket over TLS, one message per frame.
type wsConn struct {
	raw net.Conn
	ws  *websocket.Conn
	buf []byte
}

func dialWSS(addr string) (msgConn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tlsClientConfig())
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, rest, err := websocket.ClientHandshake(c, websocket.ClientOptions{Host: addr, Target: "/", Protocols: []string{"sip"}})
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return &wsConn{raw: c, ws: websocket.NewClient(c, rest, websocket.Config{}), buf: make([]byte, 65536)}, nil
}

func (w *wsConn) send(b []byte) error { return w.ws.WriteMessage(websocket.OpText, b) }
func (w *wsConn) close()              { w.raw.Close() }
func (w *wsConn) local() string       { return w.raw.LocalAddr().String() }
func (w *wsConn) recv(deadline time.Time) ([]byte, error) {
	_ = w.raw.SetReadDeadline(deadline)
	_, p, err := w.ws.ReadMessage(w.buf)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), p...), nil
}

// client is one UA: registrations and calls, one at a time.
type client struct {
	conn  msgConn
	via   string // Via's transport
	local string
	ctp   string // Contact's transport parameter
	seq   int
}

func newClient(dial func(string) (msgConn, error), addr, tr string) (*client, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, err
	}
	cl := &client{conn: c, local: c.local()}
	switch tr {
	case "udp":
		cl.via = "UDP"
	case "tls":
		cl.via, cl.ctp = "TLS", ";transport=tls"
	case "wss":
		cl.via, cl.ctp, cl.local = "WSS", ";transport=ws", randHex(4)+".invalid"
	}
	return cl, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const timeout = 5 * time.Second

// request builds a request; route is the Route header's value or "".
func (c *client) request(method, ruri, callID, from, to, route string, cseq int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=z9hG4bK%s;rport\r\n", c.via, c.local, randHex(8))
	if route != "" {
		fmt.Fprintf(&b, "Route: %s\r\n", route)
	}
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n", from, to, callID, cseq, method)
	fmt.Fprintf(&b, "Contact: <sip:u@%s%s>\r\n", c.local, c.ctp)
	if method == "REGISTER" {
		b.WriteString("Expires: 3600\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// final waits for the final response to callID's cseq method, skipping
// provisional ones and strays (a late answer to an earlier failure).
func (c *client) final(callID, method string, cseq int) (*message, error) {
	deadline := time.Now().Add(timeout)
	want := fmt.Sprintf("%d %s", cseq, method)
	for {
		b, err := c.conn.recv(deadline)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		m := parse(b)
		if m.status == 0 || m.get("Call-ID") != callID || m.get("CSeq") != want || m.status < 200 {
			continue
		}
		if m.status >= 300 {
			return nil, fmt.Errorf("%s: %s", method, m.first)
		}
		return m, nil
	}
}

func (c *client) register() error {
	c.seq++
	user := fmt.Sprintf("u%s", randHex(4))
	aor := fmt.Sprintf("<sip:%s@bench.kemi>", user)
	callID := randHex(12)
	if err := c.conn.send(c.request("REGISTER", "sip:bench.kemi", callID, aor+";tag="+randHex(4), aor, "", c.seq)); err != nil {
		return err
	}
	_, err := c.final(callID, "REGISTER", c.seq)
	return err
}

func (c *client) call() error {
	callID := randHex(12)
	from := "<sip:a@bench.kemi>;tag=" + randHex(4)
	if err := c.conn.send(c.request("INVITE", "sip:b@bench.kemi", callID, from, "<sip:b@bench.kemi>", "", 1)); err != nil {
		return err
	}
	ok, err := c.final(callID, "INVITE", 1)
	if err != nil {
		return err
	}
	// the route set is the Record-Route list reversed (RFC 3261 12.1.2)
	rr := ok.all("Record-Route")
	for i, j := 0, len(rr)-1; i < j; i, j = i+1, j-1 {
		rr[i], rr[j] = rr[j], rr[i]
	}
	route := strings.Join(rr, ", ")
	target := strings.Trim(ok.get("Contact"), "<> ")
	if i := strings.IndexByte(target, '>'); i >= 0 {
		target = target[:i]
	}
	to := ok.get("To")
	if err := c.conn.send(c.request("ACK", target, callID, from, to, route, 1)); err != nil {
		return err
	}
	if err := c.conn.send(c.request("BYE", target, callID, from, to, route, 2)); err != nil {
		return err
	}
	_, err = c.final(callID, "BYE", 2)
	return err
}

// message is a parsed SIP message: its first line and header fields.
type message struct {
	first  string
	status int // 0 for a request
	method string
	fields [][2]string
}

var compact = map[string]string{"i": "Call-ID", "v": "Via", "f": "From", "t": "To", "m": "Contact", "l": "Content-Length"}

func parse(b []byte) *message {
	head, _, _ := strings.Cut(string(b), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	m := &message{first: lines[0]}
	if rest, ok := strings.CutPrefix(lines[0], "SIP/2.0 "); ok {
		m.status, _ = strconv.Atoi(strings.SplitN(rest, " ", 2)[0])
	} else {
		m.method, _, _ = strings.Cut(lines[0], " ")
	}
	for _, l := range lines[1:] {
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(m.fields) > 0 {
			m.fields[len(m.fields)-1][1] += " " + strings.TrimSpace(l)
			continue
		}
		name, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		if full, ok := compact[name]; ok {
			name = full
		}
		m.fields = append(m.fields, [2]string{name, strings.TrimSpace(v)})
	}
	return m
}

func (m *message) get(name string) string {
	for _, f := range m.fields {
		if strings.EqualFold(f[0], name) {
			return f[1]
		}
	}
	return ""
}

// all returns every value of name, comma-separated values split (URIs in
// angle brackets, as Record-Route and Via write them).
func (m *message) all(name string) []string {
	var out []string
	for _, f := range m.fields {
		if strings.EqualFold(f[0], name) {
			out = append(out, splitList(f[1])...)
		}
	}
	return out
}

// splitList splits a header value at commas outside <> and quotes.
func splitList(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '<':
			if !quoted {
				depth++
			}
		case '>':
			if !quoted {
				depth--
			}
		case ',':
			if !quoted && depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// uasCounts counts the requests the UAS received.
type uasCounts struct{ invite, ack, bye atomic.Int64 }

// startUAS answers on UDP: INVITE with 100 and 200 (echoing Record-Route),
// BYE with 200; ACK is absorbed. It counts them in seen.
func startUAS(seen *uasCounts) (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	contact := "<sip:uas@" + c.LocalAddr().String() + ">"
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m := parse(buf[:n])
			switch m.method {
			case "INVITE":
				seen.invite.Add(1)
				_, _ = c.WriteToUDP(m.reply(100, "Trying", ""), from)
				_, _ = c.WriteToUDP(m.reply(200, "OK", contact), from)
			case "ACK":
				seen.ack.Add(1)
			case "BYE":
				seen.bye.Add(1)
				_, _ = c.WriteToUDP(m.reply(200, "OK", ""), from)
			}
		}
	}()
	return c, nil
}

// reply builds a response to request m; a 2xx to INVITE gets a To tag
// derived from the Call-ID (the same for retransmissions), Record-Route
// and contact.
func (m *message) reply(code int, reason, contact string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, f := range m.fields {
		switch strings.ToLower(f[0]) {
		case "via", "from", "call-id", "cseq":
			fmt.Fprintf(&b, "%s: %s\r\n", f[0], f[1])
		case "to":
			to := f[1]
			if code > 100 && !strings.Contains(to, ";tag=") {
				to += ";tag=" + hex.EncodeToString([]byte(m.get("Call-ID")))[:8]
			}
			fmt.Fprintf(&b, "To: %s\r\n", to)
		case "record-route":
			if contact != "" {
				fmt.Fprintf(&b, "Record-Route: %s\r\n", f[1])
			}
		}
	}
	if contact != "" {
		fmt.Fprintf(&b, "Contact: %s\r\n", contact)
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// tree returns pid and its descendants, from /proc.
func tree(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, _, ok := stat(p); ok {
			children[pp] = append(children[pp], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// stat reads a process's parent and utime+stime from /proc/PID/stat.
func stat(pid int) (ppid int, cpu time.Duration, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// the command name is in parentheses and may hold spaces
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	// clock ticks are 1/100 s on Linux (USER_HZ)
	return ppid, time.Duration(ut+st) * 10 * time.Millisecond, true
}

// treeCPU is the CPU time of pid's process tree.
func treeCPU(pid int) time.Duration {
	var sum time.Duration
	for _, p := range tree(pid) {
		_, cpu, _ := stat(p)
		sum += cpu
	}
	return sum
}

// treeMemory is the PSS and RSS of pid's process tree in KiB.
func treeMemory(pid int) (pss, rss int64) {
	for _, p := range tree(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Pss:":
				pss += v
			case "Rss:":
				rss += v
			}
		}
	}
	return pss, rss
}

// idleWSS opens n WSS connections that stay silent and prints kemi's
// memory before and after.
func idleWSS(k *kemi, n int) error {
	time.Sleep(2 * time.Second) // let the closed benchmark connections go
	pss0, rss0 := treeMemory(k.pid)
	conns := make([]msgConn, 0, n)
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	for len(conns) < n {
		c, err := dialWSS(k.addr["wss"])
		if err != nil {
			return fmt.Errorf("idle wss connection %d: %w", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	time.Sleep(2 * time.Second)
	pss1, rss1 := treeMemory(k.pid)
	fmt.Printf("\n%d idle WSS connections: kemi PSS %d → %d KiB (%.1f KiB/connection), RSS %d → %d KiB (%.1f KiB/connection)\n",
		n, pss0, pss1, float64(pss1-pss0)/float64(n), rss0, rss1, float64(rss1-rss0)/float64(n))
	return nil
}
