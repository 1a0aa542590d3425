package engine_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// tcpOptions is an OPTIONS request over TCP from a local port.
func tcpOptions(port int, callID string) string {
	return fmt.Sprintf("OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bK%s\r\n"+
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:kemi@127.0.0.1>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", port, callID, callID)
}

// dialFrom opens a TCP connection to addr from the loopback address from
// (127.0.0.2 and up are loopback on Linux: several "sources" in one test).
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// askTCP sends an OPTIONS on c and returns the reply's first bytes, or
// the read error.
func askTCP(c net.Conn, callID string) (string, error) {
	port := c.LocalAddr().(*net.TCPAddr).Port
	if _, err := c.Write([]byte(tcpOptions(port, callID))); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

// mustAnswer checks that the engine answers an OPTIONS on c.
func mustAnswer(t *testing.T, c net.Conn, callID string) {
	t.Helper()
	res, err := askTCP(c, callID)
	if err != nil || !strings.HasPrefix(res, "SIP/2.0 200 Alive") {
		t.Fatalf("OPTIONS %s over tcp from %s: %q, %v", callID, c.LocalAddr(), res, err)
	}
}

// mustBeClosed checks that the engine closes c without answering.
func mustBeClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("%s: read = %q, %v; want the connection closed", what, buf[:n], err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestTCPContentLengthOverflow: one message whose Content-Length overflows
// the framer's sum killed the worker process (a panic in the TCP reader).
// Now it is dropped as malformed, only its connection is closed, and the
// engine goes on answering on UDP and on a new TCP connection.
func TestTCPContentLengthOverflow(t *testing.T) {
	s := enginetest.Start(t, answerScript)
	for i, cl := range []string{"9223372036854775807", "18446744073709551615", "-1", "+5"} {
		c := dialFrom(t, "127.0.0.1", s.TCP())
		port := c.LocalAddr().(*net.TCPAddr).Port
		msg := strings.Replace(tcpOptions(port, "ovf"), "Content-Length: 0\r\n\r\n", "Content-Length: "+cl+"\r\n\r\nhello", 1)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		mustBeClosed(t, c, "Content-Length "+cl)
		series := `kemi_core_messages_dropped_total{reason="malformed"}`
		if v := s.WaitMetric(series, float64(i+1), 2*time.Second); v != float64(i+1) {
			t.Fatalf("after Content-Length %s: %s = %v, want %d", cl, series, v, i+1)
		}
	}
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "after-ovf"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 Alive") {
		t.Fatalf("OPTIONS over udp after the overflow: %q", res)
	}
	mustAnswer(t, dialFrom(t, "127.0.0.1", s.TCP()), "after-ovf-tcp")
}

// TestViaPortOutOfRange: a Via port of 999999 made the engine answer to
// port 16959 (999999 in a uint16). Now the request is dropped as
// malformed.
func TestViaPortOutOfRange(t *testing.T) {
	s := enginetest.Start(t, answerScript)
	p := newPeer(t)
	// where the reply went before the fix, when the port is free
	wrong, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 999999 % 65536})
	if wrong != nil {
		defer wrong.Close()
	}
	for i, via := range []string{
		"SIP/2.0/UDP 127.0.0.1:999999;branch=z9hG4bKvp1",
		"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKvp2;rport=999999",
		"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKvp3;received=evil.example.com",
	} {
		msg := strings.Replace(options(p, "sip:kemi@127.0.0.1", fmt.Sprintf("vp-%d", i)), fmt.Sprintf("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKvp-%d;rport", p.port(), i), via, 1)
		if !strings.Contains(msg, via) {
			t.Fatalf("test message not built: %s", msg)
		}
		p.send(s.UDP(), msg)
		series := `kemi_core_messages_dropped_total{reason="malformed"}`
		if v := s.WaitMetric(series, float64(i+1), 2*time.Second); v != float64(i+1) {
			t.Fatalf("Via %s: %s = %v, want %d", via, series, v, i+1)
		}
	}
	if v := s.Metric(`kemi_core_requests_received_total{method="OPTIONS"}`); v != 0 {
		t.Errorf("%v OPTIONS routed, want 0", v)
	}
	if wrong != nil {
		wrong.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		buf := make([]byte, 4096)
		if n, _, err := wrong.ReadFromUDP(buf); err == nil {
			t.Errorf("reply sent to port %d: %q", 999999%65536, buf[:n])
		}
	}
	if res := p.recv(100 * time.Millisecond); res != "" {
		t.Errorf("answered: %q", res)
	}
}

// TestStatusCodeOutOfRange: a reply with a status code outside 100-699 was
// counted as 6xx and forwarded. Now it is dropped as malformed.
func TestStatusCodeOutOfRange(t *testing.T) {
	s := enginetest.Start(t, answerScript)
	p := newPeer(t)
	reply := func(status string) string {
		return fmt.Sprintf("SIP/2.0 %s\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKsl1\r\n"+
			"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKsc;rport=%d;received=127.0.0.1\r\n"+
			"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\nCall-ID: sc-%s\r\n"+
			"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", status, s.UDP(), p.port(), p.port(), status[:3])
	}
	// a good reply is forwarded to the second Via: the peer
	p.send(s.UDP(), reply("699 Last"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 699 Last") {
		t.Fatalf("reply 699 not forwarded: %q", res)
	}
	for i, status := range []string{"700 Too High", "099 Too Low", "999 Far Too High"} {
		p.send(s.UDP(), reply(status))
		series := `kemi_core_messages_dropped_total{reason="malformed"}`
		if v := s.WaitMetric(series, float64(i+1), 2*time.Second); v != float64(i+1) {
			t.Fatalf("status %s: %s = %v, want %d", status, series, v, i+1)
		}
	}
	if res := p.recv(100 * time.Millisecond); res != "" {
		t.Errorf("forwarded: %q", res)
	}
	if v := s.Metric(`kemi_core_replies_received_total{class="6xx"}`); v != 1 {
		t.Errorf("6xx replies counted %v, want 1 (the 699)", v)
	}
}

// TestTCPConnectionLimits: with at most 8 connections and 4 per source
// address, the 5th from one address and the 9th in all are closed at once
// and counted, /metrics answers, and a connection is accepted again once
// one closes.
func TestTCPConnectionLimits(t *testing.T) {
	s := enginetest.Start(t, answerScript, enginetest.WithConfig(func(c *engine.Config) {
		c.TCPMaxConnections = 8
		c.TCPAcceptIPLimit = 4
	}))
	var open []net.Conn
	for i := 0; i < 4; i++ {
		c := dialFrom(t, "127.0.0.1", s.TCP())
		mustAnswer(t, c, fmt.Sprintf("lim-a%d", i))
		open = append(open, c)
	}
	mustBeClosed(t, dialFrom(t, "127.0.0.1", s.TCP()), "5th connection from 127.0.0.1")
	for i := 0; i < 4; i++ {
		c := dialFrom(t, "127.0.0.2", s.TCP())
		mustAnswer(t, c, fmt.Sprintf("lim-b%d", i))
		open = append(open, c)
	}
	mustBeClosed(t, dialFrom(t, "127.0.0.3", s.TCP()), "9th connection")
	mustBeClosed(t, dialFrom(t, "127.0.0.3", s.TCP()), "10th connection")

	page := s.Scrape() // /metrics answers at the limit
	for series, want := range map[string]float64{
		`kemi_core_tcp_refused_total{reason="ip_limit"}`:        1,
		`kemi_core_tcp_refused_total{reason="max_connections"}`: 2,
		`kemi_core_tcp_refused_total{reason="read_timeout"}`:    0,
		`kemi_core_tcp_connections`:                             8,
		`kemi_core_tcp_connections_max`:                         8,
	} {
		if v := enginetest.MetricValue(page, series); v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
	// the accepted ones still work
	mustAnswer(t, open[0], "lim-again")

	open[7].Close()
	if v := waitMetricDown(s, `kemi_core_tcp_connections`, 7); v != 7 {
		t.Fatalf("tcp connections = %v after one closed, want 7", v)
	}
	mustAnswer(t, dialFrom(t, "127.0.0.3", s.TCP()), "lim-c0")
}

// waitMetricDown waits until a series falls to want.
func waitMetricDown(s *enginetest.Server, series string, want float64) float64 {
	deadline := time.Now().Add(3 * time.Second)
	for {
		v := s.Metric(series)
		if v <= want || time.Now().After(deadline) {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTCPMessageReadTimeout: a message must arrive whole within
// TCPMsgReadTimeout of its first byte. A partial message, or one sent a
// byte at a time, has its connection closed and counted; an idle
// connection between messages is left alone.
func TestTCPMessageReadTimeout(t *testing.T) {
	s := enginetest.Start(t, answerScript, enginetest.WithConfig(func(c *engine.Config) {
		c.TCPMsgReadTimeout = 300 * time.Millisecond
	}))
	idle := dialFrom(t, "127.0.0.1", s.TCP())
	mustAnswer(t, idle, "rt-idle-1")

	partial := dialFrom(t, "127.0.0.1", s.TCP())
	port := partial.LocalAddr().(*net.TCPAddr).Port
	msg := tcpOptions(port, "rt-partial")
	if _, err := partial.Write([]byte(msg[:len(msg)/2])); err != nil {
		t.Fatal(err)
	}
	mustBeClosed(t, partial, "partial message")

	drip := dialFrom(t, "127.0.0.1", s.TCP())
	msg = tcpOptions(drip.LocalAddr().(*net.TCPAddr).Port, "rt-drip")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < len(msg); i++ {
			if _, err := drip.Write([]byte{msg[i]}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond) // the whole message takes 10 s
		}
	}()
	mustBeClosed(t, drip, "message sent a byte at a time")
	drip.Close()
	<-done

	series := `kemi_core_tcp_refused_total{reason="read_timeout"}`
	if v := s.WaitMetric(series, 2, 2*time.Second); v != 2 {
		t.Errorf("%s = %v, want 2", series, v)
	}
	if v := s.Metric(`kemi_core_requests_received_total{method="OPTIONS"}`); v != 1 {
		t.Errorf("%v OPTIONS routed, want 1: a partial message was dispatched", v)
	}
	mustAnswer(t, idle, "rt-idle-2")
}

// TestTCPLimitFitsDescriptors: 21 000 connections exhausted the worker's
// file descriptors and took /metrics down with them. A child process with
// a limit of 256 open files lowers tcp_max_connections to fit (128), and
// when this process opens 300 connections to it, the ones over the limit
// are refused and counted while /metrics answers.
func TestTCPLimitFitsDescriptors(t *testing.T) {
	if os.Getenv("KEMI_TEST_FD_CHILD") == "1" {
		fdLimitedEngine(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTCPLimitFitsDescriptors$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KEMI_TEST_FD_CHILD=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	defer func() {
		stdin.Close() // the child stops its engine and exits
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("child: %v\n%s", err, stderr.String())
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("child did not exit")
		}
	}()
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "READY" {
				ready <- f[1:]
			}
		}
		exited <- cmd.Wait()
	}()
	var addrs []string
	select {
	case addrs = <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("child not ready:\n%s", stderr.String())
	}
	sipAddr, metricsAddr := addrs[0], addrs[1]

	const conns = 300
	for i := 0; i < conns; i++ {
		c, err := net.DialTimeout("tcp", sipAddr, 2*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		defer c.Close()
	}
	client := http.Client{Timeout: 5 * time.Second}
	scrape := func() (string, error) {
		res, err := client.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return string(b), err
	}
	var page string
	deadline := time.Now().Add(10 * time.Second)
	for {
		page, err = scrape()
		if err != nil {
			t.Fatalf("/metrics with %d connections: %v", conns, err)
		}
		open := enginetest.MetricValue(page, `kemi_core_tcp_connections`)
		refused := enginetest.MetricValue(page, `kemi_core_tcp_refused_total{reason="max_connections"}`)
		if open+refused >= conns || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for series, want := range map[string]float64{
		`kemi_core_tcp_connections_max`:                         128,
		`kemi_core_tcp_connections`:                             128,
		`kemi_core_tcp_refused_total{reason="max_connections"}`: conns - 128,
	} {
		if v := enginetest.MetricValue(page, series); v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
}

// fdLimitedEngine runs in the child process of TestTCPLimitFitsDescriptors:
// an engine under a limit of 256 open files, until stdin closes.
func fdLimitedEngine(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	rl.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	s := enginetest.Start(t, answerScript)
	fmt.Printf("READY %s %s\n", s.TCP(), s.MetricsAddr())
	io.Copy(io.Discard, os.Stdin)
	if !strings.Contains(s.Logs(), "tcp_max_connections lowered to fit the open file limit") {
		t.Errorf("no warning about the lowered limit:\n%s", s.Logs())
	}
}

// TestBareLineFeedInHeaderIsRefused: the parser keeps a LF that does not
// end a CRLF inside the header value, and the engine forwarded it as it
// was; the next hop (Kamailio among others) reads a bare LF as a line
// end, so "X: a<LF>Content-Length: 900" smuggled a Content-Length past
// kemi (over TCP, the next hop then takes the following message as this
// one's body). Now the message is dropped as malformed.
func TestBareLineFeedInHeaderIsRefused(t *testing.T) {
	next := newPeer(t)
	s := enginetest.Start(t, fmt.Sprintf(`
function ksr_request_route()
	KSR.forward_uri("sip:127.0.0.1:%d")
end`, next.port()))
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "lf-good", "X: a\r\n"))
	if got := next.recv(2 * time.Second); !strings.Contains(got, "X: a\r\n") {
		t.Fatalf("a good request was not forwarded: %q", got)
	}
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "lf-bare", "X: a\nContent-Length: 900\r\n"))
	series := `kemi_core_messages_dropped_total{reason="malformed"}`
	if v := s.WaitMetric(series, 1, 2*time.Second); v != 1 {
		t.Errorf("%s = %v, want 1", series, v)
	}
	if got := next.recv(200 * time.Millisecond); got != "" {
		t.Errorf("forwarded with the bare LF: %q", got)
	}
}
