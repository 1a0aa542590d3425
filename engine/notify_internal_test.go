package engine

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNotifierFromEnv(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name                string
		socket, usec, wdPID string
		wantNil, wantErr    bool
		wantWatchdog        time.Duration
	}{
		{name: "unset", wantNil: true},
		{name: "path", socket: "/run/systemd/notify"},
		{name: "abstract", socket: "@/org/freedesktop/systemd1/notify/123"},
		{name: "bare @", socket: "@", wantErr: true},
		{name: "relative", socket: "notify.sock", wantErr: true},
		{name: "vsock", socket: "vsock:2:1234", wantErr: true},
		{name: "watchdog", socket: "/n", usec: "3000000", wantWatchdog: 3 * time.Second},
		{name: "watchdog for this pid", socket: "/n", usec: "500000", wdPID: self, wantWatchdog: 500 * time.Millisecond},
		{name: "watchdog for another pid", socket: "/n", usec: "500000", wdPID: "1"},
		{name: "watchdog garbage", socket: "/n", usec: "soon"},
		{name: "watchdog zero", socket: "/n", usec: "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envNotifySocket, tc.socket)
			t.Setenv(envWatchdogUsec, tc.usec)
			t.Setenv(envWatchdogPID, tc.wdPID)
			n, err := NotifierFromEnv()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if n != nil || !strings.Contains(err.Error(), "NOTIFY_SOCKET") {
					t.Errorf("n = %v, err = %v", n, err)
				}
				return
			}
			if (n == nil) != tc.wantNil {
				t.Fatalf("n = %v, want nil %v", n, tc.wantNil)
			}
			if got := n.Watchdog(); got != tc.wantWatchdog {
				t.Errorf("Watchdog() = %v, want %v", got, tc.wantWatchdog)
			}
		})
	}
}

// listenGram binds a datagram socket at name and returns a function that
// reads one datagram.
func listenGram(t *testing.T, name string) func() string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return func() string {
		t.Helper()
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
}

func TestNotifierSend(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, abstract := range []bool{false, true} {
		name := filepath.Join(t.TempDir(), "notify")
		if abstract {
			name = fmt.Sprintf("@kemi-engine-notify-%d-%d", os.Getpid(), time.Now().UnixNano())
		}
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			read := listenGram(t, name)
			n, err := NewNotifier(name)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				send func() error
				want string
			}{
				{"ready", func() error { return n.Ready("serving") }, "READY=1\nMAINPID=" + pid + "\nSTATUS=serving"},
				{"ready without status", func() error { return n.Ready("") }, "READY=1\nMAINPID=" + pid},
				{"stopping", func() error { return n.Stopping("bye") }, "STOPPING=1\nSTATUS=bye"},
				// a newline in an error message must not start a variable
				{"status", func() error { return n.Status("refused: x\nREADY=1") }, "STATUS=refused: x READY=1"},
				{"watchdog", n.Alive, "WATCHDOG=1"},
			} {
				if err := tc.send(); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if got := read(); got != tc.want {
					t.Errorf("%s: sent %q, want %q", tc.name, got, tc.want)
				}
			}
			before := monotonicUsec()
			if err := n.Reloading("reloading"); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(read(), "\n")
			if len(got) != 3 || got[0] != "RELOADING=1" || got[2] != "STATUS=reloading" || !strings.HasPrefix(got[1], "MONOTONIC_USEC=") {
				t.Fatalf("reloading sent %q", got)
			}
			us, err := strconv.ParseInt(strings.TrimPrefix(got[1], "MONOTONIC_USEC="), 10, 64)
			if err != nil || us < before || us > monotonicUsec() {
				t.Errorf("MONOTONIC_USEC %q not between %d and now", got[1], before)
			}
			if err := n.Send("", ""); err == nil {
				t.Errorf("an empty notification was sent")
			}
		})
	}
}

func TestNotifierNilAndGone(t *testing.T) {
	var n *Notifier
	if err := n.Ready("x"); err != nil || n.Watchdog() != 0 {
		t.Errorf("nil Notifier: %v %v", err, n.Watchdog())
	}
	// nobody listens: the error says where it tried to send
	gone, err := NewNotifier(filepath.Join(t.TempDir(), "gone"))
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Ready("x"); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("send to a missing socket: %v", err)
	}
}

func TestWithoutNotifyEnv(t *testing.T) {
	env := []string{"PATH=/bin", "NOTIFY_SOCKET=/run/n", "WATCHDOG_USEC=1", "WATCHDOG_PID=2", "NOTIFY_SOCKETS=keep", "HOME=/root"}
	got := withoutNotifyEnv(env)
	want := []string{"PATH=/bin", "NOTIFY_SOCKETS=keep", "HOME=/root"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if env[1] != "NOTIFY_SOCKET=/run/n" {
		t.Errorf("the caller's slice changed: %q", env)
	}
}
