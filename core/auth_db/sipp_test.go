package auth_db_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

// kemiUser runs `kemi user ARGS...` of a kemi binary built for the test,
// with stdin, and fails the test on an error.
func kemiUser(t *testing.T, bin, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"user"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kemi user %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// buildKemi builds cmd/kemi into a temporary directory.
func buildKemi(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kemi")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/kemisip/kemi/cmd/kemi").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/kemi: %v\n%s", err, out)
	}
	return bin
}

// TestSippRegisterWithAuth registers with sipp's digest authentication
// (-au/-ap, MD5: sipp 3.6 has no SHA-256), its default behaviours, against
// testdata/register.lua on a SQLite file made by `kemi user add`, with
// auth_db's defaults (the ha1 column, as Kamailio's): a user stored with
// its password, one stored with --ha1-only (password from stdin), and a
// wrong password, which sipp sees fail on the 403.
func TestSippRegisterWithAuth(t *testing.T) {
	enginetest.SippPath(t)
	bin := buildKemi(t)
	path := filepath.Join(t.TempDir(), "kemi.db")
	url := "sqlite://" + path
	kemiUser(t, bin, "", "add", "--db-url", url, "alice@example.com", "alice-pw")
	kemiUser(t, bin, "bob-pw\n", "add", "--db-url", url, "--ha1-only", "bob@example.com")

	s := enginetest.Start(t, registerScript(t), enginetest.WithParams("auth_db", map[string]any{"db_url": url}))
	scenario, _ := filepath.Abs("testdata/register_auth.xml")
	const calls = 5
	tests := []struct {
		user, pass string
		ok         bool
	}{
		{"alice", "alice-pw", true},
		{"bob", "bob-pw", true},
		{"alice", "wrong", false},
	}
	for _, tc := range tests {
		t.Run(tc.user+"/"+tc.pass, func(t *testing.T) {
			stat := filepath.Join(t.TempDir(), "stat.csv")
			before := failures(s, "invalid_password")
			code, out := enginetest.RunSipp(t, 60*time.Second, s.UDP(), "-sf", scenario,
				"-i", "127.0.0.1", "-p", strconv.Itoa(enginetest.FreeUDPPort(t)),
				"-s", tc.user, "-au", tc.user, "-ap", tc.pass,
				"-m", strconv.Itoa(calls), "-r", "10", "-timeout", "30s",
				"-trace_stat", "-stf", stat)
			csv, err := os.ReadFile(stat)
			if err != nil {
				t.Fatalf("sipp exit %d, no statistics: %v\n%s", code, err, out)
			}
			ok, _ := enginetest.SippStat(string(csv), "SuccessfulCall(C)")
			failed, _ := enginetest.SippStat(string(csv), "FailedCall(C)")
			wantOK, wantFailed, wantFailures := calls, 0, 0.0
			if !tc.ok {
				wantOK, wantFailed, wantFailures = 0, calls, calls
			}
			if ok != wantOK || failed != wantFailed || (code == 0) != tc.ok {
				t.Errorf("sipp exit %d: %d successful, %d failed; want %d, %d\n%s", code, ok, failed, wantOK, wantFailed, out)
			}
			if v := failures(s, "invalid_password") - before; v != wantFailures {
				t.Errorf(`kemi_auth_failures_total{reason="invalid_password"} grew by %v, want %v`, v, wantFailures)
			}
		})
	}
	if v := s.Metric("kemi_auth_challenges_total"); v != 3*calls {
		t.Errorf("kemi_auth_challenges_total = %v, want %d", v, 3*calls)
	}
}
