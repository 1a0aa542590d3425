package dispatcher_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine/enginetest"

	_ "github.com/kemisip/kemi/core/all"
)

// uas is a sipgo server on a loopback UDP socket that answers every
// OPTIONS and INVITE with code and counts them.
type uas struct {
	addr string
	mu   sync.Mutex
	n    int
	code int
}

func startUAS(t *testing.T, code int) *uas {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	u := &uas{addr: conn.LocalAddr().String(), code: code}
	ua, _ := sipgo.NewUA(sipgo.WithUserAgent("uas-" + u.addr))
	t.Cleanup(func() { ua.Close() })
	srv, _ := sipgo.NewServer(ua)
	answer := func(req *sip.Request, tx sip.ServerTransaction) {
		u.mu.Lock()
		u.n++
		u.mu.Unlock()
		tx.Respond(sip.NewResponseFromRequest(req, u.code, "UAS", nil))
	}
	srv.OnOptions(answer)
	srv.OnInvite(answer)
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	go srv.ServeUDP(conn)
	return u
}

func (u *uas) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

const lbScript = `
function ksr_request_route()
	if KSR.dispatcher.ds_select_dst(1, 4) < 0 then
		KSR.sl.sl_send_reply(503, "Service Unavailable")
		return
	end
	KSR.tm.t_on_failure("ksr_failure_manage")
	KSR.tm.t_relay()
end

function ksr_failure_manage()
	if KSR.tm.t_is_canceled() > 0 then return end
	if KSR.tm.t_check_status("5[0-9][0-9]") > 0 then
		KSR.dispatcher.ds_mark_dst()
		if KSR.dispatcher.ds_next_dst() > 0 then
			KSR.tm.t_relay()
		end
	end
end
`

// startLB starts kemi balancing over the UASs as set 1.
func startLB(t *testing.T, uases ...*uas) *enginetest.Server {
	t.Helper()
	list := "# three UASs\n"
	for _, u := range uases {
		list += fmt.Sprintf("1 sip:%s\n", u.addr)
	}
	path := filepath.Join(t.TempDir(), "dispatcher.list")
	if err := os.WriteFile(path, []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}
	return enginetest.Start(t, lbScript, enginetest.WithParams("dispatcher", map[string]any{"list_file": path, "flags": 2}))
}

// send sends n OPTIONS through s and returns the final codes.
func send(t *testing.T, s *enginetest.Server, n int) []int {
	t.Helper()
	ua, _ := sipgo.NewUA(sipgo.WithUserAgent("uac"))
	defer ua.Close()
	client, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	var codes []int
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", User: "pbx", Host: "example.com"})
		req.SetDestination(s.UDP())
		res, err := client.Do(ctx, req)
		cancel()
		if err != nil {
			t.Fatalf("OPTIONS %d: %v", i, err)
		}
		codes = append(codes, res.StatusCode)
	}
	return codes
}

// TestRoundRobinOverThreeUAS sends 30 requests through kemi with two
// workers: each of three sipgo UASs gets exactly 10.
func TestRoundRobinOverThreeUAS(t *testing.T) {
	a, b, c := startUAS(t, 200), startUAS(t, 200), startUAS(t, 200)
	s := startLB(t, a, b, c)
	for i, code := range send(t, s, 30) {
		if code != 200 {
			t.Errorf("request %d answered %d", i, code)
		}
	}
	for _, u := range []*uas{a, b, c} {
		if got := u.count(); got != 10 {
			t.Errorf("UAS %s got %d requests, want 10", u.addr, got)
		}
	}
}

// TestFailoverToNextUAS has the first UAS answer 503: the failure route
// marks it, moves to the next one, and every request succeeds; the marked
// UAS leaves rotation.
func TestFailoverToNextUAS(t *testing.T) {
	a, b, c := startUAS(t, 503), startUAS(t, 200), startUAS(t, 200)
	s := startLB(t, a, b, c)
	for i, code := range send(t, s, 6) {
		if code != 200 {
			t.Errorf("request %d answered %d", i, code)
		}
	}
	if got := a.count(); got != 1 {
		t.Errorf("the failing UAS got %d requests, want 1 (then marked inactive)", got)
	}
	if got := b.count() + c.count(); got != 6 {
		t.Errorf("the good UASs got %d requests, want 6", got)
	}
}

// TestAllDownAnswers503 checks that a set whose destinations are all
// marked down makes ds_select_dst fail so the script answers 503.
func TestAllDownAnswers503(t *testing.T) {
	a := startUAS(t, 500)
	s := startLB(t, a)
	codes := send(t, s, 2)
	if codes[0] != 500 || codes[1] != 503 {
		t.Errorf("codes %v, want [500 503]: the only UAS failed and was marked down", codes)
	}
}
