package auth_db_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDeletedFileStaysAnError: a subscriber file deleted under a running
// kemi gives -1 at every call, and no empty file is made in its place
// (that would turn every user into an unknown one, -3).
func TestDeletedFileStaysAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	newSubscribers(t, path, [3]string{"alice", "example.com", "pw"})
	tt := load(t, map[string]any{"db_url": "sqlite://" + path}, nil)
	if got := tt.register(t, "alice", "pw", "", 0); got != 1 {
		t.Fatalf("file there: %d, want 1", got)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(f)
	}
	for i := range 3 {
		if got := tt.register(t, "alice", "pw", "", 0); got != -1 {
			t.Errorf("call %d after the file was deleted: %d, want -1", i+1, got)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("a new file was made at %s", path)
	}
}
