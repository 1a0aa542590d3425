// Package browsertest runs headless Chromium for kemi's browser tests
// (SIP over WebSocket, the WebRTC gateway): it finds the browser or skips
// the test, serves the test's page on loopback and collects what the page
// reports, and starts Chromium in a process group of its own that is
// ended with the test.
package browsertest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Chromium returns the path of the browser, or skips t with a message
// saying how to install it.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (apt-get install -y chromium): browser test skipped")
	return ""
}

// flags are those every test starts Chromium with: headless, as root,
// and nothing that reaches out of the machine (its connections would be
// refused here, many at a time).
var flags = []string{"--headless", "--no-sandbox", "--disable-gpu",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--no-first-run", "--disable-extensions", "--disable-crash-reporter", "--disable-breakpad"}

// Start runs headless Chromium on url with the common flags and extra, in
// a process group of its own: when the test ends it is asked to quit and
// then what is left of its group is killed. It returns the file holding
// its output (a file, not a pipe: Wait would wait for helpers holding a
// pipe) and a channel that gets its exit.
func Start(t testing.TB, chromium, url string, extra ...string) (string, <-chan error) {
	t.Helper()
	args := append(append(append([]string{}, flags...), "--user-data-dir="+t.TempDir()), extra...)
	cmd := exec.Command(chromium, append(args, url)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers share its group
	out, err := os.CreateTemp(t.TempDir(), "chromium-output")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	return out.Name(), exited
}

// Serve serves mux on a loopback HTTP server for the length of the test,
// with "POST /result" added: the JSON a page posts there is decoded into a
// T and sent on the channel returned (the first one; a page that posts
// something else fails the test). It returns the server's base URL,
// "http://127.0.0.1:PORT/".
func Serve[T any](t testing.TB, mux *http.ServeMux) (string, <-chan T) {
	t.Helper()
	results := make(chan T, 1)
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		var res T
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&res); err != nil {
			t.Errorf("the page posted a result that does not decode: %v", err)
		}
		select {
		case results <- res:
		default:
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return "http://" + ln.Addr().String() + "/", results
}
