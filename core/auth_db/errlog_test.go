package auth_db_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/internal/redistest"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// TestDatabaseDownLogsRateLimited: while the database is away every
// lookup is counted and returns -1, but the log gets one line for the
// first error, not one per message, and one line when it works again.
func TestDatabaseDownLogsRateLimited(t *testing.T) {
	srv := redistest.New(t)
	tt := load(t, map[string]any{"db_url": srv.URL}, nil)
	m := kemitest.ParseMsg(t, fmt.Sprintf(register, "alice", ""))
	const calls = 20
	srv.Stop()
	tt.env.ResetLogs()
	for range calls {
		if v := tt.env.Call(t, "KSR.auth_db.is_subscriber", m, "sip:alice@example.com", "subscriber", 0); v.Int != -1 {
			t.Fatalf("is_subscriber with Redis stopped = %v, want -1", v)
		}
	}
	if v := metric(tt.env, "kemi_auth_db_errors_total"); v != fmt.Sprint(calls) {
		t.Errorf("kemi_auth_db_errors_total = %q, want %d", v, calls)
	}
	if n := strings.Count(tt.env.Logs(), "subscriber lookup failed"); n != 1 {
		t.Errorf("%d log lines for %d failed lookups, want 1:\n%s", n, calls, tt.env.Logs())
	}
	srv.Restart()
	// go-redis retries dialing a server that refused in the background,
	// about once a second
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := tt.env.Call(t, "KSR.auth_db.is_subscriber", m, "sip:alice@example.com", "subscriber", 0)
		if v.Int == -2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("is_subscriber with Redis back = %v, want -2", v)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(tt.env.Logs(), "subscriber database works again") {
		t.Errorf("no line when the database works again:\n%s", tt.env.Logs())
	}
}
