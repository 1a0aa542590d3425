package engine

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestInheritedFileMissing(t *testing.T) {
	// far above any fd a test process holds
	const fd = 1 << 20
	if f, err := inheritedFile(fd, "udp:127.0.0.1:5060"); err == nil || f != nil {
		t.Fatalf("inheritedFile(%d) = %v, %v; want an error", fd, f, err)
	}
}

func TestWaitBackoffAnswersSignals(t *testing.T) {
	var logs bytes.Buffer
	s := &supervisor{log: slog.New(slog.NewTextHandler(&logs, nil))}
	sigs := make(chan os.Signal, 3)
	sigs <- syscall.SIGHUP
	sigs <- syscall.SIGUSR1
	sigs <- syscall.SIGTERM
	if s.waitBackoff(time.Hour, time.Now(), sigs) {
		t.Fatal("waitBackoff went on after SIGTERM")
	}
	for _, want := range []string{"no worker process to reload", "supervisor statistics"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if !s.waitBackoff(0, time.Now(), sigs) {
		t.Fatal("waitBackoff stopped without a signal")
	}
}
