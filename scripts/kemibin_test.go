package scripts_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// kemiBuild builds cmd/kemi once for the tests that need the binary:
// `kemi user`, `kemi ul` and fork mode (a worker process to kill).
type kemiBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// build is shared by the tests of this binary only (TestMain removes it).
var build kemiBuild

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// kemiBinary returns the path of the kemi binary, built on first use.
func kemiBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "kemi-scripts-bin-")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "kemi")
		out, err := exec.Command("go", "build", "-o", build.bin, "../cmd/kemi").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build ../cmd/kemi: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// kemiCmd runs the kemi binary with stdin and returns its output; a
// non-zero exit fails the test.
func kemiCmd(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(kemiBinary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kemi %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// userAdd adds subscribers with `kemi user add`, the passwords read from
// stdin as an operator types them, in the SQLite file at path.
func userAdd(t *testing.T, path string, users map[string]string) {
	t.Helper()
	for user, pw := range users {
		kemiCmd(t, pw+"\n", "user", "add", "--db-url", "sqlite://"+path, user+"@"+realm)
	}
}

// kemiCmdStatus runs the kemi binary and returns its output whatever its
// exit status (`kemi ul show` exits 1 when there is nothing to show).
func kemiCmdStatus(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(kemiBinary(t), args...).CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("kemi %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}
